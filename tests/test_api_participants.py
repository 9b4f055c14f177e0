"""The participant-facing API, end to end through the Flask test client."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

# --- public view and polling -------------------------------------------------------------------


def test_public_view_needs_no_token_and_sends_an_etag(client, shop):
    activity = shop.live("lottery")
    r = client.get(f"/v1/activities/{activity['id']}")
    assert r.status_code == 200
    assert r.headers["ETag"].startswith('"')
    assert r.headers["Cache-Control"] == "no-cache"
    body = r.get_json()
    assert body["id"] == activity["id"]
    assert body["status"] == "live"
    assert body["starts_at"] == "2026-11-11T02:00:00Z"
    assert body["template"]["kind"] == "lottery"
    assert body["view"]["prize_names"] == ["Coupon"]
    assert body["actions"] == [{"name": "draw", "title": "Draw", "room": "none"}]
    assert body["fairness"]["seed"] is None
    assert len(body["fairness"]["seed_commitment"]) == 64


def test_an_action_that_takes_params_lists_their_schema_for_the_clients_form(client, shop):
    activity = shop.live("gift")
    actions = {a["name"]: a for a in client.get(f"/v1/activities/{activity['id']}")
               .get_json()["actions"]}
    send = actions["send"]["params"]
    assert send["required"] == ["shares"]
    assert send["properties"]["shares"]["x-ui"]["label"] == {"zh": "份数", "en": "Shares"}
    assert send["properties"]["amount"]["x-ui"]["widget"] == "money"
    assert "params" not in actions["claim"]  # takes none: nothing to build


def test_a_view_reading_a_config_date_time_gives_it_in_utc(client, shop):
    activity = shop.live("checkin_pool")  # its view shows config.settle_at, given at +08:00
    view = client.get(f"/v1/activities/{activity['id']}").get_json()["view"]
    assert view["settle_at"] == "2026-11-14T04:00:00Z"


def test_public_view_speaks_chinese_when_asked(client, shop):
    activity = shop.live("lottery")
    r = client.get(f"/v1/activities/{activity['id']}",
                   headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.get_json()["actions"][0]["title"] == "抽奖"


def test_matching_if_none_match_returns_304_with_the_etag_and_no_body(client, shop):
    activity = shop.live("lottery")
    etag = client.get(f"/v1/activities/{activity['id']}").headers["ETag"]
    r = client.get(f"/v1/activities/{activity['id']}", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.headers["ETag"] == etag
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.data == b""


def test_etag_changes_after_an_action(client, shop):
    activity = shop.live("lottery")
    etag = client.get(f"/v1/activities/{activity['id']}").headers["ETag"]
    assert shop.act(activity["id"], "draw", "alice").status_code == 200
    r = client.get(f"/v1/activities/{activity['id']}", headers={"If-None-Match": etag})
    assert r.status_code == 200
    assert r.headers["ETag"] != etag


def test_a_draft_archived_unpublished_stays_unknown_to_participants(client, shop):
    draft = shop.create("lottery")
    assert shop.lifecycle(draft["id"], "archive").status_code == 200
    auth = {"Authorization": f"Bearer {shop.token('alice')}"}
    for path in (f"/v1/activities/{draft['id']}", f"/v1/activities/{draft['id']}/me",
                 f"/s/{draft['id']}"):
        assert client.get(path, headers=auth).status_code == 404, path
    assert client.get(f"/v1/activities/{draft['id']}",
                      headers={"If-None-Match": '"a1"'}).status_code == 404
    assert client.post(f"/v1/activities/{draft['id']}/share", headers=auth,
                       json={}).status_code == 404
    assert client.post(f"/v1/activities/{draft['id']}/guest",
                       json={"nickname": "Amy"}).status_code == 404
    ended = shop.live("lottery")  # one that ran stays public once archived
    assert shop.lifecycle(ended["id"], "end").status_code == 200
    assert shop.lifecycle(ended["id"], "archive").status_code == 200
    assert client.get(f"/v1/activities/{ended['id']}").get_json()["status"] == "archived"


def test_public_view_of_unknown_activity_is_404(client):
    r = client.get("/v1/activities/act_missing")
    assert r.status_code == 404
    assert r.get_json()["error"] == "activity_not_found"


@pytest.mark.parametrize("wait", ["26", "-1", "abc", "nan", ""])
def test_wait_outside_0_to_25_is_invalid_wait(client, shop, wait):
    activity = shop.live("lottery")
    r = client.get(f"/v1/activities/{activity['id']}?wait={wait}")
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "invalid_wait"
    assert "wait" in body["errors"]


@pytest.mark.parametrize("path", ["", "/me"])
def test_wait_is_checked_on_every_view(client, shop, path):
    activity = shop.live("lottery")
    r = client.get(f"/v1/activities/{activity['id']}{path}?wait=100", headers=shop.as_("amy"))
    assert r.get_json()["error"] == "invalid_wait"


def test_long_poll_returns_early_when_another_request_changes_the_activity(app, client, shop):
    activity = shop.live("lottery")
    url = f"/v1/activities/{activity['id']}"
    etag = client.get(url).headers["ETag"]
    seen: dict = {}

    def poll() -> None:
        started = time.monotonic()
        r = app.test_client().get(f"{url}?wait=20", headers={"If-None-Match": etag})
        seen.update(status=r.status_code, etag=r.headers["ETag"],
                    elapsed=time.monotonic() - started, body=r.get_json())

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.3)
    assert shop.act(activity["id"], "draw", "alice").status_code == 200
    waiter.join(25)
    assert seen["status"] == 200
    assert seen["etag"] != etag
    assert seen["elapsed"] < 10
    assert seen["body"]["status"] == "live"


def test_long_poll_without_change_answers_304_after_the_wait(client, shop):
    activity = shop.live("lottery")
    url = f"/v1/activities/{activity['id']}"
    etag = client.get(url).headers["ETag"]
    started = time.monotonic()
    r = client.get(f"{url}?wait=0.4", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert time.monotonic() - started >= 0.35


def test_me_view_shows_own_state_and_honours_etag(client, shop, configs):
    sure_win = {**configs["lottery"], "prizes": [
        {"name": "Coupon", "type": "coupon", "stock": 5, "odds": 10000}]}
    activity = shop.live("lottery", sure_win)
    url = f"/v1/activities/{activity['id']}/me"
    r = client.get(url, headers=shop.as_("alice"))
    assert r.status_code == 200
    assert r.get_json()["view"]["draws_left_today"] == 3
    etag = r.headers["ETag"]
    revalidate = shop.as_("alice", extra={"If-None-Match": etag})
    assert client.get(url, headers=revalidate).status_code == 304
    shop.act(activity["id"], "draw", "alice")
    r = client.get(url, headers=revalidate)
    assert r.status_code == 200
    body = r.get_json()
    assert body["participant"] == "alice"
    assert body["view"]["draws_left_today"] == 2
    assert body["view"]["prizes"][0]["at"] == "2026-11-11T02:00:00Z"


def test_me_view_needs_a_token(client, shop):
    activity = shop.live("lottery")
    r = client.get(f"/v1/activities/{activity['id']}/me")
    assert r.status_code == 401
    assert r.get_json()["error"] == "invalid_token"


# --- tokens -----------------------------------------------------------------------------------


def test_action_without_token_is_401_invalid_token(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"/v1/activities/{activity['id']}/actions/draw")
    assert r.status_code == 401
    assert r.get_json()["error"] == "invalid_token"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("authorization", [
    "Bearer not-a-token",
    "Bearer eyJwIjoiYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDB9.forgedsignature",
    "Basic YWxpY2U6c2VjcmV0",
])
def test_forged_or_malformed_token_is_401_invalid_token(client, shop, authorization):
    activity = shop.live("lottery")
    r = client.post(f"/v1/activities/{activity['id']}/actions/draw",
                    headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.get_json()["error"] == "invalid_token"


def test_token_of_another_merchant_is_401_invalid_token(client, shop, other_shop):
    activity = shop.live("lottery")
    r = client.post(f"/v1/activities/{activity['id']}/actions/draw",
                    headers=other_shop.as_("alice"))
    assert r.status_code == 401
    assert r.get_json()["error"] == "invalid_token"


def test_expired_token_is_401_token_expired(client, shop, clock):
    activity = shop.live("lottery")
    token = shop.token("alice", ttl=60)
    clock.advance(61)
    r = client.post(f"/v1/activities/{activity['id']}/actions/draw",
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.get_json()["error"] == "token_expired"


def test_action_on_unknown_activity_is_404(client, shop):
    r = client.post("/v1/activities/act_missing/actions/draw", headers=shop.as_("alice"))
    assert r.status_code == 404
    assert r.get_json()["error"] == "activity_not_found"


# --- actions ----------------------------------------------------------------------------------


def test_draw_returns_the_engine_result(shop):
    activity = shop.live("lottery")
    r = shop.act(activity["id"], "draw", "alice")
    assert r.status_code == 200
    body = r.get_json()
    assert body["ok"] is True
    assert body["action"] == "draw"
    assert body["seq"] == 1
    assert body["room"] is None
    assert "hit" in body["result"]
    assert "Idempotent-Replayed" not in r.headers


def test_every_template_accepts_its_first_action(shop, any_live_activity):
    template = any_live_activity["template"]["id"]
    action, params = {"lottery": ("draw", None), "bargain": ("start", None),
                      "group_buy": ("start", None), "gift": ("send", {"shares": 2}),
                      "collect_cards": ("draw", None), "checkin_pool": ("check_in", None)}[template]
    r = shop.act(any_live_activity["id"], action, "alice", params=params)
    assert r.status_code == 200, r.get_json()


def test_action_with_an_empty_body_is_accepted(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"/v1/activities/{activity['id']}/actions/draw", data=b"",
                    headers=shop.as_("alice"))
    assert r.status_code == 200


def test_draws_beyond_the_daily_limit_return_409_no_draws_left(shop):
    activity = shop.live("lottery")
    for _ in range(3):
        assert shop.act(activity["id"], "draw", "alice").status_code == 200
    r = shop.act(activity["id"], "draw", "alice")
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "no_draws_left"
    assert body["status"] == 409
    assert body["message"] == "No draws left"


def test_refusal_message_follows_accept_language(shop):
    activity = shop.live("lottery")
    for _ in range(3):
        shop.act(activity["id"], "draw", "alice")
    r = shop.act(activity["id"], "draw", "alice", headers={"Accept-Language": "zh"})
    assert r.get_json()["error"] == "no_draws_left"
    assert r.get_json()["message"] != "No draws left"


def test_unknown_action_is_404_unknown_action(shop):
    activity = shop.live("lottery")
    r = shop.act(activity["id"], "steal", "alice")
    assert r.status_code == 404
    assert r.get_json()["error"] == "unknown_action"


def test_timer_actions_cannot_be_called(shop):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    r = shop.act(activity["id"], "expire", "bob", room=room)
    assert r.status_code == 404
    assert r.get_json()["error"] == "unknown_action"


def test_participant_calling_a_merchant_action_is_403_not_allowed(shop):
    activity = shop.live("lottery")
    r = shop.act(activity["id"], "grant", "alice", params={"count": 5})
    assert r.status_code == 403
    assert r.get_json()["error"] == "not_allowed"


@pytest.mark.parametrize("verb", ["draft", "pause", "end"])
def test_action_on_an_activity_that_is_not_live_is_409(shop, verb):
    if verb == "draft":
        activity = shop.create("lottery")
    else:
        activity = shop.live("lottery")
        assert shop.lifecycle(activity["id"], verb).status_code == 200
    r = shop.act(activity["id"], "draw", "alice")
    assert r.status_code == 409
    assert r.get_json()["error"] == "activity_not_live"


def test_resumed_activity_accepts_actions_again(shop):
    activity = shop.live("lottery")
    shop.lifecycle(activity["id"], "pause")
    shop.lifecycle(activity["id"], "resume")
    assert shop.act(activity["id"], "draw", "alice").status_code == 200


def test_params_null_is_no_params_and_the_same_request_as_none(shop):
    activity = shop.live("lottery")
    url = f"/v1/activities/{activity['id']}/actions/draw"
    headers = shop.as_("alice", extra={"Idempotency-Key": "null-1"})
    first = shop.client.post(url, json={"params": None}, headers=headers)
    assert first.status_code == 200, first.get_json()
    again = shop.client.post(url, json={}, headers=headers)  # the same request, replayed
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()


def test_invalid_params_are_422_keyed_by_param(shop):
    activity = shop.live("gift")
    r = shop.act(activity["id"], "send", "amy", params={"shares": 0})
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "invalid_params"
    assert "params.shares" in body["errors"]


def test_invalid_params_speak_the_shoppers_language_field_by_field(shop):
    activity = shop.live("gift")["id"]
    url = f"/v1/activities/{activity}/actions/send"
    cases = [({"shares": "2"}, "params.shares", "type", "应为整数：请填数字，不要写成带引号的文本"),
             ({"shares": 0}, "params.shares", "minimum", "不能小于 1"),
             ({}, "params.shares", "required", "此项为必填项"),
             ({"shares": 1, "note": 1}, "params", "additionalProperties", "不允许的字段：note")]
    for params, path, code, zh in cases:
        r = shop.client.post(url, json={"params": params},
                             headers=shop.as_("amy", extra={"Accept-Language": "zh-CN"}))
        body = r.get_json()
        assert (r.status_code, body["error"]) == (422, "invalid_params"), body
        assert body["errors"] == {path: [{"code": code, "message": zh}]}, body
        r = shop.client.post(url, json={"params": params}, headers=shop.as_("bob"))
        (entry,) = r.get_json()["errors"][path]
        assert entry["code"] == code and entry["message"] != zh  # English by default


def test_template_refusal_uses_the_templates_code_and_status(shop):
    activity = shop.live("gift")
    r = shop.act(activity["id"], "send", "amy", params={"shares": 11})
    assert r.status_code == 422
    assert r.get_json()["error"] == "too_many_shares"


# --- rooms ------------------------------------------------------------------------------------


def test_help_twice_returns_409(shop):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    assert shop.act(activity["id"], "help", "bob", room=room).status_code == 200
    r = shop.act(activity["id"], "help", "bob", room=room)
    assert r.status_code == 409
    assert r.get_json()["error"] == "already_helped"


def test_helping_your_own_bargain_returns_409_own_bargain(shop):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    r = shop.act(activity["id"], "help", "alice", room=room)
    assert r.status_code == 409
    assert r.get_json()["error"] == "own_bargain"


def test_room_action_without_a_room_is_422_room_required(shop):
    activity = shop.live("bargain")
    r = shop.act(activity["id"], "help", "bob")
    assert r.status_code == 422
    assert r.get_json()["error"] == "room_required"


def test_unknown_room_is_404_room_not_found(client, shop):
    activity = shop.live("bargain")
    r = shop.act(activity["id"], "help", "bob", room="nope")
    assert r.status_code == 404
    assert r.get_json()["error"] == "room_not_found"
    r = client.get(f"/v1/activities/{activity['id']}/rooms/nope", headers=shop.as_("bob"))
    assert r.status_code == 404
    assert r.get_json()["error"] == "room_not_found"


def test_room_view_masks_names_and_marks_me(client, shop):
    activity = shop.live("bargain")
    started = shop.client.post(f"/v1/activities/{activity['id']}/actions/start",
                               headers=shop.as_("alice", "Alice"))
    room = started.get_json()["room"]
    assert started.get_json()["result"]["expires_at"] == "2026-11-12T02:00:00Z"
    shop.act(activity["id"], "help", "bob")  # refused: no room
    shop.act(activity["id"], "help", "bob", room=room)
    r = client.get(f"/v1/activities/{activity['id']}/rooms/{room}", headers=shop.as_("bob"))
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == room
    assert body["status"] == "open"
    members = body["view"]["members"]
    assert [m["name"] for m in members][0] == "A***"
    assert [m["is_me"] for m in members] == [False, True]
    assert "alice" not in r.get_data(as_text=True)
    assert members[0]["joined_at"] == "2026-11-11T02:00:00Z"


def test_room_view_honours_etag(client, shop):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    url = f"/v1/activities/{activity['id']}/rooms/{room}"
    etag = client.get(url, headers=shop.as_("bob")).headers["ETag"]
    revalidate = shop.as_("bob", extra={"If-None-Match": etag})
    assert client.get(url, headers=revalidate).status_code == 304
    shop.act(activity["id"], "help", "bob", room=room)
    assert client.get(url, headers=revalidate).status_code == 200


def test_an_etag_given_to_one_participant_earns_another_no_304(client, shop):
    # Two participants who never acted have the same version counters; their views differ
    # (`participant`, `is_me`), so a tag cached for one (a shared phone, a proxy) must not
    # make the server answer the other 304.
    activity = shop.live("bargain")["id"]
    room = shop.act(activity, "start", "alice").get_json()["room"]
    for path in ("me", f"rooms/{room}"):
        url = f"/v1/activities/{activity}/{path}"
        bobs = client.get(url, headers=shop.as_("bob"))
        assert client.get(url, headers=shop.as_("bob", extra={
            "If-None-Match": bobs.headers["ETag"]})).status_code == 304
        carols = client.get(url, headers=shop.as_("carol", extra={
            "If-None-Match": bobs.headers["ETag"]}))
        assert carols.status_code == 200, path
        assert carols.headers["ETag"] != bobs.headers["ETag"]


def test_room_expires_lazily_when_the_clock_passes_its_timer(client, shop, clock):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    clock.advance(25 * 3600)
    r = client.get(f"/v1/activities/{activity['id']}/rooms/{room}", headers=shop.as_("bob"))
    assert r.get_json()["status"] == "expired"
    r = shop.act(activity["id"], "help", "bob", room=room)
    assert r.status_code == 409
    assert r.get_json()["error"] == "room_closed"


def test_group_fills_then_refuses_with_room_closed(shop):
    activity = shop.live("group_buy")
    room = shop.act(activity["id"], "start", "lee").get_json()["room"]
    r = shop.act(activity["id"], "join", "lee", room=room)
    assert r.get_json()["error"] == "already_in_group"
    assert shop.act(activity["id"], "join", "amy", room=room).status_code == 200
    r = shop.act(activity["id"], "join", "ben", room=room)
    assert r.get_json()["events"] == ["group.joined", "group.succeeded"]
    r = shop.act(activity["id"], "join", "cat", room=room)
    assert r.status_code == 409
    assert r.get_json()["error"] == "room_closed"


def test_gift_unit_is_claimed_once(client, shop):
    activity = shop.live("gift")
    r = shop.act(activity["id"], "send", "amy", params={"shares": 2, "message": "Enjoy"})
    room = r.get_json()["room"]
    assert shop.act(activity["id"], "claim", "amy", room=room).get_json()["error"] == "own_pack"
    assert shop.act(activity["id"], "claim", "bob", room=room).status_code == 200
    r = shop.act(activity["id"], "claim", "bob", room=room)
    assert r.status_code == 409
    assert r.get_json()["error"] == "already_claimed"
    me = client.get(f"/v1/activities/{activity['id']}/me", headers=shop.as_("bob")).get_json()
    assert me["rooms"] == [room]


# --- idempotency ------------------------------------------------------------------------------


def test_idempotent_retry_returns_the_first_response_with_replayed_header(client, shop):
    activity = shop.live("lottery")
    key = {"Idempotency-Key": "draw-1"}
    first = shop.act(activity["id"], "draw", "alice", headers=key)
    again = shop.act(activity["id"], "draw", "alice", headers=key)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    log = client.get(f"/v1/merchant/activities/{activity['id']}/actions",
                     headers=shop.headers).get_json()
    assert len(log["items"]) == 1


def test_idempotent_retry_of_a_refusal_replays_the_refusal(shop):
    activity = shop.live("lottery")
    for _ in range(3):
        shop.act(activity["id"], "draw", "alice")
    key = {"Idempotency-Key": "late"}
    first = shop.act(activity["id"], "draw", "alice", headers=key)
    again = shop.act(activity["id"], "draw", "alice", headers=key)
    assert first.status_code == again.status_code == 409
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_same_idempotency_key_with_a_different_body_is_422(shop):
    activity = shop.live("gift")
    key = {"Idempotency-Key": "send-1"}
    assert shop.act(activity["id"], "send", "amy", params={"shares": 2},
                    headers=key).status_code == 200
    r = shop.act(activity["id"], "send", "amy", params={"shares": 3}, headers=key)
    assert r.status_code == 422
    assert r.get_json()["error"] == "idempotency_key_reused"


def test_idempotency_keys_are_scoped_to_the_participant(shop):
    activity = shop.live("lottery")
    key = {"Idempotency-Key": "same"}
    shop.act(activity["id"], "draw", "alice", headers=key)
    r = shop.act(activity["id"], "draw", "bob", headers=key)
    assert r.status_code == 200
    assert "Idempotent-Replayed" not in r.headers
    assert r.get_json()["seq"] == 2


def test_request_in_flight_with_the_same_key_is_409(shop, engine, clock):
    from magic_cube.engine.actions import request_hash
    from magic_cube.store.records import IdempotencyRecord

    activity = shop.live("lottery")
    with engine.store.transaction() as tx:  # a first request that has not finished yet
        tx.claim_idempotency(IdempotencyRecord(
            activity["id"], "alice", "busy", request_hash("draw", {}, None, "participant"),
            "pending", None, None, clock.now), stale_before=clock.now - 60)
    r = shop.act(activity["id"], "draw", "alice", headers={"Idempotency-Key": "busy"})
    assert r.status_code == 409
    assert r.get_json()["error"] == "idempotency_in_flight"


def test_a_request_refused_before_the_action_runs_does_not_use_up_the_key(shop):
    activity = shop.live("lottery")
    key = {"Idempotency-Key": "early"}
    shop.lifecycle(activity["id"], "pause")
    assert shop.act(activity["id"], "draw", "alice", headers=key).status_code == 409
    shop.lifecycle(activity["id"], "resume")
    r = shop.act(activity["id"], "draw", "alice", headers=key)
    assert r.status_code == 200
    assert "Idempotent-Replayed" not in r.headers


def test_a_request_refused_for_its_params_does_not_use_up_the_key(shop):
    gift = shop.live("gift")["id"]
    key = {"Idempotency-Key": "g2"}
    r = shop.act(gift, "send", "amy", params={"shares": "x"}, headers=key)
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_params"
    first = shop.act(gift, "send", "amy", params={"shares": 2}, headers=key)
    assert first.status_code == 200, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    again = shop.act(gift, "send", "amy", params={"shares": 2}, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()


def test_a_request_without_its_room_or_to_the_wrong_action_does_not_use_up_the_key(shop):
    bargain = shop.live("bargain")["id"]
    room = shop.act(bargain, "start", "amy").get_json()["room"]
    key = {"Idempotency-Key": "h1"}
    r = shop.act(bargain, "help", "bob", headers=key)
    assert r.status_code == 422 and r.get_json()["error"] == "room_required"
    r = shop.act(bargain, "help", "bob", room=room, headers=key)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    lottery = shop.live("lottery")["id"]
    r = shop.act(lottery, "grant", "bob", params={"count": 1}, headers=key)
    assert r.status_code == 403 and r.get_json()["error"] == "not_allowed"
    r = shop.act(lottery, "draw", "bob", headers=key)
    assert r.status_code == 200 and "Idempotent-Replayed" not in r.headers


def test_a_merchant_action_refused_for_its_params_does_not_use_up_the_key(client, shop):
    lottery = shop.live("lottery")["id"]
    url = f"/v1/merchant/activities/{lottery}/actions/grant"
    headers = {**shop.headers, "Idempotency-Key": "crm-1"}
    r = client.post(url, json={"participant": "amy", "params": {"count": 0}}, headers=headers)
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_params"
    r = client.post(url, json={"participant": "amy", "params": {"count": 2}}, headers=headers)
    assert r.status_code == 200 and r.get_json()["result"] == {"extra": 2}


@pytest.mark.parametrize("key", ["x" * 256, "has space", "é"])
def test_malformed_idempotency_key_is_400(shop, key):
    activity = shop.live("lottery")
    r = shop.client.post(f"/v1/activities/{activity['id']}/actions/draw",
                         headers=shop.as_("alice", extra={"Idempotency-Key": key}))
    assert r.status_code == 400
    assert r.get_json()["error"] == "invalid_idempotency_key"


# --- heartbeat --------------------------------------------------------------------------------


def test_heartbeat_credits_interaction_time_on_the_server_clock(client, shop, clock):
    activity = shop.live("lottery")
    url = f"/v1/activities/{activity['id']}/heartbeat"
    first = client.post(url, headers=shop.as_("alice"))
    assert first.status_code == 200
    assert first.get_json() == {"credited": 0, "interaction_seconds": 0, "next_heartbeat": 15}
    clock.advance(15)
    assert client.post(url, headers=shop.as_("alice")).get_json()["credited"] == 15
    clock.advance(120)  # a long gap counts the cap only
    body = client.post(url, headers=shop.as_("alice")).get_json()
    assert body["credited"] == 60
    assert body["interaction_seconds"] == 75
    stats = client.get(f"/v1/merchant/activities/{activity['id']}/stats",
                       headers=shop.headers).get_json()
    assert stats["totals"]["interaction_seconds"] == 75


def test_heartbeat_needs_a_token(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"/v1/activities/{activity['id']}/heartbeat")
    assert r.status_code == 401


# --- schedule and fairness --------------------------------------------------------------------


def test_scheduled_activity_goes_live_lazily_when_the_clock_passes_starts_at(client, shop, clock):
    activity = shop.create("lottery", starts_at="2026-11-11T12:00:00+08:00")
    assert shop.publish(activity["id"])["status"] == "scheduled"
    url = f"/v1/activities/{activity['id']}"
    before = client.get(url)
    assert before.get_json()["status"] == "scheduled"
    assert shop.act(activity["id"], "draw", "alice").get_json()["error"] == "activity_not_live"
    clock.advance(2 * 3600)
    r = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert r.status_code == 200
    assert r.get_json()["status"] == "live"
    assert shop.act(activity["id"], "draw", "alice").status_code == 200


def test_ends_at_ends_the_activity_and_reveals_the_seed(client, shop, clock):
    start = clock.now  # 2026-11-11 10:00 in Shanghai
    activity = shop.live("lottery", ends_at="2026-11-11T23:59:59+08:00")
    url = f"/v1/activities/{activity['id']}"
    live = client.get(url).get_json()
    commitment = live["fairness"]["seed_commitment"]
    assert live["fairness"]["seed"] is None
    shop.act(activity["id"], "draw", "alice")
    clock.now = start + 14 * 3600  # 2026-11-12 00:00:00 in Shanghai
    ended = client.get(url).get_json()
    assert ended["status"] == "ended"
    seed = ended["fairness"]["seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment
    r = shop.act(activity["id"], "draw", "alice")
    assert r.status_code == 409
    assert r.get_json()["error"] == "activity_not_live"


def test_activity_is_still_live_one_second_before_ends_at(client, shop, clock):
    activity = shop.live("lottery", ends_at="2026-11-11T23:59:59+08:00")
    clock.now += 14 * 3600 - 2  # 23:59:58 in Shanghai
    assert shop.act(activity["id"], "draw", "alice").status_code == 200
    assert client.get(f"/v1/activities/{activity['id']}").get_json()["status"] == "live"
