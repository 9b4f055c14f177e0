"""Effects: the small declarative vocabulary an action uses to change state.

Each effect compiles to a callable on an `ActionState`, the copy of the state one action
works on; any refusal raises `Refused`, and the interpreter then throws the whole copy away,
so a refused action never changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from magic_cube.rules.errors import Refused, TemplateCompileError
from magic_cube.rules.jsonlogic import truthy
from magic_cube.rules.model import Actor, Event, Member, Room
from magic_cube.rules.rng import Rng

EFFECTS = ("set", "add", "append", "remove", "let", "create_room", "join", "close", "draw",
           "split", "emit", "schedule", "if", "each", "with", "reject")

SCOPES = {"activity", "room", "me", "them", "local"}
MAX_KEY_LENGTH = 200  # a computed key (or a participant id named by `with`)


@dataclass
class ActionState:
    """The mutable copy of the state one action runs on, plus what it produced."""

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
    open_room: Callable[[ActionState, Room], None] | None = None
    # Other participants' working states (`with`), by id, and what they were before.
    others: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set by the interpreter: another participant's state, read once per action (None: none).
    load_other: Callable[[ActionState, str, bool], dict[str, Any] | None] | None = None

    def refresh_room_info(self) -> None:
        self.data["room_info"] = room_info(self.room, self.actor.id)
        self.data["room"] = self.room.state if self.room else {}


Effect = Callable[[ActionState], None]
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
        raise ValueError(f"cannot write to {path!r}: paths start with activity, room, me, "
                         "them or local")
    return head, [int(k) if k.isdigit() else k for k in rest]


def _container(state: ActionState, scope: str) -> Any:
    if scope == "room" and state.room is None:
        raise Refused("room_required", "", "no room to write to")
    if scope == "them" and "them" not in state.data:
        raise Refused("rule_error", "", "them is only there inside with")
    return state.data[scope]


def _key(value: Any, where: str) -> str | int:
    """A key computed at run time: a non-empty string, or an integer (an array index, or a
    map key written as its decimal string)."""
    if isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise Refused("rule_error", where, f"not a key: {value!r}")


def _path(body: dict, where: str, expr: Compile
          ) -> Callable[[ActionState], tuple[str, list[str | int]]]:
    """`path`, with `key` (an expression) appended as its last key when there is one."""
    scope, keys = split_path(body["path"])
    if "key" not in body:
        return lambda state: (scope, keys)
    key = expr(body["key"], f"{where}.key")
    return lambda state: (scope, [*keys, _key(key(state.data), where)])


def read(state: ActionState, scope: str, keys: list[str | int]) -> Any:
    value = _container(state, scope)
    for key in keys:
        if isinstance(value, dict):
            value = value.get(str(key) if isinstance(key, int) else key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def write(state: ActionState, scope: str, keys: list[str | int], value: Any, where: str) -> None:
    target: Any = _container(state, scope)
    key: Any  # a list indexed by a name raises TypeError, reported as a rule_error too
    for key in keys[:-1]:
        if isinstance(target, dict):
            target = target.get(str(key) if isinstance(key, int) else key)
        elif isinstance(target, list) and isinstance(key, int) and 0 <= key < len(target):
            target = target[key]
        else:
            target = None
        if target is None:
            raise Refused("rule_error", where, "path does not exist")
    last = keys[-1]
    try:
        target[str(last) if isinstance(target, dict) and isinstance(last, int) else last] = value
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
            raise TemplateCompileError(f"unknown effect {name!r}", f"{path}[{i}]")
        out.append(maker(body, f"{path}[{i}].{name}", expr))
    return out


def run_effects(effects: list[Effect], state: ActionState) -> None:
    for effect in effects:
        effect(state)


# Each maker takes the effect's body, its path (for error reports) and the expression compiler.

def _value(body: dict, where: str, expr: Compile) -> Callable[[Any], Any]:
    """`value: E`, or `object: {K: E}` to build an object (JsonLogic has no object literal)."""
    if "object" in body:
        fields = [(k, expr(v, f"{where}.object.{k}")) for k, v in body["object"].items()]
        return lambda data: {k: f(data) for k, f in fields}
    return expr(body["value"], f"{where}.value")


def _set(body: dict, where: str, expr: Compile) -> Effect:
    path = _path(body, where, expr)
    value = _value(body, where, expr)

    def run(state: ActionState) -> None:
        scope, keys = path(state)
        if keys:
            write(state, scope, keys, value(state.data), where)
        else:
            state.data[scope] = value(state.data)  # only `local` (validated) is replaced wholesale
    return run


def _add(body: dict, where: str, expr: Compile) -> Effect:
    path = _path(body, where, expr)
    value = expr(body["value"], f"{where}.value")
    lo = expr(body["min"], f"{where}.min") if "min" in body else None
    hi = expr(body["max"], f"{where}.max") if "max" in body else None
    error = body.get("error", "limit_reached")
    clamp = body.get("clamp", False)

    def run(state: ActionState) -> None:
        scope, keys = path(state)
        current = read(state, scope, keys) or 0
        result = _num(current, where) + _num(value(state.data), where)
        if lo is not None and result < (low := _num(lo(state.data), where)):
            if not clamp:
                raise Refused(error, where, f"{result} is below {low}")
            result = low
        if hi is not None and result > (high := _num(hi(state.data), where)):
            if not clamp:
                raise Refused(error, where, f"{result} is above {high}")
            result = high
        write(state, scope, keys, result, where)
    return run


def _num(value: Any, where: str) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused("rule_error", where, f"not a number: {value!r}")
    return value


def _append(body: dict, where: str, expr: Compile) -> Effect:
    path = _path(body, where, expr)
    value = _value(body, where, expr)

    def run(state: ActionState) -> None:
        scope, keys = path(state)
        current = read(state, scope, keys)
        if current is None:
            current = []
            write(state, scope, keys, current, where)
        if not isinstance(current, list):
            raise Refused("rule_error", where, "append to a non-array")
        current.append(value(state.data))
    return run


def _remove(body: dict, where: str, expr: Compile) -> Effect:
    """`key`: drop a map's entry; `value`: drop an array's first item equal to it. Removing
    what is not there does nothing (so a retry or a repeated removal is harmless)."""
    scope, keys = split_path(body["path"])
    key = expr(body["key"], f"{where}.key") if "key" in body else None
    value = expr(body["value"], f"{where}.value") if "value" in body else None

    def run(state: ActionState) -> None:
        current = read(state, scope, keys)
        if key is not None:
            if isinstance(current, dict):
                name = _key(key(state.data), where)
                current.pop(str(name) if isinstance(name, int) else name, None)
            elif current is not None:
                raise Refused("rule_error", where, "remove a key from a non-object")
        elif value is not None:
            if isinstance(current, list):
                item = value(state.data)
                for i, existing in enumerate(current):
                    if existing == item and type(existing) is type(item):
                        del current[i]
                        break
            elif current is not None:
                raise Refused("rule_error", where, "remove an item from a non-array")
    return run


def _let(body: dict, where: str, expr: Compile) -> Effect:
    name = body["name"]
    value = _value(body, where, expr)

    def run(state: ActionState) -> None:
        state.data["local"][name] = value(state.data)
    return run


def _data(body: dict, where: str, expr: Compile) -> list[tuple[str, Callable]]:
    return [(k, expr(v, f"{where}.data.{k}")) for k, v in body.get("data", {}).items()]


def _create_room(body: dict, where: str, expr: Compile) -> Effect:
    capacity = expr(body["capacity"], f"{where}.capacity") if "capacity" in body else None
    role = body.get("role", "initiator")
    data = _data(body, where, expr)

    def run(state: ActionState) -> None:
        if state.room is not None or state.new_room_id is None:
            raise Refused("rule_error", where, "this action cannot open a room")
        cap = _int(capacity(state.data), where, "capacity") if capacity else None
        member = Member(state.actor.id, role, state.now, {k: f(state.data) for k, f in data},
                        state.actor.display_name)
        state.room = Room(id=state.new_room_id, status="open", initiator=state.actor.id,
                          capacity=cap, opened_at=state.now, state={}, members=[member],
                          timers={})
        state.room_created = True
        state.joined.append(member)
        state.refresh_room_info()
        assert state.open_room is not None
        state.open_room(state, state.room)
        state.refresh_room_info()
    return run


def _join(body: dict, where: str, expr: Compile) -> Effect:
    role = body.get("role", "member")
    data = _data(body, where, expr)
    full_error = body.get("full_error", "room_full")
    twice_error = body.get("twice_error", "already_joined")

    def run(state: ActionState) -> None:
        room = state.room
        if room is None:
            raise Refused("room_required", where)
        if room.member(state.actor.id) is not None:
            raise Refused(twice_error, where)
        if room.capacity is not None and len(room.members) >= room.capacity:
            raise Refused(full_error, where)
        member = Member(state.actor.id, role, state.now, {k: f(state.data) for k, f in data},
                        state.actor.display_name)
        room.members.append(member)
        state.joined.append(member)
        state.refresh_room_info()
    return run


def _close(body: dict, where: str, expr: Compile) -> Effect:
    status = body["status"]

    def run(state: ActionState) -> None:
        if state.room is None:
            raise Refused("room_required", where)
        state.room.status = status
        state.room.closed_at = state.now
        state.room.timers.clear()
        state.room_status_changed = True
        state.refresh_room_info()
    return run


def _draw(body: dict, where: str, expr: Compile) -> Effect:
    items = expr(body["items"], f"{where}.items")
    weight_key = body.get("weight", "weight")
    out_of = expr(body["out_of"], f"{where}.out_of") if "out_of" in body else None
    stock = split_path(body["stock"]) if "stock" in body else None
    miss = [(k, expr(v, f"{where}.miss.{k}")) for k, v in body.get("miss", {}).items()]
    guarantee = expr(body["guarantee"], f"{where}.guarantee") if "guarantee" in body else None
    name = body["as"]

    def run(state: ActionState) -> None:
        table = items(state.data)
        if not isinstance(table, list):
            raise Refused("rule_error", where, "items must be an array")
        weights = [max(0, _int((it or {}).get(weight_key, 0) if isinstance(it, dict) else 0,
                               where, "weight")) for it in table]
        left = read(state, *stock) if stock else None
        if stock and (not isinstance(left, list) or len(left) != len(table)):
            raise Refused("rule_error", where, "stock must be an array as long as items")

        def in_stock(i: int) -> bool:
            return left is None or left[i] > 0

        chosen = -1
        if state.actor.never_wins:
            pass  # blocked as never winning: no roll, the miss below
        elif guarantee is not None and truthy(guarantee(state.data)):
            pool = [i for i, wt in enumerate(weights) if wt > 0 and in_stock(i)]
            if pool:
                roll = state.rng.below(sum(weights[i] for i in pool))
                for i in pool:
                    if roll < weights[i]:
                        chosen = i
                        break
                    roll -= weights[i]
        else:
            scale = _int(out_of(state.data), where, "out_of") if out_of else sum(weights)
            if scale > 0:
                roll = state.rng.below(scale)
                for i, wt in enumerate(weights):
                    if roll < wt:
                        chosen = i if in_stock(i) else -1
                        break
                    roll -= wt
        if chosen >= 0:
            if left is not None:
                left[chosen] -= 1
            state.data["local"][name] = {**table[chosen], "index": chosen, "hit": True}
        else:
            missed = {k: f(state.data) for k, f in miss}
            state.data["local"][name] = {**missed, "index": -1, "hit": False}
    return run


def _split(body: dict, where: str, expr: Compile) -> Effect:
    total_e = expr(body["total"], f"{where}.total")
    parts_e = expr(body["parts"], f"{where}.parts")
    min_e = expr(body.get("min", 0), f"{where}.min")
    max_e = expr(body["max"], f"{where}.max") if "max" in body else None
    name = body["as"]

    def run(state: ActionState) -> None:
        total = _int(total_e(state.data), where, "total")
        parts = _int(parts_e(state.data), where, "parts")
        lo_b = _int(min_e(state.data), where, "min", math.ceil)
        hi_b = _int(max_e(state.data), where, "max", math.floor) if max_e else total
        state.data["local"][name] = split_amount(state.rng, total, parts, lo_b, hi_b, where,
                                                 least=state.actor.never_wins)
    return run


def split_amount(rng: Rng, total: int, parts: int, lo_b: int, hi_b: int, where: str = "",
                 least: bool = False) -> int:
    """One random part of `total` such that the rest still splits into `parts - 1` parts
    within [lo_b, hi_b]: the last part takes exactly what is left, so parts sum to the total.
    `least`: the smallest such part, without a roll (a never-winning participant's)."""
    if parts < 1 or total < 0:
        raise Refused("rule_error", where, f"cannot split {total} into {parts} parts")
    lo = max(lo_b, total - (parts - 1) * hi_b)
    hi = min(hi_b, total - (parts - 1) * lo_b)
    if lo > hi:
        raise Refused("rule_error", where,
                      f"{total} cannot be split into {parts} parts within [{lo_b}, {hi_b}]")
    return lo if lo == hi or least else rng.between(lo, hi)


def _emit(body: dict, where: str, expr: Compile) -> Effect:
    event = body["event"]
    data = _data(body, where, expr)

    def run(state: ActionState) -> None:
        state.events.append(Event(event, {k: f(state.data) for k, f in data}))
    return run


def _schedule(body: dict, where: str, expr: Compile) -> Effect:
    timer = body["timer"]
    at = expr(body["at"], f"{where}.at")

    def run(state: ActionState) -> None:
        if state.room is None:
            raise Refused("room_required", where)
        state.room.timers[timer] = _int(at(state.data), where, "at")
        state.refresh_room_info()
    return run


def _if(body: dict, where: str, expr: Compile) -> Effect:
    rule = expr(body["rule"], f"{where}.rule")
    then = compile_effects(body.get("then", []), f"{where}.then", expr)
    other = compile_effects(body.get("else", []), f"{where}.else", expr)

    def run(state: ActionState) -> None:
        run_effects(then if truthy(rule(state.data)) else other, state)
    return run


def _each(body: dict, where: str, expr: Compile) -> Effect:
    items = expr(body["in"], f"{where}.in")
    name = body["as"]
    do = compile_effects(body.get("do", []), f"{where}.do", expr)

    def run(state: ActionState) -> None:
        seq = items(state.data)
        for item in list(seq) if isinstance(seq, list) else []:
            state.data["local"][name] = item
            run_effects(do, state)
    return run


def _with(body: dict, where: str, expr: Compile) -> Effect:
    """Run `do` with `them` naming another participant's state in this activity: a transfer
    (me −1, them +1), or crediting a room's initiator when a friend acts."""
    who = expr(body["participant"], f"{where}.participant")
    do = compile_effects(body.get("do", []), f"{where}.do", expr)
    create = body.get("create", False)
    error = body.get("error", "participant_not_found")

    def run(state: ActionState) -> None:
        pid = who(state.data)
        if not isinstance(pid, str) or not 0 < len(pid) <= MAX_KEY_LENGTH:
            raise Refused("rule_error", where, f"not a participant id: {pid!r}")
        if pid == state.actor.id:
            them = state.data["me"]  # the same state under both names: writes agree
        else:
            assert state.load_other is not None
            loaded = state.load_other(state, pid, create)
            if loaded is None:
                raise Refused(error, where, "no such participant in this activity")
            them = loaded
        outer = state.data.get("them")
        state.data["them"] = them
        try:
            run_effects(do, state)
        finally:
            if outer is None:
                state.data.pop("them", None)
            else:
                state.data["them"] = outer
    return run


def _reject(body: dict, where: str, expr: Compile) -> Effect:
    error = body["error"]

    def run(state: ActionState) -> None:
        raise Refused(error, where)
    return run


_MAKERS: dict[str, Callable[[dict, str, Compile], Effect]] = {
    "set": _set, "add": _add, "append": _append, "remove": _remove, "let": _let,
    "create_room": _create_room, "join": _join, "close": _close, "draw": _draw, "split": _split,
    "emit": _emit, "schedule": _schedule, "if": _if, "each": _each, "with": _with,
    "reject": _reject,
}
assert set(_MAKERS) == set(EFFECTS)
