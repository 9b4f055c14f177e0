"""How hard a run hammers, and the hot activities it hammers."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

TEMPLATES = ("lottery", "group_buy", "bargain", "gift")
HOT_ROOMS = 3  # joins, helps and claims go to the newest few open rooms: real contention


def long_mode() -> bool:
    return os.environ.get("MAGIC_CUBE_LONG") == "1"


@dataclass(frozen=True)
class Sizes:
    """How hard a run hammers."""

    clients: int  # concurrent HTTP clients (threads)
    actions: int  # participant actions per topology (polls and heartbeats come on top)
    crashes: int  # kill -9 rounds of the crash scenario
    participants: int  # shoppers with a token
    floor_seconds: float  # length of the bare-SQL floor measurement
    sqlite_workers: int  # gunicorn workers on the SQLite file
    postgres_workers: int  # gunicorn workers of each of the two PostgreSQL servers


SHORT = Sizes(clients=8, actions=600, crashes=3, participants=200, floor_seconds=2.0,
              sqlite_workers=3, postgres_workers=1)
LONG = Sizes(clients=24, actions=12000, crashes=8, participants=3000, floor_seconds=8.0,
             sqlite_workers=3, postgres_workers=2)


def sizes(long: bool | None = None) -> Sizes:
    return LONG if (long_mode() if long is None else long) else SHORT


def hot_configs(actions: int) -> dict[str, dict[str, Any]]:
    """One config per template whose stock runs out well within `actions` actions (a quarter
    of them go to each activity)."""
    per = max(actions // 4, 40)
    return {
        "lottery": {
            "prizes": [{"name": "Mug", "type": "physical", "stock": max(per // 20, 3),
                        "odds": 2500},
                       {"name": "Coupon", "type": "coupon", "stock": max(per // 12, 5),
                        "odds": 3500}],
            "draws_per_day": 5, "draws_total": 5, "extra_draws_max": 2,
        },
        "group_buy": {"product_name": "Tea", "original_price": 10000, "group_price": 6000,
                      "group_size": 3, "stock": max(per // 3, 9), "expiry_hours": 24},
        "bargain": {"product_name": "Kettle", "original_price": 10000, "floor_price": 1000,
                    "helpers_needed": 2, "cut_min": 1000, "cut_max": 8000,
                    "stock": max(per // 10, 3), "helps_per_day": 3},
        "gift": {"gift_name": "Coffee", "mode": "units", "max_shares": 5,
                 "sends_per_day": 3, "receive_per_day": 5},
    }
