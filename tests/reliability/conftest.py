"""Fixtures of the reliability suite (tests/reliability/): real gunicorn servers, hammered.

The machinery lives in `magic_cube/hammer/` (shared with `magic-cube hammer`); these
fixtures give it PostgreSQL schemas and collect each run's figures, which are printed in the
terminal summary. Short by default; `MAGIC_CUBE_LONG=1` for the long run. PostgreSQL comes
from `tests/stores.py`: unreachable, it fails the run in CI (`CI=true`) and skips elsewhere.
"""

from __future__ import annotations

import pytest
from reliability_figures import COUNTS, FIGURES
from stores import store_url

from magic_cube.hammer import Sizes, sizes


@pytest.fixture
def size() -> Sizes:
    return sizes()


@pytest.fixture
def postgres_schema(tmp_path):
    """A factory of fresh, empty PostgreSQL schemas (URLs), each dropped after the test."""
    cleanups = []

    def make() -> str:
        url, cleanup = store_url("postgresql", tmp_path)
        cleanups.append(cleanup)
        return url

    yield make
    for cleanup in cleanups:
        cleanup()


@pytest.fixture
def figures(request):
    """`figures(lines)` keeps a run's figures for the terminal summary."""

    def keep(lines: list[str]) -> None:
        FIGURES.append((request.node.nodeid, list(lines)))
        print("\n".join(lines))

    return keep


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES and not COUNTS:
        return
    terminalreporter.section("reliability figures")
    if COUNTS["fuzz cases"]:
        operations = sum(1 for k in COUNTS if k.startswith("fuzz ") and k != "fuzz cases")
        terminalreporter.write_line(f"schemathesis: {COUNTS['fuzz cases']} cases run over "
                                    f"{operations} operations")
    for nodeid, lines in FIGURES:
        terminalreporter.write_line(nodeid)
        for line in lines:
            terminalreporter.write_line(f"  {line}")
