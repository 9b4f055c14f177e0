"""Proof-of-work challenges: a bot drawing as fast as it can meets one after N actions, must
solve it to go on, and can spend a solution only once."""

from __future__ import annotations

import base64
import datetime
import json
import os

import altcha
import pytest
import redis
from activity_configs import CONFIGS
from stores import store_url

from magic_cube.app import create_app

N = 5
BUSY_LOTTERY = {"prizes": [{"name": "Coupon", "type": "coupon", "stock": 1000, "odds": 100}],
                "draws_per_day": 100, "draws_total": 100}


def _settings(**overrides):
    return {"long_poll_interval": 0.1, "rate_limit_actions": "1000/second",
            "challenge_after": N, "challenge_window": 60, **overrides}


@pytest.fixture
def overrides():
    return {}


@pytest.fixture
def app(tmp_path, clock, catalog, store_kind, overrides):
    url, cleanup = store_url(store_kind, tmp_path)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": url, **_settings(**overrides)}})
    yield app
    app.extensions["magic_cube"].store.close()
    cleanup()


def _draw(shop, activity_id, who="bot", solution=None, key=None):
    headers = {}
    if solution is not None:
        headers["Magic-Cube-Challenge"] = solution
    if key is not None:
        headers["Idempotency-Key"] = key
    return shop.act(activity_id, "draw", who, headers=headers)


def _solve(challenge):
    found = altcha.solve_challenge_v1(challenge["challenge"], challenge["salt"],
                                      challenge["algorithm"], challenge["maxnumber"])
    assert found is not None
    return altcha.PayloadV1(challenge["algorithm"], challenge["challenge"], found.number,
                            challenge["salt"], challenge["signature"]).to_base64()


def _challenged(shop, activity_id, who="bot"):
    """Draw until challenged; returns (accepted draws, the challenge)."""
    accepted = 0
    while True:
        r = _draw(shop, activity_id, who)
        if r.status_code != 200:
            break
        accepted += 1
        assert accepted <= N, "never challenged"
    assert r.status_code == 428
    body = r.get_json()
    assert body["error"] == "challenge_required" and body["status"] == 428
    return accepted, body["challenge"]


def _draws_made(shop, activity_id, who="bot"):
    r = shop.client.get(f"/v1/activities/{activity_id}/me", headers=shop.as_(who))
    return 100 - r.get_json()["view"]["draws_left_today"]


def test_a_bot_drawing_as_fast_as_it_can_is_challenged_after_exactly_n(shop):
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    accepted, challenge = _challenged(shop, activity)
    assert accepted == N
    assert challenge["algorithm"] == "SHA-256"
    assert challenge["maxnumber"] == 50000  # the default difficulty
    assert _draws_made(shop, activity) == N  # the challenged draw did not happen

    r = _draw(shop, activity, solution=_solve(challenge))
    assert r.status_code == 200 and r.get_json()["action"] == "draw"
    # The solution started the count again: N more, then the next challenge.
    accepted, _ = _challenged(shop, activity)
    assert accepted == N
    assert _draws_made(shop, activity) == 2 * N + 1


def test_counts_are_per_participant(shop):
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    _challenged(shop, activity, "bot")
    assert _draw(shop, activity, "amy").status_code == 200


def test_a_solution_is_spent_once(shop):
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    _, challenge = _challenged(shop, activity)
    solution = _solve(challenge)
    assert _draw(shop, activity, solution=solution).status_code == 200
    made = _draws_made(shop, activity)
    for key in (None, "another-key"):
        r = _draw(shop, activity, solution=solution, key=key)
        assert r.status_code == 403
        assert r.get_json()["error"] == "challenge_reused"
    assert _draws_made(shop, activity) == made


def test_a_retry_of_the_same_request_may_send_its_solution_again(shop):
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    _, challenge = _challenged(shop, activity)
    solution = _solve(challenge)
    first = _draw(shop, activity, solution=solution, key="k-1")
    again = _draw(shop, activity, solution=solution, key="k-1")
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["seq"] == first.get_json()["seq"]
    assert _draws_made(shop, activity) == N + 1


def _forged(app, challenge, **changes):
    payload = {"algorithm": challenge["algorithm"], "challenge": challenge["challenge"],
               "number": json.loads(base64.b64decode(_solve(challenge)))["number"],
               "salt": challenge["salt"], "signature": challenge["signature"], **changes}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _expired(app):
    key = app.extensions["magic_cube_challenges"].hmac_key
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=5)
    made = altcha.create_challenge_v1(algorithm="SHA-256", max_number=100, salt_length=12,
                                      hmac_key=key, salt="", number=None, expires=past,
                                      params=None)
    return _solve({**made.to_dict(), "maxnumber": made.max_number})


def test_invalid_solutions_are_refused_and_never_a_500(app, shop):
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    _, challenge = _challenged(shop, activity)
    _, other = _challenged(shop, activity, "amy")
    good = json.loads(base64.b64decode(_solve(challenge)))
    bad = [
        _forged(app, challenge, number=good["number"] + 1),
        _forged(app, challenge, signature="0" * 64),
        _forged(app, challenge, algorithm="SHA-1"),
        _forged(app, challenge, number="7"),
        _forged(app, challenge, salt=None),
        _solve(other),  # amy's challenge, solved, sent by the bot
        _expired(app),
        base64.b64encode(b"[1, 2]").decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "not base64 at all ✓",
        "",
        "A" * 5000,
    ]
    for solution in bad:
        r = _draw(shop, activity, solution=solution)
        assert r.status_code == 403, (solution, r.get_json())
        assert r.get_json()["error"] == "challenge_invalid"
    assert _draws_made(shop, activity) == N
    # The right one still works afterwards.
    assert _draw(shop, activity, solution=_solve(challenge)).status_code == 200


@pytest.mark.parametrize("overrides", [{"challenge_after": 0}])
def test_with_the_setting_off_nobody_is_challenged(shop):
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    statuses = {_draw(shop, activity).status_code for _ in range(4 * N)}
    assert statuses == {200}


@pytest.mark.parametrize("overrides", [{"challenge_difficulty": 1000}])
def test_a_flagged_participant_is_challenged_at_every_action(app, shop):
    from magic_cube.api.challenge import add_flag_check
    add_flag_check(app, lambda activity_id, participant: participant.id == "bot")
    activity = shop.live("lottery", CONFIGS["lottery"])["id"]
    r = _draw(shop, activity)
    assert r.status_code == 428
    challenge = r.get_json()["challenge"]
    assert challenge["maxnumber"] == 1000
    assert _draw(shop, activity, solution=_solve(challenge)).status_code == 200
    assert _draw(shop, activity).status_code == 428
    assert _draw(shop, activity, "amy").status_code == 200


def test_the_openapi_document_describes_the_challenge(client):
    spec = client.get("/openapi.json").get_json()
    post = spec["paths"]["/v1/activities/{activity_id}/actions/{action}"]["post"]
    assert "`challenge_required`" in post["responses"]["428"]["description"]
    assert any(p["name"] == "Magic-Cube-Challenge" for p in post["parameters"])
    error = spec["components"]["schemas"]["Error"]
    assert "challenge" in error["properties"]


def test_spent_solutions_are_shared_by_every_process_through_redis(tmp_path, catalog,
                                                                    store_kind):
    url = "redis://127.0.0.1:6379/14"
    try:
        redis.Redis.from_url(url).flushdb()
    except redis.exceptions.ConnectionError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    db, cleanup = store_url(store_kind, tmp_path)
    settings = {"database_url": db, "rate_limit_storage": url, "secret_key": "shared",
                **_settings()}
    first = create_app({"SETTINGS": settings, "CATALOG": catalog})
    second = create_app({"SETTINGS": settings, "CATALOG": catalog})
    try:
        engine = first.extensions["magic_cube"]
        merchant, _ = engine.create_merchant("challenges")
        activity = engine.create_activity(merchant, "lottery", BUSY_LOTTERY)["id"]
        engine.publish(merchant, activity)
        bot = {"Authorization": f"Bearer {engine.participant_token(merchant, 'bot')[0]}"}
        path = f"/v1/activities/{activity}/actions/draw"
        clients = [first.test_client(), second.test_client()]
        # The count is shared: N draws spread over both processes, then the challenge.
        statuses = [clients[i % 2].post(path, json={}, headers=bot).status_code
                    for i in range(N + 1)]
        assert statuses == [200] * N + [428]
        challenge = clients[1].post(path, json={}, headers=bot).get_json()["challenge"]
        solved = {**bot, "Magic-Cube-Challenge": _solve(challenge)}
        assert clients[0].post(path, json={}, headers=solved).status_code == 200
        replayed = clients[1].post(path, json={}, headers=solved)
        assert replayed.status_code == 403
        assert replayed.get_json()["error"] == "challenge_reused"
    finally:
        for app in (first, second):
            app.extensions["magic_cube"].store.close()
        cleanup()
        redis.Redis.from_url(url).flushdb()


@pytest.mark.parametrize("overrides", [{"rate_limit_storage": "redis://127.0.0.1:1/0"}])
def test_a_count_storage_out_of_reach_lets_actions_through(shop, caplog):
    # Nothing listens on port 1: counting fails, and the shop stays open (as for rate limits).
    activity = shop.live("lottery", BUSY_LOTTERY)["id"]
    assert {_draw(shop, activity).status_code for _ in range(N + 2)} == {200}
    assert "challenge counts not kept" in caplog.text
