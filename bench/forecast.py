"""Forecast throughput: simulated actions per second on one core.

Run as ``python bench/forecast.py [--quick]``. Prints, asserts nothing.

Each built-in template is forecast under the default assumptions (a config like its demo's),
and every action the crowd tries is counted, refused ones and timer actions included: each
one is a full run of the real interpreter. The rate is actions per CPU second of this process
(``time.process_time``, so that other work on the machine does not count against it), next to
the goal of 100,000 actions/s as a ratio. Each template's forecast is timed ``--repeat`` times
and the least CPU time kept (as ``timeit`` does: what the machine adds to a run only slows it).
``--quick`` keeps the whole run to a few seconds.
It runs on whichever build of the interpreter it imports: the working tree's pure Python, or
from ``build/compiled`` (``make compiled``) the modules compiled with mypyc.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from magic_cube.catalog import Catalog  # noqa: E402
from magic_cube.forecast import Assumptions, forecast  # noqa: E402
from magic_cube.rules import interpreter  # noqa: E402

GOAL = 100_000  # simulated actions per second on one core

CONFIGS: dict[str, dict[str, Any]] = {
    "lottery": {"prizes": [{"name": "tea set", "type": "physical", "stock": 20, "odds": 100},
                           {"name": "coupon", "type": "coupon", "stock": 5000, "odds": 3000}],
                "draws_per_day": 3, "draws_total": 10},
    "bargain": {"product_name": "kettle", "original_price": 19_900, "floor_price": 9_900,
                "stock": 200, "helpers_needed": 4, "cut_min": 100, "cut_max": 5_000},
    "group_buy": {"product_name": "tea", "original_price": 9_900, "group_price": 6_900,
                  "stock": 1_000, "group_size": 3},
    "gift": {"gift_name": "red packet", "mode": "amount", "max_shares": 5,
             "max_amount": 2_000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--repeat", type=int, default=5,
                        help="times each template is timed, the least kept (default 5)")
    args = parser.parse_args()
    visitors, days, runs = (200, 3, 1) if args.quick else (300, 7, 3)
    repeat = 1 if args.quick else max(1, args.repeat)
    assumptions = Assumptions(visitors_per_day=visitors, days=days)
    catalog = Catalog.discover([ROOT / "activity_templates"], entry_points=False)
    build = "compiled (mypyc)" if not interpreter.__file__.endswith(".py") else "pure Python"
    print(f"python {sys.version.split()[0]}, {build}, {visitors} visitors a day, {days} days, "
          f"{runs} runs per template, best of {repeat}{'  (quick)' if args.quick else ''}")
    print(f"{'template':<10} {'actions':>9} {'accepted':>9} {'cpu s':>7} {'actions/s':>10}")
    total_actions = 0
    total_cpu = 0.0
    for template_id, config in CONFIGS.items():
        cpu = float("inf")
        for _ in range(repeat):  # (the same seed: the same actions every time)
            started = time.process_time()
            result = forecast(catalog.get(template_id), config, assumptions, runs=runs, seed=1)
            cpu = min(cpu, time.process_time() - started)
        actions = sum(r.actions for r in result.runs)
        accepted = sum(r.accepted for r in result.runs)
        total_actions += actions
        total_cpu += cpu
        print(f"{template_id:<10} {actions:>9,} {accepted:>9,} {cpu:>7.2f} "
              f"{actions / cpu:>10,.0f}")
    rate = total_actions / total_cpu
    print(f"{'all':<10} {total_actions:>9,} {'':>9} {total_cpu:>7.2f} {rate:>10,.0f}")
    print(f"simulated actions/s on one core: {rate:,.0f}  "
          f"({rate / GOAL:.2f}x the goal of {GOAL:,})")


if __name__ == "__main__":
    main()
