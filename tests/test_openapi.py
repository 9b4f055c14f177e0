"""`/openapi.json` documents every endpoint, and what the API really answers matches it.

The second half records a session that touches every operation — successes and errors — and
validates each response body (and each request body sent) against the schema the document gives
for that path, method and status.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator

OPERATIONS = {
    ("get", "/v1/activities/{activity_id}"),
    ("get", "/v1/activities/{activity_id}/rooms/{room_id}"),
    ("get", "/v1/activities/{activity_id}/me"),
    ("post", "/v1/activities/{activity_id}/actions/{action}"),
    ("post", "/v1/activities/{activity_id}/heartbeat"),
    ("post", "/v1/activities/{activity_id}/share"),
    ("post", "/v1/activities/{activity_id}/guest"),
    ("get", "/v1/shares/{code}"),
    ("get", "/v1/merchant/activities"),
    ("post", "/v1/merchant/activities"),
    ("get", "/v1/merchant/activities/{activity_id}"),
    ("patch", "/v1/merchant/activities/{activity_id}"),
    ("post", "/v1/merchant/activities/{activity_id}/publish"),
    ("post", "/v1/merchant/activities/{activity_id}/pause"),
    ("post", "/v1/merchant/activities/{activity_id}/resume"),
    ("post", "/v1/merchant/activities/{activity_id}/end"),
    ("post", "/v1/merchant/activities/{activity_id}/archive"),
    ("post", "/v1/merchant/activities/{activity_id}/duplicate"),
    ("get", "/v1/merchant/activities/{activity_id}/stats"),
    ("post", "/v1/merchant/activities/{activity_id}/forecast"),
    ("get", "/v1/merchant/activities/{activity_id}/blocks"),
    ("post", "/v1/merchant/activities/{activity_id}/blocks"),
    ("delete", "/v1/merchant/activities/{activity_id}/blocks"),
    ("get", "/v1/merchant/activities/{activity_id}/flags"),
    ("post", "/v1/merchant/activities/{activity_id}/voids"),
    ("get", "/v1/merchant/activities/{activity_id}/actions"),
    ("post", "/v1/merchant/activities/{activity_id}/actions/{action}"),
    ("get", "/v1/merchant/activities/{activity_id}/events"),
    ("post", "/v1/merchant/activities/{activity_id}/events/{event_id}/redeliver"),
    ("post", "/v1/merchant/participant-tokens"),
    ("get", "/v1/merchant/templates"),
    ("get", "/v1/merchant/activities/{activity_id}/redemptions"),
    ("get", "/v1/merchant/codes/{code}"),
    ("post", "/v1/merchant/codes/{code}/redeem"),
    ("put", "/v1/merchant/codes/{code}/shipping"),
    ("get", "/v1/merchant/templates/{template_id}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/merchant/campaigns"),
    ("post", "/v1/merchant/campaigns"),
    ("get", "/v1/merchant/campaigns/{campaign_id}"),
    ("post", "/v1/merchant/campaigns/{campaign_id}/activities"),
    ("delete", "/v1/merchant/campaigns/{campaign_id}/activities/{activity_id}"),
    ("get", "/v1/merchant/campaigns/{campaign_id}/stats"),
    ("get", "/v1/merchant/campaigns/{campaign_id}/stats.csv"),
    ("get", "/v1/merchant/campaigns/{campaign_id}/invites"),
    ("post", "/v1/merchant/campaigns/{campaign_id}/invites"),
    ("get", "/v1/merchant/campaign-invites/{code}"),
    ("post", "/v1/merchant/campaign-invites/{code}"),
    ("post", "/v1/merchant/campaigns/{campaign_id}/forecast"),
}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert r.mimetype == "application/json"
    return r.get_json()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method, path, item, op


def all_refs(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


# --- the document -----------------------------------------------------------------------------


def test_spec_is_openapi_3_with_our_title_and_version(spec):
    assert spec["openapi"] == "3.0.3"
    assert spec["info"] == {"title": "magic-cube", "version": "v1"}


def test_spec_documents_every_endpoint(spec):
    assert {(m, p) for m, p, _, _ in operations(spec)} == OPERATIONS


def test_every_route_of_the_app_is_in_the_spec(app, spec):
    """Every JSON endpoint; the console's and the shopper's HTML pages are not part of the API."""
    # (and files: static assets, uploaded images at /media/NAME, see docs/operations.md)
    undocumented = {"/openapi.json", "/docs", "/metrics", "/static/<path:filename>",
                    "/media/<name>"}
    for rule in app.url_map.iter_rules():
        if rule.rule in undocumented or rule.rule.startswith(("/console", "/s/", "/j/")):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method.lower(), path) in OPERATIONS, (method, rule.rule)


def test_every_ref_resolves(spec):
    for ref in set(all_refs(spec)):
        assert ref.startswith("#/components/")
        section, name = ref.split("/")[2:]
        assert name in spec["components"][section], ref


def test_every_operation_has_a_summary_a_success_and_documented_errors(spec):
    for method, path, _, op in operations(spec):
        assert op.get("summary"), (method, path)
        assert op.get("tags"), (method, path)
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), (method, path)
        errors = [s for s in statuses if s[0] in "45"]
        assert errors, (method, path)
        for status in errors:
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_every_path_parameter_is_declared(spec):
    for method, path, item, op in operations(spec):
        declared = {p["name"] for p in (*item.get("parameters", []), *op.get("parameters", []))
                    if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_error_schema_is_the_one_error_body(spec):
    error = spec["components"]["schemas"]["Error"]
    # `challenge` only with 428 challenge_required.
    assert set(error["properties"]) == {"error", "message", "status", "errors", "challenge"}
    assert set(error["required"]) == {"error", "message", "status"}


def test_operations_are_secured_as_documented(spec):
    schemes = spec["components"]["securitySchemes"]
    assert set(schemes) == {"participantToken", "apiKey"}
    for method, path, _, op in operations(spec):
        names = {name for entry in op.get("security", []) for name in entry}
        if path.startswith("/v1/merchant"):
            assert names == {"apiKey"}, (method, path)
        elif path in ("/v1/activities/{activity_id}", "/healthz", "/readyz",
                      "/v1/activities/{activity_id}/guest", "/v1/shares/{code}"):
            assert names == set(), (method, path)
        else:
            assert names == {"participantToken"}, (method, path)


def test_polling_views_document_etag_wait_and_304(spec):
    for path in ("/v1/activities/{activity_id}", "/v1/activities/{activity_id}/me",
                 "/v1/activities/{activity_id}/rooms/{room_id}"):
        op = spec["paths"][path]["get"]
        names = {p["name"] for p in op["parameters"]}
        assert {"wait", "If-None-Match"} <= names
        assert "304" in op["responses"]
        assert "ETag" in op["responses"]["200"]["headers"]


def test_action_endpoints_document_idempotency_key(spec):
    for path in ("/v1/activities/{activity_id}/actions/{action}",
                 "/v1/merchant/activities/{activity_id}/actions/{action}"):
        op = spec["paths"][path]["post"]
        assert "Idempotency-Key" in {p["name"] for p in op["parameters"]}
        assert "Idempotent-Replayed" in op["responses"]["200"]["headers"]


# --- real responses validate against the document ----------------------------------------------


def json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema 2020-12 (`nullable` is the only difference that
    matters here)."""
    if isinstance(node, list):
        return [json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Recorder:
    """Wraps the test client; remembers every exchange for validation."""

    def __init__(self, client) -> None:
        self.client = client
        self.exchanges: list[tuple[str, str, Any, Any]] = []

    def __call__(self, method: str, url: str, json: Any = None, **kwargs: Any):
        if json is not None:
            kwargs["json"] = json
        response = getattr(self.client, method)(url, **kwargs)
        self.exchanges.append((method, url, json, response))
        return response


def find_operation(spec: dict[str, Any], method: str, url: str) -> tuple[str, dict[str, Any]]:
    path = url.split("?")[0]
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method in item:
            return template, item[method]
    raise AssertionError(f"{method.upper()} {path} is not in the spec")


def validate(spec: dict[str, Any], schema: dict[str, Any], instance: Any, where: str) -> None:
    root = {**json_schema(schema), "components": json_schema(spec["components"])}
    errors = sorted(Draft202012Validator(root).iter_errors(instance), key=str)
    assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"


def run_session(call, shop, clock) -> None:
    """Touch every operation, with successes and the usual errors."""
    m = shop.headers
    acts = "/v1/merchant/activities"
    call("get", "/healthz")
    call("get", "/readyz")
    call("get", "/v1/merchant/templates", headers=m)
    call("get", "/v1/merchant/templates/lottery", headers=m)
    call("get", "/v1/merchant/templates/nope", headers=m)
    call("get", acts, headers={"Authorization": "Bearer mck_bad"})

    lottery = call("post", acts, json={
        "template_id": "lottery", "title": "Lucky",
        "config": {"prizes": [{"name": "Mug", "type": "physical", "stock": 2, "odds": 5000}],
                   "draws_per_day": 5, "draws_total": 5},
        "ends_at": "2026-11-12T10:00:00+08:00"}, headers=m).get_json()
    lid = lottery["id"]
    call("post", acts, json={"template_id": "lottery", "config": {"prizes": "x"}}, headers=m)
    call("post", acts, json={"template_id": 1}, headers=m)
    call("patch", f"{acts}/{lid}", json={"title": "Luckier"}, headers=m)
    call("get", f"{acts}/{lid}", headers=m)
    call("get", f"{acts}?limit=1", headers=m)
    call("get", f"{acts}?limit=0", headers=m)
    call("post", f"{acts}/{lid}/publish", json={}, headers=m)
    call("post", f"{acts}/{lid}/publish", headers=m)

    alice = shop.as_("alice", "Alice")
    view = call("get", f"/v1/activities/{lid}")
    call("get", f"/v1/activities/{lid}", headers={"If-None-Match": view.headers["ETag"]})
    call("get", f"/v1/activities/{lid}?wait=99")
    call("get", f"/v1/activities/{lid}/me", headers=alice)
    call("post", f"/v1/activities/{lid}/actions/draw", json={}, headers={
        **alice, "Idempotency-Key": "k1"})
    call("post", f"/v1/activities/{lid}/actions/draw", json={}, headers={
        **alice, "Idempotency-Key": "k1"})
    call("post", f"/v1/activities/{lid}/actions/nope", json={}, headers=alice)
    call("post", f"/v1/activities/{lid}/actions/draw", json={"params": 3}, headers=alice)
    call("post", f"/v1/activities/{lid}/actions/draw", json={})
    call("post", f"/v1/activities/{lid}/heartbeat", headers=alice)
    call("post", f"{acts}/{lid}/actions/grant", json={
        "participant": "alice", "params": {"count": 1}}, headers=m)
    call("post", f"{acts}/{lid}/actions/grant", json={
        "participant": "alice", "params": {"count": 0}}, headers=m)
    call("post", "/v1/merchant/participant-tokens", json={"participant": "bob", "ttl": 600},
         headers=m)
    call("post", "/v1/merchant/participant-tokens", json={}, headers=m)

    bargain = call("post", acts, json={"template_id": "bargain", "config": {
        "product_name": "Tea", "original_price": 10000, "floor_price": 1000,
        "helpers_needed": 2, "cut_min": 1000, "cut_max": 8000, "stock": 3}}, headers=m).get_json()
    bid = bargain["id"]
    call("post", f"{acts}/{bid}/publish", headers=m)
    room = call("post", f"/v1/activities/{bid}/actions/start", json={},
                headers=alice).get_json()["room"]
    call("post", f"/v1/activities/{bid}/actions/help", json={"room": room},
         headers=shop.as_("bob", "Bob"))
    call("post", f"/v1/activities/{bid}/actions/help", json={"room": room},
         headers=shop.as_("bob", "Bob"))
    call("get", f"/v1/activities/{bid}/rooms/{room}", headers=alice)
    code = call("post", f"/v1/activities/{bid}/share", json={"room": room},
                headers=alice).get_json()["code"]
    call("post", f"/v1/activities/{bid}/share", json={"room": "missing"}, headers=alice)
    call("get", f"/v1/shares/{code}")
    call("get", "/v1/shares/nope")
    call("post", f"/v1/activities/{bid}/actions/help", json={"room": room, "via": code},
         headers=shop.as_("cat", "Cat"))
    call("post", f"/v1/activities/{bid}/guest", json={"nickname": "Lily"})
    call("patch", f"{acts}/{bid}", json={"guests": True}, headers=m)
    call("post", f"/v1/activities/{bid}/guest", json={"nickname": "Lily"})
    call("post", f"/v1/activities/{bid}/guest", json={"nickname": ""})
    call("get", f"/v1/activities/{bid}/rooms/missing", headers=alice)
    call("patch", f"{acts}/{bid}", json={"config": {**bargain["config"], "stock": 9}}, headers=m)
    call("patch", f"{acts}/{bid}", json={"title": "x"}, headers=m)

    call("post", f"{acts}/{lid}/pause", headers=m)
    call("post", f"/v1/activities/{lid}/actions/draw", json={}, headers=alice)
    call("post", f"{acts}/{lid}/resume", headers=m)
    call("post", f"{acts}/{lid}/resume", headers=m)
    call("get", f"{acts}/{lid}/stats", headers=m)
    forecast = f"{acts}/{lid}/forecast"
    call("post", forecast, json={"visitors_per_day": 20, "days": 1, "runs": 2,
                                 "conversion": {"act": 0.5}, "costs": {"Mug": 1200}}, headers=m)
    call("post", forecast, json={"conversion": {"acts": 0.5}, "runs": 0}, headers=m)
    call("post", f"{acts}/nope/forecast", json={}, headers=m)
    call("get", f"{acts}/{lid}/actions?limit=1", headers=m)
    call("get", f"{acts}/{lid}/actions?after=1", headers=m)
    events = call("get", f"{acts}/{lid}/events?limit=1", headers=m).get_json()["items"]
    call("get", f"{acts}/{lid}/events?status=lost", headers=m)
    call("post", f"{acts}/{lid}/events/{events[0]['id']}/redeliver", headers=m)  # still pending
    call("post", f"{acts}/{lid}/events/999999/redeliver", headers=m)
    codes = call("get", f"{acts}/{lid}/redemptions?limit=1", headers=m).get_json()["items"]
    if codes:  # the Mug is won at 50 %: usually one of the draws above
        code = codes[0]["code"]
        call("get", f"/v1/merchant/codes/{code}", headers=m)
        call("put", f"/v1/merchant/codes/{code}/shipping", json={
            "name": "Alice", "address": "1 Tea Road", "shipped": True}, headers=m)
        call("post", f"/v1/merchant/codes/{code}/redeem", json={"by": "counter 1"}, headers=m)
        call("post", f"/v1/merchant/codes/{code}/redeem", json={}, headers=m)
    call("get", "/v1/merchant/codes/NOSUCHCODE", headers=m)
    call("post", "/v1/merchant/codes/NOSUCHCODE/redeem", json={}, headers=m)
    call("put", "/v1/merchant/codes/NOSUCHCODE/shipping", json={}, headers=m)
    clock.advance(2 * 86400)
    call("get", f"/v1/activities/{lid}")
    call("post", f"{acts}/{bid}/end", headers=m)
    call("post", f"{acts}/{bid}/archive", headers=m)
    call("post", f"{acts}/{bid}/duplicate", headers=m)
    call("get", f"{acts}/{bid}", headers=shop.headers | {"Authorization": "Bearer mck_other"})
    call("get", "/v1/nowhere")
    call("delete", f"{acts}/{lid}", headers=m)
    call("post", acts, data="{", headers=m, content_type="application/json")
    campaign_session(call, shop, lid)
    blocks_session(call, shop)


def blocks_session(call, shop) -> None:
    """Blocks, flags and voids of a live lottery."""
    m = shop.headers
    lid = shop.live("lottery")["id"]
    blocks = f"/v1/merchant/activities/{lid}/blocks"
    call("post", f"/v1/activities/{lid}/actions/draw", json={}, headers=shop.as_("carol"))
    call("post", blocks, json={"kind": "device", "value": "dev-0001-abcd",
                               "outcome": "never_wins"}, headers=m)
    call("post", blocks, json={"kind": "device", "value": "no", "outcome": "refused"}, headers=m)
    call("post", blocks, json={"kind": "participant", "value": "dave", "outcome": "refused"},
         headers=m)
    call("post", f"/v1/activities/{lid}/actions/draw", json={}, headers=shop.as_("dave"))
    call("get", blocks, headers=m)
    call("delete", f"{blocks}?kind=participant&value=dave", headers=m)
    call("delete", f"{blocks}?kind=participant&value=dave", headers=m)
    call("delete", f"{blocks}?kind=nope", headers=m)
    call("get", f"/v1/merchant/activities/{lid}/flags", headers=m)
    call("get", "/v1/merchant/activities/nope/flags", headers=m)
    voids = f"/v1/merchant/activities/{lid}/voids"
    call("post", voids, json={"participant": "carol"}, headers=m)
    call("post", voids, json={"participant": "carol"}, headers=m)
    call("post", voids, json={"participant": "nobody"}, headers=m)
    call("post", voids, json={}, headers=m)


def campaign_session(call, shop, activity_id: str) -> None:
    """Campaigns: create, add an activity, stats, invitations (an operator's and not)."""
    m = shop.headers
    campaign = call("post", "/v1/merchant/campaigns", json={
        "name": "Double 11", "timezone": "Asia/Shanghai", "starts_on": "2026-11-01",
        "ends_on": "2026-11-30"}, headers=m).get_json()
    cid = campaign["id"]
    call("post", "/v1/merchant/campaigns", json={"name": "x", "starts_on": "2026-11-30",
                                        "ends_on": "2026-11-01"}, headers=m)
    call("post", "/v1/merchant/campaigns", json={"name": ""}, headers=m)
    call("get", "/v1/merchant/campaigns", headers=m)
    call("get", f"/v1/merchant/campaigns/{cid}", headers=m)
    call("get", "/v1/merchant/campaigns/nope", headers=m)
    for added in (activity_id, "nope"):
        call("post", f"/v1/merchant/campaigns/{cid}/activities", json={"activity_id": added},
             headers=m)
    call("get", f"/v1/merchant/campaigns/{cid}/stats", headers=m)
    call("get", f"/v1/merchant/campaigns/{cid}/stats.csv", headers=m)
    call("get", "/v1/merchant/campaigns/nope/stats.csv", headers=m)
    forecast = f"/v1/merchant/campaigns/{cid}/forecast"
    call("post", forecast, json={}, headers=m)  # only an ended activity: nothing to forecast
    fresh = shop.live("lottery")["id"]
    call("post", f"/v1/merchant/campaigns/{cid}/activities", json={"activity_id": fresh},
         headers=m)
    assert call("post", forecast, json={"runs": 2, "days": 1, "visitors_per_day": 20},
                headers=m).status_code == 200
    call("post", forecast, json={"runs": 0}, headers=m)
    call("post", "/v1/merchant/campaigns/nope/forecast", json={}, headers=m)
    call("delete", f"/v1/merchant/campaigns/{cid}/activities/{activity_id}", headers=m)
    call("delete", f"/v1/merchant/campaigns/{cid}/activities/{activity_id}", headers=m)
    call("post", f"/v1/merchant/campaigns/{cid}/invites", headers=m)  # not an operator
    merchant, key = shop.engine.create_merchant("Mall")
    shop.engine.set_operator(merchant.id)
    mall = {"Authorization": f"Bearer {key}"}
    mcid = call("post", "/v1/merchant/campaigns", json={
        "name": "Mall week", "starts_on": "2026-11-01", "ends_on": "2026-11-07"},
        headers=mall).get_json()["id"]
    code = call("post", f"/v1/merchant/campaigns/{mcid}/invites", headers=mall).get_json()["code"]
    call("get", f"/v1/merchant/campaigns/{mcid}/invites", headers=mall)
    call("get", f"/v1/merchant/campaigns/{mcid}/invites", headers=m)
    call("get", f"/v1/merchant/campaign-invites/{code}", headers=m)
    call("post", f"/v1/merchant/campaign-invites/{code}", headers=m)
    call("post", f"/v1/merchant/campaign-invites/{code}", headers=mall)
    call("get", f"/v1/merchant/campaigns/{mcid}/invites", headers=m)
    call("post", "/v1/merchant/campaign-invites/nope-nope-nope", headers=m)


def test_every_response_validates_against_the_spec(client, spec, shop, clock):
    call = Recorder(client)
    run_session(call, shop, clock)
    touched = set()
    for method, url, sent, response in call.exchanges:
        where = f"{method.upper()} {url} -> {response.status_code}"
        try:
            template, op = find_operation(spec, method, url)
        except AssertionError:
            # Unknown routes and methods: still the one error body.
            assert response.status_code in (404, 405), where
            validate(spec, {"$ref": "#/components/schemas/Error"}, response.get_json(), where)
            continue
        touched.add((method, template))
        status = str(response.status_code)
        assert status in op["responses"], f"{where}: status not documented"
        documented = op["responses"][status]
        content = documented.get("content", {}).get("application/json")
        if content is None:
            if "text/csv" in documented.get("content", {}):
                assert response.mimetype == "text/csv", where
                continue
            assert response.data == b"", where
            continue
        validate(spec, content["schema"], response.get_json(), where)
        if sent is not None and response.status_code < 300:
            body_schema = op["requestBody"]["content"]["application/json"]["schema"]
            validate(spec, body_schema, sent, f"request of {where}")
    assert touched == OPERATIONS


# --- the offline docs page --------------------------------------------------------------------


def test_docs_page_lists_every_operation_schema_and_error_code(client, spec):
    from magic_cube.api.codes import all_codes

    r = client.get("/docs")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    for _, path, _, _ in operations(spec):
        assert path in html
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    for code in all_codes():
        assert f"<code>{code}</code>" in html
    assert "no_draws_left" in html  # the bundled templates' own codes too


def test_docs_page_loads_nothing_from_elsewhere(client):
    html = client.get("/docs").get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script" not in html
