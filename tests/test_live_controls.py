"""A merchant's live controls on both stores: top up stock, move the end, start a scheduled
activity now. Each is logged as a merchant entry, and replay rebuilds exactly what is stored."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from activity_configs import CONFIGS, START, Clock
from stores import STORE_PARAMS, store_url

from magic_cube.app import create_app
from magic_cube.engine import Accepted, Participant
from magic_cube.engine.errors import InvalidActivity, InvalidConfig, InvalidTransition
from magic_cube.engine.invariants import invariants
from magic_cube.engine.replay import replay


@pytest.fixture(params=STORE_PARAMS)
def live_engine(request, tmp_path, catalog):
    url, cleanup = store_url(request.param, tmp_path)
    clock = Clock(START)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock,
                      "SETTINGS": {"database_url": url}})
    engine = app.extensions["magic_cube"]
    engine.test_clock = clock
    merchant, _key = engine.create_merchant("Tea House")
    yield engine, merchant
    engine.store.close()
    cleanup()


def publish(engine: Any, merchant: Any, template: str, config: dict[str, Any] | None = None,
            **fields: Any) -> str:
    activity = engine.create_activity(merchant, template,
                                      copy.deepcopy(config or CONFIGS[template]), **fields)
    engine.publish(merchant, activity["id"])
    return activity["id"]


def act(engine: Any, activity_id: str, action: str, who: str, room: str | None = None) -> Any:
    outcome = engine.act(activity_id, action, Participant(who, who.title()), room_id=room)
    assert isinstance(outcome, Accepted), outcome
    return outcome


def logged(engine: Any, merchant: Any, activity_id: str) -> list[str]:
    items, _ = engine.action_log(merchant, activity_id, limit=1000)
    return [i["action"] for i in items]


def test_top_up_a_lottery_prize_puts_more_on_sale_and_replays(live_engine):
    engine, merchant = live_engine
    config = {**CONFIGS["lottery"], "prizes": [
        {"name": "Cup", "type": "physical", "stock": 1, "odds": 10000}]}
    activity_id = publish(engine, merchant, "lottery", config)
    act(engine, activity_id, "draw", "alice")
    assert [s.left for s in engine.stock_lines(merchant, activity_id)] == [0]

    done = engine.top_up(merchant, activity_id, "prizes.0.stock", 2)
    assert done["config"]["prizes"][0]["stock"] == 3
    lines = engine.stock_lines(merchant, activity_id)
    assert [(s.field, s.left, s.total) for s in lines] == [("prizes.0.stock", 2, 3)]
    act(engine, activity_id, "draw", "bob")
    assert engine.stock_lines(merchant, activity_id)[0].left == 1
    assert logged(engine, merchant, activity_id) == ["draw", "$stock", "draw"]
    assert replay(engine, activity_id) == []
    assert invariants(engine, activity_id) == []


@pytest.mark.parametrize("template", ["group_buy", "bargain"])
def test_top_up_a_single_stock_replays(live_engine, template):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, template)
    act(engine, activity_id, "start", "alice")
    engine.top_up(merchant, activity_id, "stock", 4)
    line = engine.stock_lines(merchant, activity_id)[0]
    assert (line.field, line.total) == ("stock", CONFIGS[template]["stock"] + 4)
    act(engine, activity_id, "start", "bob")
    assert replay(engine, activity_id) == []
    assert invariants(engine, activity_id) == []


def test_top_up_refuses_nonsense(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "group_buy")
    for field, add in (("stock", 0), ("stock", -3), ("group_size", 2), ("stock", 10**9)):
        with pytest.raises(InvalidConfig):
            engine.top_up(merchant, activity_id, field, add)
    engine.end(merchant, activity_id)
    with pytest.raises(InvalidTransition):
        engine.top_up(merchant, activity_id, "stock", 1)


def test_start_a_scheduled_activity_now_and_replay(live_engine):
    engine, merchant = live_engine
    activity = engine.create_activity(merchant, "lottery", copy.deepcopy(CONFIGS["lottery"]))
    done = engine.publish(merchant, activity["id"], starts_at=START + 86400)
    assert done["status"] == "scheduled"
    engine.test_clock.advance(60)
    started = engine.start_now(merchant, activity["id"])
    assert started["status"] == "live" and started["starts_at"] == START + 60
    act(engine, activity["id"], "draw", "alice")
    assert logged(engine, merchant, activity["id"]) == ["$start", "draw"]
    assert replay(engine, activity["id"]) == []
    with pytest.raises(InvalidTransition):
        engine.start_now(merchant, activity["id"])


def test_move_the_end_later_keeps_the_activity_live_and_replays(live_engine):
    engine, merchant = live_engine
    activity_id = publish(engine, merchant, "lottery", ends_at=START + 3600)
    act(engine, activity_id, "draw", "alice")
    moved = engine.set_end(merchant, activity_id, START + 7200)
    assert moved["ends_at"] == START + 7200
    engine.test_clock.advance(5400)  # past the old end, before the new one
    assert engine.get_activity(merchant, activity_id)["status"] == "live"
    act(engine, activity_id, "draw", "bob")
    items, _ = engine.action_log(merchant, activity_id)
    entry = next(i for i in items if i["action"] == "$schedule")
    assert entry["params"] == {"before": {"ends_at": START + 3600},
                               "after": {"ends_at": START + 7200}}
    assert replay(engine, activity_id) == []
    with pytest.raises(InvalidActivity):
        engine.set_end(merchant, activity_id, START)  # in the past
