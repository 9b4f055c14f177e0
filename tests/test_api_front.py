"""The front, in front of Flask (api/front.py): it answers plain polls of an activity's
public view, a participant's own view and a room, heartbeats and actions exactly as their routes
do, hands everything else to the routes, and never counts a request (or calls the engine)
twice."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from magic_cube.api.front import ACTION, HEARTBEAT, ME, PUBLIC, Front
from magic_cube.api.limits import Limits
from magic_cube.app import create_app


def front_of(app: Any) -> Front:
    wsgi = app.wsgi_app
    while not isinstance(wsgi, Front):
        wsgi = wsgi.app  # Measured, ProxyFix: each keeps the app it wraps as `app`
    return wsgi


def run(wsgi: Any, path: str, method: str = "GET", query: str = "",
        headers: dict[str, str] | None = None, body: bytes | None = None
        ) -> tuple[str, list[tuple[str, str]], bytes, dict[str, Any]]:
    """(status, headers, body, environ) of one request handed to `wsgi`."""
    environ = EnvironBuilder(path=path, method=method, query_string=query, headers=headers,
                             data=body, content_type="application/json" if body else None
                             ).get_environ()
    return (*call(wsgi, environ), environ)


def call(wsgi: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) of `environ` handed to `wsgi`."""
    started: list[Any] = []
    app_iter = wsgi(environ, lambda status, headers, exc_info=None: started.extend(
        [status, headers]))
    try:
        body = b"".join(app_iter)
    finally:
        getattr(app_iter, "close", lambda: None)()
    return started[0], list(started[1]), body


def flask_answered(environ: dict[str, Any]) -> bool:
    return "werkzeug.request" in environ  # Flask made a request object: the route answered


def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers, with the rate limit's remaining count (one less for each request) left out."""
    return [(k, v) for k, v in headers if k != "X-RateLimit-Remaining"]


def test_the_front_answers_a_poll_as_the_route_does(app, shop):
    activity = shop.live("lottery")["id"]
    front, path = front_of(app), f"/v1/activities/{activity}"
    etag = dict(run(front, path)[1])["ETag"]
    cases = [({}, ""), ({"Accept-Language": "zh-CN,zh;q=0.9"}, ""), ({}, "wait=0"),
             ({"If-None-Match": etag}, ""), ({"If-None-Match": etag}, "wait=0"),
             ({"If-None-Match": '"a0"'}, ""), ({"If-None-Match": f'"a0", {etag}'}, ""),
             ({"If-None-Match": etag, "Accept-Language": "zh"}, ""),
             ({"Authorization": "Bearer forged.token"}, "")]  # counted by address
    bodies = set()
    for headers, query in cases:
        status, got, body, environ = run(front, path, query=query, headers=headers)
        assert not flask_answered(environ), (headers, query)
        want_status, want, want_body, route_environ = run(front.app, path, query=query,
                                                           headers=headers)
        assert flask_answered(route_environ)
        assert (status, comparable(got), body) == (want_status, comparable(want), want_body)
        assert status == ("304 NOT MODIFIED" if etag in headers.get("If-None-Match", "")
                          else "200 OK")
        bodies.add(body)
    assert len(bodies) == 3  # English, Chinese, and no body (a 304)


def test_the_front_answers_a_participants_polls_as_the_routes_do(app, shop):
    activity = shop.live("bargain")["id"]
    started = shop.act(activity, "start", "amy")
    assert started.status_code == 200, started.get_json()
    room = started.get_json()["room"]
    front, base = front_of(app), f"/v1/activities/{activity}"
    amy = {"Authorization": f"Bearer {shop.token('amy')}"}
    ben = {"Authorization": f"Bearer {shop.token('ben')}"}
    answered, counters = 0, app.extensions["magic_cube_limits"].storage
    for path in (f"{base}/me", f"{base}/rooms/{room}", base):
        for who in (amy, ben):
            etag = dict(run(front, path, headers=who)[1])["ETag"]
            for headers, query in (({}, ""), ({}, "wait=0"), ({"If-None-Match": etag}, ""),
                                   ({"If-None-Match": '"x"'}, "wait=0")):
                counters.reset()  # (a participant may poll 5 times a second)
                status, got, body, environ = run(front, path, query=query,
                                                 headers={**who, **headers})
                assert not flask_answered(environ), (path, headers, query)
                want_status, want, want_body, _ = run(front.app, path, query=query,
                                                      headers={**who, **headers})
                assert (status, comparable(got), body) == (want_status, comparable(want),
                                                           want_body)
                answered += status == "200 OK"
    assert answered == 3 * 2 * 3


@pytest.mark.parametrize("path, headers, code", [
    ("/me", {}, "invalid_token"),  # no token: the route's 401
    ("/me", {"Authorization": "Bearer forged.token"}, "invalid_token"),
    ("/me", {"Authorization": "Basic YW15OnB3"}, "invalid_token"),
    ("/rooms/r0", "amy", "room_not_found"),  # the engine's refusal, raised by the route
    ("/rooms/r0", "expired", "token_expired"),
])
def test_a_poll_the_front_cannot_answer_is_the_routes_answer(app, shop, path, headers, code):
    activity = shop.live("bargain")["id"]
    if headers == "amy":
        headers = {"Authorization": f"Bearer {shop.token('amy')}"}
    elif headers == "expired":
        headers = {"Authorization": f"Bearer {shop.token('amy', ttl=1)}"}
        app.extensions["magic_cube"].clock.now += 10  # (the tests' clock)
    front = front_of(app)
    status, got, body, environ = run(front, f"/v1/activities/{activity}{path}", headers=headers)
    assert flask_answered(environ)
    want_status, want, want_body, _ = run(front.app, f"/v1/activities/{activity}{path}",
                                          headers=headers)
    assert (status, comparable(got), body) == (want_status, comparable(want), want_body)
    assert f'"error":"{code}"'.encode() in body


def test_the_front_answers_a_held_poll_when_the_activity_changes(app, shop):
    activity = shop.live("lottery")["id"]
    front, path = front_of(app), f"/v1/activities/{activity}"
    etag = dict(run(front, path)[1])["ETag"]
    status, _, _, environ = run(front, path, query="wait=0.2", headers={"If-None-Match": etag})
    assert status == "304 NOT MODIFIED" and not flask_answered(environ)
    shop.lifecycle(activity, "pause")
    status, headers, body, environ = run(front, path, query="wait=5",
                                         headers={"If-None-Match": etag})
    assert status == "200 OK" and not flask_answered(environ)
    assert dict(headers)["ETag"] != etag and b'"status": "paused"' in body


@pytest.mark.parametrize("request_", [
    {"query": "wait=26"},  # the route's 422 invalid_wait
    {"query": "wait=soon"},
    {"query": "wait=1e+1"},  # `+` is a space once decoded: the route decides
    {"query": "fields=title"},
    {"query": "wait=0&x=1"},
    {"method": "HEAD"},
    {"method": "POST"},
    {"body": b'{"x": 1}'},
    {"suffix": "/"},
    {"suffix": "%00"},
    {"suffix": "\u4e2d"},
])
def test_the_front_hands_everything_else_to_the_route(app, shop, request_):
    activity = shop.live("lottery")["id"]
    front, request_ = front_of(app), dict(request_)
    path = f"/v1/activities/{activity}{request_.pop('suffix', '')}"
    status, headers, body, environ = run(front, path, **request_)
    assert flask_answered(environ)
    want_status, want, want_body, _ = run(front.app, path, **request_)
    assert (status, comparable(headers), body) == (want_status, comparable(want), want_body)


def test_a_poll_the_engine_refuses_is_the_routes_error_from_one_engine_call(app, shop):
    engine = app.extensions["magic_cube"]
    calls = []
    public_view = engine.public_view
    engine.public_view = lambda *args, **kwargs: (calls.append(args),
                                                   public_view(*args, **kwargs))[1]
    try:
        status, headers, body, environ = run(front_of(app), "/v1/activities/act_nothing",
                                             query="wait=5", headers={"If-None-Match": '"a1"'})
    finally:
        del engine.public_view
    assert status == "404 NOT FOUND" and flask_answered(environ)
    assert b'"error":"activity_not_found"' in body and dict(headers)["Cache-Control"] == "no-store"
    assert len(calls) == 1  # the route raised what the front met: not asked, nor held, again


def test_the_front_answers_a_heartbeat_as_the_route_does(app, shop, clock):
    activity = shop.live("lottery")["id"]
    front, path = front_of(app), f"/v1/activities/{activity}/heartbeat"
    for who in ("amy", "ben"):
        assert shop.act(activity, "draw", who).status_code == 200
    clock.advance(8)
    # amy's heartbeat through the front, ben's through the route: the same moment of the
    # same visit, so the same answer (and each credited once).
    amy = {"Authorization": f"Bearer {shop.token('amy')}"}
    ben = {"Authorization": f"Bearer {shop.token('ben')}"}
    status, got, body, environ = run(front, path, method="POST", headers=amy)
    assert not flask_answered(environ)
    want_status, want, want_body, route_environ = run(front.app, path, method="POST",
                                                      headers=ben)
    assert flask_answered(route_environ)
    assert (status, comparable(got), body) == (want_status, comparable(want), want_body)
    assert status == "200 OK" and b'"credited":8' in body
    assert shop.engine.stats(shop.merchant, activity)["totals"]["interaction_seconds"] == 16


@pytest.mark.parametrize("headers, code", [
    ({}, "invalid_token"),
    ({"Authorization": "Bearer forged.token"}, "invalid_token"),
    ("blocked", "participant_blocked"),  # the engine's refusal, raised by the route
])
def test_a_heartbeat_the_front_cannot_answer_is_the_routes_answer(app, shop, headers, code):
    activity = shop.live("lottery")["id"]
    if headers == "blocked":
        r = shop.client.post(f"/v1/merchant/activities/{activity}/blocks", headers=shop.headers,
                             json={"kind": "participant", "value": "amy", "outcome": "refused"})
        assert r.status_code in (200, 201), r.get_json()
        headers = {"Authorization": f"Bearer {shop.token('amy')}"}
    front, path = front_of(app), f"/v1/activities/{activity}/heartbeat"
    status, got, body, environ = run(front, path, method="POST", headers=headers)
    assert flask_answered(environ)
    want_status, want, want_body, _ = run(front.app, path, method="POST", headers=headers)
    assert (status, comparable(got), body) == (want_status, comparable(want), want_body)
    assert f'"error":"{code}"'.encode() in body


def test_a_heartbeat_with_a_body_or_a_query_is_the_routes(app, shop):
    activity = shop.live("lottery")["id"]
    amy = {"Authorization": f"Bearer {shop.token('amy')}"}
    front, path = front_of(app), f"/v1/activities/{activity}/heartbeat"
    for request_ in ({"body": b'{"x": 1}'}, {"body": b"{}"}, {"query": "x=1"}):
        status, _, body, environ = run(front, path, method="POST", headers=amy, **request_)
        assert flask_answered(environ)
        assert status == ("422 UNPROCESSABLE ENTITY" if b"x" in request_.get("body", b"")
                          else "200 OK"), body


def _limited_app(tmp_path, catalog, **settings):
    return create_app({"CATALOG": catalog, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/front.db", **settings}})


def _lottery(app: Any) -> tuple[Any, Any, str]:
    """(engine, merchant, a live lottery's id) on `app`."""
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("front")
    activity = engine.create_activity(merchant, "lottery", {
        "prizes": [{"name": "A", "type": "coupon", "stock": 100, "odds": 100}],
        "draws_per_day": 1, "draws_total": 1})["id"]
    engine.publish(merchant, activity)
    return engine, merchant, activity


def _windows_used(limits: Limits, ip: str, key: str | None = None, endpoint: str = PUBLIC,
                  method: str = "GET") -> list[int]:
    """How many requests each limit a request to `endpoint` by `key` (default: `ip`) from `ip`
    counts against holds."""
    return [limits.window.get_moving_window(counter, limit.amount, limit.seconds)[1]
            for limit, counter in limits.counted_for(key or ip, ip, endpoint, method)]


def test_every_request_through_the_front_is_counted_once(tmp_path, catalog):
    # Two limits: the request the second refuses is in the first's window once, not twice.
    app = _limited_app(tmp_path, catalog, rate_limit_ip="50/minute;4/hour")
    engine, merchant, activity = _lottery(app)
    client, path = app.test_client(), f"/v1/activities/{activity}"
    answers = [client.get(path), client.get("/v1/activities/act_nothing"),
               client.get(path, query_string={"wait": "99"}), client.get(path),
               client.get(path), client.get(path)]
    assert [r.status_code for r in answers] == [200, 404, 422, 200, 429, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] \
        == ["49", "48", "47", "46", "0", "0"]  # the refusing limit's, once refused
    refused = answers[-1]
    assert refused.get_json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert _windows_used(app.extensions["magic_cube_limits"], "ip:127.0.0.1") == [6, 4]
    engine.store.close()


def test_the_front_counts_the_client_a_trusted_proxy_names(tmp_path, catalog):
    app = _limited_app(tmp_path, catalog, rate_limit_ip="2/minute", trusted_proxies=1)
    engine, merchant, activity = _lottery(app)
    client, path = app.test_client(), f"/v1/activities/{activity}"

    def poll(client_ip: str) -> int:
        return client.get(path, headers={"X-Forwarded-For": client_ip}).status_code

    assert [poll("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert poll("198.51.100.2") == 200  # another shopper behind the same proxy
    limits = app.extensions["magic_cube_limits"]
    assert _windows_used(limits, "ip:203.0.113.7") == [2]
    assert _windows_used(limits, "ip:198.51.100.2") == [1]
    engine.store.close()


def test_a_participants_polls_through_the_front_count_against_their_own_limits(tmp_path,
                                                                              catalog):
    app = _limited_app(tmp_path, catalog, rate_limit_polls="2/minute",
                       rate_limit_ip="100/minute")
    engine, merchant, activity = _lottery(app)
    client, path = app.test_client(), f"/v1/activities/{activity}/me"

    def poll(participant: str) -> int:
        token = engine.participant_token(merchant, participant)[0]
        return client.get(path, headers={"Authorization": f"Bearer {token}"}).status_code

    assert [poll("amy") for _ in range(3)] == [200, 200, 429]
    assert poll("ben") == 200  # a budget of their own
    limits = app.extensions["magic_cube_limits"]
    # amy's polls; the address's (her refused poll stopped at her own limit)
    assert _windows_used(limits, "ip:127.0.0.1", f"p:{activity}:amy", ME) == [2, 3]
    engine.store.close()


def test_heartbeats_through_the_front_count_against_the_participants_action_limit(
        tmp_path, catalog):
    app = _limited_app(tmp_path, catalog, rate_limit_actions="2/minute",
                       rate_limit_ip="100/minute")
    engine, merchant, activity = _lottery(app)
    client, path = app.test_client(), f"/v1/activities/{activity}/heartbeat"
    amy = {"Authorization": f"Bearer {engine.participant_token(merchant, 'amy')[0]}"}
    assert [client.post(path, headers=amy).status_code for _ in range(3)] == [200, 200, 429]
    limits = app.extensions["magic_cube_limits"]
    # amy's, then the address's: the refused heartbeat stopped at her own limit
    assert _windows_used(limits, "ip:127.0.0.1", f"p:{activity}:amy", HEARTBEAT, "POST") \
        == [2, 2]
    engine.store.close()


# Actions ---------------------------------------------------------------------------------------

def _action(activity: str, name: str) -> str:
    return f"/v1/activities/{activity}/actions/{name}"


def test_the_front_answers_an_action_as_the_route_does(app, shop):
    # An action cannot be done twice to compare, but its replay can: the second request with
    # an Idempotency-Key answers the first's bytes, whichever of the two answered first.
    activity = shop.live("bargain")["id"]
    front = front_of(app)
    amy, ben = shop.as_("amy"), shop.as_("ben")
    cases = [(amy, "start", b"{}", front, front.app),
             (ben, "start", b"", front.app, front),
             (ben | {"Accept-Language": "zh"}, "help", None, front, front.app),
             (shop.as_("cat"), "help", None, front.app, front)]
    room = None
    for n, (who, name, body, first, again) in enumerate(cases):
        if body is None:  # a help in amy's room
            body = f'{{"room": "{room}", "params": null}}'.encode()
        headers = {**who, "Idempotency-Key": f"key-{n}"}
        status, got, answer, environ = run(first, _action(activity, name), "POST",
                                           headers=headers, body=body or None)
        assert flask_answered(environ) is (first is front.app), n
        assert status == "200 OK", answer
        room = room or json.loads(answer)["room"]
        status2, got2, answer2, environ2 = run(again, _action(activity, name), "POST",
                                               headers=headers, body=body or None)
        assert flask_answered(environ2) is (again is front.app), n
        assert (status2, answer2) == (status, answer)
        assert dict(got2).pop("Idempotent-Replayed") == "true"
        assert comparable(got) == [h for h in comparable(got2) if h[0] != "Idempotent-Replayed"]
    helped = shop.client.get(f"/v1/activities/{activity}/rooms/{room}", headers=amy).get_json()
    assert helped["view"]["helpers"] == 2  # each help done once


def test_the_front_answers_a_refusal_as_the_route_does(app, shop):
    activity = shop.live("bargain")["id"]
    front = front_of(app)
    started = shop.act(activity, "start", "amy")
    room = started.get_json()["room"]
    # amy helping her own bargain: the template's refusal, the same however often asked
    body = json.dumps({"room": room}).encode()
    for headers in (shop.as_("amy"), shop.as_("amy", extra={"Accept-Language": "zh-CN"})):
        status, got, answer, environ = run(front, _action(activity, "help"), "POST",
                                           headers=headers, body=body)
        assert not flask_answered(environ)
        want_status, want, want_answer, _ = run(front.app, _action(activity, "help"), "POST",
                                                headers=headers, body=body)
        assert (status, comparable(got), answer) == (want_status, comparable(want),
                                                     want_answer)
        assert status.startswith("4") and b'"error":' in answer


@pytest.mark.parametrize("request_, code", [
    ({"body": b'{"room": '}, "invalid_json"),
    ({"body": b"[1]"}, "invalid_json"),
    ({"body": b'{"x": 1}'}, "validation_error"),  # (the route's schema: unknown field)
    ({"body": b'{"room": ""}'}, "validation_error"),
    ({"headers": {"Magic-Cube-Device": "no"}}, "validation_error"),
    ({"headers": {"Idempotency-Key": "with space"}}, "invalid_idempotency_key"),
    ({"headers": {"Authorization": ""}}, "invalid_token"),
    ({"headers": {"Authorization": "Bearer forged.token"}}, "invalid_token"),
    ({"action": "fly"}, "unknown_action"),
    ({"activity": "act_nothing"}, "activity_not_found"),
    ({"body": b'{"room": "r0"}', "action": "help"}, "room_not_found"),
    ({"paused": True}, "activity_not_live"),
    ({"headers": {"Magic-Cube-Challenge": "bm9uc2Vuc2U="}}, "challenge_invalid"),
])
def test_an_action_the_front_cannot_answer_is_the_routes_answer(app, shop, request_, code):
    activity = shop.live("bargain")["id"]
    if request_.get("paused"):
        assert shop.lifecycle(activity, "pause").status_code == 200
    front = front_of(app)
    path = _action(request_.get("activity", activity), request_.get("action", "start"))
    headers = {**shop.as_("amy"), **request_.get("headers", {})}
    status, got, body, environ = run(front, path, "POST", headers=headers,
                                     body=request_.get("body"))
    assert flask_answered(environ)
    want_status, want, want_body, _ = run(front.app, path, "POST", headers=headers,
                                          body=request_.get("body"))
    assert (status, comparable(got), body) == (want_status, comparable(want), want_body)
    assert json.loads(body)["error"] == code


def draw_environ(shop: Any, activity: str, path: str = "", **environ: Any) -> dict[str, Any]:
    """The environ of amy's draw (body `{}`), with `path` after its path and `environ`'s
    keys set (None: removed)."""
    out = EnvironBuilder(path=_action(activity, "draw") + path, method="POST",
                         headers=shop.as_("amy"), data=b"{}",
                         content_type="application/json").get_environ()
    for key, value in environ.items():
        if value is None:
            del out[key]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("path, environ", [
    ("", {"QUERY_STRING": "x=1"}),
    ("", {"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked",
          "wsgi.input_terminated": True}),
    ("", {"CONTENT_LENGTH": "2x"}),
    ("/", {}),
    ("/more", {}),
    ("", {"REQUEST_METHOD": "PUT"}),
])
def test_an_action_the_front_does_not_take_is_the_routes(app, shop, path, environ):
    activity = shop.live("lottery")["id"]
    request_ = draw_environ(shop, activity, path, **environ)
    status, _, answer = call(front_of(app), request_)
    assert flask_answered(request_), answer
    assert status[:3] in ("200", "400", "404", "405"), (status, answer)


def test_a_body_over_the_limit_is_refused_before_it_is_read(app, shop):
    activity = shop.live("lottery")["id"]
    environ = draw_environ(shop, activity, CONTENT_LENGTH=str(app.config["MAX_CONTENT_LENGTH"]
                                                              + 1))
    status, _, answer = call(front_of(app), environ)
    assert status.startswith("413") and json.loads(answer)["error"] == "payload_too_large"
    assert environ["wsgi.input"].read() == b"{}"  # left unread


def test_a_body_cut_short_is_refused_not_acted_on(app, shop):
    # The client went away mid-body: the route's 400, and no draw made of what came.
    activity = shop.live("lottery")["id"]
    status, _, answer = call(front_of(app), draw_environ(shop, activity, CONTENT_LENGTH="40"))
    assert status.startswith("400"), answer
    assert shop.engine.stats(shop.merchant, activity)["totals"]["actions"] == 0


def test_an_action_the_engine_refuses_is_the_routes_error_from_one_call(app, shop):
    activity = shop.live("lottery")["id"]
    assert shop.lifecycle(activity, "pause").status_code == 200
    engine = app.extensions["magic_cube"]
    calls = []
    act = engine.act
    engine.act = lambda *args, **kwargs: (calls.append(args), act(*args, **kwargs))[1]
    try:
        status, headers, body, environ = run(front_of(app), _action(activity, "draw"), "POST",
                                             headers=shop.as_("amy"), body=b"{}")
    finally:
        del engine.act
    assert status == "409 CONFLICT" and flask_answered(environ), body
    assert json.loads(body)["error"] == "activity_not_live"
    assert len(calls) == 1  # the route raised what the front met: not asked again


def test_actions_through_the_front_count_once_against_limits_and_challenges(tmp_path,
                                                                           catalog):
    app = _limited_app(tmp_path, catalog, rate_limit_actions="3/minute",
                       rate_limit_ip="100/minute", challenge_after=2, challenge_window=60)
    engine, merchant, activity = _lottery(app)
    client, path = app.test_client(), _action(activity, "draw")

    def draws(who: str, n: int) -> list[Any]:
        token = engine.participant_token(merchant, who)[0]
        return [client.post(path, headers={"Authorization": f"Bearer {token}"}, json={})
                for _ in range(n)]

    # amy: a draw; her second, refused by the template (one draw in all) but counted; then
    # the challenge after two; then her action limit
    answers = draws("amy", 4)
    assert [r.status_code for r in answers] == [200, 409, 428, 429]
    assert [r.get_json().get("error") for r in answers[1:]] \
        == ["no_draws_left", "challenge_required", "rate_limited"]
    limits = app.extensions["magic_cube_limits"]
    assert _windows_used(limits, "ip:127.0.0.1", f"p:{activity}:amy", ACTION, "POST") == [3, 3]
    # ben: a draw the engine refuses (paused), handed to the route, counted once there too
    engine.pause(merchant, activity)
    assert [r.get_json()["error"] for r in draws("ben", 1)] == ["activity_not_live"]
    engine.resume(merchant, activity)
    assert [r.status_code for r in draws("ben", 2)] == [200, 428]
    assert _windows_used(limits, "ip:127.0.0.1", f"p:{activity}:ben", ACTION, "POST") == [3, 6]
    engine.store.close()
