"""Benchmarks of the rules layer, in process, no storage.

Run as ``python bench/rules.py [--quick]``. Prints, asserts nothing.

(a) Guard evaluation: every guard rule of the four built-in templates, evaluated on realistic
    data (a scenario's config, the state half-way through that scenario, each participant and
    room seen so far), by our compiled closures and by panzi-json-logic (``jsonLogic``), on the
    same rules and the same data in the same run. Goal: ours ≥ 10× panzi.
(b) Interpreter throughput per template (lottery draws by fresh participants, bargain
    start + helps, group start + joins, gift send + claims), next to a floor measured in the same
    run: a bare loop doing the same ``copy.deepcopy`` of the same state dicts an action copies
    (and, where the model has it, the same copies with ``model.clone``, which the interpreter
    itself uses). The ratio (interpreter time / floor time) is the figure to watch; the absolute
    rate depends on the machine.

Every timing is the best of N repeats with ``time.perf_counter``. ``--quick`` keeps the whole
run under ~10 s for CI.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from json_logic import jsonLogic  # noqa: E402

from magic_cube.rules.compiler import CompiledTemplate, compile_template  # noqa: E402
from magic_cube.rules.days import local_date  # noqa: E402
from magic_cube.rules.effects import room_info  # noqa: E402
from magic_cube.rules.interpreter import (  # noqa: E402
    actor_info,
    initial_activity_state,
    initial_state,
    run,
)
from magic_cube.rules.jsonlogic import compile_rule, truthy  # noqa: E402
from magic_cube.rules.model import Actor, Outcome, Room, Snapshot  # noqa: E402
from magic_cube.rules.rng import Rng  # noqa: E402

try:
    from magic_cube.rules.model import clone  # noqa: E402
except ImportError:  # older models copy with copy.deepcopy only
    clone = None  # type: ignore[assignment]
from magic_cube.rules.sim import Simulation  # noqa: E402
from magic_cube.scenarios import parse_time  # noqa: E402

TEMPLATES = ("bargain", "group_buy", "lottery", "gift")
TZ = "Asia/Shanghai"
NOW = 1_794_376_800  # 2026-11-11T10:00:00+08:00


def load_template(template_id: str) -> tuple[dict[str, Any], CompiledTemplate]:
    path = ROOT / "activity_templates" / template_id / "template.json"
    doc = json.loads(path.read_text("utf-8"))
    return doc, compile_template(doc)


def fill_defaults(doc: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    try:
        from magic_cube.catalog.config import ConfigValidator
        return ConfigValidator.for_template(doc).fill_defaults(config)
    except Exception:  # the catalog is not needed to benchmark the rules
        schema = doc["config"]["schema"]
        filled = dict(config)
        for name, prop in schema.get("properties", {}).items():
            if name not in filled and name not in schema.get("required", []) and "default" in prop:
                filled[name] = prop["default"]
        return filled


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


# --- (a) guards ----------------------------------------------------------------------------------


def mid_run(template: CompiledTemplate, doc: dict[str, Any],
            scenario: dict[str, Any]) -> Simulation:
    """The simulation of `scenario` stopped half-way through its steps."""
    config = fill_defaults(doc, scenario["config"])
    tz = scenario.get("timezone", TZ)
    sim = Simulation(template, config, parse_time(scenario["start"], 0),
                     seed=scenario.get("seed", "bench"), timezone=tz)
    rooms: dict[str, str] = {}
    steps = scenario["steps"]
    for step in steps[: max(1, len(steps) // 2)]:
        if "at" in step:
            sim.advance(max(sim.now, parse_time(step["at"], sim.now)))
        if "action" not in step:
            continue
        actor, kind = step["actor"], "participant"
        if actor == "merchant":
            actor, kind = step["subject"], "merchant"
        out = sim.act(actor, step["action"], step.get("params", {}),
                      room=rooms.get(step.get("room", "")), kind=kind,
                      first_time=step.get("first_time"))
        if isinstance(out, Outcome) and out.room is not None and "save_room" in step:
            rooms[step["save_room"]] = out.room.room.id
    return sim


def guard_cases(template_id: str) -> list[tuple[Any, Callable[[Any], Any], dict[str, Any]]]:
    """(rule, compiled rule, data) for every guard × every realistic context of its action."""
    doc, template = load_template(template_id)
    cases = []
    for path in sorted((ROOT / "activity_templates" / template_id / "scenarios").glob("*.json")):
        scenario = json.loads(path.read_text("utf-8"))
        sim = mid_run(template, doc, scenario)
        params_seen: dict[str, dict[str, Any]] = {}
        for step in scenario["steps"]:
            if "action" in step and step.get("params") and "error" not in step.get("expect", {}):
                params_seen.setdefault(step["action"], step["params"])
        people = sorted(sim.participants) + ["newcomer"]
        for name, body in doc["actions"].items():
            action = template.actions[name]
            if not body.get("guards"):
                continue
            rooms: list[Room | None] = [None]
            if action.room == "target":
                rooms = [r for r in sim.rooms.values() if r.status in action.room_status] or \
                    list(sim.rooms.values())[:1]
                if not rooms:
                    continue
            for pid in people:
                for room in rooms:
                    data = context(template, sim, pid, room, params_seen.get(name, {}))
                    for guard in body["guards"]:
                        cases.append((guard["rule"], compile_rule(guard["rule"]), data))
    return cases


def context(template: CompiledTemplate, sim: Simulation, pid: str, room: Room | None,
            params: dict[str, Any]) -> dict[str, Any]:
    """The names a guard reads, built as the interpreter builds them."""
    data: dict[str, Any] = {
        "config": sim.config, "activity": copy.deepcopy(sim.activity),
        "actor": actor_info(Actor(pid, first_time=pid not in sim.seen,
                                  new_to_activity=pid not in sim.participants)),
        "params": params, "local": {}, "now": sim.now, "today": local_date(sim.now, sim.timezone),
        "room": room.state if room else {}, "room_info": room_info(room, pid),
    }
    me = sim.participants.get(pid)
    if me is not None:
        data["me"] = copy.deepcopy(me)
    else:
        data["me"] = initial_state(template.state["participant"], data)
    return data


def bench_guards(repeats: int, rounds: int) -> None:
    print("(a) guard evaluation: compiled closures vs panzi-json-logic, same rules and data")
    print(f"{'template':<10} {'rules':>5} {'cases':>6} {'ours ops/s':>13} {'panzi ops/s':>13}"
          f" {'ratio':>7}")
    time_ours = time_panzi = 0.0
    evals_ours = evals_panzi = 0
    for template_id in TEMPLATES:
        cases = guard_cases(template_id)
        rules = {json.dumps(rule, sort_keys=True) for rule, _, _ in cases}
        differ = sum(truthy(fn(data)) != truthy(jsonLogic(rule, data)) for rule, fn, data in cases)
        pairs = [(fn, data) for _, fn, data in cases]
        triples = [(rule, data) for rule, _, data in cases]

        def ours(pairs: list = pairs) -> None:
            for _ in range(rounds):
                for fn, data in pairs:
                    fn(data)

        def panzi(triples: list = triples) -> None:
            for _ in range(max(1, rounds // 10)):
                for rule, data in triples:
                    jsonLogic(rule, data)

        t_ours = best_of(repeats, ours)
        t_panzi = best_of(repeats, panzi)
        n_ours, n_panzi = rounds * len(pairs), max(1, rounds // 10) * len(triples)
        r_ours, r_panzi = n_ours / t_ours, n_panzi / t_panzi
        time_ours, time_panzi = time_ours + t_ours, time_panzi + t_panzi
        evals_ours, evals_panzi = evals_ours + n_ours, evals_panzi + n_panzi
        note = f"  ({differ} results differ)" if differ else ""
        print(f"{template_id:<10} {len(rules):>5} {len(cases):>6} {r_ours:>13,.0f}"
              f" {r_panzi:>13,.0f} {r_ours / r_panzi:>6.1f}x{note}")
    # overall: every (rule, data) case of every template pooled
    ours_rate, panzi_rate = evals_ours / time_ours, evals_panzi / time_panzi
    print(f"{'overall':<10} {'':>5} {'':>6} {ours_rate:>13,.0f} {panzi_rate:>13,.0f}"
          f" {ours_rate / panzi_rate:>6.1f}x   (goal: >= 10x)")


# --- (b) interpreter throughput ------------------------------------------------------------------


class Driver:
    """Just enough bookkeeping to chain actions: the state each accepted action returns."""

    def __init__(self, template: CompiledTemplate, config: dict[str, Any],
                 record: bool = False) -> None:
        self.template, self.config = template, config
        self.activity = initial_activity_state(template, config, NOW, TZ)
        self.participants: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, Room] = {}
        self.seq = 0
        self.actions = 0
        self.copies: list[tuple[Any, Any, Any]] | None = [] if record else None

    def act(self, actor: str, action: str, params: dict[str, Any] | None = None,
            room: str | None = None) -> Outcome:
        self.seq += 1
        snapshot = Snapshot("bench", self.config, self.activity, self.participants.get(actor),
                            self.rooms.get(room) if room else None, TZ)
        if self.copies is not None:
            self.copies.append((snapshot.activity, snapshot.participant, snapshot.room))
        who = Actor(actor, first_time=True, new_to_activity=True)
        rng = Rng("bench-seed", f"bench/{actor}/{self.seq}")
        out = run(self.template, action, snapshot, who, params, NOW, rng,
                  new_room_id=f"r{self.seq}")
        if not isinstance(out, Outcome):
            raise RuntimeError(f"{action} by {actor} refused: {out}")
        self.actions += 1
        self.activity = out.activity
        self.participants[actor] = out.participant
        if out.room is not None:
            self.rooms[out.room.room.id] = out.room.room
        return out


def lottery_workload(d: Driver, n: int) -> None:
    for i in range(n):
        d.act(f"p{i}", "draw")


def bargain_workload(d: Driver, n: int) -> None:
    helpers = d.config["helpers_needed"]
    i = 0
    while d.actions < n:
        room = d.act(f"s{i}", "start").result["room"]
        for h in range(helpers):
            d.act(f"h{i}.{h}", "help", room=room)
        i += 1


def group_workload(d: Driver, n: int) -> None:
    i = 0
    while d.actions < n:
        room = d.act(f"l{i}", "start").result["room"]
        for j in range(d.config["group_size"] - 1):
            d.act(f"m{i}.{j}", "join", room=room)
        i += 1


def gift_workload(d: Driver, n: int) -> None:
    i = 0
    while d.actions < n:
        sent = d.act(f"g{i}", "send", {"shares": 4, "amount": 888, "message": "恭喜"})
        room = sent.result["room"]
        for j in range(4):
            d.act(f"c{i}.{j}", "claim", room=room)
        i += 1


WORKLOADS: dict[str, tuple[str, dict[str, Any], Callable[[Driver, int], None]]] = {
    "lottery": ("draws by fresh participants",
                {"prizes": [{"name": "A", "type": "physical", "stock": 10**6, "odds": 100},
                            {"name": "B", "type": "coupon", "stock": 10**6, "odds": 2000},
                            {"name": "C", "type": "points", "stock": 10**6, "odds": 5000}],
                 "draws_per_day": 3, "draws_total": 10, "guarantee_every": 5},
                lottery_workload),
    "bargain": ("start + 3 helps",
                {"product_name": "Teapot", "original_price": 10000, "floor_price": 1000,
                 "helpers_needed": 3, "cut_min": 1000, "cut_max": 5000, "stock": 10**6},
                bargain_workload),
    "group_buy": ("start + 2 joins",
                  {"product_name": "Rice", "original_price": 29900, "group_price": 19900,
                   "group_size": 3, "stock": 10**7},
                  group_workload),
    "gift": ("send + 4 lucky claims",
             {"gift_name": "Red packet", "mode": "amount", "split": "random"},
             gift_workload),
}


def bench_interpreter(repeats: int, actions: int) -> None:
    print(f"\n(b) interpreter, in process, no storage ({actions:,} actions per repeat,"
          f" best of {repeats})")
    header = (f"{'template':<10} {'workload':<28} {'actions/s':>11} {'deepcopy floor/s':>15}"
              f" {'x floor':>8}")
    if clone is not None:  # the copies the interpreter itself makes, when the model has them
        header += f" {'clone floor/s':>15} {'x clone':>8}"
    print(header)
    for template_id in TEMPLATES:
        label, config, workload = WORKLOADS[template_id]
        doc, template = load_template(template_id)
        config = fill_defaults(doc, config)

        def interpret(template: CompiledTemplate = template, config: dict = config,
                      workload: Callable = workload) -> None:
            workload(Driver(template, config), actions)

        recorder = Driver(template, config, record=True)
        workload(recorder, actions)
        copies = recorder.copies or []
        count = recorder.actions

        def floor(copies: list = copies) -> None:
            deepcopy = copy.deepcopy
            for activity, participant, room in copies:
                deepcopy(activity)
                if participant is not None:
                    deepcopy(participant)
                if room is not None:
                    deepcopy(room)

        def clone_floor(copies: list = copies) -> None:
            for activity, participant, room in copies:
                clone(activity)
                if participant is not None:
                    clone(participant)
                if room is not None:
                    room.clone()

        t_run = best_of(repeats, interpret)
        t_floor = best_of(repeats, floor)
        line = (f"{template_id:<10} {label:<28} {count / t_run:>11,.0f} {count / t_floor:>15,.0f}"
                f" {t_run / t_floor:>7.1f}x")
        if clone is not None:
            t_clone = best_of(repeats, clone_floor)
            line += f" {count / t_clone:>15,.0f} {t_run / t_clone:>7.1f}x"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI (< 10 s)")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    started = time.perf_counter()
    print(f"python {sys.version.split()[0]}, {datetime.now().isoformat(timespec='seconds')}"
          f"{'  (quick)' if args.quick else ''}\n")
    bench_guards(repeats, rounds=20 if args.quick else 200)
    bench_interpreter(repeats, actions=1_000 if args.quick else 10_000)
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
