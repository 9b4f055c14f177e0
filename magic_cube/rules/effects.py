"""Effects: the small declarative vocabulary an action uses to change state.

Each effect compiles to a callable on a `Working` copy of the state; any refusal raises
`Refused`, and the interpreter then throws the whole working copy away, so a refused action
never changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from magic_cube.rules.jsonlogic import truthy
from magic_cube.rules.model import Actor, Event, Member, Room
from magic_cube.rules.rng import Rng

EFFECTS = ("set", "add", "append", "let", "create_room", "join", "close", "draw", "split",
           "emit", "schedule", "if", "each", "reject")

SCOPES = {"activity", "room", "me", "local"}


class Refused(Exception):
    """Raised inside effects; the interpreter turns it into a `Rejection`."""

    def __init__(self, error: str, where: str, detail: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.where = where
        self.detail = detail


@dataclass
class Working:
    """The mutable working copy one action runs on, plus what it produced."""

    data: dict[str, Any]  # the names expressions read: config, activity, room, me, …
    actor: Actor
    rng: Rng
    now: int
    new_room_id: str | None
    room: Room | None
    room_created: bool = False
    room_status_changed: bool = False
    joined: list[Member] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # Set by the interpreter: builds a new room's initial state and timers.
    open_room: Callable[[Working, Room], None] | None = None

    def refresh_room_info(self) -> None:
        self.data["room_info"] = room_info(self.room, self.actor.id)
        self.data["room"] = self.room.state if self.room else {}


Effect = Callable[[Working], None]
Compile = Callable[[Any, str], Callable[[Any], Any]]


def room_info(room: Room | None, viewer: str) -> dict[str, Any]:
    if room is None:
        return {}
    me = room.member(viewer)
    return {
        "id": room.id, "status": room.status, "initiator": room.initiator,
        "size": len(room.members), "capacity": room.capacity, "opened_at": room.opened_at,
        "timers": dict(room.timers), "members": [m.as_dict() for m in room.members],
        "is_member": me is not None, "is_initiator": room.initiator == viewer,
        "my_role": me.role if me else None,
    }


def split_path(path: str) -> tuple[str, list[str | int]]:
    head, *rest = path.split(".")
    if head not in SCOPES:
        raise ValueError(f"cannot write to {path!r}: paths start with activity, room, me or local")
    return head, [int(k) if k.isdigit() else k for k in rest]


def _container(w: Working, scope: str) -> Any:
    if scope == "room" and w.room is None:
        raise Refused("room_required", "", "no room to write to")
    return w.data[scope]


def read(w: Working, scope: str, keys: list[str | int]) -> Any:
    value = _container(w, scope)
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def write(w: Working, scope: str, keys: list[str | int], value: Any, where: str) -> None:
    target = _container(w, scope)
    for key in keys[:-1]:
        target = target[key] if isinstance(target, (dict, list)) else None
        if target is None:
            raise Refused("rule_error", where, "path does not exist")
    try:
        target[keys[-1]] = value
    except (IndexError, TypeError, KeyError) as exc:
        raise Refused("rule_error", where, f"cannot write: {exc}") from exc


def _int(value: Any, where: str, what: str, rounding: Callable[[float], int] = int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Refused("rule_error", where, f"{what} must be a number, got {value!r}")
    return value if isinstance(value, int) else rounding(value)


def compile_effects(effects: list[dict[str, Any]], path: str, expr: Compile) -> list[Effect]:
    out = []
    for i, effect in enumerate(effects):
        (name, body), = effect.items()
        maker = _MAKERS.get(name)
        if maker is None:
            from magic_cube.rules.compiler import TemplateCompileError
            raise TemplateCompileError(f"unknown effect {name!r}", f"{path}[{i}]")
        out.append(maker(body, f"{path}[{i}].{name}", expr))
    return out


def run_effects(effects: list[Effect], w: Working) -> None:
    for effect in effects:
        effect(w)


# Each maker takes the effect's body, its path (for error reports) and the expression compiler.

def _value(body: dict, where: str, expr: Compile) -> Callable[[Any], Any]:
    """`value: E`, or `object: {K: E}` to build an object (JsonLogic has no object literal)."""
    if "object" in body:
        fields = [(k, expr(v, f"{where}.object.{k}")) for k, v in body["object"].items()]
        return lambda data: {k: f(data) for k, f in fields}
    return expr(body["value"], f"{where}.value")


def _set(body: dict, where: str, expr: Compile) -> Effect:
    scope, keys = split_path(body["path"])
    value = _value(body, where, expr)

    def run(w: Working) -> None:
        if keys:
            write(w, scope, keys, value(w.data), where)
        else:
            w.data[scope] = value(w.data)  # only `local` (validated) is replaced wholesale
    return run


def _add(body: dict, where: str, expr: Compile) -> Effect:
    scope, keys = split_path(body["path"])
    value = expr(body["value"], f"{where}.value")
    lo = expr(body["min"], f"{where}.min") if "min" in body else None
    hi = expr(body["max"], f"{where}.max") if "max" in body else None
    error = body.get("error", "limit_reached")
    clamp = body.get("clamp", False)

    def run(w: Working) -> None:
        current = read(w, scope, keys) or 0
        result = _num(current, where) + _num(value(w.data), where)
        if lo is not None and result < (low := _num(lo(w.data), where)):
            if not clamp:
                raise Refused(error, where, f"{result} is below {low}")
            result = low
        if hi is not None and result > (high := _num(hi(w.data), where)):
            if not clamp:
                raise Refused(error, where, f"{result} is above {high}")
            result = high
        write(w, scope, keys, result, where)
    return run


def _num(value: Any, where: str) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused("rule_error", where, f"not a number: {value!r}")
    return value


def _append(body: dict, where: str, expr: Compile) -> Effect:
    scope, keys = split_path(body["path"])
    value = _value(body, where, expr)

    def run(w: Working) -> None:
        current = read(w, scope, keys)
        if current is None:
            current = []
            write(w, scope, keys, current, where)
        if not isinstance(current, list):
            raise Refused("rule_error", where, "append to a non-array")
        current.append(value(w.data))
    return run


def _let(body: dict, where: str, expr: Compile) -> Effect:
    name = body["name"]
    value = _value(body, where, expr)

    def run(w: Working) -> None:
        w.data["local"][name] = value(w.data)
    return run


def _data(body: dict, where: str, expr: Compile) -> list[tuple[str, Callable]]:
    return [(k, expr(v, f"{where}.data.{k}")) for k, v in body.get("data", {}).items()]


def _create_room(body: dict, where: str, expr: Compile) -> Effect:
    capacity = expr(body["capacity"], f"{where}.capacity") if "capacity" in body else None
    role = body.get("role", "initiator")
    data = _data(body, where, expr)

    def run(w: Working) -> None:
        if w.room is not None or w.new_room_id is None:
            raise Refused("rule_error", where, "this action cannot open a room")
        cap = _int(capacity(w.data), where, "capacity") if capacity else None
        member = Member(w.actor.id, role, w.now, {k: f(w.data) for k, f in data},
                        w.actor.display_name)
        w.room = Room(id=w.new_room_id, status="open", initiator=w.actor.id, capacity=cap,
                      opened_at=w.now, state={}, members=[member], timers={})
        w.room_created = True
        w.joined.append(member)
        w.refresh_room_info()
        assert w.open_room is not None
        w.open_room(w, w.room)
        w.refresh_room_info()
    return run


def _join(body: dict, where: str, expr: Compile) -> Effect:
    role = body.get("role", "member")
    data = _data(body, where, expr)
    full_error = body.get("full_error", "room_full")
    twice_error = body.get("twice_error", "already_joined")

    def run(w: Working) -> None:
        room = w.room
        if room is None:
            raise Refused("room_required", where)
        if room.member(w.actor.id) is not None:
            raise Refused(twice_error, where)
        if room.capacity is not None and len(room.members) >= room.capacity:
            raise Refused(full_error, where)
        member = Member(w.actor.id, role, w.now, {k: f(w.data) for k, f in data},
                        w.actor.display_name)
        room.members.append(member)
        w.joined.append(member)
        w.refresh_room_info()
    return run


def _close(body: dict, where: str, expr: Compile) -> Effect:
    status = body["status"]

    def run(w: Working) -> None:
        if w.room is None:
            raise Refused("room_required", where)
        w.room.status = status
        w.room.closed_at = w.now
        w.room.timers.clear()
        w.room_status_changed = True
        w.refresh_room_info()
    return run


def _draw(body: dict, where: str, expr: Compile) -> Effect:
    items = expr(body["items"], f"{where}.items")
    weight_key = body.get("weight", "weight")
    out_of = expr(body["out_of"], f"{where}.out_of") if "out_of" in body else None
    stock = split_path(body["stock"]) if "stock" in body else None
    miss = [(k, expr(v, f"{where}.miss.{k}")) for k, v in body.get("miss", {}).items()]
    guarantee = expr(body["guarantee"], f"{where}.guarantee") if "guarantee" in body else None
    name = body["as"]

    def run(w: Working) -> None:
        table = items(w.data)
        if not isinstance(table, list):
            raise Refused("rule_error", where, "items must be an array")
        weights = [max(0, _int((it or {}).get(weight_key, 0) if isinstance(it, dict) else 0,
                               where, "weight")) for it in table]
        left = read(w, *stock) if stock else None
        if stock and (not isinstance(left, list) or len(left) != len(table)):
            raise Refused("rule_error", where, "stock must be an array as long as items")

        def in_stock(i: int) -> bool:
            return left is None or left[i] > 0

        chosen = -1
        if guarantee is not None and truthy(guarantee(w.data)):
            pool = [i for i, wt in enumerate(weights) if wt > 0 and in_stock(i)]
            if pool:
                roll = w.rng.below(sum(weights[i] for i in pool))
                for i in pool:
                    if roll < weights[i]:
                        chosen = i
                        break
                    roll -= weights[i]
        else:
            scale = _int(out_of(w.data), where, "out_of") if out_of else sum(weights)
            if scale > 0:
                roll = w.rng.below(scale)
                for i, wt in enumerate(weights):
                    if roll < wt:
                        chosen = i if in_stock(i) else -1
                        break
                    roll -= wt
        if chosen >= 0:
            if left is not None:
                left[chosen] -= 1
            w.data["local"][name] = {**table[chosen], "index": chosen, "hit": True}
        else:
            w.data["local"][name] = {**{k: f(w.data) for k, f in miss}, "index": -1, "hit": False}
    return run


def _split(body: dict, where: str, expr: Compile) -> Effect:
    total_e = expr(body["total"], f"{where}.total")
    parts_e = expr(body["parts"], f"{where}.parts")
    min_e = expr(body.get("min", 0), f"{where}.min")
    max_e = expr(body["max"], f"{where}.max") if "max" in body else None
    name = body["as"]

    def run(w: Working) -> None:
        total = _int(total_e(w.data), where, "total")
        parts = _int(parts_e(w.data), where, "parts")
        lo_b = _int(min_e(w.data), where, "min", math.ceil)
        hi_b = _int(max_e(w.data), where, "max", math.floor) if max_e else total
        w.data["local"][name] = split_amount(w.rng, total, parts, lo_b, hi_b, where)
    return run


def split_amount(rng: Rng, total: int, parts: int, lo_b: int, hi_b: int, where: str = "") -> int:
    """One random part of `total` such that the rest still splits into `parts - 1` parts
    within [lo_b, hi_b]: the last part takes exactly what is left, so parts sum to the total."""
    if parts < 1 or total < 0:
        raise Refused("rule_error", where, f"cannot split {total} into {parts} parts")
    lo = max(lo_b, total - (parts - 1) * hi_b)
    hi = min(hi_b, total - (parts - 1) * lo_b)
    if lo > hi:
        raise Refused("rule_error", where,
                      f"{total} cannot be split into {parts} parts within [{lo_b}, {hi_b}]")
    return lo if lo == hi else rng.between(lo, hi)


def _emit(body: dict, where: str, expr: Compile) -> Effect:
    event = body["event"]
    data = _data(body, where, expr)

    def run(w: Working) -> None:
        w.events.append(Event(event, {k: f(w.data) for k, f in data}))
    return run


def _schedule(body: dict, where: str, expr: Compile) -> Effect:
    timer = body["timer"]
    at = expr(body["at"], f"{where}.at")

    def run(w: Working) -> None:
        if w.room is None:
            raise Refused("room_required", where)
        w.room.timers[timer] = _int(at(w.data), where, "at")
        w.refresh_room_info()
    return run


def _if(body: dict, where: str, expr: Compile) -> Effect:
    rule = expr(body["rule"], f"{where}.rule")
    then = compile_effects(body.get("then", []), f"{where}.then", expr)
    other = compile_effects(body.get("else", []), f"{where}.else", expr)

    def run(w: Working) -> None:
        run_effects(then if truthy(rule(w.data)) else other, w)
    return run


def _each(body: dict, where: str, expr: Compile) -> Effect:
    items = expr(body["in"], f"{where}.in")
    name = body["as"]
    do = compile_effects(body.get("do", []), f"{where}.do", expr)

    def run(w: Working) -> None:
        seq = items(w.data)
        for item in list(seq) if isinstance(seq, list) else []:
            w.data["local"][name] = item
            run_effects(do, w)
    return run


def _reject(body: dict, where: str, expr: Compile) -> Effect:
    error = body["error"]

    def run(w: Working) -> None:
        raise Refused(error, where)
    return run


_MAKERS: dict[str, Callable[[dict, str, Compile], Effect]] = {
    "set": _set, "add": _add, "append": _append, "let": _let, "create_room": _create_room,
    "join": _join, "close": _close, "draw": _draw, "split": _split, "emit": _emit,
    "schedule": _schedule, "if": _if, "each": _each, "reject": _reject,
}
assert set(_MAKERS) == set(EFFECTS)
