"""Fixtures for the API tests (flaskr style): an app on a real SQLite file in tmp_path, a test
client, a clock the test moves by hand, a merchant with an API key, and helpers to create
activities of each bundled template and to mint participant tokens."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from activity_configs import CONFIGS, Clock
from stores import STORE_PARAMS, store_url

from magic_cube.app import create_app
from magic_cube.catalog import Catalog


@pytest.fixture
def configs() -> dict[str, dict[str, Any]]:
    """A valid config of each bundled template (a fresh copy per test)."""
    return copy.deepcopy(CONFIGS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The bundled templates, discovered once for the whole run."""
    return Catalog.discover()


def pytest_generate_tests(metafunc):
    # Every API test, and the foresight of refusals, runs on both stores; other users of
    # `app` (the console) on SQLite.
    if "store_kind" in metafunc.fixturenames:
        module = metafunc.module.__name__.rsplit(".", 1)[-1]
        kinds = (STORE_PARAMS if module.startswith(("test_api_", "test_openapi", "test_foresight"))
                 else ["sqlite"])
        metafunc.parametrize("store_kind", kinds, indirect=True)


@pytest.fixture
def store_kind(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture
def app(tmp_path, clock, catalog, store_kind):
    url, cleanup = store_url(store_kind, tmp_path)
    app = create_app({
        "CATALOG": catalog,
        "TESTING": True,
        "SETTINGS": {"database_url": url, "long_poll_interval": 0.1},
        "CLOCK": clock,
    })
    yield app
    app.extensions["magic_cube"].store.close()
    cleanup()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def engine(app):
    return app.extensions["magic_cube"]


@dataclass
class Shop:
    """A merchant, its API key and shortcuts over the API."""

    client: Any
    engine: Any
    merchant: Any
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def token(self, participant: str, display_name: str = "", ttl: int | None = None) -> str:
        return self.engine.participant_token(self.merchant, participant, display_name, ttl)[0]

    def as_(self, participant: str, display_name: str = "",
            extra: dict[str, str] | None = None) -> dict[str, str]:
        """Headers of a request made by `participant`'s mini-program on their own phone
        (a device id of their own: every test request comes from one address)."""
        device = "dev-" + hashlib.sha256(participant.encode()).hexdigest()[:16]
        return {"Authorization": f"Bearer {self.token(participant, display_name)}",
                "Magic-Cube-Device": device, **(extra or {})}

    def create(self, template: str, config: dict[str, Any] | None = None,
               **fields: Any) -> dict[str, Any]:
        body = {"template_id": template,
                "config": copy.deepcopy(CONFIGS[template] if config is None else config), **fields}
        r = self.client.post("/v1/merchant/activities", json=body, headers=self.headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def publish(self, activity_id: str, **body: Any) -> dict[str, Any]:
        r = self.client.post(f"/v1/merchant/activities/{activity_id}/publish", json=body,
                             headers=self.headers)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def live(self, template: str, config: dict[str, Any] | None = None,
             **fields: Any) -> dict[str, Any]:
        """A published (live) activity of `template`."""
        activity = self.create(template, config, **fields)
        return self.publish(activity["id"])

    def lifecycle(self, activity_id: str, verb: str) -> Any:
        return self.client.post(f"/v1/merchant/activities/{activity_id}/{verb}",
                                headers=self.headers)

    def act(self, activity_id: str, action: str, participant: str, room: str | None = None,
            params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        body: dict[str, Any] = {}
        if room is not None:
            body["room"] = room
        if params is not None:
            body["params"] = params
        return self.client.post(f"/v1/activities/{activity_id}/actions/{action}", json=body,
                                headers=self.as_(participant, extra=headers))


@pytest.fixture
def merchant(engine):
    """(merchant, api_key)"""
    return engine.create_merchant("Tea House")


@pytest.fixture
def shop(client, engine, merchant) -> Shop:
    return Shop(client, engine, merchant[0], merchant[1])


@pytest.fixture
def other_shop(client, engine) -> Shop:
    merchant, key = engine.create_merchant("Rival")
    return Shop(client, engine, merchant, key)


@pytest.fixture(params=sorted(CONFIGS))
def any_live_activity(request, shop) -> dict[str, Any]:
    """A live activity of each bundled template in turn."""
    return shop.live(request.param)
