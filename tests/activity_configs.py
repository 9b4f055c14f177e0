"""A valid config of each bundled template, the tests' start time and a clock that stays put:
shared by conftest's fixtures and by test modules that build their own apps (import this
module, never `conftest`: pytest loads several files of that name)."""

from __future__ import annotations

from typing import Any

# 2026-11-11T02:00:00Z (10:00 in Shanghai)
START = 1_794_362_400

CONFIGS: dict[str, dict[str, Any]] = {
    "lottery": {"prizes": [{"name": "Coupon", "type": "coupon", "stock": 5, "odds": 5000}],
                "draws_per_day": 3, "draws_total": 10, "extra_draws_max": 5},
    "bargain": {"product_name": "Tea set", "original_price": 10000, "floor_price": 1000,
                "helpers_needed": 3, "cut_min": 1000, "cut_max": 5000, "stock": 5},
    "group_buy": {"product_name": "Rice cooker", "original_price": 29900, "group_price": 19900,
                  "group_size": 3, "stock": 10},
    "gift": {"gift_name": "Coffee", "mode": "units"},
    "collect_cards": {"cards": [{"name": "Plum", "odds": 50}, {"name": "Orchid", "odds": 30},
                                {"name": "Bamboo", "odds": 20}],
                      "prize_name": "Tea set", "prize_stock": 5, "draws_per_day": 3},
    # the split three days after START, 12:00 in Shanghai
    "checkin_pool": {"pool_amount": 100000, "days_required": 2,
                     "settle_at": "2026-11-14T12:00:00+08:00", "daily_boost": 1000},
}


class Clock:
    """The engine's clock: `now` stays put until a test moves it."""

    def __init__(self, now: int = START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds)
