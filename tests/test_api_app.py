"""The application factory and the WSGI entry point."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from magic_cube.app import create_app, database_url
from magic_cube.engine import Engine

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("url, expected", [
    ("sqlite:///magic-cube.db", "sqlite:////srv/app/instance/magic-cube.db"),
    ("sqlite:///data/shop.db", "sqlite:////srv/app/instance/data/shop.db"),
    ("shop.db", "sqlite:////srv/app/instance/shop.db"),
    ("sqlite:////var/lib/magic-cube.db", "sqlite:////var/lib/magic-cube.db"),
    ("sqlite://:memory:", "sqlite://:memory:"),
    ("postgresql://user@db/magic", "postgresql://user@db/magic"),
])
def test_relative_sqlite_paths_live_in_the_instance_folder(url, expected):
    assert database_url(url, "/srv/app/instance") == expected


def test_create_app_builds_one_engine_on_a_migrated_store(app, clock):
    engine = app.extensions["magic_cube"]
    assert isinstance(engine, Engine)
    assert engine.now() == clock.now
    clock.advance(5)
    assert engine.now() == clock.now
    assert app.config["MAX_CONTENT_LENGTH"] == engine.settings.max_body_bytes
    assert len(engine.catalog) >= 4
    with engine.store.transaction(write=False) as tx:
        assert tx.get_merchant("nobody") is None  # the tables exist


def test_settings_come_from_test_config(tmp_path, catalog):
    app = create_app({"CATALOG": catalog, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/s.db", "max_body_bytes": 1000}})
    try:
        assert app.config["MAX_CONTENT_LENGTH"] == 1000
        r = app.test_client().post("/v1/activities/act_x/actions/draw", data="x" * 2000)
        assert r.status_code == 413
        assert r.get_json()["error"] == "payload_too_large"
    finally:
        app.extensions["magic_cube"].store.close()


def test_other_test_config_keys_are_flask_config(tmp_path, catalog):
    app = create_app({"CATALOG": catalog, "TESTING": True, "SOMETHING": 1,
                      "SETTINGS": {"database_url": f"sqlite:///{tmp_path}/o.db"}})
    try:
        assert app.config["TESTING"] is True and app.config["SOMETHING"] == 1
        assert "CLOCK" not in app.config and "SETTINGS" not in app.config
    finally:
        app.extensions["magic_cube"].store.close()


def test_wsgi_module_exposes_an_app(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGIC_CUBE_DATABASE_URL", f"sqlite:///{tmp_path}/wsgi.db")
    namespace = runpy.run_path(str(ROOT / "wsgi.py"))
    app = namespace["app"]
    try:
        r = app.test_client().get("/healthz")
        assert r.get_json() == {"status": "ok"}
        assert (tmp_path / "wsgi.db").exists()
    finally:
        app.extensions["magic_cube"].store.close()


def test_the_api_sends_no_cors_headers_so_browsers_call_it_from_its_own_origin(client, shop):
    # docs/api.md (Conventions, CORS) and clients/js/README.md say so; a change here is a
    # change of stance to write down there.
    activity = shop.live("lottery")["id"]
    origin = {"Origin": "https://shop.example.com"}
    preflight = client.options(f"/v1/activities/{activity}/actions/draw", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    public = client.get(f"/v1/activities/{activity}", headers=origin)
    assert preflight.status_code == 200 and "POST" in preflight.headers["Allow"]
    assert public.status_code == 200 and public.get_json()["id"] == activity
    for answer in (preflight, public):
        assert not [name for name in answer.headers.keys()
                    if name.lower().startswith("access-control-")], answer.headers
