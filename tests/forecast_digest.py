"""Print a digest of seeded forecasts of every bundled template, one line per template and seed.

`make test-compiled` runs it on the pure Python tree and on the compiled one and compares the
two outputs: the same rules must give the same forecast, to the byte, on both builds.
Run as ``python tests/forecast_digest.py`` from the root of a tree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from activity_configs import CONFIGS, START  # noqa: E402

from magic_cube.catalog import Catalog  # noqa: E402
from magic_cube.forecast import Assumptions, forecast  # noqa: E402
from magic_cube.rules import interpreter  # noqa: E402

SEEDS = (1, 2, 3)


def main() -> None:
    catalog = Catalog.discover([ROOT / "activity_templates"], entry_points=False)
    assumptions = Assumptions(visitors_per_day=150, days=4, friends=1.5)
    print(f"# {Path(interpreter.__file__).name}", file=sys.stderr)
    for template_id, config in sorted(CONFIGS.items()):
        for seed in SEEDS:
            result = forecast(catalog.get(template_id), config, assumptions, runs=2, seed=seed,
                              start=START)
            digest = hashlib.sha256()
            for run in result.runs:
                digest.update(json.dumps(dataclasses.asdict(run), sort_keys=True).encode())
            actions = sum(run.actions for run in result.runs)
            print(f"{template_id} seed {seed}: {actions} actions, {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
