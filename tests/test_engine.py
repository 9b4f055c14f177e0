"""The engine through its public API, on a real SQLite file, with a clock the test moves."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from engine_helpers import (
    Clock,
    config_for,
    create_merchant,
    db_url,
    expected_stats,
    invariants,
    make_engine,
    publish,
    read_all,
)

from magic_cube.cli import cli
from magic_cube.engine import Participant
from magic_cube.engine.actions import request_hash
from magic_cube.engine.errors import (
    ActivityNotFound,
    ActivityNotLive,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidActivity,
    InvalidConfig,
    InvalidIdempotencyKey,
    InvalidToken,
    InvalidTransition,
    NotEditable,
    RoomNotFound,
    TokenExpired,
)
from magic_cube.engine.replay import audit, replay
from magic_cube.store.records import IdempotencyRecord

HOUR = 3600
ALICE, BOB, CAROL, DAN = (Participant(n, n.title()) for n in ("alice", "bob", "carol", "dan"))


@pytest.fixture
def env(tmp_path):
    clock = Clock()
    engine = make_engine(tmp_path, clock)
    merchant = create_merchant(engine)
    yield SimpleNamespace(engine=engine, clock=clock, merchant=merchant, path=tmp_path)
    engine.store.close()


def ok(response):
    assert response.status == 200, response.body
    return response.body


def log_of(engine, activity_id):
    return read_all(engine, activity_id)["log"]


def not_live_because(error: ActivityNotLive) -> str:
    """The status an ActivityNotLive names, in its field-keyed `errors`."""
    return error.errors["status"][0]["code"]


def activity_status(env, activity_id):
    return env.engine.get_activity(env.merchant, activity_id)["status"]


def never_wins(stock=1):
    """A lottery whose draws always miss: every result names `miss_name`."""
    return config_for("lottery", prizes=[{"name": "A", "type": "coupon", "stock": stock,
                                          "odds": 0}], draws_per_day=5)


# lifecycle ------------------------------------------------------------------------------

def test_publish_moves_a_draft_live_and_commits_to_a_seed(env):
    created = env.engine.create_activity(env.merchant, "lottery", config_for("lottery"))
    assert created["status"] == "draft" and created["seed_commitment"] is None
    live = env.engine.publish(env.merchant, created["id"])
    assert live["status"] == "live"
    assert live["starts_at"] == int(env.clock.now)
    assert live["seed_commitment"] and live["seed"] is None


def test_scheduled_activity_goes_live_lazily_when_the_clock_passes_starts_at(env):
    e = env.engine
    aid = e.create_activity(env.merchant, "lottery", config_for("lottery"))["id"]
    starts = int(env.clock.now) + HOUR
    assert e.publish(env.merchant, aid, starts_at=starts)["status"] == "scheduled"
    with pytest.raises(ActivityNotLive):
        e.act(aid, "draw", ALICE)
    assert e.public_view(aid).body["status"] == "scheduled"
    env.clock.advance(HOUR)  # exactly starts_at: live, nobody ran a job
    assert e.public_view(aid).body["status"] == "live"
    ok(e.act(aid, "draw", ALICE))
    assert invariants(e, aid) == []


def test_scheduled_start_is_applied_by_the_first_action_after_it(env):
    e = env.engine
    aid = e.create_activity(env.merchant, "lottery", config_for("lottery"))["id"]
    e.publish(env.merchant, aid, starts_at=int(env.clock.now) + 60)
    env.clock.advance(61)
    ok(e.act(aid, "draw", ALICE))
    assert activity_status(env, aid) == "live"


def test_activity_ends_lazily_at_ends_at(env):
    e = env.engine
    ends = int(env.clock.now) + 2 * HOUR
    aid = publish(e, env.merchant, "lottery", ends_at=ends)
    ok(e.act(aid, "draw", ALICE))
    env.clock.advance(2 * HOUR)
    with pytest.raises(ActivityNotLive) as refused:
        e.act(aid, "draw", BOB)
    assert not_live_because(refused.value) == "ended"
    described = e.get_activity(env.merchant, aid)
    assert described["status"] == "ended" and described["ended_at"] == ends
    assert described["seed"]  # revealed at the end
    assert e.public_view(aid).body["fairness"]["seed"] == described["seed"]


def test_public_view_ends_an_activity_past_ends_at(env):
    e = env.engine
    aid = publish(e, env.merchant, "lottery", ends_at=int(env.clock.now) + 60)
    first = e.public_view(aid)
    env.clock.advance(60)
    # The stale ETag must not be answered with 304: the activity has ended meanwhile.
    after = e.public_view(aid, if_none_match=first.etag)
    assert after.status == 200 and after.body["status"] == "ended"


def test_pause_resume_end_archive(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    assert e.pause(m, aid)["status"] == "paused"
    assert e.resume(m, aid)["status"] == "live"
    assert e.end(m, aid)["status"] == "ended"
    assert e.archive(m, aid)["status"] == "archived"


def test_a_scheduled_activity_can_be_ended_before_it_starts(env):
    e, m = env.engine, env.merchant
    aid = e.create_activity(m, "lottery", config_for("lottery"))["id"]
    e.publish(m, aid, starts_at=int(env.clock.now) + HOUR)
    assert e.end(m, aid)["status"] == "ended"


@pytest.mark.parametrize("path, verb", [
    ((), "pause"), ((), "resume"), ((), "end"),
    (("publish",), "publish"), (("publish",), "resume"), (("publish",), "archive"),
    (("publish", "pause"), "pause"), (("publish", "pause"), "publish"),
    (("publish", "end"), "resume"), (("publish", "end"), "end"), (("publish", "end"), "pause"),
    (("publish", "end", "archive"), "publish"), (("publish", "end", "archive"), "archive"),
])
def test_invalid_transitions_raise_invalid_transition(env, path, verb):
    e, m = env.engine, env.merchant
    aid = e.create_activity(m, "lottery", config_for("lottery"))["id"]
    for step in path:
        getattr(e, step)(m, aid)
    before = activity_status(env, aid)
    with pytest.raises(InvalidTransition):
        getattr(e, verb)(m, aid)
    assert activity_status(env, aid) == before


def test_publish_refuses_an_activity_whose_end_has_passed(env):
    e, m = env.engine, env.merchant
    aid = e.create_activity(m, "lottery", config_for("lottery"),
                            ends_at=int(env.clock.now) + 60)["id"]
    env.clock.advance(120)
    with pytest.raises(InvalidTransition):
        e.publish(m, aid)


@pytest.mark.parametrize("status", ["draft", "scheduled", "paused", "ended", "archived"])
def test_actions_are_refused_unless_live(env, status):
    e, m = env.engine, env.merchant
    aid = e.create_activity(m, "lottery", config_for("lottery"))["id"]
    steps = {"draft": [], "scheduled": [], "paused": ["publish", "pause"],
             "ended": ["publish", "end"], "archived": ["publish", "end", "archive"]}[status]
    if status == "scheduled":
        e.publish(m, aid, starts_at=int(env.clock.now) + HOUR)
    for step in steps:
        getattr(e, step)(m, aid)
    with pytest.raises(ActivityNotLive) as refused:
        e.act(aid, "draw", ALICE)
    assert refused.value.status == 409 and not_live_because(refused.value) == status
    assert log_of(e, aid) == []


def test_a_paused_activity_acts_again_after_resume(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    e.pause(m, aid)
    with pytest.raises(ActivityNotLive):
        e.act(aid, "draw", ALICE)
    e.resume(m, aid)
    ok(e.act(aid, "draw", ALICE))


def test_a_draft_can_be_updated_freely(env):
    e, m = env.engine, env.merchant
    aid = e.create_activity(m, "bargain", config_for("bargain"))["id"]
    new_config = config_for("bargain", floor_price=2000, product_name="Pot")
    updated = e.update_activity(m, aid, {"title": "Pot sale", "config": new_config,
                                         "timezone": "Europe/Berlin",
                                         "ends_at": int(env.clock.now) + 86400})
    assert updated["title"] == "Pot sale" and updated["timezone"] == "Europe/Berlin"
    assert updated["config"]["floor_price"] == 2000
    assert updated["config"]["time_limit_hours"] == 24  # defaults filled in
    with pytest.raises(InvalidConfig) as bad:
        e.update_activity(m, aid, {"config": config_for("bargain", floor_price=20000)})
    assert "floor_price" in bad.value.errors
    with pytest.raises(InvalidActivity):
        e.update_activity(m, aid, {"timezone": "Mars/Olympus"})
    with pytest.raises(InvalidActivity):
        e.update_activity(m, aid, {"status": "live"})
    e.publish(m, aid)
    assert e.act(aid, "start", ALICE).body["result"]["price"] == 10000


def test_live_edit_changes_only_live_editable_fields(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "bargain")
    config = e.get_activity(m, aid)["config"]
    with pytest.raises(NotEditable) as frozen:
        e.update_activity(m, aid, {"config": {**config, "floor_price": 500}})
    assert list(frozen.value.errors) == ["floor_price"]
    with pytest.raises(NotEditable):
        e.update_activity(m, aid, {"title": "Renamed"})
    with pytest.raises(NotEditable):
        e.update_activity(m, aid, {"ends_at": int(env.clock.now) + HOUR})
    updated = e.update_activity(m, aid, {"config": {**config, "stock": 9}})
    assert updated["config"]["stock"] == 9
    assert [entry.action for entry in log_of(e, aid)] == ["$config"]
    e.end(m, aid)
    with pytest.raises(NotEditable):
        e.update_activity(m, aid, {"config": {**config, "stock": 10}})


def test_a_live_stock_edit_changes_the_stock_left(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "bargain")
    config = e.get_activity(m, aid)["config"]
    e.update_activity(m, aid, {"config": {**config, "stock": config["stock"] + 4}})
    assert e.public_view(aid).body["view"]["stock_left"] == config["stock"] + 4
    assert replay(e, aid) == []


def test_a_live_stock_edit_below_what_is_already_sold_is_refused(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy", config_for("group_buy", stock=3))
    ok(e.act(aid, "start", ALICE))
    ok(e.act(aid, "start", BOB))
    config = e.get_activity(m, aid)["config"]
    with pytest.raises(NotEditable) as refused:
        e.update_activity(m, aid, {"config": {**config, "stock": 1}})
    assert refused.value.errors["stock"][0]["code"] == "below_used"
    assert e.public_view(aid).body["view"]["stock_left"] == 1  # unchanged
    e.update_activity(m, aid, {"config": {**config, "stock": 2}})
    assert e.public_view(aid).body["view"]["stock_left"] == 0
    assert invariants(e, aid) == []


def test_live_config_edit_is_logged_and_replay_still_matches(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery", never_wins())
    assert ok(e.act(aid, "draw", ALICE))["result"]["prize"] == "谢谢参与"
    config = e.get_activity(m, aid)["config"]
    version_before = e.public_view(aid).etag
    e.update_activity(m, aid, {"config": {**config, "miss_name": "Next time"}})
    assert e.public_view(aid).etag != version_before  # the view shows miss_name
    assert ok(e.act(aid, "draw", ALICE))["result"]["prize"] == "Next time"
    log = log_of(e, aid)
    assert [entry.action for entry in log] == ["draw", "$config", "draw"]
    assert log[1].params == {"before": {"miss_name": "谢谢参与"},
                             "after": {"miss_name": "Next time"}}
    assert replay(e, aid) == []
    assert invariants(e, aid) == []
    assert e.stats(m, aid)["totals"]["actions"] == 2


# rooms and timers -----------------------------------------------------------------------

def test_group_buy_room_expires_on_the_next_action_without_a_worker(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    room = ok(e.act(aid, "start", ALICE))["room"]
    ok(e.act(aid, "join", BOB, room_id=room))
    assert e.public_view(aid).body["view"]["stock_left"] == 18
    env.clock.advance(24 * HOUR)
    # Any action on the activity fires the due timer first; nobody looked at the room.
    ok(e.act(aid, "start", CAROL))
    data = read_all(e, aid)
    expired = next(r for r in data["rooms"] if r.id == room)
    assert expired.status == "expired" and expired.timers == {}
    assert data["activity"].state["stock"] == 20 - 1  # two units back, carol holds one
    refunds = [o for o in data["outbox"] if o.type == "group.refund"]
    assert sorted(o.data["participant"] for o in refunds) == ["alice", "bob"]
    assert all(o.data["amount"] == 6000 and o.data["room"] == room for o in refunds)
    assert [o.type for o in data["outbox"] if o.seq == data["log"][-2].seq][-1] == "group.failed"
    timer_entry = data["log"][-2]
    assert timer_entry.actor_kind == "timer" and timer_entry.timer == "expire"
    assert data["log"][-1].action == "start"
    refused = e.act(aid, "join", DAN, room_id=room)
    assert refused.status == 409 and refused.body["error"] == "room_closed"
    assert invariants(e, aid) == []


def test_room_view_shows_an_expired_room_without_a_worker(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "bargain")
    room = ok(e.act(aid, "start", ALICE))["room"]
    before = e.room_view(aid, room, BOB)
    assert before.body["status"] == "open"
    env.clock.advance(24 * HOUR)
    after = e.room_view(aid, room, BOB, if_none_match=before.etag)
    assert after.status == 200 and after.body["status"] == "expired"
    assert invariants(e, aid) == []


def test_a_due_room_is_expired_before_it_is_acted_on_even_past_the_timer_batch(tmp_path):
    # Only one due timer fires per action here; the room acted on must still never be
    # joined after its expiry, whichever room the batch picked.
    clock = Clock()
    e = make_engine(tmp_path, clock, settings={"timer_batch": 1})
    m = create_merchant(e)
    aid = publish(e, m, "group_buy", config_for("group_buy", expiry_hours=1))
    rooms = [ok(e.act(aid, "start", Participant(f"lead{i}")))["room"] for i in range(3)]
    clock.advance(2 * HOUR)
    last = e.act(aid, "join", BOB, room_id=rooms[-1])
    assert last.status == 409 and last.body["error"] == "room_closed"
    view = e.room_view(aid, rooms[1], BOB)
    assert view.body["status"] == "expired"
    assert invariants(e, aid) == []


def test_groups_open_when_the_activity_ends_still_expire_and_refund(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy", ends_at=int(env.clock.now) + HOUR)
    room = ok(e.act(aid, "start", ALICE))["room"]
    env.clock.advance(25 * HOUR)  # past the end, and past the group's own expiry
    assert e.public_view(aid).body["status"] == "ended"
    assert e.room_view(aid, room, ALICE).body["status"] == "expired"
    assert [o.data["participant"] for o in read_all(e, aid)["outbox"]
            if o.type == "group.refund"] == ["alice"]


def test_groups_open_at_the_end_are_refunded_at_the_end_not_at_their_own_expiry(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy", ends_at=int(env.clock.now) + HOUR)
    room = ok(e.act(aid, "start", ALICE))["room"]
    ok(e.act(aid, "join", BOB, room_id=room))
    env.clock.advance(2 * HOUR)  # the activity has ended; the group had 22 hours left
    assert e.room_view(aid, room, ALICE).body["status"] == "expired"
    outbox = read_all(e, aid)["outbox"]
    refunds = [o.data["participant"] for o in outbox if o.type == "group.refund"]
    assert refunds == ["alice", "bob"]
    assert [entry.action for entry in log_of(e, aid)][-2:] == ["$end", "expire"]
    assert invariants(e, aid) == []


def test_ending_an_activity_by_hand_also_closes_its_open_rooms(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "gift")
    room = ok(e.act(aid, "send", ALICE, params={"shares": 3, "amount": 300}))["room"]
    e.end(m, aid)
    assert e.room_view(aid, room, ALICE).body["status"] == "expired"
    assert "gift.returned" in [o.type for o in read_all(e, aid)["outbox"]]
    assert invariants(e, aid) == []


def test_room_not_found(env):
    aid = publish(env.engine, env.merchant, "bargain")
    with pytest.raises(RoomNotFound):
        env.engine.act(aid, "help", BOB, room_id="nope")
    with pytest.raises(RoomNotFound):
        env.engine.room_view(aid, "nope", BOB)


# stats ----------------------------------------------------------------------------------

def test_stats_equal_what_the_action_log_says(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "bargain", config_for("bargain", launches_per_participant=2))
    room = ok(e.act(aid, "start", ALICE))["room"]
    for helper in (BOB, CAROL):
        ok(e.act(aid, "help", helper, room_id=room))
    assert e.act(aid, "help", BOB, room_id=room).status == 409  # refused: not counted
    env.clock.advance(2 * HOUR)
    ok(e.act(aid, "help", DAN, room_id=room))
    ok(e.act(aid, "buy", ALICE, room_id=room))
    second = ok(e.act(aid, "start", ALICE))["room"]
    env.clock.advance(25 * HOUR)
    e.room_view(aid, second, BOB)  # fires the expiry: a timer action, no participant
    stats = e.stats(m, aid)
    log = log_of(e, aid)
    expected = expected_stats(log, e._entry(read_all(e, aid)["activity"]).compiled)
    assert {k: stats["totals"][k] for k in expected} == expected
    assert expected == {"participations": 6, "unique_participants": 4,
                        "first_time_participants": 4, "completions": 1, "actions": 7}
    assert stats["completions"] == {"bargain.completed": 1}
    assert len(stats["hourly"]) == 3
    assert invariants(e, aid) == []


def test_counters_move_in_the_same_transaction_as_the_action(env, monkeypatch):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    ok(e.act(aid, "draw", ALICE))
    before = e.stats(m, aid)
    real_count = e.count

    def count_then_fail(*args, **kwargs):
        real_count(*args, **kwargs)
        raise RuntimeError("crash after counting")

    monkeypatch.setattr(e, "count", count_then_fail)
    with pytest.raises(RuntimeError):
        e.act(aid, "draw", BOB)
    monkeypatch.undo()
    assert e.stats(m, aid) == before
    data = read_all(e, aid)
    assert len(data["log"]) == 1 and data["activity"].state["draws"] == 1
    assert [p.participant_id for p in data["participants"]] == ["alice"]
    assert invariants(e, aid) == []


def test_first_time_participants_are_counted_once_across_a_merchants_activities(env):
    e, m = env.engine, env.merchant
    first = publish(e, m, "lottery")
    second = publish(e, m, "group_buy")
    ok(e.act(first, "draw", ALICE))
    ok(e.act(first, "draw", ALICE))
    ok(e.act(second, "start", ALICE))
    ok(e.act(second, "start", BOB))
    assert e.stats(m, first)["totals"]["first_time_participants"] == 1
    assert e.stats(m, first)["totals"]["unique_participants"] == 1
    totals = e.stats(m, second)["totals"]
    assert totals["first_time_participants"] == 1  # bob only; alice was seen in `first`
    assert totals["unique_participants"] == 2
    assert [entry.first_time for entry in log_of(e, second)] == [False, True]
    # Participants are the merchant's own users: new to another merchant.
    other = create_merchant(e, "Other shop")
    elsewhere = publish(e, other, "lottery")
    ok(e.act(elsewhere, "draw", ALICE))
    assert e.stats(other, elsewhere)["totals"]["first_time_participants"] == 1
    for activity_id in (first, second, elsewhere):
        assert invariants(e, activity_id) == []


def test_participants_are_counted_once_per_hour_they_act_in(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery", config_for("lottery", draws_per_day=5))
    ok(e.act(aid, "draw", ALICE))  # 10:00
    env.clock.advance(30 * 60)
    ok(e.act(aid, "draw", ALICE))  # 10:30, the same hour
    ok(e.act(aid, "draw", BOB))
    env.clock.advance(35 * 60)
    ok(e.act(aid, "draw", ALICE))  # 11:05
    hourly = e.stats(m, aid)["hourly"]
    assert [(h["participants"], h["participations"], h["new_participants"], h["first_time"])
            for h in hourly] == [(2, 3, 2, 2), (1, 1, 0, 0)]
    assert [entry.first_time for entry in log_of(e, aid)] == [True, False, True, False]
    assert invariants(e, aid) == []


def test_interaction_time_is_credited_from_heartbeats(env):
    e, m = env.engine, env.merchant
    cap, timeout = e.settings.interaction_gap_cap, e.settings.session_timeout
    aid = publish(e, m, "lottery")
    assert e.heartbeat(aid, ALICE)["credited"] == 0  # first sight: nothing to credit yet
    env.clock.advance(cap)
    assert e.heartbeat(aid, ALICE)["credited"] == cap  # gap ≤ cap: in full
    env.clock.advance(15)
    assert e.heartbeat(aid, ALICE)["credited"] == 15
    env.clock.advance(cap + 1)
    assert e.heartbeat(aid, ALICE)["credited"] == cap  # cap < gap ≤ timeout: the cap
    env.clock.advance(timeout)
    assert e.heartbeat(aid, ALICE)["credited"] == cap  # gap == timeout: still the cap
    env.clock.advance(timeout + 1)
    assert e.heartbeat(aid, ALICE)["credited"] == 0  # a new session
    env.clock.advance(10)
    ok(e.act(aid, "draw", ALICE))  # an action counts as being seen too
    env.clock.advance(5)
    assert e.heartbeat(aid, ALICE) == {"credited": 5,
                                       "interaction_seconds": 3 * cap + 15 + 10 + 5,
                                       "next_heartbeat": e.settings.heartbeat_interval}
    assert e.stats(m, aid)["totals"]["interaction_seconds"] == 3 * cap + 15 + 10 + 5
    assert invariants(e, aid) == []


def test_heartbeats_while_not_live_credit_nothing(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    e.heartbeat(aid, ALICE)
    e.pause(m, aid)
    env.clock.advance(30)
    assert e.heartbeat(aid, ALICE)["credited"] == 0
    assert e.stats(m, aid)["totals"]["interaction_seconds"] == 0


# idempotency ----------------------------------------------------------------------------

def test_a_retry_with_the_same_key_returns_the_first_response_and_no_second_effect(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    first = e.act(aid, "draw", ALICE, idempotency_key="draw-1")
    assert first.status == 200 and not first.replayed
    again = e.act(aid, "draw", ALICE, idempotency_key="draw-1")
    assert again.replayed and again.status == 200 and again.body == first.body
    assert len(log_of(e, aid)) == 1
    assert e.me_view(aid, ALICE).body["view"]["draws_left_today"] == 2
    assert e.stats(m, aid)["totals"]["participations"] == 1
    # The key is the participant's: another participant's same key is a new request.
    assert not e.act(aid, "draw", BOB, idempotency_key="draw-1").replayed
    assert invariants(e, aid) == []


def test_a_refusal_is_remembered_under_its_key_too(env):
    e = env.engine
    aid = publish(e, env.merchant, "bargain")
    room = ok(e.act(aid, "start", ALICE))["room"]
    refused = e.act(aid, "buy", ALICE, room_id=room, idempotency_key="buy")
    assert refused.status == 409 and refused.body["error"] == "floor_not_reached"
    again = e.act(aid, "buy", ALICE, room_id=room, idempotency_key="buy")
    assert again.replayed and again.status == 409 and again.body == refused.body


def test_the_same_key_with_different_params_is_refused(env):
    e = env.engine
    aid = publish(e, env.merchant, "gift")
    ok(e.act(aid, "send", ALICE, params={"shares": 2, "amount": 500}, idempotency_key="k"))
    with pytest.raises(IdempotencyKeyReused) as reused:
        e.act(aid, "send", ALICE, params={"shares": 3, "amount": 500}, idempotency_key="k")
    assert reused.value.status == 422
    with pytest.raises(IdempotencyKeyReused):
        e.act(aid, "claim", ALICE, idempotency_key="k")
    assert len(log_of(e, aid)) == 1


def test_malformed_keys_are_refused(env):
    aid = publish(env.engine, env.merchant, "lottery")
    for key in ("", "has space", "x" * 256, "ключ"):
        with pytest.raises(InvalidIdempotencyKey):
            env.engine.act(aid, "draw", ALICE, idempotency_key=key)


def test_a_key_past_idempotency_ttl_acts_again(tmp_path):
    clock = Clock()
    e = make_engine(tmp_path, clock, settings={"idempotency_ttl": HOUR})
    m = create_merchant(e)
    aid = publish(e, m, "lottery")
    first = e.act(aid, "draw", ALICE, idempotency_key="k")
    clock.advance(HOUR - 1)
    assert e.act(aid, "draw", ALICE, idempotency_key="k").replayed
    clock.advance(2)
    later = e.act(aid, "draw", ALICE, idempotency_key="k")
    assert not later.replayed and later.body["seq"] == first.body["seq"] + 1
    assert len(log_of(e, aid)) == 2


def _pending_key(engine, activity_id, participant, key, action="draw", params=None):
    record = IdempotencyRecord(activity_id, participant, key,
                               request_hash(action, params or {}, None, "participant"),
                               "pending", None, None, engine.now())
    with engine.store.transaction() as tx:
        assert tx.claim_idempotency(record, stale_before=0)


def test_a_key_in_flight_answers_409_until_it_is_stale_then_is_taken_over(env):
    e = env.engine
    aid = publish(e, env.merchant, "lottery")
    _pending_key(e, aid, "alice", "k")  # a request that died after claiming its key
    with pytest.raises(IdempotencyInFlight) as in_flight:
        e.act(aid, "draw", ALICE, idempotency_key="k")
    assert in_flight.value.status == 409
    env.clock.advance(e.settings.idempotency_pending_timeout)
    with pytest.raises(IdempotencyInFlight):
        e.act(aid, "draw", ALICE, idempotency_key="k")
    env.clock.advance(1)
    taken = e.act(aid, "draw", ALICE, idempotency_key="k")
    assert taken.status == 200 and not taken.replayed
    assert e.act(aid, "draw", ALICE, idempotency_key="k").body == taken.body
    assert len(log_of(e, aid)) == 1


def test_a_key_in_flight_with_another_body_is_a_reuse(env):
    e = env.engine
    aid = publish(e, env.merchant, "gift")
    _pending_key(e, aid, "alice", "k", "send", {"shares": 2, "amount": 500})
    with pytest.raises(IdempotencyKeyReused):
        e.act(aid, "send", ALICE, params={"shares": 9, "amount": 900}, idempotency_key="k")


def test_a_key_is_released_when_the_action_raises(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    e.pause(m, aid)
    with pytest.raises(ActivityNotLive):
        e.act(aid, "draw", ALICE, idempotency_key="k")
    e.resume(m, aid)
    assert not e.act(aid, "draw", ALICE, idempotency_key="k").replayed


# polling --------------------------------------------------------------------------------

def test_public_view_answers_304_to_a_matching_etag_and_changes_after_an_action(env):
    e = env.engine
    aid = publish(e, env.merchant, "lottery")
    first = e.public_view(aid)
    assert first.status == 200 and first.etag
    again = e.public_view(aid, if_none_match=first.etag)
    assert again.status == 304 and again.body is None and again.etag == first.etag
    assert e.public_view(aid, if_none_match=f'W/{first.etag}, "x"').status == 304
    assert e.public_view(aid, if_none_match="*").status == 304
    assert e.public_view(aid, if_none_match='"other"').status == 200
    ok(e.act(aid, "draw", ALICE))
    changed = e.public_view(aid, if_none_match=first.etag)
    assert changed.status == 200 and changed.etag != first.etag


def test_me_view_etag_follows_the_participants_own_changes(env):
    e = env.engine
    aid = publish(e, env.merchant, "lottery")
    mine = e.me_view(aid, ALICE)
    assert e.me_view(aid, ALICE, if_none_match=mine.etag).status == 304
    ok(e.act(aid, "draw", ALICE))
    after = e.me_view(aid, ALICE, if_none_match=mine.etag)
    assert after.status == 200 and after.body["view"]["draws_left_today"] == 2
    assert e.me_view(aid, ALICE, if_none_match=after.etag).status == 304


def test_me_view_changes_at_local_midnight(env):
    e = env.engine
    aid = publish(e, env.merchant, "lottery")
    ok(e.act(aid, "draw", ALICE))
    mine = e.me_view(aid, ALICE)
    assert mine.body["view"]["draws_left_today"] == 2
    env.clock.advance(14 * HOUR)  # 10:00 → 00:00 the next day in Asia/Shanghai
    fresh = e.me_view(aid, ALICE, if_none_match=mine.etag)
    assert fresh.status == 200 and fresh.body["view"]["draws_left_today"] == 3


def test_room_view_answers_304_and_changes_after_a_help(env):
    e = env.engine
    aid = publish(e, env.merchant, "bargain")
    room = ok(e.act(aid, "start", ALICE))["room"]
    seen = e.room_view(aid, room, DAN)
    assert seen.body["view"]["price"] == 10000
    assert e.room_view(aid, room, DAN, if_none_match=seen.etag).status == 304
    ok(e.act(aid, "help", BOB, room_id=room))
    changed = e.room_view(aid, room, DAN, if_none_match=seen.etag)
    assert changed.status == 200 and changed.body["view"]["helpers"] == 1
    assert "bob" not in json.dumps(changed.body)  # members are masked


def _act_later(engine, activity_id, participant, delay, **kwargs):
    def run():
        time.sleep(delay)
        engine.act(activity_id, kwargs.pop("action", "draw"), participant, **kwargs)
    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("view", ["public", "me", "room"])
def test_wait_returns_as_soon_as_another_thread_acts(tmp_path, view):
    # A database re-check only every 30 s: only the in-process wake-up can end the wait.
    e = make_engine(tmp_path, Clock(), settings={"long_poll_interval": 30})
    m = create_merchant(e)
    aid = publish(e, m, "bargain", config_for("bargain", launches_per_participant=2))
    room = ok(e.act(aid, "start", ALICE))["room"]
    poll = {"public": lambda **kw: e.public_view(aid, **kw),
            "me": lambda **kw: e.me_view(aid, ALICE, **kw),
            "room": lambda **kw: e.room_view(aid, room, ALICE, **kw)}[view]
    action = {"public": ("start", ALICE, None), "me": ("start", ALICE, None),
              "room": ("help", BOB, room)}[view]
    first = poll()
    thread = _act_later(e, aid, action[1], 0.3, action=action[0], room_id=action[2])
    started = time.monotonic()
    answer = poll(if_none_match=first.etag, wait=10)
    waited = time.monotonic() - started
    thread.join()
    assert answer.status == 200 and answer.etag != first.etag
    assert 0.2 < waited < 5


def test_wait_without_a_change_answers_304_after_the_wait(env):
    e = env.engine
    aid = publish(e, env.merchant, "lottery")
    first = e.public_view(aid)
    started = time.monotonic()
    answer = e.public_view(aid, if_none_match=first.etag, wait=0.3)
    assert answer.status == 304 and time.monotonic() - started >= 0.29


# replay and audit -----------------------------------------------------------------------

def _bargain_with_helpers(env):
    e = env.engine
    aid = publish(e, env.merchant, "bargain")
    room = ok(e.act(aid, "start", ALICE))["room"]
    ok(e.act(aid, "help", BOB, room_id=room))
    ok(e.act(aid, "help", CAROL, room_id=room))
    assert replay(e, aid) == []
    return aid, room


def test_replay_detects_a_tampered_room_state(env):
    aid, room = _bargain_with_helpers(env)
    with env.engine.store.transaction() as tx:
        state = json.loads(tx.conn.execute("SELECT state FROM rooms WHERE id = ?",
                                           (room,)).fetchone()[0])
        state["price"] -= 1
        tx.conn.execute("UPDATE rooms SET state = ? WHERE id = ?", (json.dumps(state), room))
    diffs = replay(env.engine, aid)
    assert any(f"room {room}.state" in d for d in diffs), diffs
    assert any("cuts" in p for p in invariants(env.engine, aid, check_replay=False))


def test_replay_detects_tampered_activity_and_participant_state(env):
    aid, _room = _bargain_with_helpers(env)
    with env.engine.store.transaction() as tx:
        tx.conn.execute("UPDATE activities SET state = json_set(state, '$.stock', 99) "
                        "WHERE id = ?", (aid,))
        tx.conn.execute("UPDATE activity_participants SET state = json_set(state, "
                        "'$.helps_today', 0) WHERE activity_id = ? AND participant_id = 'bob'",
                        (aid,))
    diffs = replay(env.engine, aid)
    assert any(d.startswith("activity state") for d in diffs), diffs
    assert any(d.startswith("participant bob") for d in diffs), diffs


def test_replay_detects_a_tampered_log_result(env):
    aid, _room = _bargain_with_helpers(env)
    with env.engine.store.transaction() as tx:
        tx.conn.execute("UPDATE actions SET result = json_set(result, '$.cut', 1) "
                        "WHERE activity_id = ? AND seq = 2", (aid,))
    assert any(d.startswith("seq 2: result") for d in replay(env.engine, aid))


def test_audit_recomputes_every_draw_after_the_end(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    for who in (ALICE, BOB, CAROL, DAN):
        ok(e.act(aid, "draw", who))
    early = audit(e, aid)
    assert not early["ok"] and early["checked"] == 0
    e.end(m, aid)
    report = audit(e, aid)
    assert report["ok"], report["problems"]
    assert report["checked"] == 4 and report["problems"] == []
    assert report["seed_commitment"] == e.public_view(aid).body["fairness"]["seed_commitment"]


def test_audit_fails_when_the_seed_does_not_match_its_commitment(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    for who in (ALICE, BOB):
        ok(e.act(aid, "draw", who))
    e.end(m, aid)
    with e.store.transaction() as tx:
        tx.conn.execute("UPDATE activities SET seed = ? WHERE id = ?", ("0" * 64, aid))
    report = audit(e, aid)
    assert not report["ok"]
    assert "the revealed seed does not match the published commitment" in report["problems"]
    assert any(p.startswith("seq 1: logged") for p in report["problems"])


def test_audit_fails_when_a_logged_draw_was_changed(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    ok(e.act(aid, "draw", ALICE))
    e.end(m, aid)
    with e.store.transaction() as tx:
        tx.conn.execute("UPDATE actions SET random = '[[10000, 1]]' WHERE activity_id = ?",
                        (aid,))
    report = audit(e, aid)
    assert not report["ok"] and report["problems"][0].startswith("seq 1")


# identity -------------------------------------------------------------------------------

def test_another_merchants_activity_is_not_found(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    other = create_merchant(e, "Other")
    calls = [
        lambda: e.get_activity(other, aid),
        lambda: e.update_activity(other, aid, {"title": "mine"}),
        lambda: e.pause(other, aid),
        lambda: e.end(other, aid),
        lambda: e.stats(other, aid),
        lambda: e.action_log(other, aid),
        lambda: e.duplicate(other, aid),
        lambda: e.merchant_act(other, aid, "grant", "alice", {"count": 1}),
    ]
    for call in calls:
        with pytest.raises(ActivityNotFound):
            call()
    with pytest.raises(ActivityNotFound):
        e.get_activity(m, "act_missing")
    assert activity_status(env, aid) == "live" and log_of(e, aid) == []


def test_merchant_acts_for_a_participant(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery", config_for("lottery", draws_per_day=1, draws_total=1))
    ok(e.act(aid, "draw", ALICE))
    assert e.act(aid, "draw", ALICE).body["error"] == "no_draws_left"
    assert ok(e.merchant_act(m, aid, "grant", "alice", {"count": 2}))["result"] == {"extra": 2}
    ok(e.act(aid, "draw", ALICE))
    assert e.act(aid, "grant", ALICE, {"count": 1}).body["error"] == "not_allowed"
    assert invariants(e, aid) == []


def test_participant_tokens_sign_and_verify(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    token, expires = e.participant_token(m, "alice", "Alice", ttl=600)
    assert expires == int(env.clock.now) + 600
    assert e.authenticate_participant(aid, token) == Participant("alice", "Alice")
    env.clock.advance(599)
    assert e.authenticate_participant(aid, token).id == "alice"
    env.clock.advance(1)
    with pytest.raises(TokenExpired):
        e.authenticate_participant(aid, token)


def test_forged_or_foreign_tokens_are_invalid(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    token, _ = e.participant_token(m, "alice")
    other = create_merchant(e, "Other")
    foreign, _ = e.participant_token(other, "alice")
    payload, signature = token.rsplit(".", 1)
    forged = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    for bad in (foreign, forged, token[:-3], "not-a-token", "", None):
        with pytest.raises(InvalidToken):
            e.authenticate_participant(aid, bad)
    with pytest.raises(ActivityNotFound):
        e.authenticate_participant("act_missing", token)


# CLI ------------------------------------------------------------------------------------

def test_cli_templates_test_runs_every_scenario():
    result = CliRunner().invoke(cli, ["templates", "test"])
    assert result.exit_code == 0, result.output
    assert "PASS lottery/01_limits_and_stock" in result.output
    assert result.output.rstrip().endswith("passed, 0 failed")


def test_cli_templates_test_one_template_and_an_unknown_one():
    result = CliRunner().invoke(cli, ["templates", "test", "gift"])
    folder = Path(__file__).resolve().parents[1] / "activity_templates" / "gift" / "scenarios"
    scenarios = len(list(folder.glob("*.json")))
    assert scenarios >= 3
    assert result.exit_code == 0 and f"{scenarios} passed, 0 failed" in result.output
    assert CliRunner().invoke(cli, ["templates", "test", "no_such"]).exit_code != 0


def test_cli_replay_matches_and_then_reports_tampering(env):
    pytest.importorskip("magic_cube.app", reason="magic_cube.app (create_app) is not there yet")
    aid, room = _bargain_with_helpers(env)
    url = db_url(env.path)
    result = CliRunner().invoke(cli, ["replay", aid, "--database", url])
    assert result.exit_code == 0, result.output
    assert "replay matches" in result.output
    with env.engine.store.transaction() as tx:
        tx.conn.execute("UPDATE rooms SET status = 'expired' WHERE id = ?", (room,))
    result = CliRunner().invoke(cli, ["replay", aid, "--database", url])
    assert result.exit_code == 1 and f"room {room}.status" in result.output


def test_the_invariants_count_an_invitees_participant_invited_webhook_as_logged(env):
    """A friend's first action through a share link puts a `participant.invited` webhook in the
    outbox beside the template's events: the engine's own, like a void's, not a broken rule."""
    e = env.engine
    aid = publish(e, env.merchant, "lottery")
    code = e.share(aid, ALICE)["code"]
    assert e.act(aid, "draw", BOB, via=code).ok
    assert [o.type for o in read_all(e, aid)["outbox"]].count("participant.invited") == 1
    assert invariants(e, aid) == []
