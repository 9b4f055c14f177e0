"""Compiled JsonLogic guards against panzi-json-logic, the PyPI interpreter.

Run as ``python bench/jsonlogic.py``. Prints, per rule, evaluations per second
for our compiled closure and for ``json_logic.jsonLogic`` (best of 5 rounds of
a fixed number of calls) and the ratio; the goal is a ratio of 10 or more.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from json_logic import jsonLogic  # noqa: E402

from magic_cube.rules.jsonlogic import compile_rule  # noqa: E402

ROUNDS = 5
CALLS = 20_000

DATA = {
    "now": 1_700_000_500,
    "actor": {"id": "u42"},
    "me": {"draws_today": 2, "balance": 350, "phone": "13800000000"},
    "config": {
        "draws_per_day": 3,
        "max_balance": 1000,
        "price": 9900,
        "floor_price": 100,
        "target": 500,
    },
    "activity": {"starts_at": 1_700_000_000, "ends_at": 1_700_086_400},
    "room": {
        "status": "open",
        "owner": "u1",
        "helpers": ["u2", "u3", "u5", "u8"],
        "cut_total": 9700,
        "members": [{"id": "u1"}, {"id": "u2"}, {"id": "u42"}],
        "cuts": [{"amount": 120}, {"amount": 80}, {"amount": 310}],
    },
}

# Only operators both evaluators know: the domain ones (length, floor, ceil)
# are ours alone.
RULES = {
    "draw quota, not a helper": {
        "and": [
            {"<": [{"var": "me.draws_today"}, {"var": "config.draws_per_day"}]},
            {"!": {"in": [{"var": "actor.id"}, {"var": "room.helpers"}]}},
        ]
    },
    "activity window": {
        "and": [
            {">=": [{"var": "now"}, {"var": "activity.starts_at"}]},
            {"<": [{"var": "now"}, {"var": "activity.ends_at"}]},
        ]
    },
    "balance between": {"<=": [0, {"var": "me.balance"}, {"var": "config.max_balance"}]},
    "bargain floor": {
        "if": [
            {"==": [{"var": "room.status"}, "open"]},
            {
                ">=": [
                    {"-": [{"var": "config.price"}, {"var": "room.cut_total"}]},
                    {"var": "config.floor_price"},
                ]
            },
            False,
        ]
    },
    "owner or member": {
        "or": [
            {"==": [{"var": "actor.id"}, {"var": "room.owner"}]},
            {"some": [{"var": "room.members"}, {"==": [{"var": "id"}, "u42"]}]},
        ]
    },
    "cuts reach target": {
        ">=": [
            {
                "reduce": [
                    {"var": "room.cuts"},
                    {"+": [{"var": "accumulator"}, {"var": "current.amount"}]},
                    0,
                ]
            },
            {"var": "config.target"},
        ]
    },
    "profile complete": {"!": {"missing": ["me.phone", "actor.id"]}},
}


def best_rate(fn, calls: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
    return calls / best


def main() -> None:
    print(f"{'rule':<26} {'ours ops/s':>12} {'panzi ops/s':>12} {'ratio':>7}")
    for name, rule in RULES.items():
        compiled = compile_rule(rule)
        ours_result, panzi_result = compiled(DATA), jsonLogic(rule, DATA)
        note = (
            ""
            if ours_result == panzi_result
            else f"  (results differ: {ours_result!r} / {panzi_result!r})"
        )
        ours = best_rate(lambda compiled=compiled: compiled(DATA), CALLS * 10)
        panzi = best_rate(lambda rule=rule: jsonLogic(rule, DATA), CALLS)
        print(f"{name:<26} {ours:>12,.0f} {panzi:>12,.0f} {ours / panzi:>6.1f}x{note}")


if __name__ == "__main__":
    main()
