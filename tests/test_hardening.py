"""Inputs an independent client threw at the API, the server's own behaviour under the
production command, readiness, request ids and JSON logs.

API tests run on both stores (the `app` below is parametrized like the test_api_* modules');
tests about the server itself start a real gunicorn on SQLite.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time

import flask
import pytest
import requests
from gunicorn_server import ROOT, Gunicorn
from stores import STORE_PARAMS, store_url
from test_api_errors import assert_error_body

import magic_cube.engine as engine_module
from magic_cube import logs
from magic_cube.app import create_app, instance_secret

ACTIVITIES = "/v1/merchant/activities"
MAX_INT64 = 2**63 - 1


@pytest.fixture(params=STORE_PARAMS)
def app(request, tmp_path, clock, catalog):
    url, cleanup = store_url(request.param, tmp_path)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": url, "long_poll_interval": 0.1}})
    yield app
    app.extensions["magic_cube"].store.close()
    cleanup()


def action_log(client, shop, activity_id: str) -> list:
    r = client.get(f"{ACTIVITIES}/{activity_id}/actions", headers=shop.headers)
    assert r.status_code == 200
    return r.get_json()["items"]


# --- lone surrogates ----------------------------------------------------------------------------

LONE = "\ud800"


def raw_json(body: dict) -> str:
    """`body` as the client sent it: json.dumps writes a lone surrogate as its `\\ud800` escape."""
    text = json.dumps(body)
    assert "\\ud" in text
    return text


@pytest.mark.parametrize("body", [
    {"room": LONE},
    {"room": "r" + "\udfff"},
    {"params": {LONE: 1}},
    {"params": {"deep": [{"deeper": ["ok", LONE]}]}},
])
def test_a_lone_surrogate_in_a_participant_action_is_400_and_writes_nothing(client, shop, body):
    gift = shop.live("gift")["id"]
    r = client.post(f"/v1/activities/{gift}/actions/claim", data=raw_json(body),
                    headers=shop.as_("amy"), content_type="application/json")
    assert_error_body(r, 400, "invalid_json")
    assert action_log(client, shop, gift) == []


def test_a_lone_surrogate_in_action_params_is_400(client, shop):
    gift = shop.live("gift")["id"]
    body = raw_json({"params": {"shares": 2, "message": "hi " + LONE}})
    r = client.post(f"/v1/activities/{gift}/actions/send", data=body, headers=shop.as_("amy"),
                    content_type="text/plain")
    assert_error_body(r, 400, "invalid_json")
    assert action_log(client, shop, gift) == []


@pytest.mark.parametrize("body", [
    {"template_id": "gift", "title": LONE, "config": {"gift_name": "T", "mode": "units"}},
    {"template_id": "gift", "config": {"gift_name": LONE, "mode": "units"}},
    {"template_id": "gift", "config": {"gift_name": "T", "mode": "units", LONE: "x"}},
    {"template_id": LONE},
])
def test_a_lone_surrogate_in_a_new_activity_is_400_and_creates_nothing(client, shop, body):
    r = client.post(ACTIVITIES, data=raw_json(body), headers=shop.headers,
                    content_type="application/json")
    assert_error_body(r, 400, "invalid_json")
    assert client.get(ACTIVITIES, headers=shop.headers).get_json()["items"] == []


def test_a_lone_surrogate_in_a_patch_is_400_and_changes_nothing(client, shop):
    activity = shop.create("gift", title="Before")
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", data=raw_json({"title": LONE}),
                     headers=shop.headers, content_type="application/json")
    assert_error_body(r, 400, "invalid_json")
    r = client.get(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers)
    assert r.get_json()["title"] == "Before"


@pytest.mark.parametrize("body", [
    {"participant": LONE, "params": {"count": 1}},
    {"participant": "u1", "params": {"count": 1, "reason": "VIP " + LONE}},
])
def test_a_lone_surrogate_in_a_merchant_action_is_400(client, shop, body):
    lottery = shop.live("lottery")["id"]
    r = client.post(f"{ACTIVITIES}/{lottery}/actions/grant", data=raw_json(body),
                    headers=shop.headers, content_type="application/json")
    assert_error_body(r, 400, "invalid_json")
    assert action_log(client, shop, lottery) == []


@pytest.mark.parametrize("body", [{"participant": LONE},
                                  {"participant": "u", "display_name": LONE}])
def test_a_lone_surrogate_in_a_token_request_is_400(client, shop, body):
    r = client.post("/v1/merchant/participant-tokens", data=raw_json(body), headers=shop.headers,
                    content_type="application/json")
    assert_error_body(r, 400, "invalid_json")


def test_a_surrogate_pair_is_ordinary_text(client, shop):
    body = json.dumps({"template_id": "gift", "title": "Tea \U0001F375",
                       "config": {"gift_name": "T", "mode": "units"}})
    assert "\\ud83c\\udf75" in body
    r = client.post(ACTIVITIES, data=body, headers=shop.headers, content_type="application/json")
    assert r.status_code == 201
    assert r.get_json()["title"] == "Tea \U0001F375"


def test_an_escaped_backslash_before_u0000_is_not_a_nul(client, shop):
    body = json.dumps({"template_id": "gift", "title": "C:\\u0000",
                       "config": {"gift_name": "T", "mode": "units"}})
    r = client.post(ACTIVITIES, data=body, headers=shop.headers, content_type="application/json")
    assert r.status_code == 201 and r.get_json()["title"] == "C:\\u0000"


# --- 64-bit cursors -----------------------------------------------------------------------------


@pytest.mark.parametrize("after", [str(MAX_INT64 + 1), "99999999999999999999999", "-1"])
def test_an_action_log_cursor_beyond_64_bits_is_422(client, shop, after):
    lottery = shop.live("lottery")["id"]
    r = client.get(f"{ACTIVITIES}/{lottery}/actions?after={after}", headers=shop.headers)
    errors = assert_error_body(r, 422, "validation_error")["errors"]
    assert errors["after"][0]["code"] == "range"


def test_the_largest_cursor_is_an_empty_page(client, shop):
    lottery = shop.live("lottery")["id"]
    r = client.get(f"{ACTIVITIES}/{lottery}/actions?after={MAX_INT64}", headers=shop.headers)
    assert r.status_code == 200 and r.get_json() == {"items": [], "next_cursor": None}


def test_an_event_cursor_beyond_64_bits_is_422(client, shop):
    lottery = shop.live("lottery")["id"]
    r = client.get(f"{ACTIVITIES}/{lottery}/events?after={MAX_INT64 + 1}", headers=shop.headers)
    errors = assert_error_body(r, 422, "validation_error")["errors"]
    assert errors["after"][0]["code"] == "range"


def test_an_event_id_beyond_64_bits_in_a_path_is_404(client, shop):
    lottery = shop.live("lottery")["id"]
    r = client.post(f"{ACTIVITIES}/{lottery}/events/{MAX_INT64 + 1}/redeliver",
                    headers=shop.headers)
    assert_error_body(r, 404, "not_found")
    r = client.post(f"{ACTIVITIES}/{lottery}/events/{MAX_INT64}/redeliver", headers=shop.headers)
    assert_error_body(r, 404, "event_not_found")


# --- numbers in query strings and paths: ASCII digits only -------------------------------------

# What int() and float() read besides ASCII digits: underscores, a fullwidth 1, an Arabic-Indic
# 1, a sign, a space, an exponent.
NOT_ASCII_DIGITS = ["1_0", "%EF%BC%91", "%D9%A1", "+1", "%201", "1e1"]


@pytest.mark.parametrize("wait", [*NOT_ASCII_DIGITS[:-1], "1.", ".5", "0x1", "inf", "1e5",
                                  "%D9%A1e1", "1e%D9%A1"])
def test_a_wait_not_in_ascii_digits_is_invalid_wait(client, shop, wait):
    lottery = shop.live("lottery")["id"]
    for path in ("", "/me"):
        r = client.get(f"/v1/activities/{lottery}{path}?wait={wait}", headers=shop.as_("amy"))
        assert "wait" in assert_error_body(r, 422, "invalid_wait")["errors"]


@pytest.mark.parametrize("wait", ["0.3", "3e-1", "3E-1"])
def test_a_wait_with_a_fraction_or_an_exponent_is_read(client, shop, wait):
    lottery = shop.live("lottery")["id"]
    etag = client.get(f"/v1/activities/{lottery}").headers["ETag"]
    started = time.monotonic()
    r = client.get(f"/v1/activities/{lottery}?wait={wait}", headers={"If-None-Match": etag})
    assert r.status_code == 304 and time.monotonic() - started >= 0.25


@pytest.mark.parametrize("value", NOT_ASCII_DIGITS)
def test_a_cursor_or_a_limit_not_in_ascii_digits_is_422(client, shop, value):
    lottery = shop.live("lottery")["id"]
    for listing in ("actions", "events", "redemptions"):
        for field in ("after", "limit") if listing != "redemptions" else ("limit",):
            r = client.get(f"{ACTIVITIES}/{lottery}/{listing}?{field}={value}",
                           headers=shop.headers)
            errors = assert_error_body(r, 422, "validation_error")["errors"]
            assert errors[field][0]["code"] == "type", (listing, field)
    r = client.get(f"{ACTIVITIES}?limit={value}", headers=shop.headers)
    assert assert_error_body(r, 422, "validation_error")["errors"]["limit"][0]["code"] == "type"


def test_an_event_id_in_other_digits_names_no_route(client, shop):
    lottery = shop.live("lottery")["id"]
    for digit in ("%D9%A1", "%EF%BC%91"):
        r = client.post(f"{ACTIVITIES}/{lottery}/events/{digit}/redeliver", headers=shop.headers)
        assert_error_body(r, 404, "not_found")


# --- Retry-After --------------------------------------------------------------------------------


def test_successes_carry_rate_limit_headers_but_no_retry_after(client, shop):
    lottery = shop.live("lottery")["id"]
    view = client.get(f"/v1/activities/{lottery}")
    assert view.status_code == 200 and "X-RateLimit-Limit" in view.headers
    assert "Retry-After" not in view.headers
    again = client.get(f"/v1/activities/{lottery}", headers={"If-None-Match": view.headers["ETag"]})
    assert again.status_code == 304 and "Retry-After" not in again.headers
    draw = client.post(f"/v1/activities/{lottery}/actions/draw", headers=shop.as_("amy"))
    assert draw.status_code == 200 and "Retry-After" not in draw.headers
    refused = client.post(f"/v1/activities/{lottery}/actions/nope", headers=shop.as_("amy"))
    assert refused.status_code == 404 and "Retry-After" not in refused.headers


def test_a_429_still_says_when_to_retry(tmp_path, catalog):
    app = create_app({"CATALOG": catalog, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/limits.db", "rate_limit_ip": "1/minute"}})
    client = app.test_client()
    assert "Retry-After" not in client.get("/v1/activities/act_none").headers
    refused = client.get("/v1/activities/act_none")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


# --- Idempotency-Key with a control character ------------------------------------------------


@pytest.mark.parametrize("key", ["a\x01b", "a\tb", "a\x7fb", "tab\t", "\x1b[31m"])
def test_a_key_with_a_control_character_is_the_json_400(client, shop, key):
    lottery = shop.live("lottery")["id"]
    r = client.post(f"/v1/activities/{lottery}/actions/draw",
                    headers=shop.as_("amy", extra={"Idempotency-Key": key}))
    assert_error_body(r, 400, "invalid_idempotency_key")
    assert action_log(client, shop, lottery) == []


# --- readiness ----------------------------------------------------------------------------------


def test_readyz_is_ok_on_a_migrated_database(client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_readyz_is_503_while_a_migration_is_missing(client, monkeypatch):
    known = engine_module.MIGRATIONS
    monkeypatch.setattr(engine_module, "MIGRATIONS", [*known, (10_000, "from the future", [])])
    body = assert_error_body(client.get("/readyz"), 503, "unavailable")
    assert body["errors"] == {"migrations": [{"code": "not_ready",
                                              "message": "not applied: 10000"}]}
    assert client.get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_is_503_when_the_database_does_not_answer(client, engine, monkeypatch):
    def down(write: bool = True):
        raise OSError("connection refused")

    monkeypatch.setattr(engine.store, "transaction", down)
    body = assert_error_body(client.get("/readyz"), 503, "unavailable")
    assert set(body["errors"]) == {"database", "migrations"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/v1/activities/a"])
def test_probes_metrics_and_the_api_open_no_console_session(app, path):
    with app.test_request_context(path, headers={"Cookie": "session=forged"}):
        assert app.session_interface.open_session(app, flask.request) is None
    with app.test_request_context("/console/login"):
        assert app.session_interface.open_session(app, flask.request) is not None


# --- request ids and JSON logs ------------------------------------------------------------------


def test_a_sane_request_id_is_echoed(client):
    r = client.get("/healthz", headers={"X-Request-Id": "9f0c-aa:trace/1=x"})
    assert r.headers["X-Request-Id"] == "9f0c-aa:trace/1=x"


@pytest.mark.parametrize("sent", [None, "", "has space", "x" * 129, "bad\x01", "é"])
def test_another_request_id_is_replaced_by_a_new_one(client, sent):
    headers = {} if sent is None else {"X-Request-Id": sent}
    first = client.get("/nope", headers=headers).headers["X-Request-Id"]
    second = client.get("/nope", headers=headers).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


@pytest.fixture
def json_log(tmp_path, catalog):
    """(app with log_format=json, the lines its process logs); the root logger's handlers are
    restored afterwards."""
    root = logging.getLogger()
    saved = [(handler, handler.formatter) for handler in root.handlers]
    stream = io.StringIO()
    mine = logging.StreamHandler(stream)
    root.addHandler(mine)
    app = create_app({"CATALOG": catalog, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/logs.db", "log_format": "json"}})
    yield app, stream
    root.removeHandler(mine)
    for handler, formatter in saved:
        handler.setFormatter(formatter)
    app.extensions["magic_cube"].store.close()


def test_json_logs_carry_the_request_id(json_log, monkeypatch):
    app, stream = json_log
    engine = app.extensions["magic_cube"]

    def down(write: bool = True):
        raise OSError("connection refused")

    monkeypatch.setattr(engine.store, "transaction", down)
    r = app.test_client().get("/readyz", headers={"X-Request-Id": "req-42"})
    assert r.status_code == 503 and r.headers["X-Request-Id"] == "req-42"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    ours = [line for line in lines if line["logger"] == "magic_cube.engine"]
    assert ours and ours[0]["level"] == "ERROR" and ours[0]["request_id"] == "req-42"
    assert "connection refused" in ours[0]["message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ours[0]["time"])


def test_an_unknown_log_format_is_refused(tmp_path, catalog):
    with pytest.raises(ValueError, match="log_format"):
        create_app({"CATALOG": catalog, "SETTINGS": {
            "database_url": f"sqlite:///{tmp_path}/x.db", "log_format": "xml"}})


def test_gunicorn_access_lines_become_fields():
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "%(r)s", None, None)
    record.args = {"h": "10.0.0.1", "m": "GET", "U": "/v1/activities/a", "q": "wait=25",
                   "s": "304", "B": 0, "D": 1500, "a": "wx", "{x-request-id}o": "abc"}
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["status"] == 304 and line["duration_ms"] == 1.5 and line["request_id"] == "abc"
    assert line["path"] == "/v1/activities/a" and line["message"] == "GET /v1/activities/a 304"



def test_a_worker_takes_the_loaded_app_out_of_the_collectors_sight(tmp_path):
    # What a gunicorn worker runs: the app loaded (wsgi.py), then the config's hook. A full
    # collection walks only what the collector still tracks.
    script = f"""
import gc, json, runpy, sys
sys.path.insert(0, {str(ROOT)!r})
from wsgi import app
conf = runpy.run_path({str(ROOT / "gunicorn.conf.py")!r})
tracked = len(gc.get_objects())
conf["post_worker_init"](None)
print(json.dumps({{"tracked_before": tracked, "frozen": gc.get_freeze_count(),
                  "tracked_after": len(gc.get_objects())}}))
"""
    env = {**os.environ, "MAGIC_CUBE_DATABASE_URL": f"sqlite:///{tmp_path}/app.db"}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["tracked_before"] > 50_000
    assert counts["frozen"] >= counts["tracked_before"] // 2
    assert counts["tracked_after"] < 1_000

# --- the console's session key ------------------------------------------------------------------


def test_the_instance_key_is_made_once_private_and_shared(tmp_path):
    folder = tmp_path / "instance"
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(instance_secret(str(folder))))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and re.fullmatch(r"[0-9a-f]{64}", keys[0])
    path = folder / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["secret_key"]
    assert instance_secret(str(folder)) == keys[0]


def test_apps_share_the_instance_key_unless_one_is_set(tmp_path, catalog):
    settings = {"database_url": f"sqlite:///{tmp_path}/k.db"}
    one = create_app({"CATALOG": catalog, "SETTINGS": settings})
    two = create_app({"CATALOG": catalog, "SETTINGS": settings})
    assert one.config["SECRET_KEY"] == two.config["SECRET_KEY"]
    assert one.config["SECRET_KEY"] == instance_secret(one.instance_path)
    chosen = create_app({"CATALOG": catalog, "SETTINGS": {**settings, "secret_key": "s3"}})
    assert chosen.config["SECRET_KEY"] == "s3"
    for app in (one, two, chosen):
        app.extensions["magic_cube"].store.close()


# --- the production server ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Two gevent workers on one SQLite file, JSON logs with the access log on, no
    MAGIC_CUBE_SECRET_KEY."""
    folder = tmp_path_factory.mktemp("server")
    env = {"MAGIC_CUBE_LOG_FORMAT": "json", "MAGIC_CUBE_ACCESS_LOG": "-",
           "MAGIC_CUBE_SECRET_KEY": None}
    with Gunicorn(f"sqlite:///{folder}/server.db", folder / "gunicorn.log", workers=2,
                  env=env) as server:
        yield server


def login_form(url: str) -> tuple[str, str]:
    """(CSRF token, session cookie) of the console's login form, on a new connection."""
    form = requests.get(url + "/console/login", headers={"Connection": "close"}, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    return token.group(1), form.headers["Set-Cookie"].split(";", 1)[0]


def post_login(url: str, token: str, cookie: str) -> requests.Response:
    return requests.post(url + "/console/login",
                         data={"csrf_token": token, "email": "", "password": ""},
                         headers={"Cookie": cookie, "Connection": "close"},
                         allow_redirects=False, timeout=10)


def test_every_process_accepts_every_console_session(server, tmp_path):
    """A form served by one process is posted to another: gunicorn's workers, or a second
    server on the same machine (which makes the crossing certain)."""
    other = Gunicorn(server.env["MAGIC_CUBE_DATABASE_URL"], tmp_path / "other.log", workers=1,
                     env={"MAGIC_CUBE_SECRET_KEY": None}).start()
    try:
        answers = []
        for _ in range(4):
            for first, second in ((server, other), (other, server), (server, server)):
                answers.append(post_login(second.url, *login_form(first.url)))
    finally:
        other.stop()
    assert not [a for a in answers if "The form has expired" in a.text]
    assert {a.status_code for a in answers} <= {200, 400, 422}  # the empty form's own errors


def test_the_server_refuses_a_control_character_in_a_key_with_the_json_body(server):
    for char in (b"\x01", b"\x00", b"\x7f"):
        answer = server.raw(b"POST /v1/activities/act_x/actions/draw HTTP/1.1\r\nHost: t\r\n"
                            b"Idempotency-Key: a" + char + b"b\r\nContent-Length: 2\r\n"
                            b"Connection: close\r\n\r\n{}")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Type: application/json" in head
        assert json.loads(body) == {"error": "invalid_idempotency_key", "status": 400,
                                    "message": "An Idempotency-Key is 1 to 255 visible "
                                               "ASCII characters"}
    answer = server.raw(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Note: a\x01b\r\n"
                        b"Connection: close\r\n\r\n")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "bad_request"


def test_the_server_logs_json_lines_with_request_ids(server):
    r = requests.get(server.url + "/healthz", headers={"X-Request-Id": "probe-7"}, timeout=10)
    assert r.headers["X-Request-Id"] == "probe-7"

    def probe_logged() -> bool:
        lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
        return any(line["logger"] == "gunicorn.access" and line.get("request_id") == "probe-7"
                   and line["path"] == "/healthz" and line["status"] == 200 for line in lines)

    # The access line is written once the answer has gone out.
    deadline = time.monotonic() + 10
    while not probe_logged():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def test_ctrl_c_stops_the_server_quietly(tmp_path):
    server = Gunicorn(f"sqlite:///{tmp_path}/c.db", tmp_path / "c.log", workers=2).start()
    try:
        requests.get(server.url + "/healthz", timeout=10)
        server.signal(signal.SIGINT)
        assert server.wait() == 0
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log and "SystemExit" not in log, log
    assert "Shutting down: Master" in log
