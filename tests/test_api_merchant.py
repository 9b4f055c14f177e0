"""The merchant backend API, end to end through the Flask test client."""

from __future__ import annotations

import pytest

ACTIVITIES = "/v1/merchant/activities"


# --- API keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer mck_unknown", "Bearer abc",
                                           "Token mck_x"])
def test_missing_or_bad_api_key_is_401_unauthorized(client, shop, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    r = client.get(ACTIVITIES, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["error"] == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_key_is_checked_before_the_body_is_read(client):
    r = client.post(ACTIVITIES, data="{not json", headers={"Authorization": "Bearer mck_x"})
    assert r.status_code == 401


def test_participant_token_is_not_an_api_key(client, shop):
    r = client.get(ACTIVITIES, headers=shop.as_("alice"))
    assert r.status_code == 401
    assert r.get_json()["error"] == "unauthorized"


def test_templates_need_an_api_key(client):
    assert client.get("/v1/merchant/templates").status_code == 401


# --- create, read, list, edit -----------------------------------------------------------------


def test_create_activity_returns_201_with_iso_times(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "lottery", "title": "Double 11 lottery",
        "config": {"prizes": [{"name": "Mug", "type": "physical", "stock": 3, "odds": 100}]},
        "timezone": "Asia/Shanghai", "starts_at": "2026-11-11T00:00:00+08:00",
        "ends_at": "2026-11-11T23:59:59+08:00"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["id"].startswith("act_")
    assert body["status"] == "draft"
    assert body["title"] == "Double 11 lottery"
    assert body["template"]["id"] == "lottery"
    assert body["template"]["version"] == "1.0.0"
    assert len(body["template"]["hash"]) == 64
    assert body["starts_at"] == "2026-11-10T16:00:00Z"
    assert body["ends_at"] == "2026-11-11T15:59:59Z"
    assert body["created_at"] == "2026-11-11T02:00:00Z"
    assert body["published_at"] is None
    assert body["config"]["draws_per_day"] == 1  # defaults filled in


def test_create_activity_title_defaults_to_the_template_title_in_the_request_language(client, shop):
    r = client.post(ACTIVITIES, headers={**shop.headers, "Accept-Language": "zh"},
                    json={"template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"}})
    assert r.status_code == 201
    assert r.get_json()["title"] != "Gift"
    r = client.post(ACTIVITIES, headers={**shop.headers, "Accept-Language": "zh"},
                    json={"template_id": "gift", "config": {"gift_name": "", "mode": "units"}})
    assert r.get_json()["errors"]["gift_name"][0]["message"] == "至少需要 1 个字符"


def test_invalid_config_is_422_keyed_by_field_path(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "lottery",
        "config": {"prizes": [{"name": "Mug", "type": "physical", "stock": -1, "odds": 100}]}})
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "invalid_config"
    assert body["errors"]["prizes.0.stock"][0]["code"] == "minimum"


def test_missing_required_config_field_is_keyed_by_that_field(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={"template_id": "bargain"})
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert errors["product_name"][0]["code"] == "required"


def test_cross_field_check_failure_uses_the_templates_code(client, shop):
    config = {"product_name": "T", "original_price": 1000, "floor_price": 2000,
              "helpers_needed": 3, "cut_min": 100, "cut_max": 500, "stock": 5}
    r = client.post(ACTIVITIES, headers=shop.headers,
                    json={"template_id": "bargain", "config": config})
    assert r.status_code == 422
    assert r.get_json()["errors"]["floor_price"][0]["code"] == "floor_not_below_price"


def test_unknown_template_is_422_invalid_activity(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={"template_id": "nope", "config": {}})
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "invalid_activity"
    assert body["errors"]["template_id"][0]["code"] == "template_not_found"


def test_end_before_start_is_422_invalid_activity(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "starts_at": "2026-11-12T00:00:00+08:00", "ends_at": "2026-11-11T00:00:00+08:00"})
    assert r.status_code == 422
    assert r.get_json()["errors"]["ends_at"][0]["code"] == "ends_before_start"


def test_unknown_timezone_is_422(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "timezone": "Mars/Olympus"})
    assert r.status_code == 422
    assert r.get_json()["errors"]["timezone"][0]["code"] == "invalid_timezone"


ODD_ZONES = ["localtime", "posixrules", "Factory", "posix/Asia/Shanghai", "right/UTC",
             "asia/shanghai", "Asia/Shanghai/", "../zoneinfo/UTC", "/usr/share/zoneinfo/UTC"]


@pytest.mark.parametrize("timezone", ODD_ZONES)
def test_only_an_iana_name_is_a_timezone(client, shop, timezone):
    # ZoneInfo opens some of these (the host's own zone, tzcode's files): none names a place.
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "timezone": timezone})
    assert r.status_code == 422, r.get_json()
    [error] = r.get_json()["errors"]["timezone"]
    assert error["code"] == "invalid_timezone" and "Asia/Shanghai" in error["message"]
    r = client.post("/v1/merchant/campaigns", headers=shop.headers, json={
        "name": "Double 11", "timezone": timezone, "starts_on": "2026-11-01",
        "ends_on": "2026-11-30"})
    assert r.status_code == 422 and "timezone" in r.get_json()["errors"]


@pytest.mark.parametrize("timezone", ["Asia/Shanghai", "UTC", "Etc/GMT+8", "America/New_York"])
def test_iana_names_are_timezones(client, shop, timezone):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "timezone": timezone})
    assert r.status_code == 201 and r.get_json()["timezone"] == timezone


def test_time_without_offset_is_a_validation_error(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {}, "starts_at": "2026-11-11T10:00:00"})
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "validation_error"
    assert body["errors"]["starts_at"][0]["code"] == "type"


def test_get_activity(client, shop):
    activity = shop.create("gift")
    r = client.get(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers)
    assert r.status_code == 200
    assert r.get_json() == activity


def test_list_activities_pages_with_next_cursor(client, shop):
    made = {shop.create("gift")["id"] for _ in range(5)}
    seen, cursor, pages = [], None, 0
    while True:
        url = f"{ACTIVITIES}?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=shop.headers).get_json()
        seen += [a["id"] for a in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(made)


def test_list_activities_filters_by_status_and_search(client, shop):
    draft = shop.create("gift", title="Coffee for friends")
    live = shop.live("lottery", title="Spin the wheel")
    by_status = client.get(f"{ACTIVITIES}?status=live", headers=shop.headers).get_json()
    assert [a["id"] for a in by_status["items"]] == [live["id"]]
    found = client.get(f"{ACTIVITIES}?q=Coffee", headers=shop.headers).get_json()
    assert [a["id"] for a in found["items"]] == [draft["id"]]


@pytest.mark.parametrize("q, titles", [
    ("%25", ["50% off"]), ("_", ["tea_set"]), ("%5C", ["back\\slash"]), ("50%25 OFF", ["50% off"]),
    ("%25%25", []), ("t_a", []),
])
def test_a_search_finds_wildcard_characters_as_themselves(client, shop, q, titles):
    for title in ("50% off", "tea_set", "back\\slash", "Plain"):
        shop.create("gift", title=title)
    found = client.get(f"{ACTIVITIES}?q={q}", headers=shop.headers).get_json()["items"]
    assert [a["title"] for a in found] == titles


def test_list_shows_only_the_merchants_own_activities(client, shop, other_shop):
    shop.create("gift")
    assert client.get(ACTIVITIES, headers=other_shop.headers).get_json()["items"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "status=sleeping"])
def test_bad_list_query_is_a_validation_error(client, shop, query):
    r = client.get(f"{ACTIVITIES}?{query}", headers=shop.headers)
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "validation_error"
    assert set(body["errors"]) <= {"limit", "status"}


def test_patch_changes_a_draft(client, shop):
    activity = shop.create("gift")
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers, json={
        "title": "Renamed", "config": {"gift_name": "Tea", "mode": "units"},
        "starts_at": "2026-11-12T10:00:00+08:00"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["title"] == "Renamed"
    assert body["config"]["gift_name"] == "Tea"
    assert body["starts_at"] == "2026-11-12T02:00:00Z"


def test_patch_with_null_clears_the_schedule(client, shop):
    activity = shop.create("gift", starts_at="2026-11-12T10:00:00+08:00")
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"starts_at": None})
    assert r.get_json()["starts_at"] is None


def test_empty_patch_changes_nothing(client, shop):
    activity = shop.live("lottery")
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers, json={})
    assert r.status_code == 200
    assert r.get_json()["updated_at"] == activity["updated_at"]


def test_patch_of_a_frozen_field_once_live_is_409_not_editable(client, shop):
    activity = shop.live("bargain")
    config = {**activity["config"], "original_price": 20000}
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"config": config})
    assert r.status_code == 409
    body = r.get_json()
    assert body["error"] == "not_editable"
    assert "original_price" in body["errors"]


def test_patch_of_a_live_editable_field_once_live_is_accepted(client, shop):
    activity = shop.live("bargain")
    config = {**activity["config"], "stock": 50}
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"config": config})
    assert r.status_code == 200
    assert r.get_json()["config"]["stock"] == 50


def test_patch_of_a_live_config_as_get_returns_it_keeps_its_date_times(client, shop):
    # The config was sent with +08:00 and is read back in UTC (`…Z`): the same instant, so
    # resending it as read changes no frozen field.
    activity = shop.live("checkin_pool")
    config = client.get(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers).get_json()[
        "config"]
    assert config["settle_at"] == "2026-11-14T04:00:00Z"
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"config": {**config, "daily_boost": 2000}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["config"]["daily_boost"] == 2000
    assert r.get_json()["config"]["settle_at"] == "2026-11-14T04:00:00Z"
    moved = {**config, "settle_at": "2026-11-14T05:00:00Z"}
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"config": moved})
    assert r.status_code == 409
    assert list(r.get_json()["errors"]) == ["settle_at"]


def test_patch_of_title_once_live_is_409(client, shop):
    activity = shop.live("gift")
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"title": "New"})
    assert r.status_code == 409
    assert r.get_json()["error"] == "not_editable"


def test_patch_with_an_invalid_config_is_422(client, shop):
    activity = shop.create("gift")
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"config": {"gift_name": "", "mode": "units"}})
    assert r.status_code == 422
    assert "gift_name" in r.get_json()["errors"]


# --- lifecycle --------------------------------------------------------------------------------


def test_publish_goes_live_and_commits_to_a_seed(shop):
    activity = shop.publish(shop.create("lottery")["id"])
    assert activity["status"] == "live"
    assert activity["published_at"] == "2026-11-11T02:00:00Z"
    assert len(activity["seed_commitment"]) == 64
    assert activity["seed"] is None


def test_publish_with_starts_at_schedules(client, shop, clock):
    draft = shop.create("lottery")
    scheduled = shop.publish(draft["id"], starts_at="2026-11-11T11:00:00+08:00")
    assert scheduled["status"] == "scheduled"
    assert scheduled["starts_at"] == "2026-11-11T03:00:00Z"
    clock.advance(3600)
    r = client.get(f"{ACTIVITIES}/{draft['id']}", headers=shop.headers)
    assert r.get_json()["status"] == "live"


def test_publish_twice_is_409_invalid_transition(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"{ACTIVITIES}/{activity['id']}/publish", headers=shop.headers)
    assert r.status_code == 409
    assert r.get_json()["error"] == "invalid_transition"


def test_lifecycle_walks_live_paused_live_ended_archived(shop):
    activity = shop.live("lottery")
    steps = [("pause", "paused"), ("resume", "live"), ("end", "ended"), ("archive", "archived")]
    for verb, status in steps:
        r = shop.lifecycle(activity["id"], verb)
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["status"] == status
    assert r.get_json()["seed"] is not None


@pytest.mark.parametrize("verb", ["pause", "resume", "end"])
def test_impossible_transition_from_draft_is_409(shop, verb):
    activity = shop.create("lottery")
    r = shop.lifecycle(activity["id"], verb)
    assert r.status_code == 409
    assert r.get_json()["error"] == "invalid_transition"


def test_ended_activity_reveals_the_seed_to_the_merchant(shop):
    import hashlib

    activity = shop.live("lottery")
    ended = shop.lifecycle(activity["id"], "end").get_json()
    assert ended["ended_at"] == "2026-11-11T02:00:00Z"
    assert hashlib.sha256(ended["seed"].encode()).hexdigest() == ended["seed_commitment"]


def test_duplicate_makes_a_new_draft(shop):
    activity = shop.live("lottery")
    r = shop.lifecycle(activity["id"], "duplicate")
    assert r.status_code == 201
    copy = r.get_json()
    assert copy["id"] != activity["id"]
    assert copy["status"] == "draft"
    assert copy["config"] == activity["config"]
    assert copy["template"] == activity["template"]


@pytest.mark.parametrize("method, suffix", [
    ("get", ""), ("patch", ""), ("post", "/publish"), ("post", "/pause"), ("post", "/resume"),
    ("post", "/end"), ("post", "/archive"), ("post", "/duplicate"), ("get", "/stats"),
    ("get", "/actions"), ("post", "/actions/grant"),
])
def test_another_merchants_activity_is_404(client, shop, other_shop, method, suffix):
    activity = shop.live("lottery")
    body = {"participant": "alice", "params": {"count": 1}} if suffix == "/actions/grant" else {}
    r = getattr(client, method)(f"{ACTIVITIES}/{activity['id']}{suffix}", json=body,
                                headers=other_shop.headers)
    assert r.status_code == 404
    assert r.get_json()["error"] == "activity_not_found"


# --- stats and the action log -----------------------------------------------------------------


def test_stats_count_participations_and_participants(client, shop, clock):
    activity = shop.live("bargain")
    room = shop.act(activity["id"], "start", "alice").get_json()["room"]
    clock.advance(30)
    shop.act(activity["id"], "help", "bob", room=room)
    shop.act(activity["id"], "help", "bob", room=room)  # refused: not counted
    clock.advance(3600)
    shop.act(activity["id"], "help", "carol", room=room)
    r = client.get(f"{ACTIVITIES}/{activity['id']}/stats", headers=shop.headers)
    assert r.status_code == 200
    stats = r.get_json()
    assert stats["activity_id"] == activity["id"]
    assert stats["totals"]["participations"] == 3
    assert stats["totals"]["unique_participants"] == 3
    assert stats["totals"]["first_time_participants"] == 3
    assert stats["totals"]["actions"] == 3
    assert stats["events"]["bargain.cut"] == 2
    assert [h["hour"] for h in stats["hourly"]] == ["2026-11-11T02:00:00Z", "2026-11-11T03:00:00Z"]
    assert sum(h["participations"] for h in stats["hourly"]) == 3


def test_stats_count_completions(client, shop):
    activity = shop.live("group_buy")
    room = shop.act(activity["id"], "start", "lee").get_json()["room"]
    shop.act(activity["id"], "join", "amy", room=room)
    shop.act(activity["id"], "join", "ben", room=room)
    stats = client.get(f"{ACTIVITIES}/{activity['id']}/stats", headers=shop.headers).get_json()
    assert stats["totals"]["completions"] == 1


def test_action_log_pages_in_sequence_order(client, shop):
    activity = shop.live("lottery", config={
        "prizes": [{"name": "Coupon", "type": "coupon", "stock": 5, "odds": 5000}],
        "draws_per_day": 10, "draws_total": 10})
    for who in ["a", "b", "c", "d", "e"]:
        assert shop.act(activity["id"], "draw", who).status_code == 200
    url = f"{ACTIVITIES}/{activity['id']}/actions"
    first = client.get(f"{url}?limit=2", headers=shop.headers).get_json()
    assert [i["seq"] for i in first["items"]] == [1, 2]
    assert first["next_cursor"] == 2
    second = client.get(f"{url}?limit=2&after=2", headers=shop.headers).get_json()
    assert [i["seq"] for i in second["items"]] == [3, 4]
    last = client.get(f"{url}?limit=2&after=4", headers=shop.headers).get_json()
    assert [i["seq"] for i in last["items"]] == [5]
    assert last["next_cursor"] is None
    entry = first["items"][0]
    assert entry["participant"] == "a"
    assert entry["actor"] == "participant"
    assert entry["at"] == "2026-11-11T02:00:00Z"
    assert entry["random"]


@pytest.mark.parametrize("query", ["after=-1", "limit=0", "limit=500", "after=x"])
def test_bad_action_log_query_is_a_validation_error(client, shop, query):
    activity = shop.live("lottery")
    r = client.get(f"{ACTIVITIES}/{activity['id']}/actions?{query}", headers=shop.headers)
    assert r.status_code == 422
    assert r.get_json()["error"] == "validation_error"


# --- merchant actions -------------------------------------------------------------------------


def test_merchant_grant_gives_a_participant_extra_draws(client, shop):
    activity = shop.live("lottery", config={
        "prizes": [{"name": "Coupon", "type": "coupon", "stock": 5, "odds": 5000}],
        "draws_per_day": 1, "draws_total": 10, "extra_draws_max": 5})
    assert shop.act(activity["id"], "draw", "alice").status_code == 200
    assert shop.act(activity["id"], "draw", "alice").get_json()["error"] == "no_draws_left"
    r = client.post(f"{ACTIVITIES}/{activity['id']}/actions/grant", headers=shop.headers,
                    json={"participant": "alice", "params": {"count": 2, "reason": "VIP"}})
    assert r.status_code == 200
    body = r.get_json()
    assert body["events"] == ["draws.granted"]
    assert body["result"] == {"extra": 2}
    assert shop.act(activity["id"], "draw", "alice").status_code == 200
    log = client.get(f"{ACTIVITIES}/{activity['id']}/actions", headers=shop.headers).get_json()
    assert [(i["action"], i["actor"]) for i in log["items"]] == [
        ("draw", "participant"), ("grant", "merchant"), ("draw", "participant")]


def test_merchant_grant_beyond_the_maximum_is_409(client, shop):
    activity = shop.live("lottery")
    url = f"{ACTIVITIES}/{activity['id']}/actions/grant"
    assert client.post(url, headers=shop.headers, json={
        "participant": "alice", "params": {"count": 5}}).status_code == 200
    r = client.post(url, headers=shop.headers, json={"participant": "alice",
                                                     "params": {"count": 1}})
    assert r.status_code == 409
    assert r.get_json()["error"] == "extra_draws_limit"


def test_merchant_grant_is_idempotent(client, shop):
    activity = shop.live("lottery")
    url = f"{ACTIVITIES}/{activity['id']}/actions/grant"
    headers = {**shop.headers, "Idempotency-Key": "grant-42"}
    body = {"participant": "alice", "params": {"count": 1}}
    first = client.post(url, headers=headers, json=body)
    again = client.post(url, headers=headers, json=body)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post(url, headers=headers, json={**body, "params": {"count": 2}})
    assert other.status_code == 422
    assert other.get_json()["error"] == "idempotency_key_reused"


def test_merchant_calling_a_participant_action_is_403_not_allowed(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"{ACTIVITIES}/{activity['id']}/actions/draw", headers=shop.headers,
                    json={"participant": "alice"})
    assert r.status_code == 403
    assert r.get_json()["error"] == "not_allowed"


def test_merchant_action_needs_a_participant(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"{ACTIVITIES}/{activity['id']}/actions/grant", headers=shop.headers,
                    json={"params": {"count": 1}})
    assert r.status_code == 422
    assert r.get_json()["errors"]["participant"][0]["code"] == "required"


def test_merchant_grant_with_invalid_params_is_422(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"{ACTIVITIES}/{activity['id']}/actions/grant", headers=shop.headers,
                    json={"participant": "alice", "params": {"count": 0}})
    assert r.status_code == 422
    assert r.get_json()["error"] == "invalid_params"


@pytest.mark.parametrize("participant", [
    "a\u0007b", "a\u0085b", "a\u007fb", "\u001b[31m", "tab\there", "", "a" * 129,
], ids=["bell", "c1", "del", "escape", "tab", "empty", "129"])
def test_a_merchant_action_refuses_the_ids_every_other_endpoint_refuses(client, shop,
                                                                        participant):
    lottery = shop.live("lottery")["id"]
    r = client.post(f"{ACTIVITIES}/{lottery}/actions/grant", headers=shop.headers,
                    json={"participant": participant, "params": {"count": 1}})
    assert r.status_code == 422 and r.get_json()["error"] == "validation_error"
    assert "participant" in r.get_json()["errors"]
    log = client.get(f"{ACTIVITIES}/{lottery}/actions", headers=shop.headers).get_json()
    assert log["items"] == []
    for url, body in (("/v1/merchant/participant-tokens", {"participant": participant}),
                      (f"{ACTIVITIES}/{lottery}/voids", {"participant": participant}),
                      (f"{ACTIVITIES}/{lottery}/blocks", {"kind": "participant",
                                                          "value": participant,
                                                          "outcome": "refused"})):
        refused = client.post(url, json=body, headers=shop.headers)
        assert refused.status_code == 422, url


@pytest.mark.parametrize("participant", ["   ", "u\u00a0v", "\u5f20\u4e09", "u" * 128])
def test_a_merchant_action_takes_the_ids_a_token_may_carry(client, shop, participant):
    lottery = shop.live("lottery")["id"]
    r = client.post("/v1/merchant/participant-tokens", json={"participant": participant},
                    headers=shop.headers)
    assert r.status_code == 200
    r = client.post(f"{ACTIVITIES}/{lottery}/actions/grant", headers=shop.headers,
                    json={"participant": participant, "params": {"count": 1}})
    assert r.status_code == 200, r.get_json()


def test_the_engine_refuses_a_merchant_action_for_an_id_no_token_could_carry(shop, engine):
    from magic_cube.engine import EngineError

    lottery = shop.live("lottery")["id"]
    with pytest.raises(EngineError) as refused:
        engine.merchant_act(shop.merchant, lottery, "grant", "a\u0085b", {"count": 1})
    assert refused.value.code == "validation_error" and "participant" in refused.value.errors


# --- participant tokens -----------------------------------------------------------------------


def test_participant_token_endpoint_mints_a_working_token(client, shop):
    activity = shop.live("lottery")
    r = client.post("/v1/merchant/participant-tokens", headers=shop.headers,
                    json={"participant": "alice", "display_name": "Alice", "ttl": 3600})
    assert r.status_code == 200
    body = r.get_json()
    assert body["expires_at"] == "2026-11-11T03:00:00Z"
    me = client.get(f"/v1/activities/{activity['id']}/me",
                    headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.get_json()["participant"] == "alice"


def test_participant_token_defaults_to_seven_days(client, shop):
    r = client.post("/v1/merchant/participant-tokens", headers=shop.headers,
                    json={"participant": "alice"})
    assert r.get_json()["expires_at"] == "2026-11-18T02:00:00Z"


@pytest.mark.parametrize("body, field", [
    ({}, "participant"), ({"participant": ""}, "participant"),
    ({"participant": "a", "ttl": 0}, "ttl"), ({"participant": "a", "ttl": "long"}, "ttl"),
    ({"participant": "a", "display_name": "x" * 65}, "display_name"),
])
def test_bad_token_request_is_a_validation_error(client, shop, body, field):
    r = client.post("/v1/merchant/participant-tokens", headers=shop.headers, json=body)
    assert r.status_code == 422
    assert field in r.get_json()["errors"]


# --- templates --------------------------------------------------------------------------------


def test_templates_list_every_bundled_template(client, shop):
    r = client.get("/v1/merchant/templates", headers=shop.headers)
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert {t["id"] for t in items} >= {"bargain", "gift", "group_buy", "lottery"}
    lottery = next(t for t in items if t["id"] == "lottery")
    assert lottery["kind"] == "lottery"
    assert lottery["title"]["zh"] and lottery["title"]["en"]
    assert lottery["config"]["schema"]["type"] == "object"
    assert "prizes" in lottery["config"]["schema"]["required"]
    assert {"name": "grant", "by": "merchant"}.items() <= next(
        a for a in lottery["actions"] if a["name"] == "grant").items()
    assert lottery["errors"]["no_draws_left"]["status"] == 409


def test_template_by_id_and_version(client, shop):
    r = client.get("/v1/merchant/templates/bargain", headers=shop.headers)
    assert r.status_code == 200
    assert r.get_json()["id"] == "bargain"
    r = client.get("/v1/merchant/templates/bargain?version=1.0.0", headers=shop.headers)
    assert r.get_json()["version"] == "1.0.0"


@pytest.mark.parametrize("url", ["/v1/merchant/templates/nope",
                                 "/v1/merchant/templates/bargain?version=9.9.9"])
def test_unknown_template_is_404_template_not_found(client, shop, url):
    r = client.get(url, headers=shop.headers)
    assert r.status_code == 404
    assert r.get_json()["error"] == "template_not_found"


def test_patch_once_live_may_omit_fields_that_have_defaults(client, shop, configs):
    activity = shop.live("bargain")  # created without the optional fields
    r = client.patch(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers,
                     json={"config": {**configs["bargain"], "stock": 7}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["config"]["stock"] == 7


def _won_code(shop) -> str:
    config = {"prizes": [{"name": "Tea set", "type": "physical", "stock": 5, "odds": 10000}],
              "draws_per_day": 3, "draws_total": 10}
    activity = shop.live("lottery", config)["id"]
    assert shop.act(activity, "draw", "amy").status_code == 200
    r = shop.client.get(f"{ACTIVITIES}/{activity}/redemptions", headers=shop.headers)
    return r.get_json()["items"][0]["code"]


def test_shipping_changes_only_the_fields_sent(client, shop, clock):
    code = _won_code(shop)
    url = f"/v1/merchant/codes/{code}/shipping"
    r = client.put(url, headers=shop.headers, json={"name": "Amy", "address": "Road 1"})
    assert r.status_code == 200 and r.get_json()["shipped_at"] is None
    shipped_at = client.put(url, headers=shop.headers, json={"shipped": True}).get_json()[
        "shipped_at"]
    assert shipped_at is not None
    clock.advance(3600)
    r = client.put(url, headers=shop.headers, json={"carrier": "SF", "tracking": "SF123"})
    body = r.get_json()
    assert body["shipping"] == {"name": "Amy", "phone": "", "address": "Road 1",
                                "carrier": "SF", "tracking": "SF123"}
    assert body["shipped_at"] == shipped_at  # omitted: kept
    again = client.put(url, headers=shop.headers, json={"shipped": True}).get_json()
    assert again["shipped_at"] == shipped_at  # it left once, when it first left
    r = client.put(url, headers=shop.headers, json={"address": "", "shipped": False})
    assert r.get_json()["shipping"]["address"] == "" and r.get_json()["shipped_at"] is None
    assert r.get_json()["shipping"]["name"] == "Amy"


@pytest.mark.parametrize("value", ["true", 1, 0, "yes", "off", 1.0])
def test_a_boolean_field_takes_only_true_or_false(client, shop, value):
    code = _won_code(shop)
    r = client.put(f"/v1/merchant/codes/{code}/shipping", headers=shop.headers,
                   json={"shipped": value})
    assert r.status_code == 422 and r.get_json()["errors"]["shipped"][0]["code"] == "type"
    assert client.get(f"/v1/merchant/codes/{code}", headers=shop.headers).get_json()[
        "shipped_at"] is None
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "guests": value})
    assert r.status_code == 422 and r.get_json()["errors"]["guests"][0]["code"] == "type"


@pytest.mark.parametrize("text", ["Tea\x07", "Tea\x1b[31m", "Tea\n", "\u0085Tea", "Tea\x7f"])
def test_a_title_or_a_campaign_name_with_a_control_character_is_refused(client, shop, text):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"}, "title": text})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"title": [{"code": "invalid",
                                                 "message": "No control characters"}]}
    activity = shop.create("gift", {"gift_name": "Tea", "mode": "units"})["id"]
    r = client.patch(f"{ACTIVITIES}/{activity}", headers=shop.headers, json={"title": text})
    assert r.status_code == 422 and "title" in r.get_json()["errors"]
    r = client.post("/v1/merchant/campaigns", headers=shop.headers, json={
        "name": text, "starts_on": "2026-11-01", "ends_on": "2026-11-30"})
    assert r.status_code == 422 and "name" in r.get_json()["errors"]
    assert client.get("/v1/merchant/campaigns", headers=shop.headers).get_json()["items"] == []
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "title": "茶 Tea 🍵"})
    assert r.status_code == 201 and r.get_json()["title"] == "茶 Tea 🍵"
