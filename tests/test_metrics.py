"""`/metrics`: Prometheus text, request metrics per route (never per raw path), polls and 304s,
held long polls, refusals by code; the recording functions for the engine and the worker; and,
under gunicorn, one sum over every worker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from activity_configs import CONFIGS
from gunicorn_server import Gunicorn
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from stores import STORE_PARAMS, store_url

from magic_cube import metrics
from magic_cube.app import create_app
from magic_cube.engine import Participant

OPERATIONS_MD = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text(
    encoding="utf-8")


@pytest.fixture
def app(tmp_path, clock, catalog):
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/metrics.db", "long_poll_interval": 0.05}})
    yield app
    app.extensions["magic_cube"].store.close()


def scrape(url_or_client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    if isinstance(url_or_client, str):
        r = requests.get(url_or_client + "/metrics", timeout=10)
        text, content_type = r.text, r.headers["Content-Type"]
    else:
        r = url_or_client.get("/metrics")
        text, content_type = r.get_data(as_text=True), r.headers["Content-Type"]
    assert r.status_code == 200 and content_type.startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_and_timed_per_route_not_per_path(client, shop):
    before = scrape(client)
    ids = [shop.live("lottery")["id"] for _ in range(2)]
    for activity_id in ids:
        assert client.get(f"/v1/activities/{activity_id}").status_code == 200
    after = scrape(client)
    labels = {"endpoint": "participants.ActivityView", "method": "GET"}
    assert value(after, "magic_cube_http_requests_total", status="200", **labels) \
        - value(before, "magic_cube_http_requests_total", status="200", **labels) == 2
    assert value(after, "magic_cube_http_request_duration_seconds_count", **labels) \
        - value(before, "magic_cube_http_request_duration_seconds_count", **labels) == 2
    assert value(after, "magic_cube_http_request_duration_seconds_bucket", le="+Inf", **labels) \
        >= 2
    label_values = {v for _, sample_labels in after for _, v in sample_labels}
    assert not [v for v in label_values if "/" in v or v in ids]


def test_unmatched_routes_and_odd_methods_share_a_label(client):
    before = scrape(client)
    client.get("/no/such/path/1")
    client.open("/healthz", method="BREW")
    after = scrape(client)
    assert value(after, "magic_cube_http_requests_total", endpoint="unmatched", method="GET",
                 status="404") - value(before, "magic_cube_http_requests_total",
                                       endpoint="unmatched", method="GET", status="404") == 1
    assert any(labels and dict(labels).get("method") == "OTHER" for _, labels in after)


def test_polls_count_their_304s(client, shop):
    activity_id = shop.live("lottery")["id"]
    key = {"view": "activity", "status": "304"}
    before = scrape(client)
    etag = client.get(f"/v1/activities/{activity_id}").headers["ETag"]
    for _ in range(3):
        r = client.get(f"/v1/activities/{activity_id}", headers={"If-None-Match": etag})
        assert r.status_code == 304
    after = scrape(client)
    assert value(after, "magic_cube_polls_total", **key) \
        - value(before, "magic_cube_polls_total", **key) == 3
    assert value(after, "magic_cube_polls_total", view="activity", status="200") \
        - value(before, "magic_cube_polls_total", view="activity", status="200") == 1


def test_a_held_long_poll_is_in_the_gauge_until_it_ends(app, shop):
    activity_id = shop.live("lottery")["id"]
    etag = shop.client.get(f"/v1/activities/{activity_id}").headers["ETag"]
    base = value(scrape(app.test_client()), "magic_cube_long_polls_in_flight")
    answers = []
    poll = threading.Thread(target=lambda: answers.append(app.test_client().get(
        f"/v1/activities/{activity_id}?wait=1", headers={"If-None-Match": etag})))
    poll.start()
    deadline = time.monotonic() + 5
    while value(scrape(app.test_client()), "magic_cube_long_polls_in_flight") != base + 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    poll.join()
    assert answers[0].status_code == 304
    assert value(scrape(app.test_client()), "magic_cube_long_polls_in_flight") == base


def test_refusals_are_counted_by_code(client, shop):
    before = scrape(client)
    client.get("/v1/merchant/activities?limit=0", headers=shop.headers)
    client.post("/v1/merchant/activities", data="{", headers=shop.headers,
                content_type="application/json")
    after = scrape(client)
    for code in ("validation_error", "invalid_json"):
        assert value(after, "magic_cube_refusals_total", code=code) \
            - value(before, "magic_cube_refusals_total", code=code) == 1


def test_the_recording_functions_for_the_engine_and_the_worker(client):
    before = scrape(client)
    metrics.record_action("lottery", "draw", "accepted")
    metrics.record_action("lottery", "draw", "refused")
    metrics.record_refusal("no_draws_left")
    metrics.record_webhook_delivery("dead")
    metrics.set_webhook_queue_depth(7)
    metrics.set_db_pool(in_use=3, idle=2, waiting=1)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("magic_cube_actions_total", template="lottery", action="draw",
                 result="accepted") == 1
    assert delta("magic_cube_actions_total", template="lottery", action="draw",
                 result="refused") == 1
    assert delta("magic_cube_refusals_total", code="no_draws_left") == 1
    assert delta("magic_cube_webhook_deliveries_total", result="dead") == 1
    assert value(after, "magic_cube_webhook_queue_depth") == 7
    assert value(after, "magic_cube_db_pool_connections", state="in_use") == 3
    assert value(after, "magic_cube_db_pool_connections", state="waiting") == 1


def test_batched_histograms_expose_what_observing_one_at_a_time_would(client):
    """Recording adds up in the process and a flush writes the sums into the histogram's own
    values: the exposed buckets, sum and count are those of observing each amount."""
    amounts = [0.0004, 0.001, 0.0011, 0.003, 0.3, 0.3, 2.5, 30.0, 0.0]
    for seconds in amounts:
        metrics.record_request("bench.batched", "GET", 200, seconds)
    metrics.flush()
    reference = CollectorRegistry()
    direct = Histogram("direct_seconds", "reference", ["endpoint", "method"],
                       buckets=metrics.LATENCY_BUCKETS, registry=reference)
    for seconds in amounts:
        direct.labels("bench.batched", "GET").observe(seconds)
    expected = {(s.name.replace("direct", "magic_cube_http_request_duration"),
                 tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(generate_latest(reference).decode())
                for s in family.samples}
    got = {k: v for k, v in scrape(client).items()
           if k[0].startswith("magic_cube_http_request_duration") and
           ("endpoint", "bench.batched") in k[1]}
    assert got == pytest.approx(expected)
    assert value(got, "magic_cube_http_request_duration_seconds_count", endpoint="bench.batched",
                 method="GET") == len(amounts)


def test_what_is_recorded_reaches_the_metrics_without_a_scrape():
    """The background flush writes a process's records within about FLUSH_SECONDS, so another
    worker answering a scrape sees them."""
    child = metrics.REQUESTS.labels("bench.unscraped", "POST", "201")
    before = child._value.get()
    metrics.record_request("bench.unscraped", "POST", 201, 0.002)
    metrics.record_action("bench", "unscraped", "accepted")
    deadline = time.monotonic() + 5 * metrics.FLUSH_SECONDS
    while child._value.get() == before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert child._value.get() == before + 1
    assert metrics.ACTIONS.labels("bench", "unscraped", "accepted")._value.get() == 1


def test_a_forked_process_does_not_write_its_parents_records():
    counter = metrics.REQUESTS.labels("bench.forked", "GET", "200")
    metrics.record_request("bench.forked", "GET", 200, 0.001)
    read, write = os.pipe()
    with metrics._lock:  # the background flush waits: the record is still the parent's alone
        written = counter._value.get()
        pid = os.fork()
    if pid == 0:  # the child: whatever it flushes must not include the parent's record
        metrics.flush()
        os.write(write, str(counter._value.get()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert float(os.read(read, 64)) == written
    metrics.flush()
    assert metrics.REQUESTS.labels("bench.forked", "GET", "200")._value.get() == 1


def test_every_metric_is_documented():
    names = {m._name for m in vars(metrics).values()
             if hasattr(m, "_name") and hasattr(m, "_type")}
    assert len(names) >= 9
    documented = set(re.findall(r"^\| `(magic_cube_[a-z_]+)` \|", OPERATIONS_MD, re.M))
    # Counters are named without `_total` inside prometheus_client.
    assert {n if n in documented else n + "_total" for n in names} <= documented
    assert not [n for n in documented
                if n not in names and n.removesuffix("_total") not in names]


# --- under gunicorn: several processes, one sum -------------------------------------------------


def test_every_worker_counts_into_one_scrape(tmp_path):
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_12345.db").write_bytes(b"stale values of a previous run")
    server = Gunicorn(f"sqlite:///{tmp_path}/g.db", tmp_path / "g.log", workers=2,
                      env={"PROMETHEUS_MULTIPROC_DIR": str(given)})
    with server:
        assert not (given / "counter_12345.db").exists()
        # The readiness probes are counted too, and there may be more than one (a probe that
        # timed out may still have been answered): let every worker write them first.
        time.sleep(2 * metrics.FLUSH_SECONDS)
        before = scrape(server.url)
        for _ in range(30):
            assert requests.get(server.url + "/healthz", headers={"Connection": "close"},
                                timeout=10).status_code == 200
        expected = value(before, "magic_cube_http_requests_total", endpoint="health.Health",
                         method="GET", status="200") + 30

        def total() -> float:
            return value(scrape(server.url), "magic_cube_http_requests_total",
                         endpoint="health.Health", method="GET", status="200")

        # Each worker writes what it recorded at most a second later (metrics.FLUSH_SECONDS).
        deadline = time.monotonic() + 5 * metrics.FLUSH_SECONDS
        while (seen := total()) != expected:
            assert seen < expected and time.monotonic() < deadline
            time.sleep(0.1)
        # Whichever worker answers the scrape, it reports all of them.
        assert {total() for _ in range(6)} == {expected}


def test_the_server_makes_and_removes_its_own_metrics_folder(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = tmp_path / f"magic-cube-metrics-{gone.pid}-x1"  # its server was SIGKILLed
    living = tmp_path / f"magic-cube-metrics-{os.getpid()}-x2"
    for folder in (orphan, living):
        folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": None, "TMPDIR": str(tmp_path)}
    with Gunicorn(f"sqlite:///{tmp_path}/o.db", tmp_path / "o.log", workers=1, env=env) as s:
        requests.get(s.url + "/healthz", timeout=10)
        made = [p for p in tmp_path.iterdir()
                if p.name.startswith("magic-cube-metrics-") and p != living]
        assert made == [tmp_path / made[0].name] and any(made[0].glob("*.db"))
        assert s.proc is not None
        assert made[0].name.startswith(f"magic-cube-metrics-{s.proc.pid}-")
    assert not made[0].exists() and not orphan.exists() and living.exists()


# actions through the API, and the worker's metrics ---------------------------------------------


def test_actions_are_counted_by_template_action_and_result(client, shop):
    lottery = shop.live("lottery")["id"]
    before = scrape(client)
    key = {"Idempotency-Key": "draw-1"}
    assert shop.act(lottery, "draw", "amy", headers=key).status_code == 200
    assert shop.act(lottery, "draw", "amy", headers=key).headers["Idempotent-Replayed"] == "true"
    for _ in range(2):
        assert shop.act(lottery, "draw", "amy").status_code == 200
    refused = shop.act(lottery, "draw", "amy")  # three draws a day
    assert refused.status_code == 409 and refused.get_json()["error"] == "no_draws_left"
    r = client.post(f"/v1/merchant/activities/{lottery}/actions/grant", headers=shop.headers,
                    json={"participant": "amy", "params": {"count": 1}})
    assert r.status_code == 200, r.get_json()
    r = shop.act(lottery, "no_such_action", "bob")  # not performed: no action label for it
    assert r.status_code == 404
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    draws = {"template": "lottery", "action": "draw"}
    assert delta("magic_cube_actions_total", result="accepted", **draws) == 3
    assert delta("magic_cube_actions_total", result="replayed", **draws) == 1
    assert delta("magic_cube_actions_total", result="refused", **draws) == 1
    assert delta("magic_cube_actions_total", template="lottery", action="grant",
                 result="accepted") == 1
    assert delta("magic_cube_refusals_total", code="no_draws_left") == 1
    assert delta("magic_cube_refusals_total", code="unknown_action") == 1
    actions = {dict(labels)["action"] for name, labels in after
               if name == "magic_cube_actions_total"}
    assert "no_such_action" not in actions


def test_the_worker_counts_deliveries_and_measures_the_queue(app, shop):
    from magic_cube.worker import Worker

    engine = shop.engine
    group = shop.live("group_buy")["id"]
    assert shop.act(group, "start", "amy").status_code == 200  # one event: group.started
    metrics.set_webhook_queue_depth(-1)
    worker = Worker(engine)
    try:
        worker.run_once()  # no webhook URL: nothing to deliver, nothing queued
        assert value(scrape(app.test_client()), "magic_cube_webhook_queue_depth") == 0
        engine.set_webhook(shop.merchant, "http://127.0.0.1:9/hook", "s")  # nobody listens
        before = scrape(app.test_client())
        worker._counted_at = None  # measure again now, not 10 s later
        assert worker.run_once()["failed"] == 1
        after = scrape(app.test_client())
    finally:
        worker.close()
    assert value(after, "magic_cube_webhook_deliveries_total", result="failed") \
        - value(before, "magic_cube_webhook_deliveries_total", result="failed") == 1
    assert value(after, "magic_cube_webhook_queue_depth") == 1  # still pending, to retry


def test_the_worker_serves_its_metrics_on_a_port(tmp_path):
    url = f"sqlite:///{tmp_path}/worker.db"
    script = "from magic_cube.worker.command import worker; worker()"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--database", url, "--interval", "0.1",
         "--metrics-port", "0"], cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    output = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(output), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not (found := [m for line in lines
                             if (m := re.search(r"metrics at (http://\S+)/metrics", line))]):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            time.sleep(0.05)
        samples = scrape(found[0].group(1))
        assert ("magic_cube_webhook_queue_depth", ()) in samples
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    assert "worker stopped" in "".join(lines)


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_the_queue_is_the_pending_events_of_merchants_with_a_webhook(kind, tmp_path, catalog,
                                                                     clock):
    url, cleanup = store_url(kind, tmp_path)
    app = create_app({"CATALOG": catalog, "CLOCK": clock, "SETTINGS": {"database_url": url}})
    engine = app.extensions["magic_cube"]
    try:
        hooked, _ = engine.create_merchant("With a webhook")
        engine.set_webhook(hooked, "http://127.0.0.1:9/hook", "s")
        silent, _ = engine.create_merchant("Without one")  # its events stay pending for ever
        for merchant in (hooked, silent):
            activity = engine.create_activity(merchant, "group_buy", dict(CONFIGS["group_buy"]))
            engine.publish(merchant, activity["id"])
            for name in ("amy", "bob"):
                assert engine.act(activity["id"], "start", Participant(name)).ok
        assert engine.pending_webhooks() == 2
    finally:
        engine.store.close()
        cleanup()
