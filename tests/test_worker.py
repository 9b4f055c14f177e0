"""The background worker: timers at their time with nobody polling, and webhooks delivered from
the outbox — in order per activity, at least once, signed — to a real HTTP receiver on
loopback (a ThreadingHTTPServer in a thread answering with scripted statuses).

Engines run with a clock the test moves by hand on both stores (tests/stores.py): a real SQLite
file in tmp_path and PostgreSQL in a fresh schema. The merchant API and the command run on
SQLite (the app fixtures of conftest.py).
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner
from engine_helpers import (
    START,
    Clock,
    catalog,
    config_for,
    create_merchant,
    db_url,
    invariants,
    make_engine,
    publish,
    read_all,
)
from stores import STORE_PARAMS, store_url

from magic_cube.engine import Engine, Participant
from magic_cube.engine.errors import ActivityNotFound
from magic_cube.engine.events import EventNotFound, EventPending
from magic_cube.settings import Settings
from magic_cube.store import open_store
from magic_cube.worker import Worker
from magic_cube.worker.command import worker as worker_command
from magic_cube.worker.webhooks import backoff, sign, verify

HOUR = 3600
ALICE, BOB, CAROL = (Participant(n, n.title()) for n in ("alice", "bob", "carol"))

SETTINGS = {"webhook_timeout": 1.0, "webhook_backoff_base": 10, "webhook_backoff_cap": 100,
            "webhook_max_attempts": 4, "webhook_lease": 30, "webhook_concurrency": 4}


# a real receiver --------------------------------------------------------------------------

@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def event_id(self) -> int:
        return int(self.headers["Magic-Cube-Event-Id"])

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class Receiver:
    """Records every request; answers each with `answer(request)` (a status, 200 by default,
    or "hang" to answer only after the worker's timeout)."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    answer: Any = None
    hang_seconds: float = 2.0
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ok_ids(self, path: str | None = None) -> list[int]:
        return [r.event_id for r in self.requests if r.ok and (path is None or r.path == path)]


@pytest.fixture
def receiver():
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = Received(self.path, dict(self.headers.items()), body, 0)
            status = state.answer(request) if state.answer else 200
            if state.delay:
                time.sleep(state.delay)
            if status == "hang":
                time.sleep(state.hang_seconds)
                status = 200
            request.status = status
            with state.lock:
                state.requests.append(request)
            reply = b"nope" if status >= 300 else b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# engines ----------------------------------------------------------------------------------

def set_webhook(engine, merchant, url: str | None) -> None:
    with engine.store.transaction() as tx:
        tx.update_merchant(merchant.id, webhook_url=url)


def engine_on(url: str, clock: Clock, **settings: Any) -> Engine:
    """An engine of its own (its own connections) on the database at `url`."""
    store = open_store(url)
    store.migrate()
    return Engine(store, catalog(), Settings.load({**SETTINGS, **settings}, environ={}), clock)


@pytest.fixture(params=STORE_PARAMS)
def database(request, tmp_path):
    """The URL of an empty database of each kind in turn."""
    url, drop = store_url(request.param, tmp_path)
    yield url
    drop()


@pytest.fixture
def env(database, receiver):
    clock = Clock()
    engine = engine_on(database, clock)
    merchant = create_merchant(engine)
    set_webhook(engine, merchant, receiver.url())
    worker = Worker(engine, rng=random.Random(7))
    yield SimpleNamespace(engine=engine, clock=clock, merchant=merchant, worker=worker,
                          receiver=receiver, url=database)
    worker.close()
    engine.store.close()


def ok(response):
    assert response.status == 200, response.body
    return response.body


def stored_activity(engine, activity_id):
    """The activity as stored, read without the engine's lazy start/end."""
    with engine.store.transaction(write=False) as tx:
        return tx.get_activity(activity_id)


def events_of(engine, activity_id, status=None):
    with engine.store.transaction(write=False) as tx:
        return tx.list_events(activity_id, status, 0, 10_000)


def group_starts(engine, activity_id, n, prefix="lead"):
    """`n` participants each open a group: one `group.started` event each, in order."""
    for i in range(n):
        ok(engine.act(activity_id, "start", Participant(f"{prefix}{i}")))


def drain(env, rounds=60, step=None):
    """Run passes, moving the clock past every retry, until no pending event is due."""
    for _ in range(rounds):
        env.worker.run_once()
        pending = [e for a in activity_ids(env.engine) for e in events_of(env.engine, a, "pending")]
        if not pending:
            return
        env.clock.advance(step or SETTINGS["webhook_backoff_cap"] + 1)
    raise AssertionError("events still pending after draining")


def activity_ids(engine):
    with engine.store.transaction(write=False) as tx:
        return [r[0] for r in tx.conn.execute("SELECT id FROM activities ORDER BY id")]


# timers -----------------------------------------------------------------------------------

def test_a_group_expires_at_its_time_with_nobody_polling_and_refunds_are_delivered(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    room = ok(e.act(aid, "start", ALICE))["room"]
    ok(e.act(aid, "join", BOB, room_id=room))
    env.worker.run_once()  # delivers group.started, group.joined
    assert [r.json["type"] for r in env.receiver.requests] == ["group.started", "group.joined"]

    env.clock.advance(24 * HOUR - 1)
    assert env.worker.run_once()["timers"] == 0  # not yet
    env.clock.advance(1)
    counts = env.worker.run_once()  # nobody acts, nobody polls: only the worker
    assert counts["timers"] == 1 and counts["activities"] == 1

    data = read_all(e, aid)
    expired = next(r for r in data["rooms"] if r.id == room)
    assert expired.status == "expired" and expired.timers == {}
    assert data["activity"].state["stock"] == 20  # both units back
    entry = data["log"][-1]
    assert (entry.actor_kind, entry.timer, entry.at) == ("timer", "expire", START + 24 * HOUR)
    # The refunds and the failure went out, after the earlier events, in outbox order.
    types = [r.json["type"] for r in env.receiver.requests]
    assert types == ["group.started", "group.joined", "group.refund", "group.refund",
                     "group.failed"]
    refunds = [r.json["data"] for r in env.receiver.requests if r.json["type"] == "group.refund"]
    assert sorted(d["participant"] for d in refunds) == ["alice", "bob"]
    assert counts["delivered"] == 3
    assert events_of(e, aid, "pending") == []
    assert invariants(e, aid) == []


def test_every_due_room_of_every_live_activity_fires_in_one_pass(env):
    e, m = env.engine, env.merchant
    cfg = config_for("group_buy", expiry_hours=1)
    first, second = publish(e, m, "group_buy", cfg), publish(e, m, "group_buy", cfg)
    group_starts(e, first, 3)
    group_starts(e, second, 2)
    env.clock.advance(HOUR)
    counts = env.worker.run_once()
    assert counts["timers"] == 5 and counts["activities"] == 2
    for aid in (first, second):
        assert {r.status for r in read_all(e, aid)["rooms"]} == {"expired"}
        assert invariants(e, aid) == []
    assert env.worker.run_once()["timers"] == 0


def test_more_due_rooms_than_the_timer_batch_all_fire_in_one_pass(database):
    clock = Clock()
    e = engine_on(database, clock, timer_batch=2)
    m = create_merchant(e)
    aid = publish(e, m, "group_buy", config_for("group_buy", expiry_hours=1))
    group_starts(e, aid, 5)
    clock.advance(HOUR)
    worker = Worker(e)
    try:
        assert worker.run_once()["timers"] == 5
    finally:
        worker.close()
    assert {r.status for r in read_all(e, aid)["rooms"]} == {"expired"}
    assert invariants(e, aid) == []
    e.store.close()


def test_scheduled_start_and_end_happen_with_nobody_polling(env):
    e, m = env.engine, env.merchant
    created = e.create_activity(m, "lottery", config_for("lottery"), starts_at=START + HOUR,
                                ends_at=START + 3 * HOUR)
    aid = created["id"]
    assert e.publish(m, aid)["status"] == "scheduled"
    assert env.worker.run_once()["started"] == 0

    env.clock.advance(HOUR)
    assert env.worker.run_once()["started"] == 1
    assert stored_activity(e, aid).status == "live"

    env.clock.advance(2 * HOUR)
    counts = env.worker.run_once()
    assert counts["ended"] == 1
    stored = stored_activity(e, aid)
    assert (stored.status, stored.ended_at) == ("ended", START + 3 * HOUR)
    assert env.worker.run_once()["activities"] == 0  # nothing left to do


def test_an_activity_scheduled_and_ended_meanwhile_starts_and_ends_in_one_pass(env):
    e, m = env.engine, env.merchant
    aid = e.create_activity(m, "lottery", config_for("lottery"), starts_at=START + HOUR,
                            ends_at=START + 2 * HOUR)["id"]
    e.publish(m, aid)
    env.clock.advance(5 * HOUR)
    counts = env.worker.run_once()
    assert (counts["started"], counts["ended"]) == (1, 1)
    assert stored_activity(e, aid).status == "ended"


def test_a_paused_activitys_rooms_still_expire_on_time(env):
    """Pausing stops new actions, not the consequences of earlier ones: a group still expires
    and is refunded when its time is up."""
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy", config_for("group_buy", expiry_hours=1))
    room = ok(e.act(aid, "start", ALICE))["room"]
    e.pause(m, aid)
    env.clock.advance(2 * HOUR)
    assert env.worker.run_once()["timers"] == 1
    assert next(r for r in read_all(e, aid)["rooms"] if r.id == room).status == "expired"
    assert env.worker.run_once()["activities"] == 0  # nothing left due: no busy loop
    assert invariants(e, aid) == []


def test_the_worker_wakes_long_polls_of_this_process(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy", config_for("group_buy", expiry_hours=1))
    ok(e.act(aid, "start", ALICE))
    mark = e.notifier.mark(aid)
    env.clock.advance(HOUR)
    env.worker.run_once()
    assert e.notifier.mark(aid) != mark


# webhooks: the request ---------------------------------------------------------------------

def test_the_request_is_signed_and_a_tampered_body_would_not_verify(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    room = ok(e.act(aid, "start", ALICE))["room"]
    env.worker.run_once()
    [request] = env.receiver.requests
    event = events_of(e, aid)[0]

    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Magic-Cube-Event-Id"] == str(event["id"])
    assert request.headers["Magic-Cube-Event"] == "group.started"
    assert request.json == {"id": event["id"], "type": "group.started", "activity_id": aid,
                            "seq": 1, "data": {"room": room, "leader": "alice"},
                            "created_at": "2026-11-11T02:00:00Z"}

    # The receiver's side: recompute the HMAC over "<t>." + the raw body with the secret.
    header = request.headers["Magic-Cube-Signature"]
    parts = dict(p.split("=", 1) for p in header.split(","))
    assert int(parts["t"]) == START
    expected = hmac.new(m.webhook_secret.encode(), f"{parts['t']}.".encode() + request.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    assert verify(m.webhook_secret, header, request.body, now=START + 10)

    tampered = request.body.replace(b'"alice"', b'"mallory"')
    assert tampered != request.body
    forged = hmac.new(m.webhook_secret.encode(), f"{parts['t']}.".encode() + tampered,
                      hashlib.sha256).hexdigest()
    assert forged != parts["v1"]
    assert not verify(m.webhook_secret, header, tampered, now=START + 10)
    assert not verify("another secret", header, request.body, now=START + 10)
    # A replayed request outside the tolerance window is refused too.
    assert not verify(m.webhook_secret, header, request.body, now=START + 301)
    assert not verify(m.webhook_secret, "garbage", request.body, now=START)


def documented_verify():
    """The receiver's `verify` from docs/api.md, executed as written."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    section = doc.split("### Verifying the signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)
    return namespace["verify"]


def test_the_documented_receiver_code_verifies_a_real_request(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    env.worker.run_once()
    [request] = env.receiver.requests
    header = request.headers["Magic-Cube-Signature"]
    verify_doc = documented_verify()
    assert verify_doc(m.webhook_secret, header, request.body, now=START + 299)
    assert not verify_doc(m.webhook_secret, header, request.body + b" ", now=START)
    assert not verify_doc(m.webhook_secret, header, request.body, now=START + 301)
    assert not verify_doc(m.webhook_secret, "t=x", request.body, now=START)


def test_sign_matches_the_documented_recipe():
    body = b'{"id":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", 1_700_000_000, body) == f"t=1700000000,v1={expected}"


def test_backoff_is_full_jitter_under_an_exponential_ceiling_and_a_cap():
    rng = random.Random(1)
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (5, 100), (40, 100)]:
        waits = [backoff(attempts, 10, 100, rng) for _ in range(300)]
        assert 1 <= min(waits) and max(waits) <= ceiling
        assert max(waits) > ceiling * 0.8 and min(waits) < ceiling * 0.3  # spread, not fixed


# webhooks: retries, dead-letter, order --------------------------------------------------------

def test_a_failing_receiver_is_retried_with_backoff_then_succeeds(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    statuses = iter([500, 503])
    env.receiver.answer = lambda r: next(statuses, 200)

    counts = env.worker.run_once()
    assert (counts["failed"], counts["delivered"]) == (1, 0)
    [event] = events_of(e, aid)
    assert event["attempts"] == 1 and event["last_error"] == "HTTP 500: nope"
    first_retry = event["next_attempt_at"]
    assert START + 1 <= first_retry <= START + 10  # base × 2^0

    env.worker.run_once()  # not due yet: nothing sent
    assert len(env.receiver.requests) == 1
    env.clock.now = first_retry
    assert env.worker.run_once()["failed"] == 1
    [event] = events_of(e, aid)
    assert event["attempts"] == 2 and event["last_error"].startswith("HTTP 503")
    assert first_retry + 1 <= event["next_attempt_at"] <= first_retry + 20  # base × 2^1

    env.clock.now = event["next_attempt_at"]
    assert env.worker.run_once()["delivered"] == 1
    [event] = events_of(e, aid)
    assert event["delivered_at"] == env.clock.now and event["attempts"] == 3
    assert [r.status for r in env.receiver.requests] == [500, 503, 200]
    assert len({r.event_id for r in env.receiver.requests}) == 1  # the same event each time


@pytest.mark.parametrize("answer", [404, 301, 400, "hang", "refused"])
def test_anything_but_a_timely_2xx_is_a_failed_attempt(env, answer):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    if answer == "refused":
        set_webhook(e, m, "http://127.0.0.1:9/hook")  # discard port: nothing listens
    else:
        env.receiver.answer = lambda r: answer
    assert env.worker.run_once()["failed"] == 1
    [event] = events_of(e, aid)
    assert event["delivered_at"] is None and event["attempts"] == 1
    expected = {"hang": "timeout", "refused": "connection error"}.get(answer, f"HTTP {answer}")
    assert event["last_error"].startswith(expected)


def test_dead_letter_after_max_attempts_then_the_next_event_goes(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    group_starts(e, aid, 2)
    first, second = (ev["id"] for ev in events_of(e, aid))
    env.receiver.answer = lambda r: 500 if r.event_id == first else 200

    for attempt in range(1, SETTINGS["webhook_max_attempts"]):
        assert env.worker.run_once()["failed"] == 1
        assert events_of(e, aid)[0]["attempts"] == attempt
        assert second not in [r.event_id for r in env.receiver.requests]  # waits behind it
        env.clock.advance(SETTINGS["webhook_backoff_cap"])
    counts = env.worker.run_once()
    assert counts["dead"] == 1
    assert counts["delivered"] == 1  # the next event went in the same pass
    dead, delivered = events_of(e, aid)
    assert dead["dead_at"] == env.clock.now and dead["attempts"] == SETTINGS["webhook_max_attempts"]
    assert dead["last_error"] == "HTTP 500: nope" and dead["next_attempt_at"] is None
    assert delivered["delivered_at"] is not None
    assert [r.event_id for r in env.receiver.requests] == [first] * 4 + [second]
    assert [ev["id"] for ev in events_of(e, aid, "dead")] == [first]
    env.clock.advance(10 * HOUR)
    env.worker.run_once()
    assert len(env.receiver.requests) == 5  # a dead event is not retried by itself


def test_events_of_an_activity_are_delivered_strictly_in_order(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy", config_for("group_buy", stock=50, groups_per_participant=1))
    group_starts(e, aid, 12)
    ids = [ev["id"] for ev in events_of(e, aid)]
    flaky = random.Random(3)
    env.receiver.answer = lambda r: 500 if flaky.random() < 0.5 else 200
    drain(env)

    ok_ids = env.receiver.ok_ids()
    assert ok_ids == ids  # each delivered once, in order
    # No request for an event was made before every earlier event was delivered.
    delivered: set[int] = set()
    for r in env.receiver.requests:
        assert all(i in delivered for i in ids if i < r.event_id), r.event_id
        if r.ok:
            delivered.add(r.event_id)
    assert any(not r.ok for r in env.receiver.requests)


def test_an_activity_whose_receiver_fails_does_not_hold_up_another(env):
    e, m = env.engine, env.merchant
    other = create_merchant(e, "Other shop")
    set_webhook(e, other, env.receiver.url("/down"))
    stuck = publish(e, other, "group_buy")
    fine = publish(e, m, "group_buy")
    group_starts(e, stuck, 2)
    group_starts(e, fine, 3)
    env.receiver.answer = lambda r: 503 if r.path == "/down" else 200

    env.worker.run_once()
    assert env.receiver.ok_ids("/hook") == [ev["id"] for ev in events_of(e, fine)]
    pending = events_of(e, stuck, "pending")
    assert len(pending) == 2 and pending[0]["attempts"] == 1 and pending[1]["attempts"] == 0


def test_redelivery_of_a_dead_event(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    [event] = events_of(e, aid)
    env.receiver.answer = lambda r: 500
    for _ in range(SETTINGS["webhook_max_attempts"]):
        env.worker.run_once()
        env.clock.advance(SETTINGS["webhook_backoff_cap"])
    assert events_of(e, aid, "dead")

    env.receiver.answer = None  # the receiver is fixed
    again = e.redeliver_event(m, aid, event["id"])
    assert (again["status"], again["attempts"], again["last_error"]) == ("pending", 0, None)
    assert again["next_attempt_at"] == env.clock.now
    with pytest.raises(EventPending):  # already pending
        e.redeliver_event(m, aid, event["id"])
    assert env.worker.run_once()["delivered"] == 1
    assert events_of(e, aid, "delivered")[0]["attempts"] == 1
    assert env.receiver.requests[-1].event_id == event["id"]

    # A delivered event can be sent again too; unknown ids and other merchants get 404s.
    assert e.redeliver_event(m, aid, event["id"])["status"] == "pending"
    with pytest.raises(EventNotFound):
        e.redeliver_event(m, aid, event["id"] + 100)
    with pytest.raises(ActivityNotFound):
        e.redeliver_event(create_merchant(e, "Rival"), aid, event["id"])


def test_delivery_is_at_least_once_across_a_crash(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    # A worker claims the event and "crashes" before recording anything.
    with e.store.transaction() as tx:
        [claimed] = tx.claim_outbox(env.clock.now, SETTINGS["webhook_lease"], 10)
    assert claimed["attempts"] == 1 and claimed["webhook_url"] == env.receiver.url()

    assert env.worker.run_once()["delivered"] == 0  # leased: nobody else takes it
    env.clock.advance(SETTINGS["webhook_lease"] - 1)
    assert env.worker.run_once()["delivered"] == 0
    env.clock.advance(1)
    assert env.worker.run_once()["delivered"] == 1  # the lease ended: delivered after all
    [event] = events_of(e, aid, "delivered")
    assert event["id"] == claimed["id"] and event["attempts"] == 2


def test_two_workers_never_deliver_the_same_event_twice(env):
    e, m = env.engine, env.merchant
    activities = [publish(e, m, "group_buy") for _ in range(5)]
    for n, aid in enumerate(activities):
        group_starts(e, aid, 4, prefix=f"a{n}-")
    all_ids = sorted(ev["id"] for a in activities for ev in events_of(e, a))
    env.receiver.delay = 0.05  # keep requests in flight long enough to overlap

    second_engine = engine_on(env.url, env.clock)
    workers = [env.worker, Worker(second_engine)]
    start = threading.Barrier(2)
    passes: dict[int, list[dict[str, int]]] = defaultdict(list)

    def run(i: int) -> None:
        start.wait()
        for _ in range(6):
            passes[i].append(workers[i].run_once())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    workers[1].close()
    second_engine.store.close()

    received = [r.event_id for r in env.receiver.requests]
    assert sorted(received) == all_ids  # every event exactly once
    for aid in activities:  # and in order per activity
        ids = [ev["id"] for ev in events_of(e, aid)]
        assert [i for i in received if i in ids] == ids
    assert all(sum(p["delivered"] for p in passes[i]) > 0 for i in range(2)), "both worked"


def test_merchants_without_a_webhook_url_keep_their_events_pending(env):
    e, m = env.engine, env.merchant
    set_webhook(e, m, None)
    aid = publish(e, m, "group_buy")
    group_starts(e, aid, 2)
    env.clock.advance(HOUR)
    assert env.worker.run_once()["delivered"] == 0
    assert env.receiver.requests == []
    pending = events_of(e, aid, "pending")
    assert len(pending) == 2 and all(ev["attempts"] == 0 for ev in pending)
    set_webhook(e, m, "")  # empty counts as none
    assert env.worker.run_once()["delivered"] == 0
    # Once a URL is set, what waited is delivered, in order.
    set_webhook(e, m, env.receiver.url())
    assert env.worker.run_once()["delivered"] == 2
    assert env.receiver.ok_ids() == [ev["id"] for ev in pending]


def test_list_events_filters_by_status_and_pages(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    group_starts(e, aid, 5)
    ids = [ev["id"] for ev in events_of(e, aid)]
    env.receiver.answer = lambda r: 500 if r.event_id == ids[2] else 200
    env.worker.run_once()

    page, cursor = e.list_events(m, aid, limit=2)
    assert [ev["id"] for ev in page] == ids[:2] and cursor == ids[1]
    page, cursor = e.list_events(m, aid, after=cursor, limit=10)
    assert [ev["id"] for ev in page] == ids[2:] and cursor is None
    delivered, _ = e.list_events(m, aid, status="delivered")
    pending, _ = e.list_events(m, aid, status="pending")
    assert [ev["id"] for ev in delivered] == ids[:2]
    assert [ev["id"] for ev in pending] == ids[2:]
    assert pending[0]["attempts"] == 1 and pending[0]["last_error"] == "HTTP 500: nope"
    assert e.list_events(m, aid, status="dead") == ([], None)


# running it -------------------------------------------------------------------------------

def test_run_forever_passes_until_stopped(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    stop = threading.Event()
    worker = Worker(e, interval=0.05)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while not env.receiver.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    ok(e.act(aid, "start", BOB))
    while len(env.receiver.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert [r.json["data"]["leader"] for r in env.receiver.requests] == ["alice", "bob"]


def test_worker_command_once(tmp_path, receiver):
    clock = Clock(int(time.time()))  # the command runs on the real clock
    e = make_engine(tmp_path, clock)
    m = create_merchant(e)
    set_webhook(e, m, receiver.url())
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    e.store.close()
    result = CliRunner().invoke(worker_command, ["--once", "--database", db_url(tmp_path)])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert counts["delivered"] == 1
    assert [r.json["type"] for r in receiver.requests] == ["group.started"]


def test_worker_command_stops_gracefully_on_sigterm(tmp_path, receiver):
    e = make_engine(tmp_path, Clock(int(time.time())))
    m = create_merchant(e)
    set_webhook(e, m, receiver.url())
    aid = publish(e, m, "group_buy")
    ok(e.act(aid, "start", ALICE))
    e.store.close()
    script = "from magic_cube.worker.command import worker; worker()"
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--database", db_url(tmp_path), "--interval", "0.1"],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.requests, "the worker delivered nothing"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert "SIGTERM: stopping" in output and "worker stopped" in output


# the merchant API -------------------------------------------------------------------------

@pytest.fixture
def api(app, shop, receiver):
    from magic_cube.api import events

    smorest = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    if "events" not in app.blueprints:  # until app.py registers it
        smorest.register_blueprint(events.blp)
    set_webhook(shop.engine, shop.merchant, receiver.url())
    return shop


def test_api_lists_events_with_their_delivery_state(api, receiver):
    activity = api.live("group_buy")
    aid = activity["id"]
    for who in ("alice", "bob"):
        assert api.act(aid, "start", who).status_code == 200
    receiver.answer = lambda r: 500 if r.json["data"]["leader"] == "bob" else 200
    Worker(api.engine).run_once()

    url = f"/v1/merchant/activities/{aid}/events"
    r = api.client.get(url, headers=api.headers)
    assert r.status_code == 200
    body = r.get_json()
    assert [ev["status"] for ev in body["items"]] == ["delivered", "pending"]
    first, second = body["items"]
    assert first["type"] == "group.started" and first["data"]["leader"] == "alice"
    assert first["created_at"].endswith("Z") and first["delivered_at"].endswith("Z")
    assert second["attempts"] == 1 and second["last_error"] == "HTTP 500: nope"
    assert second["next_attempt_at"].endswith("Z")
    assert body["next_cursor"] is None

    r = api.client.get(url, query_string={"status": "pending"}, headers=api.headers)
    assert [ev["id"] for ev in r.get_json()["items"]] == [second["id"]]
    r = api.client.get(url, query_string={"limit": 1}, headers=api.headers)
    assert r.get_json()["next_cursor"] == first["id"]
    r = api.client.get(url, query_string={"after": first["id"]}, headers=api.headers)
    assert [ev["id"] for ev in r.get_json()["items"]] == [second["id"]]
    r = api.client.get(url, query_string={"status": "lost"}, headers=api.headers)
    assert r.status_code == 422 and r.get_json()["error"] == "validation_error"
    assert api.client.get(url).status_code == 401


def test_api_redelivers_a_delivered_event(api, receiver, other_shop):
    aid = api.live("group_buy")["id"]
    assert api.act(aid, "start", "alice").status_code == 200
    Worker(api.engine).run_once()
    [event] = api.client.get(f"/v1/merchant/activities/{aid}/events",
                             headers=api.headers).get_json()["items"]
    url = f"/v1/merchant/activities/{aid}/events/{event['id']}/redeliver"

    r = api.client.post(url, headers=api.headers)
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["status"], r.get_json()["attempts"]) == ("pending", 0)
    r = api.client.post(url, headers=api.headers)
    assert r.status_code == 409 and r.get_json()["error"] == "event_pending"
    Worker(api.engine).run_once()
    assert [q.event_id for q in receiver.requests] == [event["id"], event["id"]]

    missing = f"/v1/merchant/activities/{aid}/events/{event['id'] + 1}/redeliver"
    r = api.client.post(missing, headers=api.headers)
    assert r.status_code == 404 and r.get_json()["error"] == "event_not_found"
    r = api.client.post(url, headers=other_shop.headers)
    assert r.status_code == 404 and r.get_json()["error"] == "activity_not_found"


def test_api_documents_the_event_routes(api):
    spec = api.client.get("/openapi.json").get_json()
    listing = spec["paths"]["/v1/merchant/activities/{activity_id}/events"]["get"]
    assert {"200", "401", "404", "422"} <= set(listing["responses"])
    redeliver = spec["paths"][
        "/v1/merchant/activities/{activity_id}/events/{event_id}/redeliver"]["post"]
    assert "event_not_found" in redeliver["responses"]["404"]["description"]
    assert "activity_not_found" in redeliver["responses"]["404"]["description"]
    assert "event_pending" in redeliver["responses"]["409"]["description"]


def test_the_worker_forgets_idempotency_keys_past_their_time(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    ok(e.act(aid, "draw", ALICE, idempotency_key="k1"))
    assert env.worker.run_once()["expired_keys"] == 0
    env.clock.advance(e.settings.idempotency_ttl + 120)
    assert env.worker.run_once()["expired_keys"] == 1
    with e.store.transaction(write=False) as tx:
        assert tx.get_idempotency(aid, "alice", "k1") is None
