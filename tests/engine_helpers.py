"""Plain helpers for engine tests (no fixtures): an Engine on a real SQLite file with a clock
the test controls, one published activity per template, and `invariants()`, which checks the
design's correctness rules from the stored data alone (from `magic_cube.engine.invariants`,
the checker `magic-cube hammer` uses too).

Also imported by spawned worker processes in test_concurrency.py, so it must stay importable
without pytest running.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from magic_cube.catalog import Catalog
from magic_cube.engine import Engine
from magic_cube.engine.invariants import expected_stats as expected_stats
from magic_cube.engine.invariants import invariants as invariants
from magic_cube.engine.invariants import read_all as read_all
from magic_cube.settings import Settings
from magic_cube.store import open_store
from magic_cube.store.records import Merchant

# 2026-11-11 10:00 Asia/Shanghai: a whole day of room before local midnight.
START = 1_794_362_400
DB_NAME = "magic-cube.db"

CONFIGS: dict[str, dict[str, Any]] = {
    "lottery": {
        "prizes": [
            {"name": "Mug", "type": "physical", "stock": 3, "odds": 3000},
            {"name": "Coupon", "type": "coupon", "stock": 5, "odds": 4000},
        ],
        "draws_per_day": 3, "draws_total": 10,
    },
    "group_buy": {
        "product_name": "Tea", "original_price": 10000, "group_price": 6000,
        "group_size": 3, "stock": 20, "expiry_hours": 24,
    },
    "bargain": {
        "product_name": "Kettle", "original_price": 10000, "floor_price": 1000,
        "helpers_needed": 3, "cut_min": 1000, "cut_max": 5000, "stock": 5,
    },
    "gift": {"gift_name": "Red packet", "mode": "amount", "split": "random",
             "max_shares": 20, "max_amount": 100000},
}


class Clock:
    """A server clock the test moves by hand; `Engine(..., clock=Clock())`."""

    def __init__(self, now: float = START) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


_CATALOG: Catalog | None = None


def catalog() -> Catalog:
    """The built-in templates, discovered once per process."""
    global _CATALOG
    if _CATALOG is None:
        _CATALOG = Catalog.discover()
    return _CATALOG


def db_url(directory: str | Path) -> str:
    return f"sqlite:///{Path(directory) / DB_NAME}"


def make_engine(directory: str | Path, clock: Clock | None = None,
                settings: dict[str, Any] | None = None, migrate: bool = True,
                fresh_catalog: bool = False) -> Engine:
    """An Engine on `directory/magic-cube.db` (created and migrated when `migrate`)."""
    store = open_store(db_url(directory))
    if migrate:
        store.migrate()
    cat = Catalog.discover() if fresh_catalog else catalog()
    return Engine(store, cat, Settings.load(settings or {}, environ={}), clock or Clock())


def config_for(template_id: str, **overrides: Any) -> dict[str, Any]:
    config = copy.deepcopy(CONFIGS[template_id])
    config.update(overrides)
    return config


def create_merchant(engine: Engine, name: str = "Shop") -> Merchant:
    merchant, _key = engine.create_merchant(name)
    return merchant


def publish(engine: Engine, merchant: Merchant, template_id: str,
            config: dict[str, Any] | None = None, **activity: Any) -> str:
    """Create an activity of `template_id` and publish it; returns its id."""
    created = engine.create_activity(merchant, template_id,
                                     config if config is not None else config_for(template_id),
                                     **activity)
    engine.publish(merchant, created["id"])
    return created["id"]


def publish_all(engine: Engine, merchant: Merchant,
                configs: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """One live activity of each built-in template: template id -> activity id."""
    configs = configs or {}
    return {t: publish(engine, merchant, t, configs.get(t)) for t in CONFIGS}
