"""The public view's door in front of Flask (api/public_polls.py): it answers plain polls of
`GET /v1/activities/<id>` exactly as the route does, hands everything else to the route, and
never counts a request twice."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from magic_cube.api.limits import Limits
from magic_cube.api.public_polls import ENDPOINT, PublicPolls
from magic_cube.app import create_app


def door_of(app: Any) -> PublicPolls:
    wsgi = app.wsgi_app
    while not isinstance(wsgi, PublicPolls):
        wsgi = wsgi.app  # Measured, ProxyFix: each keeps the app it wraps as `app`
    return wsgi


def run(wsgi: Any, path: str, method: str = "GET", query: str = "",
        headers: dict[str, str] | None = None, body: bytes | None = None
        ) -> tuple[str, list[tuple[str, str]], bytes, dict[str, Any]]:
    """(status, headers, body, environ) of one request handed to `wsgi`."""
    environ = EnvironBuilder(path=path, method=method, query_string=query, headers=headers,
                             data=body, content_type="application/json" if body else None
                             ).get_environ()
    started: list[Any] = []
    app_iter = wsgi(environ, lambda status, headers, exc_info=None: started.extend(
        [status, headers]))
    try:
        body = b"".join(app_iter)
    finally:
        getattr(app_iter, "close", lambda: None)()
    return started[0], list(started[1]), body, environ


def flask_answered(environ: dict[str, Any]) -> bool:
    return "werkzeug.request" in environ  # Flask made a request object: the route answered


def comparable(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers, with the rate limit's remaining count (one less for each request) left out."""
    return [(k, v) for k, v in headers if k != "X-RateLimit-Remaining"]


def test_the_door_answers_a_poll_as_the_route_does(app, shop):
    activity = shop.live("lottery")["id"]
    door, path = door_of(app), f"/v1/activities/{activity}"
    etag = dict(run(door, path)[1])["ETag"]
    cases = [({}, ""), ({"Accept-Language": "zh-CN,zh;q=0.9"}, ""), ({}, "wait=0"),
             ({"If-None-Match": etag}, ""), ({"If-None-Match": etag}, "wait=0"),
             ({"If-None-Match": '"a0"'}, ""), ({"If-None-Match": f'"a0", {etag}'}, ""),
             ({"If-None-Match": etag, "Accept-Language": "zh"}, "")]
    bodies = set()
    for headers, query in cases:
        status, got, body, environ = run(door, path, query=query, headers=headers)
        assert not flask_answered(environ), (headers, query)
        want_status, want, want_body, route_environ = run(door.app, path, query=query,
                                                           headers=headers)
        assert flask_answered(route_environ)
        assert (status, comparable(got), body) == (want_status, comparable(want), want_body)
        assert status == ("304 NOT MODIFIED" if etag in headers.get("If-None-Match", "")
                          else "200 OK")
        bodies.add(body)
    assert len(bodies) == 3  # English, Chinese, and no body (a 304)


def test_the_door_answers_a_held_poll_when_the_activity_changes(app, shop):
    activity = shop.live("lottery")["id"]
    door, path = door_of(app), f"/v1/activities/{activity}"
    etag = dict(run(door, path)[1])["ETag"]
    status, _, _, environ = run(door, path, query="wait=0.2", headers={"If-None-Match": etag})
    assert status == "304 NOT MODIFIED" and not flask_answered(environ)
    shop.lifecycle(activity, "pause")
    status, headers, body, environ = run(door, path, query="wait=5",
                                         headers={"If-None-Match": etag})
    assert status == "200 OK" and not flask_answered(environ)
    assert dict(headers)["ETag"] != etag and b'"status": "paused"' in body


@pytest.mark.parametrize("request_", [
    {"headers": {"Authorization": "Bearer not-a-token"}},  # counted by the token's own key
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
def test_the_door_hands_everything_else_to_the_route(app, shop, request_):
    activity = shop.live("lottery")["id"]
    door, request_ = door_of(app), dict(request_)
    path = f"/v1/activities/{activity}{request_.pop('suffix', '')}"
    status, headers, body, environ = run(door, path, **request_)
    assert flask_answered(environ)
    want_status, want, want_body, _ = run(door.app, path, **request_)
    assert (status, comparable(headers), body) == (want_status, comparable(want), want_body)


def test_a_poll_the_engine_refuses_is_the_routes_error_from_one_engine_call(app, shop):
    engine = app.extensions["magic_cube"]
    calls = []
    public_view = engine.public_view
    engine.public_view = lambda *args, **kwargs: (calls.append(args),
                                                   public_view(*args, **kwargs))[1]
    try:
        status, headers, body, environ = run(door_of(app), "/v1/activities/act_nothing",
                                             query="wait=5", headers={"If-None-Match": '"a1"'})
    finally:
        del engine.public_view
    assert status == "404 NOT FOUND" and flask_answered(environ)
    assert b'"error":"activity_not_found"' in body and dict(headers)["Cache-Control"] == "no-store"
    assert len(calls) == 1  # the route raised what the door met: not asked, nor held, again


def _limited_app(tmp_path, catalog, **settings):
    return create_app({"CATALOG": catalog, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/door.db", **settings}})


def _windows_used(limits: Limits, ip: str) -> list[int]:
    """How many requests each of the public view's IP limits holds for `ip`."""
    return [limits.window.get_moving_window(key, limit.amount, limit.seconds)[1]
            for limit, key in limits.counted_for(ip, ip, ENDPOINT, "GET")]


def test_every_request_through_the_door_is_counted_once(tmp_path, catalog):
    # Two limits: the request the second refuses is in the first's window once, not twice.
    app = _limited_app(tmp_path, catalog, rate_limit_ip="50/minute;4/hour")
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("door")
    activity = engine.create_activity(merchant, "lottery", {
        "prizes": [{"name": "A", "type": "coupon", "stock": 100, "odds": 100}],
        "draws_per_day": 1, "draws_total": 1})["id"]
    engine.publish(merchant, activity)
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


def test_the_door_counts_the_client_a_trusted_proxy_names(tmp_path, catalog):
    app = _limited_app(tmp_path, catalog, rate_limit_ip="2/minute", trusted_proxies=1)
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("door")
    activity = engine.create_activity(merchant, "lottery", {
        "prizes": [{"name": "A", "type": "coupon", "stock": 100, "odds": 100}],
        "draws_per_day": 1, "draws_total": 1})["id"]
    engine.publish(merchant, activity)
    client, path = app.test_client(), f"/v1/activities/{activity}"

    def poll(client_ip: str) -> int:
        return client.get(path, headers={"X-Forwarded-For": client_ip}).status_code

    assert [poll("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert poll("198.51.100.2") == 200  # another shopper behind the same proxy
    limits = app.extensions["magic_cube_limits"]
    assert _windows_used(limits, "ip:203.0.113.7") == [2]
    assert _windows_used(limits, "ip:198.51.100.2") == [1]
    engine.store.close()
