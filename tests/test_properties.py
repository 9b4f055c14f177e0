"""Property tests: random action sequences through an in-memory activity of each template, with
random valid configs, checking the correctness rules of DESIGN.md after every step.

Set MAGIC_CUBE_LONG=1 for ten times as many examples.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magic_cube.rules.compiler import CompiledTemplate, compile_template
from magic_cube.rules.days import local_date, zone
from magic_cube.rules.effects import split_amount
from magic_cube.rules.errors import Refused
from magic_cube.rules.model import Outcome, Rejection
from magic_cube.rules.rng import Rng
from magic_cube.rules.sim import Simulation

ROOT = Path(__file__).resolve().parents[1]
LONG = os.environ.get("MAGIC_CUBE_LONG") == "1"
SCALE = 10 if LONG else 1
BUILTIN_CODES = {"invalid_params", "not_allowed", "room_required", "room_not_found", "room_closed",
                 "room_full", "already_joined", "limit_reached", "rule_error"}
ACTORS = ("amy", "bob", "cat", "dan", "eve", "fay")
# (time zone, start): an ordinary Shanghai day, and New York the evening before each DST change.
STARTS = [
    ("Asia/Shanghai", "2026-11-11T10:00:00+08:00"),
    ("Asia/Shanghai", "2026-11-11T23:30:00+08:00"),
    ("America/New_York", "2026-03-07T22:00:00-05:00"),
    ("America/New_York", "2026-10-31T22:30:00-04:00"),
]


def examples(n: int) -> Any:
    return settings(max_examples=n * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def template_doc(template_id: str) -> dict[str, Any]:
    path = ROOT / "activity_templates" / template_id / "template.json"
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def compiled(template_id: str) -> CompiledTemplate:
    return compile_template(template_doc(template_id))


def fill_defaults(template_id: str, config: dict[str, Any]) -> dict[str, Any]:
    schema = template_doc(template_id)["config"]["schema"]
    filled = dict(config)
    for name, prop in schema["properties"].items():
        if name not in filled and name not in schema.get("required", []) and "default" in prop:
            filled[name] = prop["default"]
    return filled


@cache
def config_validator(template_id: str) -> Any | None:
    try:
        from magic_cube.catalog.config import ConfigValidator
        return ConfigValidator.for_template(template_doc(template_id))
    except Exception:  # the catalog is optional for these tests
        return None


# --- valid configs ----------------------------------------------------------------------------

HOURS = st.sampled_from([1, 2, 24, 48, 168])  # room lifetimes: short ones expire mid-run
LIMITS = st.sampled_from([1, 1, 2, 3])  # per-day limits, always set: tight ones get reached


@st.composite
def bargain_configs(draw: Callable) -> dict[str, Any]:
    original = draw(st.one_of(st.integers(2, 49), st.integers(50, 100_000),
                              st.integers(50, 100_000)))
    floor = draw(st.integers(0, original - 1))
    discount = original - floor
    helpers = draw(st.sampled_from(range(1, min(6, discount) + 1)))
    cut_min = draw(st.integers(1, discount // helpers))
    cut_max = draw(st.integers(max(cut_min, -(-discount // helpers)), discount))
    config = {"product_name": "P", "original_price": original, "floor_price": floor,
              "helpers_needed": helpers, "cut_min": cut_min, "cut_max": cut_max,
              "stock": draw(st.sampled_from([0, 1, 2, 3, 5, 100])),
              "helps_per_day": draw(LIMITS)}
    optional = {"time_limit_hours": HOURS,
                "launches_per_participant": st.sampled_from([1, 2, 3, 5]),
                "new_participants_only": st.booleans(),
                "buy_before_floor": st.booleans()}
    return config | draw(st.fixed_dictionaries({}, optional=optional))


@st.composite
def group_buy_configs(draw: Callable) -> dict[str, Any]:
    original = draw(st.integers(1, 100_000))
    group_price = draw(st.integers(0, original - 1))
    config = {"product_name": "P", "original_price": original, "group_price": group_price,
              "group_size": draw(st.sampled_from(range(2, 6))),
              "stock": draw(st.sampled_from(range(12)))}
    optional = {"leader_price": st.integers(0, group_price), "expiry_hours": HOURS,
                "groups_per_participant": st.integers(1, 3), "virtual_completion": st.booleans(),
                "virtual_min_percent": st.integers(1, 100)}
    return config | draw(st.fixed_dictionaries({}, optional=optional))


@st.composite
def lottery_configs(draw: Callable) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    budget = 10_000
    prizes = []
    for i in range(count):
        odds = draw(st.sampled_from([0, 1, 100, 2500, 5000, 10_000]) | st.integers(0, 10_000))
        odds = min(odds, budget)
        budget -= odds
        kind = draw(st.sampled_from(["physical", "coupon", "points", "virtual"]))
        prizes.append({"name": f"prize{i}", "type": kind,
                       "stock": draw(st.sampled_from(range(5))), "odds": odds})
    per_day = draw(LIMITS)
    config = {"prizes": prizes, "draws_per_day": per_day,
              "draws_total": draw(st.integers(per_day, 6))}
    optional = {"guarantee_every": st.integers(0, 4), "extra_draws_max": st.integers(0, 3),
                "miss_name": st.just("none")}
    return config | draw(st.fixed_dictionaries({}, optional=optional))


@st.composite
def gift_configs(draw: Callable) -> dict[str, Any]:
    min_share = draw(st.integers(1, 50))
    config = {"gift_name": "G", "mode": draw(st.sampled_from(["units", "amount"])),
              "receive_per_day": draw(LIMITS), "sends_per_day": draw(LIMITS)}
    optional = {"split": st.sampled_from(["equal", "random"]), "max_shares": st.integers(1, 6),
                "min_share": st.just(min_share), "max_amount": st.integers(min_share, 2_000),
                "expiry_hours": HOURS}
    return config | draw(st.fixed_dictionaries({}, optional=optional))


CONFIGS = {"bargain": bargain_configs(), "group_buy": group_buy_configs(),
           "lottery": lottery_configs(), "gift": gift_configs()}

# --- random runs ------------------------------------------------------------------------------

# A few busy actors and many occasional ones, so that per-day limits are reached.
actors = st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5])
acts = st.tuples(st.just("act"), actors, st.integers(0, 7),
                 st.integers(0, 31), st.integers(0, 10**6), st.integers(0, 10**6))
# Mostly short waits, now and then a jump to a day boundary, past a day, or onto an expiry.
advances = st.tuples(st.just("advance"), st.sampled_from([0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5]),
                     st.integers(1, 50))
sweeps = st.tuples(st.just("sweep"), actors, st.integers(0, 7))
steps = st.lists(st.one_of(acts, acts, acts, acts, acts, advances, sweeps),
                 min_size=12, max_size=50)


def next_local_midnight(now: int, tz: str) -> int:
    local = datetime.fromtimestamp(now, zone(tz))
    day = local.date() + timedelta(days=1)
    return int(datetime(day.year, day.month, day.day, tzinfo=zone(tz)).timestamp())


def advance_to(sim: Simulation, choice: int, amount: int) -> int:
    if choice == 0:
        return sim.now + amount * 11
    if choice == 1:
        return sim.now + amount * 600
    if choice == 2:
        return next_local_midnight(sim.now, sim.timezone) - 1
    if choice == 3:
        return next_local_midnight(sim.now, sim.timezone)
    if choice == 4:
        return sim.now + 25 * 3600
    due = [d for room in sim.rooms.values() if room.status == "open"
           for d in room.timers.values()]
    # Exactly at or just past an expiry.
    return max(min(due, default=sim.now), sim.now) + (amount % 2)


def params_for(template_id: str, action: str, config: dict[str, Any], p1: int,
               p2: int) -> dict[str, Any]:
    if template_id == "gift" and action == "send":
        shares = 1 + p1 % (config["max_shares"] + 1)  # now and then one too many
        params: dict[str, Any] = {"shares": shares}
        if config["mode"] == "amount" and p2 % 10:
            low = shares * config["min_share"]
            params["amount"] = max(1, low - 1 + p2 % (config["max_amount"] - low + 3))
        if p2 % 3 == 0:
            params["message"] = "hi"
        return params
    if template_id == "lottery" and action == "grant":
        return {"count": 1 + p1 % 3}
    return {}


def play(template_id: str, config: dict[str, Any], start: tuple[str, str], moves: list[tuple],
         check: Callable[[Simulation, dict[str, Any]], None]) -> Simulation:
    template = compiled(template_id)
    validator = config_validator(template_id)
    if validator is not None:
        config, errors = validator.validate(config)
        assert errors == {}, f"the strategy made an invalid config: {errors}"
    else:
        config = fill_defaults(template_id, config)
    tz, at = start
    sim = Simulation(template, config, int(datetime.fromisoformat(at).timestamp()),
                     seed="prop", timezone=tz, activity_id="prop")
    callable_ = [a for a in template.actions.values() if a.by != "timer"]
    targets = [a for a in callable_ if a.room == "target"]
    others = [a for a in callable_ if a.room != "target"]
    openers = [a for a in others if a.by == "participant"]
    declared = set(template.errors) | BUILTIN_CODES
    checked = 0

    def do(actor: str, action: Any, room: str | None, p1: int, p2: int) -> None:
        kind = "merchant" if action.by == "merchant" else "participant"
        outcome = sim.act(actor, action.name, params_for(template_id, action.name, config, p1, p2),
                          room=room, kind=kind)
        assert isinstance(outcome, (Outcome, Rejection))
        verify()

    def verify() -> None:
        nonlocal checked
        for entry in sim.log[checked:]:
            assert entry.error != "rule_error", f"rule_error in {entry}"
            assert entry.error is None or entry.error in declared, f"undeclared code {entry.error}"
        checked = len(sim.log)
        check(sim, config)

    for move in moves:
        if move[0] == "advance":
            sim.advance(advance_to(sim, move[1], move[2]))
            verify()
        elif move[0] == "sweep":
            # A busy participant acts on every room the action accepts, one after the other.
            _, who, which = move
            if targets:
                action = targets[which % len(targets)]
                for room_id in [r for r, v in sim.rooms.items() if v.status in action.room_status]:
                    do(ACTORS[who], action, room_id, which, which)
        else:
            _, who, which, room_i, p1, p2 = move
            # 3 in 8 pick an action without a room, 5 in 8 one on a room (help, join, claim, buy)
            if which < 3 or not targets:
                action = others[which % len(others)]
            else:
                action = targets[which % len(targets)]
            if action.room == "target" and not sim.rooms and room_i % 8:
                action = openers[which % len(openers)]  # mostly, open a room first
            room, actor = None, ACTORS[who]
            if action.room == "target" and sim.rooms:
                usable = [r for r, v in sim.rooms.items() if v.status in action.room_status]
                pool = usable if usable and room_i % 8 else list(sim.rooms)
                room = pool[room_i % len(pool)]
                if p1 % 8 == 0:
                    actor = sim.rooms[room].initiator  # the starter acts on their own room
            do(actor, action, room, p1, p2)
    return sim


def per_day(sim: Simulation, action: str) -> Counter:
    """Accepted `action`s by (participant, local calendar date)."""
    return Counter((e.actor, local_date(e.at, sim.timezone)) for e in sim.log
                   if e.ok and e.kind == "participant" and e.action == action)


# --- invariants ---------------------------------------------------------------------------------


def check_bargain(sim: Simulation, config: dict[str, Any]) -> None:
    activity = sim.activity
    assert activity["stock"] >= 0
    assert activity["stock"] == config["stock"] - activity["sold"]
    original, floor = config["original_price"], config["floor_price"]
    for room in sim.rooms.values():
        price, helpers = room.state["price"], room.state["helpers"]
        people = [m.participant for m in room.members]
        assert len(people) == len(set(people)), "a friend helped the same bargain twice"
        assert people[0] == room.initiator and room.members[0].role == "initiator"
        helping = [m for m in room.members if m.role == "helper"]
        assert room.initiator not in {m.participant for m in helping}
        assert len(helping) == helpers <= config["helpers_needed"]
        assert price >= floor
        assert sum(m.data["cut"] for m in helping) == original - price
        assert all(config["cut_min"] <= m.data["cut"] <= config["cut_max"] for m in helping)
        assert (price == floor) == (helpers == config["helpers_needed"])
        if room.state["bought"]:
            assert room.status == "succeeded"
    for count in per_day(sim, "help").values():
        assert count <= config["helps_per_day"]
    launches = Counter(e.actor for e in sim.log if e.ok and e.action == "start")
    assert all(n <= config["launches_per_participant"] for n in launches.values())


def check_group_buy(sim: Simulation, config: dict[str, Any]) -> None:
    stock = sim.activity["stock"]
    assert stock >= 0
    held = 0
    for room in sim.rooms.values():
        people = [m.participant for m in room.members]
        assert len(people) == len(set(people))
        assert room.capacity == config["group_size"]
        assert len(people) <= room.capacity, "a group over its size"
        if room.status in ("open", "succeeded"):
            held += len(people)
        if room.status == "succeeded" and not room.state["virtual"]:
            assert len(people) == room.capacity
    assert stock + held == config["stock"], "units held by groups do not add up"
    for state in sim.participants.values():
        assert state["groups"] <= config["groups_per_participant"]


def check_lottery(sim: Simulation, config: dict[str, Any]) -> None:
    prizes = config["prizes"]
    stock = sim.activity["stock"]
    assert all(left >= 0 for left in stock)
    awarded = Counter(e.data["index"] for e in sim.events() if e.type == "prize.awarded")
    for i, prize in enumerate(prizes):
        assert awarded[i] == prize["stock"] - stock[i], (
            "prizes awarded != initial stock - stock left")
        assert awarded[i] <= prize["stock"]
        if prize["odds"] == 0:
            assert awarded[i] == 0, "a prize with zero odds was awarded"
    assert sum(awarded.values()) == sim.activity["wins"]
    granted: dict[str, int] = defaultdict(int)
    for e in sim.log:
        if e.ok and e.action == "grant":
            granted[e.actor] += e.params["count"]
    for (who, _), count in per_day(sim, "draw").items():
        assert count <= config["draws_per_day"] + granted[who]
    totals = Counter(e.actor for e in sim.log if e.ok and e.action == "draw")
    for who, count in totals.items():
        assert count <= config["draws_total"] + granted[who]
    for state in sim.participants.values():
        assert state["draws_today"] <= config["draws_per_day"]
        assert state["draws"] <= config["draws_total"]
        assert 0 <= state["extra"] <= config["extra_draws_max"]


def check_gift(sim: Simulation, config: dict[str, Any]) -> None:
    amount_mode = config["mode"] == "amount"
    totals = {"sent": 0, "claimed": 0, "returned": 0}
    for room in sim.rooms.values():
        state = room.state
        assert room.members[0].participant == room.initiator and room.members[0].role == "sender"
        recipients = room.members[1:]
        people = [m.participant for m in recipients]
        assert len(people) == len(set(people)), "a participant claimed twice from a pack"
        assert room.initiator not in people, "the sender claimed their own pack"
        shares = [m.data["share"] for m in recipients]
        assert sum(shares) + state["left"] + state["returned"] == state["total"]
        assert len(shares) + state["shares_left"] == state["shares"]
        if amount_mode:
            assert all(s >= config["min_share"] for s in shares)
        else:
            assert all(s == 1 for s in shares)
        assert state["left"] >= 0 and state["shares_left"] >= 0
        totals["sent"] += state["total"]
        totals["claimed"] += sum(shares)
        totals["returned"] += state["returned"]
    for key, value in totals.items():
        assert sim.activity[key] == value
    for count in per_day(sim, "claim").values():
        assert count <= config["receive_per_day"]
    for count in per_day(sim, "send").values():
        assert count <= config["sends_per_day"]


CHECKS = {"bargain": check_bargain, "group_buy": check_group_buy, "lottery": check_lottery,
          "gift": check_gift}


def run_template(template_id: str) -> Callable:
    @examples(250)
    @given(config=CONFIGS[template_id], start=st.sampled_from(STARTS), moves=steps)
    def prop(config: dict[str, Any], start: tuple[str, str], moves: list[tuple]) -> None:
        play(template_id, config, start, moves, CHECKS[template_id])
    return prop


test_bargain_invariants_hold_after_every_step = run_template("bargain")
test_group_buy_invariants_hold_after_every_step = run_template("group_buy")
test_lottery_invariants_hold_after_every_step = run_template("lottery")
test_gift_invariants_hold_after_every_step = run_template("gift")


# --- split_amount -------------------------------------------------------------------------------


@st.composite
def feasible_splits(draw: Callable) -> tuple[int, int, int, int]:
    parts = draw(st.integers(1, 30))
    lo = draw(st.integers(0, 1000))
    hi = draw(st.integers(lo, lo + 5000))
    total = draw(st.integers(parts * lo, parts * hi))
    return total, parts, lo, hi


@examples(300)
@given(split=feasible_splits(), seed=st.text(min_size=1, max_size=8))
def test_repeated_split_amount_gives_parts_within_bounds_that_sum_to_the_total(
        split: tuple[int, int, int, int], seed: str) -> None:
    total, parts, lo, hi = split
    rng = Rng(seed, "split")
    left, got = total, []
    for remaining in range(parts, 0, -1):
        x = split_amount(rng, left, remaining, lo, hi)
        assert lo <= x <= hi
        got.append(x)
        left -= x
    assert sum(got) == total and left == 0


@examples(100)
@given(parts=st.integers(1, 30), lo=st.integers(0, 100), span=st.integers(0, 100),
       gap=st.integers(1, 1000), above=st.booleans())
def test_split_amount_without_a_solution_refuses_with_rule_error(parts: int, lo: int, span: int,
                                                                  gap: int, above: bool) -> None:
    hi = lo + span
    total = parts * hi + gap if above else parts * lo - gap
    if total < 0 and not above:
        total = -gap
    with pytest.raises(Refused) as info:
        split_amount(Rng("s", "x"), total, parts, lo, hi)
    assert info.value.error == "rule_error"
