"""Targeted races found by the hammer, kept as regressions (engine-level, so they are quick).

A mini-program sends its first heartbeat as the page opens, and the shopper taps at once: the
first heartbeat and the first action of a new participant race to create the participant's
row. Heartbeats do not take the activity's lock (they must not queue behind its actions), so
on PostgreSQL both used to insert the row and one failed with `409 conflict` — an action
refused for nothing (found by the hammer as `heartbeat 409`; 187 of 300 draws in a targeted
run).
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from stores import STORE_PARAMS

from magic_cube.engine import EngineError, Participant
from magic_cube.hammer import hot_configs, make_engine, seed
from magic_cube.store import Conflict

RACES = 120


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_first_heartbeat_racing_first_action_never_conflicts(kind, tmp_path, postgres_schema):
    url = f"sqlite:///{tmp_path / 'race.db'}" if kind == "sqlite" else postgres_schema()
    engine = make_engine(url)
    try:
        lottery = seed(url, 1, hot_configs(4000), engine=engine).activities["lottery"]
        outcomes: Counter = Counter()

        def attempt(name: str, call) -> None:
            barrier.wait(10)
            try:
                answer = call()
                outcomes[f"{name} {getattr(answer, 'status', 200)}"] += 1
            except (EngineError, Conflict) as exc:
                outcomes[f"{name} {getattr(exc, 'code', type(exc).__name__)}"] += 1

        for i in range(RACES):
            shopper = Participant(f"new{i}")
            barrier = threading.Barrier(2)
            threads = [
                threading.Thread(target=attempt, args=(
                    "heartbeat", lambda p=shopper: engine.heartbeat(lottery, p))),
                threading.Thread(target=attempt, args=(
                    "draw", lambda p=shopper: engine.act(lottery, "draw", p))),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        assert outcomes == {"heartbeat 200": RACES, "draw 200": RACES}, outcomes
    finally:
        engine.store.close()
