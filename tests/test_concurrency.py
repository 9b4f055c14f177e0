"""Real OS processes hammering one SQLite file through the Engine.

Each worker process (multiprocessing, "spawn") builds its own Engine on the same file and
rediscovers the catalog, as separate app processes would. Afterwards every correctness rule
must hold (tests/engine_helpers.invariants), replay must find no difference and SQLite's
integrity check must pass.

The default is a short run for CI; `MAGIC_CUBE_LONG=1` runs the long one (8 processes × 500
actions).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
from collections import Counter

import pytest
from engine_helpers import (
    START,
    Clock,
    config_for,
    create_merchant,
    invariants,
    make_engine,
    publish,
    read_all,
)

from magic_cube.engine import Participant
from magic_cube.engine.errors import EngineError, IdempotencyInFlight

LONG = os.environ.get("MAGIC_CUBE_LONG") == "1"
PROCESSES, ACTIONS = (8, 500) if LONG else (4, 120)
SPAN = 2 * 3600  # every worker's clock walks through two hours (all on one local day)

CONFIGS = {
    "lottery": config_for("lottery", prizes=[
        {"name": "Gold", "type": "physical", "stock": 20, "odds": 2000},
        {"name": "Silver", "type": "coupon", "stock": 30, "odds": 3000},
        {"name": "Bronze", "type": "points", "stock": 50, "odds": 4000},
    ], draws_per_day=4, draws_total=4, extra_draws_max=5),
    "group_buy": config_for("group_buy", group_size=5, stock=30, expiry_hours=1),
    "bargain": config_for("bargain", helpers_needed=10, cut_min=100, cut_max=2000, stock=3,
                          helps_per_day=3),
    "gift": config_for("gift", mode="amount", split="random", max_shares=10, min_share=1,
                       expiry_hours=24),
}
LOTTERY_PLAYERS = 60
JOINERS = 50
HELPERS = 200
CLAIMERS = 100


def _spawn():
    return multiprocessing.get_context("spawn")


# the worker process ---------------------------------------------------------------------

def hammer(spec: dict) -> dict:
    """One worker process: `spec["actions"]` random actions across the four activities."""
    engine = make_engine(spec["dir"], Clock(START), migrate=False, fresh_catalog=True)
    merchant = engine.get_merchant(spec["merchant"])
    rng = random.Random(spec["seed"])
    ids, rooms = spec["activities"], {k: list(v) for k, v in spec["rooms"].items()}
    codes: Counter = Counter()
    unexpected: list[str] = []
    step = SPAN / spec["actions"]
    for i in range(spec["actions"]):
        engine.clock.now = START + i * step
        kind = ("lottery", "group_buy", "bargain", "gift")[i % 4]
        aid = ids[kind]
        try:
            response = _one(engine, merchant, rng, kind, aid, rooms, spec["worker"], i)
            if isinstance(response, str):  # a heartbeat or a poll
                code = response
            else:
                code = "ok" if response.status == 200 else response.body["error"]
                room = response.body.get("room")
                if response.status == 200 and room and kind in ("group_buy", "gift") \
                        and room not in rooms[kind]:
                    rooms[kind].append(room)
        except EngineError as exc:
            code = exc.code
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
            code = "exception"
            unexpected.append(f"{kind}: {exc!r}")
        codes[f"{kind}:{code}"] += 1
    engine.store.close()
    return {"codes": codes, "unexpected": unexpected}


def _one(engine, merchant, rng, kind, aid, rooms, worker, i):
    roll = rng.random()
    if kind == "lottery":
        who = f"L{rng.randrange(LOTTERY_PLAYERS)}"
        if roll < 0.05:
            return engine.merchant_act(merchant, aid, "grant", who, {"count": 1})
        if roll < 0.15:
            engine.heartbeat(aid, Participant(who))
            return "heartbeat"
        # Keys collide across processes now and then: both must act once, together.
        key = f"draw-{rng.randrange(400)}" if roll < 0.3 else None
        return engine.act(aid, "draw", Participant(who, who), idempotency_key=key)
    if kind == "group_buy":
        who = Participant(f"J{rng.randrange(JOINERS)}")
        if roll < 0.15:
            return engine.act(aid, "start", who)
        if roll < 0.25:  # a poll fires due timers too, racing with the joins
            return "poll:" + engine.room_view(aid, rng.choice(rooms["group_buy"]), who).body[
                "status"]
        return engine.act(aid, "join", who, room_id=rng.choice(rooms["group_buy"]))
    if kind == "bargain":
        room, initiator = rng.choice(rooms["bargain"])
        if roll < 0.1:
            return engine.act(aid, "buy", Participant(initiator), room_id=room)
        return engine.act(aid, "help", Participant(f"H{rng.randrange(HELPERS)}"), room_id=room)
    if roll < 0.03:
        return engine.act(aid, "send", Participant(f"S{worker}"),
                          params={"shares": 10, "amount": 2000, "message": f"from {worker}"})
    return engine.act(aid, "claim", Participant(f"C{rng.randrange(CLAIMERS)}"),
                      room_id=rng.choice(rooms["gift"]))


# the test -------------------------------------------------------------------------------

@pytest.fixture
def arena(tmp_path):
    """Four live activities on one file, with rooms already opened."""
    engine = make_engine(tmp_path, Clock(START))
    merchant = create_merchant(engine)
    ids = {kind: publish(engine, merchant, kind, config) for kind, config in CONFIGS.items()}
    rooms = {
        "group_buy": [engine.act(ids["group_buy"], "start", Participant(f"lead{i}")).body["room"]
                      for i in range(8)],
        "bargain": [(engine.act(ids["bargain"], "start", Participant(f"B{i}")).body["room"],
                     f"B{i}") for i in range(5)],
        "gift": [engine.act(ids["gift"], "send", Participant(f"sender{i}"),
                            params={"shares": 10, "amount": 1000}).body["room"]
                 for i in range(2)],
    }
    yield engine, merchant, ids, rooms, tmp_path
    engine.store.close()


@pytest.mark.parametrize("mode", [
    pytest.param("long", marks=pytest.mark.slow) if LONG else pytest.param("short")])
def test_processes_hammering_one_file_keep_every_invariant(arena, mode):
    engine, merchant, ids, rooms, path = arena
    specs = [{"dir": str(path), "merchant": merchant.id, "activities": ids, "rooms": rooms,
              "actions": ACTIONS, "seed": 1000 + w, "worker": w} for w in range(PROCESSES)]
    with _spawn().Pool(PROCESSES) as pool:
        results = pool.map(hammer, specs)
    codes = sum((r["codes"] for r in results), Counter())
    unexpected = [u for r in results for u in r["unexpected"]]
    assert unexpected == []
    assert sum(codes.values()) == PROCESSES * ACTIONS
    # Serialised writers never lose an update, so no request needs a retry.
    assert not any(code.endswith(":conflict") for code in codes), codes

    engine.clock.now = START + SPAN
    for kind, aid in ids.items():
        assert invariants(engine, aid) == [], kind
    assert engine.store.integrity_check() == "ok"

    lottery = read_all(engine, ids["lottery"])
    assert codes["lottery:ok"] == len(lottery["log"])
    awarded = sum(1 for e in lottery["log"] for ev in e.events if ev["type"] == "prize.awarded")
    assert awarded == 100 - sum(lottery["activity"].state["stock"])
    if LONG:
        assert lottery["activity"].state["stock"] == [0, 0, 0]  # ran out, never below

    bargain = read_all(engine, ids["bargain"])
    assert bargain["activity"].state["sold"] <= 3

    gift = read_all(engine, ids["gift"])
    for pack in rooms["gift"]:
        room = next(r for r in gift["rooms"] if r.id == pack)
        assert room.status == "succeeded" and room.state["shares_left"] == 0
        assert len(room.members) == 11  # the sender and ten recipients

    group = read_all(engine, ids["group_buy"])
    assert all(len(r.members) <= 5 for r in group["rooms"])
    assert any(r.status == "expired" for r in group["rooms"])  # lazily, under load
    print(f"\n{PROCESSES} processes × {ACTIONS} actions: {dict(sorted(codes.items()))}")


# the idempotency storm ------------------------------------------------------------------

STORM_THREADS = 20
STORM_PROCESSES = 3
STORM_THREADS_PER_PROCESS = 10
STORM_KEY = "storm-key-1"


def _storm_calls(engine, activity_id, threads, go) -> list[tuple]:
    """`threads` threads send the same request with the same key as soon as `go` is set."""
    answers: list[tuple] = []
    lock = threading.Lock()

    def call():
        go.wait()
        try:
            r = engine.act(activity_id, "draw", Participant("stormer"), {},
                           idempotency_key=STORM_KEY)
            answer = ("response", r.status, r.body, r.replayed)
        except IdempotencyInFlight as exc:
            answer = ("in_flight", exc.status)
        except Exception as exc:  # noqa: BLE001
            answer = ("unexpected", repr(exc))
        with lock:
            answers.append(answer)

    pool = [threading.Thread(target=call) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return answers


def _slow_down(engine, seconds: float) -> None:
    """Hold a claimed key longer before acting, as a slow request would."""
    act_once = engine._act_once

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return act_once(*args, **kwargs)

    engine._act_once = slow


def storm_process(directory: str, activity_id: str, delay: float, ready, go, out) -> None:
    engine = make_engine(directory, Clock(START + 60), migrate=False, fresh_catalog=True)
    if delay:
        _slow_down(engine, delay)
    ready.put(os.getpid())
    out.put(_storm_calls(engine, activity_id, STORM_THREADS_PER_PROCESS, go))
    engine.store.close()


@pytest.mark.parametrize("delay", [0, 0.3], ids=["natural", "slow_first_request"])
def test_an_idempotency_storm_acts_exactly_once(tmp_path, delay):
    engine = make_engine(tmp_path, Clock(START + 60))
    merchant = create_merchant(engine)
    aid = publish(engine, merchant, "lottery", CONFIGS["lottery"])
    if delay:
        _slow_down(engine, delay)
    ctx = _spawn()
    go, ready, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=storm_process, args=(str(tmp_path), aid, delay, ready, go, out))
             for _ in range(STORM_PROCESSES)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    local: list[tuple] = []
    runner = threading.Thread(
        target=lambda: local.extend(_storm_calls(engine, aid, STORM_THREADS, go)))
    runner.start()
    time.sleep(0.2)  # let every thread reach go.wait()
    go.set()
    runner.join(timeout=120)
    answers = local + [a for _ in procs for a in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    total = STORM_THREADS + STORM_PROCESSES * STORM_THREADS_PER_PROCESS
    assert len(answers) == total == 50
    kinds = Counter(a[0] for a in answers)
    assert kinds["unexpected"] == 0, [a for a in answers if a[0] == "unexpected"]
    responses = [a for a in answers if a[0] == "response"]
    first = [a for a in responses if not a[3]]
    assert len(first) == 1, "exactly one request performed the action"
    assert first[0][1] == 200
    assert all(a[1] == first[0][1] and a[2] == first[0][2] for a in responses)
    assert all(a[1] == 409 for a in answers if a[0] == "in_flight")
    assert len(responses) + kinds["in_flight"] == total
    # A duplicate waits for the request holding the key and answers its outcome: none is
    # turned away as in flight, however slow the first request is.
    assert kinds["in_flight"] == 0
    log = read_all(engine, aid)["log"]
    assert [(e.participant_id, e.action) for e in log] == [("stormer", "draw")]
    assert invariants(engine, aid) == []
    print(f"\nidempotency storm: 1 performed, {len(responses) - 1} replayed, "
          f"{kinds['in_flight']} in flight (409)")
    engine.store.close()

