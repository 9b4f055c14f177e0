"""One error body everywhere, with a clear 4xx code for bad input and never a partial write."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import flask
import pytest
from flask import request

from magic_cube.api.errors import as_api_error, field_errors
from magic_cube.api.parsing import body_of, load_body
from magic_cube.api.participants import ACTION_BODY
from magic_cube.api.responses import json_response
from magic_cube.catalog import TemplateMismatch
from magic_cube.store import Conflict

ACTIVITIES = "/v1/merchant/activities"


def assert_error_body(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) <= {"error", "message", "status", "errors"}
    assert {"error", "message", "status"} <= set(body)
    assert body["error"] == code
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body.get("errors", {}), dict)
    return body


def count_activities(client, shop) -> int:
    return len(client.get(ACTIVITIES, headers=shop.headers).get_json()["items"])


# --- request bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b"{bad", b"[1, 2]", b'"text"', b"42", b"null", b'{"config": NaN}', b"\xff\xfe{}",
    b"[" * 30000 + b"]" * 30000, b"template_id=lottery",
])
def test_body_that_is_not_a_json_object_is_400_invalid_json(client, shop, raw):
    r = client.post(ACTIVITIES, data=raw, headers=shop.headers,
                    content_type="application/json")
    assert_error_body(r, 400, "invalid_json")
    assert count_activities(client, shop) == 0


def test_invalid_json_on_a_participant_action_writes_nothing(client, shop):
    activity = shop.live("lottery")
    r = client.post(f"/v1/activities/{activity['id']}/actions/draw", data="{",
                    headers=shop.as_("alice"), content_type="application/json")
    assert_error_body(r, 400, "invalid_json")
    log = client.get(f"{ACTIVITIES}/{activity['id']}/actions", headers=shop.headers).get_json()
    assert log["items"] == []


def test_json_object_without_json_content_type_is_still_read(client, shop):
    r = client.post(ACTIVITIES, data='{"template_id": "gift", "config": {"gift_name": "T", '
                                     '"mode": "units"}}',
                    headers=shop.headers, content_type="text/plain")
    assert r.status_code == 201


def test_oversized_body_is_413_payload_too_large_and_writes_nothing(client, shop):
    big = {"template_id": "gift", "config": {"gift_name": "x" * 70_000, "mode": "units"}}
    r = client.post(ACTIVITIES, json=big, headers=shop.headers)
    assert_error_body(r, 413, "payload_too_large")
    assert count_activities(client, shop) == 0


def test_oversized_action_is_413(client, shop):
    activity = shop.live("gift")
    r = client.post(f"/v1/activities/{activity['id']}/actions/send",
                    json={"params": {"shares": 1, "message": "x" * 70_000}},
                    headers=shop.as_("amy"))
    assert_error_body(r, 413, "payload_too_large")


LIMIT = 64 * 1024  # max_body_bytes


def post_chunked(client, url: str, body: bytes, headers: dict[str, str]):
    """`body` sent without a Content-Length, as gunicorn passes a chunked body on: it ends the
    stream itself and says so (`wsgi.input_terminated`)."""
    return client.post(url, data=body, headers={**headers, "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


@pytest.mark.parametrize("body", [
    b'{"params": {}}' + b" " * LIMIT,  # cut at the limit, it would read as a valid body
    b'{"params": {"x": "' + b"x" * 5_000_000 + b'"}}',
], ids=["padded", "5MB"])
def test_an_oversized_chunked_body_is_413_like_one_with_a_length(client, shop, body):
    lottery = shop.live("lottery")["id"]
    r = post_chunked(client, f"/v1/activities/{lottery}/actions/draw", body, shop.as_("amy"))
    assert_error_body(r, 413, "payload_too_large")
    log = client.get(f"{ACTIVITIES}/{lottery}/actions", headers=shop.headers).get_json()
    assert log["items"] == []


def test_a_chunked_body_of_exactly_the_limit_is_read(client, shop):
    lottery = shop.live("lottery")["id"]
    body = b'{"params": {}}'
    body += b" " * (LIMIT - len(body))
    r = post_chunked(client, f"/v1/activities/{lottery}/actions/draw", body, shop.as_("amy"))
    assert r.status_code == 200, r.get_json()


def test_a_body_cut_short_of_its_length_is_a_400_and_writes_nothing(client, shop):
    # A server that does not end the stream itself hands over what came: fewer bytes than
    # the Content-Length said is a client gone mid-body, not a shorter request.
    lottery = shop.live("lottery")["id"]
    r = client.post(f"/v1/activities/{lottery}/actions/draw", data=b"{}",
                    headers=shop.as_("amy"), content_type="application/json",
                    environ_overrides={"CONTENT_LENGTH": "40"})
    assert_error_body(r, 400, "bad_request")
    log = client.get(f"{ACTIVITIES}/{lottery}/actions", headers=shop.headers).get_json()
    assert log["items"] == []


def test_a_body_read_for_its_checks_is_read_again_whole(app):
    with app.test_request_context("/v1/merchant/activities", method="POST",
                                  data=b'{"a": 1}', content_type="application/json"):
        assert body_of(request) == {"a": 1}
        assert request.get_data() == b'{"a": 1}'


def test_an_empty_action_body_loads_to_defaults_of_its_own_each_time(app):
    loaded = []
    for _ in range(2):
        with app.test_request_context("/", method="POST", data=b"{}",
                                      content_type="application/json"):
            loaded.append(load_body(ACTION_BODY))
    assert loaded[0] == loaded[1] == {"params": {}, "room": None, "via": None}
    loaded[0]["params"]["x"] = 1
    assert loaded[1]["params"] == {}


@pytest.mark.parametrize("body, field, code", [
    ({"params": [1, 2]}, "params", "type"),
    ({"params": "x"}, "params", "type"),
    ({"room": 7}, "room", "type"),
    ({"room": ""}, "room", "length"),
    ({"rooms": "r1"}, "rooms", "unknown_field"),
])
def test_wrong_types_in_an_action_body_are_422_validation_error(client, shop, body, field, code):
    activity = shop.live("bargain")
    r = client.post(f"/v1/activities/{activity['id']}/actions/start", json=body,
                    headers=shop.as_("alice"))
    errors = assert_error_body(r, 422, "validation_error")["errors"]
    assert errors[field][0]["code"] == code
    log = client.get(f"{ACTIVITIES}/{activity['id']}/actions", headers=shop.headers).get_json()
    assert log["items"] == []


@pytest.mark.parametrize("body, field, code", [
    ({"config": {}}, "template_id", "required"),
    ({"template_id": 5}, "template_id", "type"),
    ({"template_id": "gift", "config": []}, "config", "type"),
    ({"template_id": "gift", "starts_at": "tomorrow"}, "starts_at", "type"),
    ({"template_id": "gift", "colour": "red"}, "colour", "unknown_field"),
    ({"template_id": "gift", "title": None}, "title", "null"),
])
def test_wrong_types_in_a_create_body_are_422_keyed_by_field(client, shop, body, field, code):
    r = client.post(ACTIVITIES, json=body, headers=shop.headers)
    errors = assert_error_body(r, 422, "validation_error")["errors"]
    assert errors[field][0]["code"] == code
    assert count_activities(client, shop) == 0


def test_an_error_message_quotes_a_large_value_cut_short(client, shop, configs):
    big = "x" * 30_000
    gift, lottery = shop.live("gift")["id"], shop.live("lottery")["id"]
    answers = [
        client.post(f"/v1/activities/{gift}/actions/send", json={"params": {"shares": big}},
                    headers=shop.as_("amy")),
        client.post(f"{ACTIVITIES}/{lottery}/actions/grant", headers=shop.headers,
                    json={"participant": "amy", "params": {"count": big}}),
    ]
    for r in answers:
        message = assert_error_body(r, 422, "invalid_params")["errors"]
        (entry,) = [e for entries in message.values() for e in entries]
        assert entry == {"code": "type",
                         "message": "Must be a whole number: a number, not text in quotes"}
    r = client.post(f"/v1/activities/{gift}/actions/send",
                    json={"params": {"shares": 2, big: 1}}, headers=shop.as_("bob"))
    assert_error_body(r, 422, "invalid_params")
    assert len(r.get_data()) < 1000
    r = client.post(f"/v1/activities/{gift}/actions/{'y' * 3000}", headers=shop.as_("amy"))
    assert len(assert_error_body(r, 404, "unknown_action")["message"]) < 150
    r = client.post(ACTIVITIES, headers=shop.headers,
                    json={"template_id": "gift", "config": {**configs["gift"], big: 1}})
    assert_error_body(r, 422, "invalid_config")
    assert len(r.get_data()) < 1000


# --- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/nope", "/v1/activities", "/v1/activities/a/b/c", "/v2/x"])
def test_unknown_route_is_404_not_found(client, url):
    assert_error_body(client.get(url), 404, "not_found")


@pytest.mark.parametrize("path", [
    "/v1/activities//{id}", "/v1//activities/{id}", "/v1/activities/{id}//me",
    "/v1/activities//me", f"{ACTIVITIES}//{{id}}", "//healthz",
])
def test_a_path_with_an_empty_segment_is_404_json_not_a_redirect(client, shop, path):
    lottery = shop.live("lottery")["id"]
    r = client.get(path.format(id=lottery), headers=shop.headers)
    assert_error_body(r, 404, "not_found")
    assert "Location" not in r.headers
    r = client.post(f"{ACTIVITIES}//{lottery}/pause", headers=shop.headers)
    assert_error_body(r, 404, "not_found")
    assert client.get(f"{ACTIVITIES}/{lottery}", headers=shop.headers).get_json()[
        "status"] == "live"


def test_wrong_method_is_405_method_not_allowed_with_allow(client, shop):
    activity = shop.create("gift")
    r = client.delete(f"{ACTIVITIES}/{activity['id']}", headers=shop.headers)
    assert_error_body(r, 405, "method_not_allowed")
    assert "PATCH" in r.headers["Allow"]
    r = client.put(f"/v1/activities/{activity['id']}")
    assert_error_body(r, 405, "method_not_allowed")


def test_error_responses_are_not_cached(client):
    assert client.get("/nope").headers["Cache-Control"] == "no-store"


# --- failures inside ----------------------------------------------------------------------------


def test_unexpected_exception_is_500_internal_error_without_a_traceback(client, engine,
                                                                       monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret database password in a message")

    monkeypatch.setattr(engine, "public_view", explode)
    r = client.get("/v1/activities/act_x")
    body = assert_error_body(r, 500, "internal_error")
    text = r.get_data(as_text=True)
    assert "secret" not in text
    assert "Traceback" not in text
    assert "errors" not in body


def test_store_conflict_is_409_conflict(client, shop, engine, monkeypatch):
    activity = shop.live("lottery")

    def conflict(*args, **kwargs):
        raise Conflict("UNIQUE constraint failed: participants")

    monkeypatch.setattr(engine, "heartbeat", conflict)
    r = client.post(f"/v1/activities/{activity['id']}/heartbeat", headers=shop.as_("alice"))
    assert_error_body(r, 409, "conflict")


def test_changed_template_is_500_template_mismatch():
    error = as_api_error(TemplateMismatch("bargain", "1.0.0", "a" * 64, "b" * 64))
    assert (error.code, error.status) == ("template_mismatch", 500)
    assert "a" * 12 not in error.message


def test_healthz_is_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}


def test_healthz_is_503_when_the_database_fails(client, engine, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(engine.store, "transaction", broken)
    assert_error_body(client.get("/healthz"), 503, "unavailable")


# --- the shape of field errors ------------------------------------------------------------------


def test_nested_marshmallow_errors_flatten_to_dotted_paths():
    messages = {"config": {"prizes": {0: {"stock": ["Not a valid integer."]}}},
                "_schema": ["Invalid input type."],
                "participant": ["Missing data for required field."]}
    assert field_errors(messages) == {
        "config.prizes.0.stock": [{"code": "type", "message": "Not a valid integer."}],
        "": [{"code": "type", "message": "Invalid input type."}],
        "participant": [{"code": "required", "message": "Missing data for required field."}],
    }


def test_nul_characters_are_refused_before_they_reach_the_store(client, shop):
    activity = shop.live("lottery")["id"]
    body = '{"params": {}, "room": "a\\u0000b"}'
    response = client.post(f"/v1/activities/{activity}/actions/draw", data=body,
                           headers=shop.as_("amy", extra={"Content-Type": "application/json"}))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_json"
    room = client.get(f"/v1/activities/{activity}/rooms/a%00b", headers=shop.as_("amy"))
    assert room.status_code == 404


@pytest.mark.parametrize("query", ["cursor=%00", "search=a%00b", "status=live&x%00=1"])
def test_a_nul_in_a_query_is_422_keyed_by_its_parameter(client, shop, query):
    # PostgreSQL text cannot hold a NUL: it must not reach the store (it was a 500 there).
    shop.create("lottery")
    r = client.get(f"/v1/merchant/activities?{query}", headers=shop.headers)
    body = assert_error_body(r, 422, "validation_error")
    name = query.rsplit("&", 1)[-1].split("=")[0].replace("%00", "\\0")
    assert body["errors"] == {name: [{"code": "invalid",
                                      "message": "Text may not contain NUL characters"}]}
    zh = client.get(f"/v1/merchant/activities?{query}",
                    headers={**shop.headers, "Accept-Language": "zh"}).get_json()
    assert zh["errors"][name][0]["message"] == "文字中不能含有 NUL 字符"
    # A console page answers its own 404 rather than a 500.
    assert client.get(f"/console/activities?{query}").status_code == 404


def test_a_message_that_names_a_status_or_an_action_is_in_the_requests_language(shop):
    activity = shop.live("lottery")
    path = f"/v1/merchant/activities/{activity['id']}/resume"
    english = shop.client.post(path, headers=shop.headers).get_json()
    assert english["error"] == "invalid_transition"
    assert english["message"] == "Cannot resume an activity that is live"
    chinese = shop.client.post(path, headers={**shop.headers, "Accept-Language": "zh-CN"})
    assert chinese.get_json()["message"] == "活动当前为「进行中」，不能恢复"
    refused = shop.act(activity["id"], "steal{x}", "alice", headers={"Accept-Language": "zh"})
    assert refused.status_code == 404
    # The name the client sent is shown as sent, not read as a placeholder or a word of ours.
    assert refused.get_json()["message"] == "本活动没有 'steal{x}' 这个操作"
    assert shop.act(activity["id"], "steal", "alice").get_json()["message"] \
        == "No action 'steal' in this activity"


ZH = {"Accept-Language": "zh-CN, en;q=0.9"}


def test_field_errors_are_in_the_requests_language_like_the_message(client, shop):
    r = client.post("/v1/merchant/activities", headers={**shop.headers, **ZH}, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "title": 5, "typo": 1})
    body = assert_error_body(r, 422, "validation_error")
    assert body["message"] == "请求无效"
    assert body["errors"] == {"title": [{"code": "type", "message": "不是有效的字符串。"}],
                              "typo": [{"code": "unknown_field", "message": "不允许的字段。"}]}
    r = client.post("/v1/merchant/participant-tokens", headers={**shop.headers, **ZH},
                    json={"participant": ""})
    assert assert_error_body(r, 422, "validation_error")["errors"]["participant"] == [
        {"code": "length", "message": "长度必须在 1 到 128 之间。"}]
    r = client.post("/v1/merchant/activities", headers={**shop.headers, **ZH}, json={
        "template_id": "gift", "config": {"gift_name": "Tea", "mode": "units"},
        "timezone": "Mars/Base"})
    [error] = assert_error_body(r, 422, "invalid_activity")["errors"]["timezone"]
    assert error["message"] == "未知时区 'Mars/Base'：请使用 Asia/Shanghai 这样的 IANA 名称"


def test_every_field_message_of_marshmallow_has_chinese_words():
    # A marshmallow message the API may give, patterns filled in, is translated.
    from marshmallow import fields

    from magic_cube.api.field_messages import translated
    messages = [*fields.Field.default_error_messages.values(),
                *(m for cls in (fields.String, fields.Integer, fields.Number, fields.Boolean,
                                fields.DateTime, fields.Date, fields.Dict, fields.List,
                                fields.UUID, fields.Url, fields.Email)
                  for m in cls.default_error_messages.values()),
                "Length must be between 1 and 128.", "Length must be 3.",
                "Shorter than minimum length 2.", "Longer than maximum length 500.",
                "Must be greater than or equal to 0 and less than or equal to 200.",
                "Must be greater than or equal to 1.", "Must be less than or equal to 9.",
                "Must be one of: draft, live.", "1 to 128 characters"]
    untranslated = [m for m in messages if "{" not in m and translated("zh", m) == m]
    assert untranslated == []


@pytest.mark.parametrize("depth", [65, 500, 900])
def test_a_body_nested_too_deeply_is_400_invalid_json_and_writes_nothing(client, shop, depth):
    # Within what json.loads reads, but deeper than a config's deep copy can recurse: a 500.
    nested = '{"a":' * depth + "1" + "}" * depth
    lottery = shop.live("lottery")["id"]
    for url, body, headers in [
            ("/v1/merchant/activities",
             f'{{"template_id": "lottery", "config": {{"prizes": {nested}}}}}', shop.headers),
            (f"/v1/activities/{lottery}/actions/draw", f'{{"params": {nested}}}',
             shop.as_("amy"))]:
        r = client.post(url, data=body, headers=headers, content_type="application/json")
        assert assert_error_body(r, 400, "invalid_json")["message"] == (
            "The request body is nested too deeply (at most 64 levels of objects and lists)")
    assert count_activities(client, shop) == 1
    zh = client.post(f"/v1/activities/{lottery}/actions/draw", data=f'{{"params": {nested}}}',
                     headers=shop.as_("amy", extra={"Accept-Language": "zh"}),
                     content_type="application/json").get_json()
    assert zh["message"] == "请求体嵌套过深（对象和列表最多 64 层）"
    shallow = '{"a":' * 60 + "1" + "}" * 60  # deep, but allowed: refused for its meaning
    r = client.post(f"/v1/activities/{lottery}/actions/draw", data=f'{{"params": {shallow}}}',
                    headers=shop.as_("bob"), content_type="application/json")
    assert r.status_code == 422


def test_a_json_answer_is_the_text_jsonify_gives(app):
    body = {"z": 1, "名": "奖品", "at": datetime(2026, 11, 11, tzinfo=UTC),
            "n": Decimal("1.50"), "list": [None, True, 0.5]}
    with app.test_request_context("/"):
        ours = json_response(body, 422, {"Cache-Control": "no-store"})
        theirs = flask.jsonify(body)
        assert ours.get_data() == theirs.get_data()
        assert (ours.status_code, ours.mimetype, ours.headers["Cache-Control"]) == \
            (422, "application/json", "no-store")
        app.debug = True  # indented then, as jsonify indents
        assert json_response(body).get_data() == flask.jsonify(body).get_data()
