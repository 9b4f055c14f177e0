"""Effects: the small declarative vocabulary an action uses to change state.

Each effect compiles to a callable on an `ActionState`, the copy of the state one action
works on; any refusal raises `Refused`, and the interpreter then throws the whole copy away,
so a refused action never changes anything.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from magic_cube.rules.errors import Refused, TemplateCompileError
from magic_cube.rules.jsonlogic import truthy
from magic_cube.rules.jsonlogic.closures import NOT_CONSTANT, constant_value
from magic_cube.rules.model import Actor, Event, Member, Room, clone
from magic_cube.rules.rng import Rng

EFFECTS = ("set", "add", "append", "remove", "let", "create_room", "join", "close", "draw",
           "split", "emit", "schedule", "if", "each", "with", "reject")

SCOPES = {"activity", "room", "me", "them", "local"}
DEEP, TOP, ANY = "deep", "top", "any"  # how a stored value may share the state (`sharing`)
MAX_KEY_LENGTH = 200  # a computed key (or a participant id named by `with`)


@dataclass(slots=True, init=False)
class ActionState:
    """The state one action runs on, plus what it produced.

    Copy-on-write: `activity`, `me` and the room start as the snapshot's own objects and are
    copied on their first write (`writable`), so an action that leaves a scope alone does not
    pay for copying it, and the snapshot is never changed. Expressions see the same values
    either way; a stored value that would share a container with a scope not yet copied makes
    every scope copied first (`own_all`), so that aliasing inside one action behaves exactly as
    if everything had been copied up front.
    """

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
    # Other participants' working states (`with`), by id (copies, written freely).
    others: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Set by the interpreter: another participant's state, read once per action (None: none).
    load_other: Callable[[ActionState, str, bool], dict[str, Any] | None] | None = None
    # Scopes (`activity`, `me`) already copied for writing, and whether the room is.
    owned: set[str] = field(default_factory=set)
    room_owned: bool = False
    members_owned: bool = False  # whether the room's members are copied (`own_members`)
    # Top-level variables written, by scope key ("activity", "me", "room", "p:" + id): only
    # these need their declared types checked after the effects.
    touched: dict[str, set[str]] = field(default_factory=dict)
    them: str | None = None  # whose state `them` names inside `with`: "me" or an id
    room_members_info: bool = True  # whether room_info lists its members (read by the rules)

    def __init__(self, data: dict[str, Any], actor: Actor, rng: Rng, now: int,
                 new_room_id: str | None, room: Room | None,
                 room_members_info: bool = True) -> None:
        # Written out (one per action): the generated one spends longer on the defaults.
        self.data = data
        self.actor = actor
        self.rng = rng
        self.now = now
        self.new_room_id = new_room_id
        self.room = room
        self.room_created = False
        self.room_status_changed = False
        self.joined = []
        self.events = []
        self.open_room = None
        self.others = {}
        self.load_other = None
        self.owned = set()
        self.room_owned = False
        self.members_owned = False
        self.touched = {}
        self.them = None
        self.room_members_info = room_members_info

    def refresh_room_info(self) -> None:
        self.data["room_info"] = room_info(self.room, self.actor.id, self.room_members_info)
        self.data["room"] = self.room.state if self.room else {}

    def own(self, scope: str) -> dict[str, Any]:
        """`activity` or `me`, copied on first use for writing."""
        if scope not in self.owned:
            self.owned.add(scope)
            self.touched[scope] = set()
            self.data[scope] = clone(self.data[scope])
            if scope == "me" and self.them == "me":
                self.data["them"] = self.data["me"]
        value: dict[str, Any] = self.data[scope]
        return value

    def own_room(self) -> Room:
        """The room, copied on first use for writing: its state, timers and list of members,
        but not the members themselves, which no effect writes (`own_members`)."""
        room = self.room
        assert room is not None
        if self.room_owned:
            return room
        self.room_owned = True
        self.touched["room"] = set()
        copy = self.room = Room(room.id, room.status, room.initiator, room.capacity,
                                room.opened_at, clone(room.state), list(room.members),
                                dict(room.timers), room.closed_at)
        self.data["room"] = copy.state
        return copy

    def own_members(self) -> None:
        """Copy the members the room had (their data may be written through a value shared
        with it, as `own_all` allows); those who joined in this action are its own."""
        if self.members_owned or self.room is None:
            return
        self.members_owned = True
        room = self.own_room()
        before = room.members
        room.members = [m if any(m is j for j in self.joined) else
                        Member(m.participant, m.role, m.joined_at, clone(m.data), m.display_name)
                        for m in before]
        # room_info stays the same object; only its members' data now name the copies.
        listed = self.data["room_info"].get("members")
        if listed:
            copies = {id(old.data): new.data for old, new in zip(before, room.members,
                                                                  strict=True)
                      if old is not new}
            for entry in listed:
                if type(entry) is dict and id(entry.get("data")) in copies:
                    entry["data"] = copies[id(entry["data"])]

    def own_all(self) -> None:
        self.own("activity")
        self.own("me")
        if self.room is not None:
            self.own_room()
            self.own_members()

    def all_owned(self) -> bool:
        return len(self.owned) == 2 and (self.room is None
                                         or self.room_owned and self.members_owned)

    def shares(self, value: Any) -> bool:
        """Whether `value` is or holds a container of a scope not yet copied."""
        if self.all_owned():
            return False
        shared: set[int] = set()
        for scope in ("activity", "me"):
            if scope not in self.owned:
                _ids(self.data[scope], shared)
        if self.room is not None:
            if not self.room_owned:
                _ids(self.room.state, shared)
            if not self.members_owned:
                for member in self.room.members:
                    if not any(member is j for j in self.joined):
                        _ids(member.data, shared)
        return _holds(value, shared)

    def shares_any(self, values: Iterable[Any]) -> bool:
        """Whether any of `values` is or holds a container of a scope not yet copied."""
        held = [v for v in values if type(v) is dict or type(v) is list]
        return bool(held) and self.shares(held)

    def stored(self, fn: Callable[[Any], Any], kind: str = ANY) -> Any:
        """`fn(data)` for a value about to be stored (written, bound, emitted, joined);
        `kind`: `sharing(fn)`, told when compiling (ANY, the default, is always safe)."""
        value = fn(self.data)
        if (type(value) is dict or type(value) is list) and self.may_share(value, kind):
            self.own_all()
            value = fn(self.data)  # expressions are pure: the same value, from the copies
        return value

    def may_share(self, value: dict[str, Any] | list[Any], kind: str) -> bool:
        if kind == DEEP or self.all_owned():
            return False  # a literal: a new value every time, holding nothing of the state
        if kind == TOP:  # a new container (an object built): what it holds may be shared
            return self.shares_any(value.values() if type(value) is dict else value)
        return self.shares(value)


# A mark on an expression: "deep" if it builds a new value holding nothing of the data (a
# literal), "top" if it builds a new container whose items may be the data's (an object).
FRESH = "fresh"


def fresh(fn: Callable[[Any], Any]) -> bool:
    """Whether expression `fn` always builds a new value holding nothing of the data."""
    return getattr(fn, FRESH, None) == "deep" or hasattr(fn, "constant_items")


def sharing(fn: Callable[[Any], Any]) -> str:
    """How a value expression `fn` yields may share containers of the state: DEEP never (a
    literal), TOP through its items (an object it builds), ANY as a whole. Worked out when
    compiling: reading the marks costs more than most expressions."""
    if fresh(fn):
        return DEEP
    return TOP if getattr(fn, FRESH, None) == "top" else ANY


def _ids(value: Any, out: set[int]) -> None:
    if type(value) is dict:
        out.add(id(value))
        for item in value.values():
            if type(item) is dict or type(item) is list:
                _ids(item, out)
    elif type(value) is list:
        out.add(id(value))
        for item in value:
            if type(item) is dict or type(item) is list:
                _ids(item, out)


def _holds(value: Any, ids: set[int]) -> bool:
    if type(value) is dict:
        return id(value) in ids or any(_holds(v, ids) for v in value.values())
    if type(value) is list:
        return id(value) in ids or any(_holds(v, ids) for v in value)
    return False


def writable(state: ActionState, scope: str, name: str | int | None) -> Any:
    """The container of `scope`, ready for a write under its top-level variable `name`: a
    scope still shared with the snapshot is copied first, and `name` is noted (None: a write
    that names no variable)."""
    if scope in state.owned:  # the common case first: activity or me, already copied
        if name is not None:  # (an owned scope has its set of names from `own`)
            state.touched[scope].add(name if type(name) is str else str(name))
        return state.data[scope]
    key: str
    if scope == "me" or scope == "activity":  # not copied yet: copy it now
        target = state.own(scope)
        if name is not None:
            state.touched[scope].add(name if type(name) is str else str(name))
        return target
    if scope == "room" and state.room_owned:
        target = state.data["room"]
        key = "room"
    elif scope == "local":
        return state.data["local"]
    else:
        target, key = _unowned(state, scope)
    if name is not None:
        names = state.touched.get(key)
        if names is None:
            names = state.touched[key] = set()
        names.add(name if type(name) is str else str(name))
    return target


def _unowned(state: ActionState, scope: str) -> tuple[Any, str]:
    """`writable` for a scope not copied yet (or `them`): the container and its key."""
    if scope == "room":
        if state.room is None:
            raise Refused("room_required", "", "no room to write to")
        return state.own_room().state, "room"
    if scope == "them":
        if "them" not in state.data:
            raise Refused("rule_error", "", "them is only there inside with")
        if state.them == "me":
            return state.own("me"), "me"
        return state.data["them"], f"p:{state.them}"
    return state.own(scope), scope


Effect = Callable[[ActionState], None]
Compile = Callable[[Any, str], Callable[[Any], Any]]

# The scope of the declarations a path's scope names (`them`, `local`: none looked up).
_DECLARED_IN = {"activity": "activity", "me": "participant", "room": "room"}


def declared_type(expr: Compile, scope: str, name: str) -> str | None:
    """The declared type of variable `name` of `scope`, when the compiler tells (as the
    `declared` attribute of `expr`: scope -> {name: type}); None when it does not."""
    declared = getattr(expr, "declared", None)
    if declared is None or scope not in _DECLARED_IN:
        return None
    decl_type: str | None = declared.get(_DECLARED_IN[scope], {}).get(name)
    return decl_type


def _kept_whole(expr: Compile, scope: str, name: str) -> bool:
    """Whether a whole number written to `name` is its declared type as it is (the
    interpreter's check of what an action wrote would pass it unchanged: not noted)."""
    return declared_type(expr, scope, name) in ("integer", "number")


# The declared types a constant of each type is, as it is.
_CONSTANT_TYPES: dict[type, tuple[str, ...]] = {
    int: ("integer", "number"), bool: ("boolean",), str: ("string",), type(None): ("null",)}


def _kept(expr: Compile, scope: str, name: str, constant: Any) -> bool:
    """Whether `constant` written to `name` is its declared type as it is."""
    return declared_type(expr, scope, name) in _CONSTANT_TYPES.get(type(constant), ())


def room_info(room: Room | None, viewer: str, members: bool = True) -> dict[str, Any]:
    """What expressions read as `room_info`; `members: False` leaves out the member list
    (for templates whose rules never read it)."""
    if room is None:
        return {}
    me = room.member(viewer)
    info: dict[str, Any] = {
        "id": room.id, "status": room.status, "initiator": room.initiator,
        "size": len(room.members), "capacity": room.capacity, "opened_at": room.opened_at,
        "timers": dict(room.timers),
    }
    if members:
        info["members"] = [m.as_dict() for m in room.members]
    info["is_member"] = me is not None
    info["is_initiator"] = room.initiator == viewer
    info["my_role"] = me.role if me else None
    return info


def split_path(path: str) -> tuple[str, list[str | int]]:
    head, *rest = path.split(".")
    if head not in SCOPES:
        raise ValueError(f"cannot write to {path!r}: paths start with activity, room, me, "
                         "them or local")
    # (interned, as the names of declared variables are: a look-up then finds the very key)
    return sys.intern(head), [int(k) if k.isdigit() else sys.intern(k) for k in rest]


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
    return _read_in(_container(state, scope), keys)


def _read_in(value: Any, keys: list[str | int]) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(str(key) if isinstance(key, int) else key)
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return None
    return value


def write(state: ActionState, scope: str, keys: list[str | int], value: Any, where: str) -> None:
    _write_in(writable(state, scope, keys[0]), keys, value, where)


def _write_in(target: Any, keys: list[str | int], value: Any, where: str) -> None:
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
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Refused("rule_error", where, f"{what} must be a number, got {value!r}")
    return value if isinstance(value, int) else rounding(value)


def compile_effects(effects: list[dict[str, Any]], path: str, expr: Compile) -> list[Effect]:
    out: list[Effect] = []
    for i, effect in enumerate(effects):
        (name, body), = effect.items()
        maker = _MAKERS.get(name)
        if maker is None:
            raise TemplateCompileError(f"unknown effect {name!r}", f"{path}[{i}]")
        where = f"{path}[{i}].{name}"
        branch = _known_branch(body, where, expr) if name == "if" else None
        if branch is not None:  # an `if` settled when compiling: the branch it takes
            out.extend(branch)
        else:
            out.append(maker(body, where, expr))
    return out


def _known_branch(body: dict, where: str, expr: Compile) -> list[Effect] | None:
    """The effects of the branch an `if` takes when its rule is known when compiling (a
    config's choice, in a template compiled for one config); None when it is not."""
    value = constant_value(expr(body["rule"], f"{where}.rule"))
    if value is NOT_CONSTANT:
        return None
    key = "then" if truthy(value) else "else"
    return compile_effects(body.get(key, []), f"{where}.{key}", expr)


def run_effects(effects: list[Effect], state: ActionState) -> None:
    for effect in effects:
        effect(state)


# Each maker takes the effect's body, its path (for error reports) and the expression compiler.

def _value(body: dict, where: str, expr: Compile) -> Callable[[Any], Any]:
    """`value: E`, or `object: {K: E}` to build an object (JsonLogic has no object literal)."""
    if "object" in body:
        fields = [(k, expr(v, f"{where}.object.{k}")) for k, v in body["object"].items()]
        return _built(_object(fields))
    return expr(body["value"], f"{where}.value")


def _object(fields: list[tuple[str, Callable[[Any], Any]]]) -> Callable[[Any], Any]:
    """What builds the object `{k: f(data)}` for `fields`, in their order: for up to four
    keys a dict display (no comprehension to set up at each call: emitted events' data)."""
    n = len(fields)
    if n == 0:
        return lambda data: {}
    if n == 1:
        (k0, f0), = fields
        return lambda data: {k0: f0(data)}
    if n == 2:
        (k0, f0), (k1, f1) = fields
        return lambda data: {k0: f0(data), k1: f1(data)}
    if n == 3:
        (k0, f0), (k1, f1), (k2, f2) = fields
        return lambda data: {k0: f0(data), k1: f1(data), k2: f2(data)}
    if n == 4:
        (k0, f0), (k1, f1), (k2, f2), (k3, f3) = fields
        return lambda data: {k0: f0(data), k1: f1(data), k2: f2(data), k3: f3(data)}
    return lambda data: {k: f(data) for k, f in fields}


def _built(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    setattr(fn, FRESH, "top")
    return fn


def _set(body: dict, where: str, expr: Compile) -> Effect:
    path = _path(body, where, expr)
    value = _value(body, where, expr)
    kind = sharing(value)
    name = _top_name(body)
    if name is not None:
        scope = split_path(body["path"])[0]
        constant = constant_value(value)
        if _kept(expr, scope, name, constant):
            return _set_constant(scope, name, constant, where)

        def run_top(state: ActionState) -> None:
            new = state.stored(value, kind)
            target = writable(state, scope, name)
            if type(target) is dict:
                target[name] = new
            else:
                _write_in(target, [name], new, where)
        return run_top

    def run(state: ActionState) -> None:
        scope, keys = path(state)
        if keys:
            write(state, scope, keys, state.stored(value, kind), where)
        else:  # only `local` (validated) is replaced wholesale
            state.data[scope] = state.stored(value, kind)
    return run


def _set_constant(scope: str, name: str, constant: Any, where: str) -> Effect:
    """`set` of a constant of its variable's declared type (`_kept`): not noted for the
    check of what was written, which it passes as it is."""
    def run(state: ActionState) -> None:
        target = writable(state, scope, None)
        if type(target) is dict:
            target[name] = constant
        else:
            _write_in(target, [name], constant, where)
    return run


def _add(body: dict, where: str, expr: Compile) -> Effect:
    path = _path(body, where, expr)
    value = expr(body["value"], f"{where}.value")
    lo = expr(body["min"], f"{where}.min") if "min" in body else None
    hi = expr(body["max"], f"{where}.max") if "max" in body else None
    error = body.get("error", "limit_reached")
    clamp = body.get("clamp", False)

    def bounded(state: ActionState, current: Any) -> int | float:
        """The sum, within `min` and `max` (refused or clamped)."""
        if type(current) is not int:
            current = _num(current, where)
        step = value(state.data)
        result = current + (step if type(step) is int else _num(step, where))
        if lo is not None and result < (low := _num(lo(state.data), where)):
            if not clamp:
                raise Refused(error, where, f"{result} is below {low}")
            result = low
        if hi is not None and result > (high := _num(hi(state.data), where)):
            if not clamp:
                raise Refused(error, where, f"{result} is above {high}")
            result = high
        return result

    scope, keys = split_path(body["path"])
    if "key" not in body and len(keys) == 1 and isinstance(keys[0], str):
        step = constant_value(value)
        noted = not _kept_whole(expr, scope, keys[0])
        general = _add_top(scope, keys[0], bounded, where, noted)
        if lo is None and hi is None and type(step) is int:
            return _add_constant(scope, keys[0], step, general, noted)
        low = constant_value(lo) if lo is not None else None
        high = constant_value(hi) if hi is not None else None
        if type(step) is int and (lo is None or type(low) is int) \
                and (hi is None or type(high) is int):
            return _add_bounded(scope, keys[0], step, Bounds(low, high, clamp, error, where),
                                general, noted)
        return general

    def run(state: ActionState) -> None:
        scope, keys = path(state)
        target = writable(state, scope, keys[0])
        _write_in(target, keys, bounded(state, _read_in(target, keys) or 0), where)
    return run


def _add_top(scope: str, name: str, bounded: Callable[[ActionState, Any], int | float],
             where: str, noted: bool = True) -> Effect:
    """`add` to a top-level variable: the most common effect, without a path walk. `noted:
    False` for a variable declared a number: a sum that is a whole number is not noted for
    the check of what was written (any other is)."""
    def run(state: ActionState) -> None:
        target = writable(state, scope, name if noted else None)
        if type(target) is dict:
            result = bounded(state, target.get(name) or 0)
            if type(result) is not int and not noted:
                writable(state, scope, name)  # (noted after all: checked as it is)
            target[name] = result
        else:
            _write_in(writable(state, scope, name), [name],
                      bounded(state, _read_in(target, [name]) or 0), where)
    return run


def _add_constant(scope: str, name: str, step: int, general: Effect,
                  noted: bool = True) -> Effect:
    """`add` of a whole number to a top-level variable without bounds (a counter's +1): the
    sum in place when the variable holds a whole number, else `general`. `noted`: as for
    `_add_bounded`."""
    write_name = name if noted else None

    def run(state: ActionState) -> None:
        if scope in state.owned:  # `writable`'s common case, inline
            target: Any = state.data[scope]
            current = target.get(name)
            if type(current) is int:
                if noted:
                    state.touched[scope].add(name)
                target[name] = current + step
                return
            general(state)
            return
        target = writable(state, scope, write_name)
        if type(target) is dict:
            current = target.get(name)
            if type(current) is int:
                target[name] = current + step
                return
        general(state)
    return run


@dataclass(frozen=True, slots=True)
class Bounds:
    """Constant whole-number bounds of an `add` (None: none), and what going past them does."""

    low: int | None
    high: int | None
    clamp: bool
    error: str
    where: str

    def apply(self, result: int) -> int:
        """`bounded`'s checks, for a whole number and constant bounds."""
        low, high = self.low, self.high
        if low is not None and result < low:
            if not self.clamp:
                raise Refused(self.error, self.where, f"{result} is below {low}")
            result = low
        if high is not None and result > high:
            if not self.clamp:
                raise Refused(self.error, self.where, f"{result} is above {high}")
            result = high
        return result


def _add_bounded(scope: str, name: str, step: int, bounds: Bounds, general: Effect,
                 noted: bool = True) -> Effect:
    """`add` of a whole number within constant whole-number bounds (a stock's -1, at least 0)
    to a top-level variable: worked out in place when it holds a whole number, else
    `general`. `noted: False` for a variable declared a number: a whole number written to it
    needs no check."""
    write_name = name if noted else None

    def run(state: ActionState) -> None:
        target = writable(state, scope, write_name)
        if type(target) is dict:
            current = target.get(name)
            if type(current) is int:
                target[name] = bounds.apply(current + step)
                return
        general(state)
    return run


def _num(value: Any, where: str) -> int | float:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Refused("rule_error", where, f"not a number: {value!r}")
    return value


def _top_name(body: dict) -> str | None:
    """The variable a `path` without `key` names when it is a top-level one."""
    keys = split_path(body["path"])[1]
    if "key" in body or len(keys) != 1 or not isinstance(keys[0], str):
        return None
    return keys[0]


def _append(body: dict, where: str, expr: Compile) -> Effect:
    path = _path(body, where, expr)
    value = _value(body, where, expr)
    kind = sharing(value)
    name = _top_name(body)
    # An append to a variable declared an array leaves it an array (a new one if it had
    # none): not noted for the check of what was written.
    noted = name is None or declared_type(expr, split_path(body["path"])[0], name) != "array"

    def run(state: ActionState) -> None:
        scope, keys = path(state)
        target = writable(state, scope, keys[0] if noted else None)
        current = target.get(keys[0]) if type(target) is dict and len(keys) == 1 \
            and type(keys[0]) is str else _read_in(target, keys)
        if current is None:
            current = []
            _write_in(target, keys, current, where)
        if not isinstance(current, list):
            raise Refused("rule_error", where, "append to a non-array")
        current.append(state.stored(value, kind))
    return run


def _remove(body: dict, where: str, expr: Compile) -> Effect:
    """`key`: drop a map's entry; `value`: drop an array's first item equal to it. Removing
    what is not there does nothing (so a retry or a repeated removal is harmless)."""
    scope, keys = split_path(body["path"])
    key = expr(body["key"], f"{where}.key") if "key" in body else None
    value = expr(body["value"], f"{where}.value") if "value" in body else None

    def run(state: ActionState) -> None:
        current = _read_in(writable(state, scope, keys[0] if keys else None), keys)
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
    kind = sharing(value)

    def run(state: ActionState) -> None:
        state.data["local"][name] = state.stored(value, kind)
    return run


def _data(body: dict, where: str, expr: Compile) -> Callable[[Any], dict[str, Any]]:
    """`data: {K: E}` as one expression building the object."""
    return _fields(body.get("data", {}), f"{where}.data", expr)


def _fields(spec: dict[str, Any], where: str, expr: Compile) -> Callable[[Any], dict[str, Any]]:
    fields = [(k, expr(v, f"{where}.{k}")) for k, v in spec.items()]
    return _built(_object(fields))


def _create_room(body: dict, where: str, expr: Compile) -> Effect:
    capacity = expr(body["capacity"], f"{where}.capacity") if "capacity" in body else None
    role = body.get("role", "initiator")
    data = _data(body, where, expr)
    kind = sharing(data)

    def run(state: ActionState) -> None:
        if state.room is not None or state.new_room_id is None:
            raise Refused("rule_error", where, "this action cannot open a room")
        cap = _int(capacity(state.data), where, "capacity") if capacity else None
        member = Member(state.actor.id, role, state.now, state.stored(data, kind),
                        state.actor.display_name)
        state.room = Room(id=state.new_room_id, status="open", initiator=state.actor.id,
                          capacity=cap, opened_at=state.now, state={}, members=[member],
                          timers={})
        state.room_owned = state.members_owned = True
        state.touched["room"] = set()
        state.room_created = True
        state.joined.append(member)
        assert state.open_room is not None
        state.open_room(state, state.room)  # (which builds room_info first if it reads it)
        state.refresh_room_info()
    return run


def _join(body: dict, where: str, expr: Compile) -> Effect:
    role = body.get("role", "member")
    data = _data(body, where, expr)
    kind = sharing(data)
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
        member = Member(state.actor.id, role, state.now, state.stored(data, kind),
                        state.actor.display_name)
        state.own_room().members.append(member)
        state.joined.append(member)
        state.refresh_room_info()
    return run


def _close(body: dict, where: str, expr: Compile) -> Effect:
    status = body["status"]

    def run(state: ActionState) -> None:
        if state.room is None:
            raise Refused("room_required", where)
        room = state.own_room()
        room.status = status
        room.closed_at = state.now
        room.timers.clear()
        state.room_status_changed = True
        state.refresh_room_info()
    return run


def _draw(body: dict, where: str, expr: Compile) -> Effect:
    items = expr(body["items"], f"{where}.items")
    weight_key = body.get("weight", "weight")
    out_of = expr(body["out_of"], f"{where}.out_of") if "out_of" in body else None
    stock = split_path(body["stock"]) if "stock" in body else None
    # Taking one off an item of a variable declared an array leaves it an array: not noted.
    stock_noted = not (stock is not None and len(stock[1]) == 1 and type(stock[1][0]) is str
                       and declared_type(expr, stock[0], stock[1][0]) == "array")
    miss = _fields(body.get("miss", {}), f"{where}.miss", expr)
    miss_kind = sharing(miss)
    guarantee = expr(body["guarantee"], f"{where}.guarantee") if "guarantee" in body else None
    name = body["as"]
    fixed = constant_value(out_of) if out_of is not None else None
    fixed_scale = fixed if type(fixed) is int else None  # (a constant `out_of`: as it is)

    def run(state: ActionState) -> None:
        table = items(state.data)
        if not isinstance(table, list):
            raise Refused("rule_error", where, "items must be an array")
        weights = _weights(table, weight_key, where)
        left = read(state, *stock) if stock else None
        if stock and (not isinstance(left, list) or len(left) != len(table)):
            raise Refused("rule_error", where, "stock must be an array as long as items")

        chosen = -1
        if state.actor.never_wins:
            pass  # blocked as never winning: no roll, the miss below
        elif guarantee is not None and truthy(guarantee(state.data)):
            pool = [i for i, wt in enumerate(weights) if wt > 0 and (left is None or left[i] > 0)]
            if pool:
                roll = state.rng.below(sum(weights[i] for i in pool))
                for i in pool:
                    if roll < weights[i]:
                        chosen = i
                        break
                    roll -= weights[i]
        else:
            scale = fixed_scale if fixed_scale is not None else \
                _int(out_of(state.data), where, "out_of") if out_of else sum(weights)
            if scale > 0:
                roll = state.rng.below(scale)
                for i, wt in enumerate(weights):
                    if roll < wt:
                        chosen = i if left is None or left[i] > 0 else -1
                        break
                    roll -= wt
        if chosen >= 0:
            state.data["local"][name] = _won(state, items, table[chosen], chosen, stock,
                                             stock_noted)
        else:
            missed = state.stored(miss, miss_kind)
            state.data["local"][name] = {**missed, "index": -1, "hit": False}
    return run


def _weights(table: list[Any], key: str, where: str) -> list[int]:
    """Each item's weight, at least 0 (a whole number as it is, without the general check)."""
    out: list[int] = []
    for it in table:
        weight = it.get(key, 0) if type(it) is dict else None
        if type(weight) is not int:
            weight = _int((it or {}).get(key, 0) if isinstance(it, dict) else 0, where, "weight")
        out.append(weight if weight > 0 else 0)
    return out


def _won(state: ActionState, items: Callable[[Any], Any], won: Any, chosen: int,
         stock: tuple[str, list[str | int]] | None, noted: bool = True) -> dict[str, Any]:
    """What a draw binds for item `chosen`, its stock (if any) taken down by one (`noted`:
    its variable noted for the check of what was written)."""
    if type(won) is dict and state.shares_any(won.values()):
        state.own_all()
        won = items(state.data)[chosen]  # pure: the same item, from the copies
    if stock is not None:
        scope, keys = stock
        _read_in(writable(state, scope, keys[0] if keys and noted else None), keys)[chosen] -= 1
    return {**won, "index": chosen, "hit": True}


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
    kind = sharing(data)

    def run(state: ActionState) -> None:
        state.events.append(Event(event, state.stored(data, kind)))
    return run


def _schedule(body: dict, where: str, expr: Compile) -> Effect:
    timer = body["timer"]
    at = expr(body["at"], f"{where}.at")

    def run(state: ActionState) -> None:
        if state.room is None:
            raise Refused("room_required", where)
        due = _int(at(state.data), where, "at")
        state.own_room().timers[timer] = due
        state.refresh_room_info()
    return run


def _if(body: dict, where: str, expr: Compile) -> Effect:
    rule = expr(body["rule"], f"{where}.rule")
    then = compile_effects(body.get("then", []), f"{where}.then", expr)
    other = compile_effects(body.get("else", []), f"{where}.else", expr)

    boolean = getattr(rule, "boolean", False)  # (it always yields a bool: no truthy)

    def run(state: ActionState) -> None:
        test = rule(state.data)
        for effect in then if (test if boolean else truthy(test)) else other:
            effect(state)
    return run


def _each(body: dict, where: str, expr: Compile) -> Effect:
    items = expr(body["in"], f"{where}.in")
    name = body["as"]
    do = compile_effects(body.get("do", []), f"{where}.do", expr)

    def run(state: ActionState) -> None:
        seq = items(state.data)
        if isinstance(seq, list) and state.shares_any(seq):
            state.own_all()
            seq = items(state.data)  # pure: the same items, from the copies
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
            key = "me"
        else:
            assert state.load_other is not None
            loaded = state.load_other(state, pid, create)
            if loaded is None:
                raise Refused(error, where, "no such participant in this activity")
            them = loaded
            key = pid
        outer = state.them
        state.them = key
        state.data["them"] = them
        try:
            run_effects(do, state)
        finally:
            state.them = outer
            if outer is None:
                state.data.pop("them", None)
            else:  # (`me` may have been copied for writing meanwhile)
                state.data["them"] = state.data["me"] if outer == "me" else state.others[outer]
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
