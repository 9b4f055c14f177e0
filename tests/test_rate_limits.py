"""Abuse limits: per participant and per IP, answered 429 with Retry-After."""

import pytest
import redis

from magic_cube.app import create_app


def _app(tmp_path, catalog, **limits):
    settings = {"database_url": f"sqlite:///{tmp_path}/limits.db", **limits}
    return create_app({"SETTINGS": settings, "CATALOG": catalog})


@pytest.fixture(scope="module")
def catalog():
    from magic_cube.catalog import Catalog
    return Catalog.discover()


def _lottery(app):
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("limits")
    activity = engine.create_activity(merchant, "lottery", {
        "prizes": [{"name": "A", "type": "coupon", "stock": 100, "odds": 100}],
        "draws_per_day": 100, "draws_total": 100})
    engine.publish(merchant, activity["id"])
    return engine, merchant, activity["id"]


def _token(engine, merchant, participant):
    return {"Authorization": f"Bearer {engine.participant_token(merchant, participant)[0]}"}


def test_actions_over_the_participant_limit_get_429_with_retry_after(tmp_path, catalog):
    app = _app(tmp_path, catalog, rate_limit_actions="3/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    amy = _token(engine, merchant, "amy")
    statuses = [client.post(f"/v1/activities/{activity}/actions/draw", headers=amy).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.post(f"/v1/activities/{activity}/actions/draw", headers=amy)
    assert refused.status_code == 429
    assert refused.get_json()["error"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    # Another participant has a budget of their own, and the refused draws changed nothing.
    ben = _token(engine, merchant, "ben")
    assert client.post(f"/v1/activities/{activity}/actions/draw", headers=ben).status_code == 200
    assert engine.stats(merchant, activity)["totals"]["participations"] == 4


def test_polls_are_limited_separately_from_actions(tmp_path, catalog):
    app = _app(tmp_path, catalog, rate_limit_polls="2/minute", rate_limit_actions="100/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    amy = _token(engine, merchant, "amy")
    polls = [client.get(f"/v1/activities/{activity}/me", headers=amy).status_code for _ in range(3)]
    assert polls == [200, 200, 429]
    assert client.post(f"/v1/activities/{activity}/actions/draw", headers=amy).status_code == 200


def test_the_ip_limit_catches_forged_participant_ids(tmp_path, catalog):
    app = _app(tmp_path, catalog, rate_limit_ip="5/minute", rate_limit_actions="100/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    statuses = [client.get(f"/v1/activities/{activity}",
                           headers={"Authorization": f"Bearer forged{i}.x"}).status_code
                for i in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429


def test_limits_can_be_switched_off(tmp_path, catalog):
    app = _app(tmp_path, catalog, rate_limit_enabled=False, rate_limit_polls="1/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    assert all(client.get(f"/v1/activities/{activity}").status_code == 200 for _ in range(5))


def test_redis_storage_shares_counters_between_app_processes(tmp_path, catalog):
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError:
        import os
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    first = _app(tmp_path, catalog, rate_limit_storage=url, rate_limit_polls="3/minute")
    engine, merchant, activity = _lottery(first)
    # A second app on the same database stands for a second process.
    second = create_app({"SETTINGS": {"database_url": f"sqlite:///{tmp_path}/limits.db",
                                      "rate_limit_storage": url, "rate_limit_polls": "3/minute"},
                         "CATALOG": catalog})
    amy = _token(engine, merchant, "amy")
    path = f"/v1/activities/{activity}/me"
    statuses = [first.test_client().get(path, headers=amy).status_code,
                second.test_client().get(path, headers=amy).status_code,
                first.test_client().get(path, headers=amy).status_code,
                second.test_client().get(path, headers=amy).status_code]
    assert statuses == [200, 200, 200, 429]
    redis.Redis.from_url(url).flushdb()


def test_public_polls_without_a_token_are_limited_by_ip_only(tmp_path, catalog):
    app = _app(tmp_path, catalog, rate_limit_polls="2/minute", rate_limit_ip="100/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    assert all(client.get(f"/v1/activities/{activity}").status_code == 200 for _ in range(10))


def test_behind_a_trusted_proxy_each_shopper_has_an_ip_limit_of_their_own(tmp_path, catalog):
    app = _app(tmp_path, catalog, rate_limit_ip="2/minute", trusted_proxies=1)
    engine, merchant, activity = _lottery(app)
    client = app.test_client()

    def poll(ip):
        return client.get(f"/v1/activities/{activity}",
                          headers={"X-Forwarded-For": ip}).status_code
    assert [poll("1.1.1.1"), poll("1.1.1.1"), poll("1.1.1.1")] == [200, 200, 429]
    assert poll("2.2.2.2") == 200


def test_retry_after_is_at_least_a_second(tmp_path, catalog, monkeypatch):
    # The limiter rounds its wait down: in the window's last second it would say 0, and a
    # client that retries at once is refused again.
    import time
    app = _app(tmp_path, catalog, rate_limit_actions="1/second")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    amy = _token(engine, merchant, "amy")
    now = [1_900_000_000.9]
    monkeypatch.setattr(time, "time", lambda: now[0])
    assert client.post(f"/v1/activities/{activity}/actions/draw", headers=amy).status_code == 200
    now[0] += 0.6  # still in the window, less than a second before the limiter's reset time
    refused = client.post(f"/v1/activities/{activity}/actions/draw", headers=amy)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"


def test_a_templates_own_429_carries_no_retry_after(tmp_path, catalog):
    # `send_limit` is an answer for today: no wait brings the send back, so no Retry-After.
    app = _app(tmp_path, catalog)
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("limits")
    activity = engine.create_activity(merchant, "gift", {
        "gift_name": "Tea", "mode": "units", "sends_per_day": 1})["id"]
    engine.publish(merchant, activity)
    client = app.test_client()
    amy = _token(engine, merchant, "amy")
    send = {"params": {"shares": 1}}
    path = f"/v1/activities/{activity}/actions/send"
    assert client.post(path, json=send, headers=amy).status_code == 200
    refused = client.post(path, json=send, headers=amy)
    assert (refused.status_code, refused.get_json()["error"]) == (429, "send_limit")
    assert "Retry-After" not in refused.headers
    assert refused.headers["X-RateLimit-Limit"]


def test_a_forged_token_spends_no_participants_budget(tmp_path, catalog):
    # The participant limit counts verified tokens only: a token naming ben with a forged
    # signature is counted by its address (here generous), so ben's own draws still go.
    app = _app(tmp_path, catalog, rate_limit_actions="3/minute", rate_limit_polls="3/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    ben = _token(engine, merchant, "ben")
    forged = {"Authorization": ben["Authorization"].rsplit(".", 1)[0] + ".forged"}
    url = f"/v1/activities/{activity}/actions/draw"
    refused = [client.post(url, headers=forged) for _ in range(5)]
    assert {(r.status_code, r.get_json()["error"]) for r in refused} == {(401, "invalid_token")}
    assert [client.post(url, headers=ben).status_code for _ in range(4)] == [200, 200, 200, 429]
    # Random tokens make no participant keys: they all share the address's one.
    keys = {k.split("/")[2] for k in app.extensions["magic_cube_limits"].keys()}
    assert keys == {f"p:{activity}:ben", "ip:127.0.0.1"}, keys


def test_a_limit_storage_out_of_reach_lets_shoppers_through_and_says_so(tmp_path, catalog,
                                                                       caplog):
    # Nothing listens on port 1: every count fails. The shop stays open without its limits.
    app = _app(tmp_path, catalog, rate_limit_storage="redis://127.0.0.1:1/0",
               rate_limit_actions="1/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    amy = _token(engine, merchant, "amy")
    draws = [client.post(f"/v1/activities/{activity}/actions/draw", headers=amy)
             for _ in range(2)]
    assert [r.status_code for r in draws] == [200, 200]
    assert "X-RateLimit-Limit" not in draws[0].headers
    assert "rate limits not counted" in caplog.text


def test_each_endpoint_counts_on_its_own(tmp_path, catalog):
    # Three draws use up the draw budget, not the share's or the heartbeat's.
    app = _app(tmp_path, catalog, rate_limit_actions="3/minute")
    engine, merchant, activity = _lottery(app)
    client = app.test_client()
    amy = _token(engine, merchant, "amy")
    base = f"/v1/activities/{activity}"
    assert [client.post(f"{base}/actions/draw", headers=amy).status_code
            for _ in range(4)] == [200, 200, 200, 429]
    assert client.post(f"{base}/share", headers=amy, json={}).status_code == 200
    assert client.post(f"{base}/heartbeat", headers=amy).status_code == 200
