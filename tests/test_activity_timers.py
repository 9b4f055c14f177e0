"""Activity timers (`at`, `daily`, `at: "end"`) in the engine, on both stores: they fire at
their times with nobody acting (the worker), on the lazy path when someone acts first, each
occurrence once and in order however late, and at the end after the rooms; replay agrees.

The check-in pool template uses all three: a daily top-up, a split at a config time and the
books closed as the activity ends.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
from engine_helpers import START, Clock, catalog, create_merchant, invariants, read_all
from stores import STORE_PARAMS, store_url
from template_factory import write_template

from magic_cube.catalog import Catalog
from magic_cube.engine import Engine, Participant
from magic_cube.settings import Settings
from magic_cube.store import open_store
from magic_cube.worker import Worker

HOUR, DAY = 3600, 86400
AMY, BOB = Participant("amy"), Participant("bob")
# START is 2026-11-11 10:00 in Shanghai: the first 20:00 top-up is ten hours later.
FIRST_TOP_UP = START + 10 * HOUR
SPLIT = START + 3 * DAY + 2 * HOUR  # 2026-11-14 12:00
END = START + 5 * DAY


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat()


CONFIG = {"pool_amount": 10_000, "days_required": 1, "settle_at": _iso(SPLIT),
          "daily_boost": 500, "boost_time": "20:00"}


@pytest.fixture(params=STORE_PARAMS)
def env(request, tmp_path):
    url, drop = store_url(request.param, tmp_path)
    store = open_store(url)
    store.migrate()
    clock = Clock()
    engine = Engine(store, catalog(), Settings.load({}, environ={}), clock)
    merchant = create_merchant(engine)
    worker = Worker(engine)
    yield engine, clock, merchant, worker
    worker.close()
    store.close()
    drop()


def _pool(engine: Engine, merchant: Any, **config: Any) -> str:
    created = engine.create_activity(merchant, "checkin_pool", {**CONFIG, **config},
                                     ends_at=END)
    engine.publish(merchant, created["id"])
    return created["id"]


def _state(engine: Engine, activity_id: str) -> dict[str, Any]:
    return read_all(engine, activity_id)["activity"].state


def _fired(engine: Engine, activity_id: str) -> list[tuple[str, int]]:
    return [(e.timer, e.at) for e in read_all(engine, activity_id)["log"] if e.timer]


def test_the_worker_fires_each_daily_occurrence_at_its_time(env):
    engine, clock, merchant, worker = env
    aid = _pool(engine, merchant)
    clock.now = FIRST_TOP_UP - 1
    worker.run_once()
    assert _state(engine, aid)["pool"] == 10_000
    clock.now = FIRST_TOP_UP
    worker.run_once()
    assert _state(engine, aid)["pool"] == 10_500
    worker.run_once()  # fired once: a second pass at the same time changes nothing
    assert _state(engine, aid)["pool"] == 10_500
    assert _fired(engine, aid) == [("boost", FIRST_TOP_UP)]
    assert invariants(engine, aid) == []


def test_missed_occurrences_each_fire_once_in_order_on_the_lazy_path(env):
    engine, clock, merchant, _worker = env
    aid = _pool(engine, merchant)
    clock.now = FIRST_TOP_UP + 2 * DAY + HOUR  # three top-ups passed with nobody around
    assert engine.act(aid, "check_in", AMY).status == 200
    state = _state(engine, aid)
    assert (state["pool"], state["boosts"]) == (11_500, 3)
    # The three firings come before amy's check-in, each logged at the time it ran.
    log = read_all(engine, aid)["log"]
    assert [(e.timer, e.action) for e in log] == [("boost", "boost")] * 3 + [(None, "check_in")]
    assert invariants(engine, aid) == []  # replay recomputes the marks


def test_the_split_fires_at_its_time_and_the_end_closes_after_it(env):
    engine, clock, merchant, worker = env
    aid = _pool(engine, merchant, daily_boost=0)
    assert engine.act(aid, "check_in", AMY).status == 200
    assert engine.act(aid, "check_in", BOB).status == 200
    clock.now = SPLIT - 1
    worker.run_once()
    assert _state(engine, aid)["settled"] is False
    clock.now = SPLIT
    worker.run_once()
    state = _state(engine, aid)
    assert (state["settled"], state["share"]) == (True, 5_000)
    claimed = engine.act(aid, "claim", AMY)
    assert claimed.status == 200 and claimed.body["result"] == {"amount": 5_000}
    late = engine.act(aid, "check_in", Participant("cat"))
    assert late.status == 409 and late.body["error"] == "check_in_closed"
    clock.now = END
    worker.run_once()
    data = read_all(engine, aid)
    assert data["activity"].status == "ended"
    closed = [e for entry in data["log"] for e in entry.events if e["type"] == "pool.closed"]
    assert [c["data"] for c in closed] == [{"pool": 10_000, "share": 5_000, "claimed": 5_000,
                                           "unclaimed": 5_000}]
    once = [f for f in _fired(engine, aid) if f[0] != "boost"]
    assert once == [("settle", SPLIT), ("close", END)]
    worker.run_once()
    assert [f for f in _fired(engine, aid) if f[0] != "boost"] == once  # the end fires once
    assert invariants(engine, aid) == []


def test_ending_early_fires_the_end_timer_and_no_later_occurrence(env):
    engine, clock, merchant, worker = env
    aid = _pool(engine, merchant)
    engine.act(aid, "check_in", AMY)
    clock.now = START + HOUR
    engine.end(merchant, aid)
    state = _state(engine, aid)
    assert (state["settled"], state["share"], state["boosts"]) == (True, 10_000, 0)
    clock.now = END + DAY
    worker.run_once()
    assert _fired(engine, aid) == [("close", START + HOUR)]
    assert invariants(engine, aid) == []


def test_a_live_edit_of_the_top_up_applies_at_the_next_one(env):
    engine, clock, merchant, worker = env
    aid = _pool(engine, merchant)
    engine.update_activity(merchant, aid, {"config": {**CONFIG, "daily_boost": 800}})
    clock.now = FIRST_TOP_UP
    worker.run_once()
    assert _state(engine, aid)["pool"] == 10_800  # the edited amount, at the planned time
    assert invariants(engine, aid) == []


def test_a_view_shows_a_top_up_that_came_due_with_no_worker_running(env):
    engine, clock, merchant, _worker = env
    aid = _pool(engine, merchant)
    first = engine.public_view(aid)
    assert first.body["view"]["pool"] == 10_000
    clock.now = FIRST_TOP_UP + DAY  # two top-ups due; nobody acted, no worker
    again = engine.public_view(aid, if_none_match=first.etag)
    assert again.body is not None and again.body["view"]["pool"] == 11_000
    assert invariants(engine, aid) == []


def test_the_schedule_says_when_each_timer_runs_next(env):
    engine, clock, merchant, _worker = env
    aid = _pool(engine, merchant)
    schedule = engine.timer_schedule(merchant, aid)
    assert [(s["timer"], s["at"]) for s in schedule] == [
        ("boost", FIRST_TOP_UP), ("settle", SPLIT), ("close", END)]
    assert schedule[0]["title"] == {"zh": "奖池加码", "en": "Top up the pool"}
    assert schedule[-1] == {"at": END, "timer": "close", "action": "close",
                            "title": {"zh": "结算", "en": "Close the books"}}
    clock.now = FIRST_TOP_UP + 1  # the first top-up fires (lazily, as the schedule is read)
    assert engine.timer_schedule(merchant, aid)[0]["at"] == FIRST_TOP_UP + DAY
    assert _state(engine, aid)["pool"] == 10_500
    clock.now = SPLIT
    assert [s["timer"] for s in engine.timer_schedule(merchant, aid)] == ["boost", "close"]


def test_an_action_that_moves_a_timer_tells_the_worker(env, tmp_path):
    # A timer whose time is in the activity's state: the action that sets it must update
    # when the activity next comes due, or the worker would not look at it in time.
    engine, clock, merchant, _worker = env
    doc = copy.deepcopy(engine.catalog.get("checkin_pool").doc)
    doc["id"] = "alarm_pool"
    doc["state"]["activity"]["alarm"] = {"type": "integer", "initial": 0}
    doc["actions"]["check_in"]["effects"].append(
        {"set": {"path": "activity.alarm", "value": {"+": [{"var": "now"}, 60]}}})
    doc["timers"]["alarm"] = {"at": {"var": "activity.alarm"}, "action": "boost"}
    write_template(tmp_path / "templates", doc)
    own = Engine(engine.store, Catalog.discover([tmp_path / "templates"], entry_points=False),
                 Settings.load({}, environ={}), clock)
    created = own.create_activity(merchant, "alarm_pool",
                                  {**CONFIG, "daily_boost": 100, "boost_time": "23:59"},
                                  ends_at=END)
    aid = created["id"]
    own.publish(merchant, aid)
    assert own.act(aid, "check_in", AMY).status == 200
    assert read_all(own, aid)["activity"].next_due == START + 60
    clock.now = START + 60
    worker = Worker(own)
    try:
        worker.run_once()
    finally:
        worker.close()
    assert _state(own, aid)["pool"] == 10_100  # the alarm's top-up, on time
