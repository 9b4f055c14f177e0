"""Figures the reliability tests collect for the terminal summary (see conftest.py): a plain
module, so that tests and conftest share one copy of it."""

from __future__ import annotations

from collections import Counter

FIGURES: list[tuple[str, list[str]]] = []  # (test id, lines)
COUNTS: Counter = Counter()  # e.g. fuzz cases run, stateful answers by status
