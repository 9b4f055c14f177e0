"""An activity runs on exactly the template it was published with, on both stores: editing the
template in place (same version) or uninstalling it changes nothing for it, because every
template an activity pins is kept in the database; new activities get the installed content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from activity_configs import CONFIGS, START, Clock
from stores import STORE_PARAMS, store_url

from magic_cube.app import create_app
from magic_cube.catalog import Catalog

ROOT = Path(__file__).resolve().parents[1]
SURE_WIN = {**CONFIGS["lottery"], "prizes": [
    {"name": "Mug", "type": "physical", "stock": 5, "odds": 10000}]}


def install(folder: Path, edited: bool = False) -> Catalog:
    """The bundled lottery as `spin` 1.0.0 in `folder`; `edited`: changed in place, its version
    left as it was."""
    target = folder / "spin"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "activity_templates" / "lottery", target)
    doc = json.loads((target / "template.json").read_text(encoding="utf-8"))
    doc["id"], doc["version"] = "spin", "1.0.0"
    doc["$schema"] = str(ROOT / "schemas" / "template.schema.json")
    if edited:
        doc["actions"]["draw"]["title"] = {"zh": "再抽", "en": "Spin again"}
        doc["description"] = {"zh": "改过", "en": "edited in place"}
    (target / "template.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return Catalog.discover([folder], entry_points=False)


def app_on(url: str, catalog: Catalog, clock: Clock) -> Any:
    return create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                       "SETTINGS": {"database_url": url}})


@pytest.fixture(params=STORE_PARAMS)
def url(request, tmp_path):
    url, cleanup = store_url(request.param, tmp_path)
    yield url
    cleanup()


@pytest.mark.parametrize("change", ["edited", "uninstalled"])
def test_an_activity_keeps_its_template_when_the_file_changes(tmp_path, url, change):
    clock = Clock(START)
    folder = tmp_path / "templates"
    first = app_on(url, install(folder), clock)
    engine = first.extensions["magic_cube"]
    merchant, key = engine.create_merchant("Tea House")
    aid = engine.create_activity(merchant, "spin", SURE_WIN)["id"]
    engine.publish(merchant, aid)
    pinned = engine.activity_entry(aid).content_hash
    engine.store.close()

    if change == "edited":
        catalog = install(folder, edited=True)
        assert catalog.get("spin", "1.0.0").content_hash != pinned
    else:
        shutil.rmtree(folder / "spin")
        catalog = Catalog.discover([folder, ROOT / "activity_templates"], entry_points=False)
        assert "spin" not in catalog
    second = app_on(url, catalog, clock)
    engine = second.extensions["magic_cube"]
    client = second.test_client()
    try:
        assert engine.activity_entry(aid).content_hash == pinned  # the rules it was published with
        view = client.get(f"/v1/activities/{aid}", headers={"Accept-Language": "en"})
        assert view.status_code == 200, view.get_json()
        assert view.get_json()["actions"][0]["title"] == "Draw"  # not the edited "Spin again"
        assert client.get(f"/s/{aid}").status_code == 200
        token = engine.participant_token(engine.merchant_for_key(key), "amy", "Amy")[0]
        r = client.post(f"/v1/activities/{aid}/actions/draw", json={},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.get_json()["result"]["hit"], r.get_json()
        if change == "edited":  # a new activity gets the template as it is now
            fresh = engine.create_activity(engine.merchant_for_key(key), "spin", SURE_WIN)
            assert engine.activity_entry(fresh["id"]).content_hash != pinned
    finally:
        engine.store.close()


def test_a_server_serves_the_templates_of_template_dirs(tmp_path, caplog):
    folder = tmp_path / "templates"
    install(folder)
    broken = folder / "broken"
    broken.mkdir()
    (broken / "template.json").write_text("{", encoding="utf-8")
    app = create_app({"TESTING": True, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "template_dirs": f"{folder}, {tmp_path / 'missing'}"}})
    try:
        catalog = app.extensions["magic_cube"].catalog
        assert "spin" in catalog and "lottery" in catalog  # beside the bundled ones
        errors = [m for m in caplog.messages if m.startswith("template not loaded")]
        assert any("broken" in m for m in errors) and any("missing" in m for m in errors)
    finally:
        app.extensions["magic_cube"].store.close()
