"""docs/api.md stays complete and correct: every error code the API can answer with, every
endpoint, and a participant-token recipe that really produces tokens the API accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import re
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from magic_cube.api import errors as api_errors
from magic_cube.catalog.errors import BUILTIN_ERRORS
from magic_cube.engine import errors as engine_errors
from magic_cube.engine import events as engine_events

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def documented_statuses(doc: str) -> dict[str, set[int]]:
    """code -> statuses, from the table rows `| `code` | status | …`."""
    found: dict[str, set[int]] = {}
    for code, status in re.findall(r"^\| `([a-z][a-z0-9_]*)` \| (\d{3}) \|", doc, re.MULTILINE):
        found.setdefault(code, set()).add(int(status))
    return found


def engine_codes() -> dict[str, int]:
    return {cls.code: cls.status
            for module in (engine_errors, engine_events)
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, engine_errors.EngineError)}


def test_every_engine_error_code_is_in_the_table(doc):
    table = documented_statuses(doc)
    for code, status in engine_codes().items():
        assert status in table.get(code, set()), f"{code} ({status}) missing from docs/api.md"


def test_every_built_in_template_code_is_in_the_table(doc):
    table = documented_statuses(doc)
    for code, (status, _) in BUILTIN_ERRORS.items():
        assert status in table.get(code, set()), f"{code} ({status}) missing from docs/api.md"


def test_every_code_of_the_error_handler_is_in_the_table(doc):
    table = documented_statuses(doc)
    for code, status in api_errors.HANDLER_CODES.items():
        assert status in table.get(code, set()), f"{code} ({status}) missing from docs/api.md"
    for cls in vars(api_errors).values():
        if inspect.isclass(cls) and issubclass(cls, api_errors.ApiError) \
                and cls is not api_errors.ApiError:
            assert cls.status in table.get(cls.code, set()), cls.code


def test_every_code_of_the_bundled_templates_is_in_the_table(doc, catalog):
    table = documented_statuses(doc)
    for entry in catalog.entries():
        for code, spec in entry.doc.get("errors", {}).items():
            assert spec["status"] in table.get(code, set()), \
                f"{entry.id}: {code} ({spec['status']}) missing from docs/api.md"


def test_every_participant_action_of_the_bundled_templates_is_in_the_table(doc, catalog):
    rows = set(re.findall(r"^\| `(\w+)` \| `(\w+)` \| (target|–) \|", doc, re.MULTILINE))
    for entry in catalog.entries():
        for name, action in entry.doc["actions"].items():
            if action.get("by", "participant") == "participant":
                room = "target" if action.get("room") == "target" else "–"
                assert (entry.id, name, room) in rows, \
                    f"{entry.id}.{name} (room {room}) missing from the actions table"


def test_every_endpoint_is_documented(doc, client):
    spec = client.get("/openapi.json").get_json()
    text = re.sub(r"\{\w+\}", "{}", doc)
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post", "patch", "put", "delete"):
                generic = re.sub(r"\{\w+\}", "{}", path)
                entry = f"{method.upper()} {generic}`"
                assert entry in text, f"{entry} is not in docs/api.md"
    for extra in ("GET /openapi.json", "GET /docs"):
        assert extra in doc


def test_documented_limits_match_the_settings(doc):
    from magic_cube.settings import Settings

    settings = Settings.load(environ={})
    assert settings.max_body_bytes == 64 * 1024 and "64 KiB" in doc
    assert settings.long_poll_max == 25 and "0 ≤ N ≤ 25" in doc
    assert settings.idempotency_ttl == 86400 and "**24 hours**" in doc
    assert settings.interaction_gap_cap == 60 and settings.session_timeout == 300
    assert settings.heartbeat_interval == 15


# --- participant tokens --------------------------------------------------------------------------


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def token_by_the_recipe(secret: str, claims: dict) -> str:
    """The format docs/api.md gives for languages without itsdangerous, step by step."""
    key = hashlib.sha1(("magic-cube.participant" + "signer" + secret).encode()).digest()
    payload = b64url(json.dumps(claims, ensure_ascii=False).encode("utf-8"))
    signature = b64url(hmac.new(key, payload.encode("ascii"), hashlib.sha1).digest())
    return payload + "." + signature


def test_the_documented_recipe_matches_itsdangerous():
    claims = {"p": "u1001", "exp": 1794448840, "n": "Alice"}
    compact = json.dumps(claims, separators=(",", ":")).encode()
    key = hashlib.sha1(b"magic-cube.participant" + b"signer" + b"s3cret").digest()
    payload = b64url(compact)
    expected = payload + "." + b64url(hmac.new(key, payload.encode(), hashlib.sha1).digest())
    serializer = URLSafeSerializer("s3cret", salt="magic-cube.participant")
    assert serializer.dumps(claims) == expected
    assert serializer.loads(token_by_the_recipe("s3cret", claims)) == claims


def test_a_token_made_by_the_recipe_is_accepted(client, shop, clock):
    activity = shop.live("lottery")
    token = token_by_the_recipe(shop.merchant.participant_secret,
                                {"exp": clock.now + 600, "p": "u7", "n": "张三"})
    r = client.get(f"/v1/activities/{activity['id']}/me",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.get_json()["participant"] == "u7"


def test_a_token_made_by_the_recipe_with_another_secret_is_refused(client, shop, clock):
    activity = shop.live("lottery")
    token = token_by_the_recipe("not-the-secret", {"p": "u7", "exp": clock.now + 600})
    r = client.get(f"/v1/activities/{activity['id']}/me",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.get_json()["error"] == "invalid_token"


def test_the_name_claim_is_documented_as_the_server_reads_it(doc, client, shop, clock):
    row = next(line for line in doc.splitlines() if line.startswith("| `n` |"))
    assert "string or null" in row  # null is no name, as a backend leaving it unset sends it
    activity = shop.live("lottery")["id"]

    def status(name: object) -> int:  # a participant each (rate limits count per one)
        token = token_by_the_recipe(shop.merchant.participant_secret,
                                    {"p": f"u-{name!r}", "exp": clock.now + 600, "n": name})
        return client.get(f"/v1/activities/{activity}/me",
                          headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(None) == status("Bob") == 200
    assert {status(name) for name in (7, False, [], {})} == {401}


def test_the_python_snippet_in_the_guide_works(doc, client, shop):
    blocks = re.findall(r"```python\n(.*?)```", doc, re.DOTALL)
    snippet = next(b for b in blocks if "def participant_token" in b)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    token = namespace["participant_token"](shop.merchant.participant_secret, "u8",
                                           display_name="Bob")
    activity = shop.live("lottery")
    r = client.get(f"/v1/activities/{activity['id']}/me",
                   headers={"Authorization": f"Bearer {token}"})
    # The snippet reads the real clock, which is past the test clock (2026-11-11 10:00
    # Shanghai): a token valid for 7 days from now is valid then too.
    assert r.status_code == 200
    assert r.get_json()["participant"] == "u8"


def test_compressed_itsdangerous_tokens_are_accepted_as_documented(client, shop, clock):
    activity = shop.live("lottery")
    claims = {"p": "u" * 100, "exp": clock.now + 600, "n": "x" * 60}
    token = URLSafeSerializer(shop.merchant.participant_secret,
                              salt="magic-cube.participant").dumps(claims)
    assert token.startswith(".")  # zlib-compressed, as the guide warns
    r = client.get(f"/v1/activities/{activity['id']}/me",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
