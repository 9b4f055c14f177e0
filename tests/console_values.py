"""What a merchant types into each template's console form (money in yuan: the form stores
fen), one mistake per template with the field its error must sit on, and what is stored.
Shared by tests/test_console.py (no JavaScript) and tests/test_console_browser.py."""

from __future__ import annotations

from typing import Any

FORM_VALUES: dict[str, dict[str, str]] = {
    "bargain": {"product_name": "Tea set", "original_price": "100", "floor_price": "10",
                "helpers_needed": "3", "cut_min": "10", "cut_max": "50", "stock": "5"},
    "group_buy": {"product_name": "Rice cooker", "original_price": "299", "group_price": "199",
                  "group_size": "3", "stock": "10"},
    "gift": {"gift_name": "Coffee"},
    "lottery": {"prizes.0.name": "Coupon", "prizes.0.stock": "5", "prizes.0.odds": "5000",
                "draws_per_day": "3", "draws_total": "10"},
}
MISTAKES: dict[str, tuple[str, str]] = {
    "bargain": ("floor_price", "200"),  # above the original price: a cross-field check
    "group_buy": ("group_size", "1"),  # below the schema's minimum
    "gift": ("gift_name", ""),  # required
    "lottery": ("prizes.0.odds", "20000"),  # above 10,000 (100 %)
}
EXPECTED: dict[str, dict[str, Any]] = {
    "bargain": {"original_price": 10000, "floor_price": 1000, "cut_max": 5000},
    "group_buy": {"group_size": 3, "group_price": 19900},
    "gift": {"gift_name": "Coffee", "mode": "units"},
    "lottery": {"prizes": [{"name": "Coupon", "type": "coupon", "stock": 5, "odds": 5000}]},
}
