"""Scenario files: scripted runs of a template with the results, errors, events and state
they must produce. `magic-cube templates test` and the test suite both run them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from magic_cube.catalog.files import read_json
from magic_cube.catalog.metaschema import scenario_problems
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.days import epoch
from magic_cube.rules.jsonlogic.errors import JsonLogicError
from magic_cube.rules.model import Outcome, Rejection
from magic_cube.rules.sim import Simulation

_OFFSET = re.compile(r"^\+(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class ScenarioResult:
    file: str
    title: str
    failures: list[str] = field(default_factory=list)
    steps: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures


def parse_time(value: str, previous: int) -> int:
    """An ISO 8601 time with an offset, or `+N{s,m,h,d}` after the previous step."""
    match = _OFFSET.match(value)
    if match:
        return previous + int(match.group(1)) * _UNITS[match.group(2)]
    return epoch(datetime.fromisoformat(value))


def matches(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Differences between `expected` and `actual`; dicts match as subsets."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out.extend(matches(value, actual[key], f"{path}.{key}"))
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path or '.'}: expected {expected!r}, got {actual!r}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for d in matches(e, a, f"{path}[{i}]")]
    same = expected == actual and isinstance(expected, bool) == isinstance(actual, bool)
    return [] if same else [f"{path or '.'}: expected {expected!r}, got {actual!r}"]


def run_scenario(template: CompiledTemplate, scenario: dict[str, Any], file: str = "",
                 prepare_config: Callable[[dict], dict] | None = None) -> ScenarioResult:
    """Play one scenario against `template`; the result lists every failed expectation."""
    result = ScenarioResult(file, scenario.get("title", file))
    config = scenario["config"]
    if prepare_config is not None:
        config = prepare_config(config)
    try:
        now = parse_time(scenario["start"], 0)
        ends = parse_time(scenario["end"], now) if "end" in scenario else None
    except ValueError as exc:
        result.failures.append(f"start or end: {exc}")
        return result
    sim = Simulation(template, config, now, seed=scenario.get("seed", "scenario"),
                     timezone=scenario.get("timezone", "Asia/Shanghai"), ends_at=ends)
    rooms: dict[str, str] = {}
    for index, step in enumerate(scenario["steps"]):
        where = f"steps[{index}]"
        result.steps += 1
        logged = len(sim.log)
        if "at" in step:
            try:
                at = parse_time(step["at"], sim.now)
            except ValueError as exc:
                result.failures.append(f"{where}.at: {exc}")
                break
            if at < sim.now:
                result.failures.append(f"{where}: time goes back")
                break
            sim.advance(at)
        if "action" in step:
            failures = _play(sim, step, rooms, where)
            result.failures.extend(failures)
        elif "void" in step:
            result.failures.extend(_void(sim, step, where, logged))
        else:
            sim.fire_timers()
            if "events" in step.get("expect", {}):
                # A step without an action expects the events its due timers emitted.
                types = [e.type for entry in sim.log[logged:] for e in entry.events]
                wanted = step["expect"]["events"]
                if types != wanted:
                    result.failures.append(
                        f"{where}: timer events: expected {wanted!r}, got {types!r}")
        for scope, expected in step.get("expect_state", {}).items():
            actual = _state_of(sim, scope, rooms)
            if actual is None:
                result.failures.append(f"{where}: no such state {scope!r}")
            else:
                result.failures.extend(f"{where}: {scope}{d}" for d in matches(expected, actual))
        result.failures.extend(_check_views(sim, step, rooms, where))
    return result


def _play(sim: Simulation, step: dict[str, Any], rooms: dict[str, str], where: str) -> list[str]:
    actor = step["actor"]
    kind = "participant"
    if actor == "merchant":
        if "subject" not in step:
            # The engine performs a merchant action for one participant: name them.
            return [f"{where}: a merchant step needs `subject`, the participant acted for"]
        kind, actor = "merchant", step["subject"]
    room = None
    if "room" in step:
        if step["room"] not in rooms:
            return [f"{where}: room {step['room']!r} was never saved"]
        room = rooms[step["room"]]
    outcome = sim.act(actor, step["action"], step.get("params", {}), room=room, kind=kind,
                      first_time=step.get("first_time"), display_name=step.get("name", actor),
                      device=step.get("device", ""), address=step.get("address", ""),
                      via=step.get("via"))
    expect = step.get("expect", {})
    if not isinstance(outcome, Outcome):
        if expect.get("error") == outcome.error:
            return []
        wanted = f"error {expect['error']!r}" if "error" in expect else "success"
        return [f"{where}: {step['action']} by {actor}: expected {wanted}, "
                f"got error {outcome.error!r}{_refusal(outcome)}"]
    if "error" in expect:
        return [f"{where}: {step['action']} by {actor}: expected error {expect['error']!r}, "
                f"got success {outcome.result!r}"]
    failures = [f"{where}: result{d}" for d in matches(expect.get("result", {}), outcome.result)]
    if "events" in expect:
        types = [e.type for e in outcome.events]
        if types != expect["events"]:
            failures.append(f"{where}: events: expected {expect['events']!r}, got {types!r}")
    if "save_room" in step:
        if outcome.room is None and room is None:
            failures.append(f"{where}: save_room but the action has no room")
        else:
            saved = outcome.room.room.id if outcome.room else room
            assert saved is not None  # one of the two, checked above
            rooms[step["save_room"]] = saved
    return failures


def _refusal(outcome: Rejection) -> str:
    """Where and why an action was refused, as far as the rules say: ` at guards[1]: …`."""
    at = f" at {outcome.where}" if outcome.where else ""
    return f"{at}: {outcome.detail}" if outcome.detail else at


def _void(sim: Simulation, step: dict[str, Any], where: str, logged: int) -> list[str]:
    """A `{"void": NAME}` step: the merchant voids NAME, running the `by: void` actions."""
    name = step["void"]
    done = sim.void(name)
    refused = [(action, o) for action, o in done if isinstance(o, Rejection)]
    if refused:
        action, outcome = refused[0]
        what = f"void action {action!r}" if action else "void"
        return [f"{where}: void of {name}: {what} refused with {outcome.error!r}"
                f"{_refusal(outcome)}"]
    wanted = step.get("expect", {}).get("events")
    types = [e.type for entry in sim.log[logged:] for e in entry.events]
    if wanted is not None and types != wanted:
        return [f"{where}: void events: expected {wanted!r}, got {types!r}"]
    return []


def _state_of(sim: Simulation, scope: str, rooms: dict[str, str]) -> dict[str, Any] | None:
    if scope == "activity":
        return sim.activity
    kind, _, name = scope.partition(":")
    if kind == "me":
        return sim.participants.get(name)
    if kind == "room" and name in rooms:
        room = sim.rooms[rooms[name]]
        return {"state": room.state, "status": room.status, "size": len(room.members),
                "members": [m.as_dict() for m in room.members]}
    return None


def _check_views(sim: Simulation, step: dict[str, Any], rooms: dict[str, str],
                 where: str) -> list[str]:
    """The step's `expect_view`: each view rendered as the engine renders it, subset-matched."""
    failures = []
    for key, expected in step.get("expect_view", {}).items():
        view, problem = _view_of(sim, key, step, rooms)
        if view is None:
            failures.append(f"{where}: expect_view {key!r}: {problem}")
        else:
            failures.extend(f"{where}: view {key}{d}" for d in matches(expected, view))
    return failures


def _view_of(sim: Simulation, key: str, step: dict[str, Any],
             rooms: dict[str, str]) -> tuple[dict[str, Any] | None, str]:
    """(the view `key` names, "") or (None, why it cannot be shown). The snapshots are the
    engine's: the public view has no participant and no room, `me` the participant's state,
    a room view the viewer's state and the room."""
    kind, _, name = key.partition(":")
    try:
        if key == "public":
            return sim.view("activity", ""), ""
        if kind == "me" and name:
            return sim.view("me", name), ""
        if kind == "room" and name:
            room, _, viewer = name.partition("@")
            if room not in rooms:
                return None, f"room {room!r} was never saved"
            if not viewer:
                viewer = step.get("actor", "")
                if viewer in ("", "merchant"):
                    return None, (f"whose view? a step without a participant actor names the "
                                  f"viewer: 'room:{room}@NAME'")
            return sim.view("room", viewer, rooms[room]), ""
    except JsonLogicError as exc:
        return None, f"the view cannot be rendered: {exc}"
    return None, "unknown view: use 'public', 'me:NAME', 'room:ROOM' or 'room:ROOM@NAME'"


def load_scenarios(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The template's `scenarios/*.json`, sorted by name."""
    return [(path, json.loads(path.read_text(encoding="utf-8")))
            for path in sorted((directory / "scenarios").glob("*.json"))]


def run_template_scenarios(entry: Any) -> list[ScenarioResult]:
    """Every scenario of a catalog entry; an unreadable or schema-invalid file, or one whose
    config is invalid, fails with its problems instead of running."""
    results: list[ScenarioResult] = []
    if entry.directory is None:  # kept in the database only: no folder, no scenarios
        return results
    for path in sorted((entry.directory / "scenarios").glob("*.json")):
        scenario, problems = read_json(path)
        if scenario is None or problems:
            result = ScenarioResult(str(path), path.name)
            result.failures = [f"{p.path or '.'}: {p.message}" for p in problems]
            results.append(result)
            continue
        results.append(run_entry_scenario(entry, scenario, str(path)))
    return results


def run_entry_scenario(entry: Any, scenario: Any, file: str = "") -> ScenarioResult:
    """One scenario document against a catalog entry: checked against the scenario schema,
    its config validated (defaults filled in), then played."""
    title = scenario.get("title", file) if isinstance(scenario, dict) else file
    result = ScenarioResult(file, str(title))
    problems = scenario_problems(scenario, file)
    if problems:
        result.failures = [f"{p.path or '.'}: {p.message}" for p in problems]
        return result
    config, errors = entry.config_validator.validate(scenario.get("config"))
    if errors:
        result.failures = [f"config.{field}: {e['message']}" for field, items in errors.items()
                           for e in items]
        return result
    return run_scenario(entry.compiled, {**scenario, "config": config}, file)
