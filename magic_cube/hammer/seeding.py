"""What a run starts from: a merchant, one live hot activity per template and a token per
shopper, created through the engine."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magic_cube.hammer.stores import make_engine
from magic_cube.hammer.workload import TEMPLATES

if TYPE_CHECKING:
    from magic_cube.engine import Engine


@dataclass
class Seed:
    database_url: str
    merchant_id: str
    api_key: str
    activities: dict[str, str]  # template -> activity id
    configs: dict[str, dict[str, Any]]
    tokens: dict[str, str]  # participant -> token

    @property
    def participants(self) -> list[str]:
        return list(self.tokens)


def seed(database_url: str, participants: int, configs: dict[str, dict[str, Any]],
         engine: Engine | None = None) -> Seed:
    """A merchant, one live activity per template with `configs`, and participant tokens."""
    own = engine is None
    engine = engine or make_engine(database_url)
    try:
        merchant, key = engine.create_merchant("Hammer shop")
        activities = {}
        for template in TEMPLATES:
            created = engine.create_activity(merchant, template, copy.deepcopy(configs[template]),
                                             title=f"hot {template}")
            activities[template] = engine.publish(merchant, created["id"])["id"]
        tokens = {f"u{i:05d}": engine.participant_token(merchant, f"u{i:05d}",
                                                         f"Shopper {i}")[0]
                  for i in range(participants)}
    finally:
        if own:
            engine.store.close()
    return Seed(database_url, merchant.id, key, activities, copy.deepcopy(configs), tokens)
