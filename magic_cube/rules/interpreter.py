"""Run one action: `run(template, action, snapshot, …) -> Outcome | Rejection`.

Pure: no I/O, no clock (time comes in as `now`), no globals (randomness comes in as an `Rng`;
the date operators learn the activity's time zone from `in_zone`, set around each call).
The engine and the scenario simulator both call it; replaying the action log through it
reproduces the stored state exactly.
"""

from __future__ import annotations

import json
import math
from typing import Any

from magic_cube.errors import quoting
from magic_cube.rules.compiler import CompiledAction, CompiledTemplate, VarDecl
from magic_cube.rules.days import local_date
from magic_cube.rules.effects import ActionState, fresh, room_info
from magic_cube.rules.errors import Refused
from magic_cube.rules.jsonlogic import truthy
from magic_cube.rules.jsonlogic.closures import constant_value
from magic_cube.rules.jsonlogic.dates import enter_zone, in_zone, leave_zone, period_key
from magic_cube.rules.model import (
    Actor,
    Outcome,
    Rejection,
    Room,
    RoomChange,
    Snapshot,
    clone,
)
from magic_cube.rules.rng import Rng

DAY_KEY = "$day"  # which calendar day a scope's daily variables belong to
VALID_PARAMS_KEPT = 1024  # valid params remembered per action (forgotten all at once)


def run(
    template: CompiledTemplate,
    action_name: str,
    snapshot: Snapshot,
    actor: Actor,
    params: dict[str, Any] | None,
    now: int,
    rng: Rng,
    new_room_id: str | None = None,
) -> Outcome | Rejection:
    """Perform `action_name` for `actor` on `snapshot` at epoch second `now`.

    `snapshot` and everything in it are only read: the action works on copies of what it
    writes, made on the first write.
    """
    previous = enter_zone(snapshot.timezone)
    try:
        return _run(template, action_name, snapshot, actor, params, now, rng, new_room_id)
    finally:
        leave_zone(previous)


def run_in_zone(template: CompiledTemplate, action_name: str, snapshot: Snapshot,
                actor: Actor, params: dict[str, Any] | None, now: int, rng: Rng,
                new_room_id: str | None = None, with_result: bool = True
                ) -> Outcome | Rejection:
    """`run`, for a caller that has entered `snapshot.timezone` itself (`in_zone` around many
    actions of one activity, as a forecast run does). `with_result: False`: the outcome's
    `result` may be left empty where working it out could not have refused the action."""
    return _run(template, action_name, snapshot, actor, params, now, rng, new_room_id,
                with_result)


def _run(template: CompiledTemplate, action_name: str, snapshot: Snapshot, actor: Actor,
         params: dict[str, Any] | None, now: int, rng: Rng,
         new_room_id: str | None, with_result: bool = True) -> Outcome | Rejection:
    action = template.actions.get(action_name)
    if action is None:
        return Rejection("unknown_action", detail=action_name)
    if actor.kind != action.by:
        return Rejection("not_allowed", detail=f"{action_name} is performed by {action.by}")
    params = {} if params is None else params
    errors = [] if params == {} and action.empty_params_ok else _params_errors(action, params)
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path)
        return Rejection("invalid_params", "params" + (f".{where}" if where else ""),
                         quoting(first.message, first.instance))
    if action.room == "target":
        if snapshot.room is None:
            return Rejection("room_required")
        if snapshot.room.status not in action.room_status:
            return Rejection("room_closed", detail=snapshot.room.status)

    today = local_date(now, snapshot.timezone)
    try:
        state = _action_state(template, action, snapshot, actor, params, now, today, rng,
                              new_room_id)
        for guard in action.guards:
            passed = guard.rule(state.data)
            if passed is not True and (passed is False or not truthy(passed)):
                return Rejection(guard.error, guard.where)
        for effect in action.effects:  # (run_effects, inline: once per action)
            effect(state)
        if state.touched:
            _check_types(template, state)
        result = {key: value(state.data) for key, value in action.result} \
            if with_result or not action.result_pure else {}
    except Refused as refusal:
        return Rejection(refusal.error, refusal.where, refusal.detail)
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError, OverflowError) as exc:
        return Rejection("rule_error", detail=f"{type(exc).__name__}: {exc}")

    return _outcome(snapshot, state, result)


def _outcome(snapshot: Snapshot, state: ActionState, result: dict[str, Any]) -> Outcome:
    """What an accepted action returns; a scope never copied for writing is unchanged."""
    room_change = None
    old = snapshot.room
    room = state.room
    if room is not None and state.room_owned and (
            state.room_created or state.joined or state.room_status_changed or old is None
            or room.state != old.state or room.timers != old.timers):
        room_change = RoomChange(room, state.room_created, state.joined,
                                 state.room_status_changed)
    others = {pid: st for pid, st in state.others.items()
              if st != _stored(snapshot, pid)} if state.others else {}
    activity, me = state.data["activity"], state.data["me"]
    return Outcome(  # (by position: a keyword call costs more, once per action)
        activity, me, room_change, state.events, result, state.rng.drawn,
        "activity" in state.owned and activity != snapshot.activity,
        snapshot.participant is None or ("me" in state.owned and me != snapshot.participant),
        others)


def _params_errors(action: CompiledAction, params: dict[str, Any]) -> list[Any]:
    """`params`' errors against the action's schema, first by path. Params found valid are
    remembered by a canonical key (validity depends on nothing else)."""
    if params == {} and action.empty_params_ok:
        return []
    key = _params_key(params)
    if key is not None and key in action.valid_params:
        return []
    errors = sorted(action.params.iter_errors(params), key=lambda e: list(e.absolute_path))
    if not errors and key is not None:
        if len(action.valid_params) >= VALID_PARAMS_KEPT:
            action.valid_params.clear()
        action.valid_params[key] = None
    return errors


_FLAT = frozenset({str, int, float, bool, type(None)})


def _params_key(params: Any) -> Any:
    """What tells params apart for their validity: for the usual flat object of scalars its
    items with their types (so that 1, 1.0 and true differ), else the canonical JSON; None
    for what JSON cannot say."""
    if type(params) is dict and all(type(k) is str and type(v) in _FLAT
                                    for k, v in params.items()):
        return tuple(sorted((k, type(v), v) for k, v in params.items()))
    try:
        return json.dumps(params, sort_keys=True)
    except (TypeError, ValueError):
        return None


def _stored(snapshot: Snapshot, participant: str) -> dict[str, Any] | None:
    return snapshot.participants(participant) if snapshot.participants else None


def _action_state(template: CompiledTemplate, action: CompiledAction, snapshot: Snapshot,
                  actor: Actor, params: dict[str, Any], now: int, today: str, rng: Rng,
                  new_room_id: str | None) -> ActionState:
    room = snapshot.room
    data: dict[str, Any] = {
        "config": snapshot.config,
        "activity": snapshot.activity,  # copied on the first write (ActionState.own)
        "me": snapshot.participant,
        "actor": {"id": actor.id, "kind": actor.kind, "first_time": actor.first_time,
                  "new_to_activity": actor.new_to_activity, "inviter": actor.inviter,
                  "invited": actor.inviter is not None, "generation": actor.generation,
                  "never_wins": actor.never_wins},  # (actor_info, inline: once per action)
        "params": params,
        "local": {},
        "now": now,
        "today": today,
        "room": room.state if room else {},
        "room_info": room_info(room, actor.id, action.room_info_members) if room else {},
    }
    state = ActionState(data, actor, rng, now, new_room_id if action.room == "none" else None,
                        room, action.room_info_members)
    if data["activity"].get(DAY_KEY) != today:
        _own_for_reset(state, template, "activity", "activity")
        reset_daily(template.state["activity"], data["activity"], data, today)
    if data["me"] is None:
        me = _initial(state, template, "participant")  # (a new dict, the action's own)
        me[DAY_KEY] = today
        state.owned.add("me")
        state.touched["me"] = set()
        data["me"] = me
    elif data["me"].get(DAY_KEY) != today:
        _own_for_reset(state, template, "participant", "me")
        reset_daily(template.state["participant"], data["me"], data, today)
    state.open_room = lambda opening, new_room: _open_room(template, opening, new_room)
    state.load_other = lambda acting, pid, create: _load_other(template, snapshot, acting, pid,
                                                               create)
    return state


def _own_for_reset(state: ActionState, template: CompiledTemplate, scope: str, key: str) -> None:
    """Copy what a new period's reset of `scope` (under `key` in the data) writes. A reset's
    initial values may read any scope: then as if all were copied up front; when each is a
    constant or a literal (reading nothing), only the scope itself."""
    plans = template.initial_plans
    reads = plans.get(f"reset:{scope}")
    if reads is None:
        reads = plans[f"reset:{scope}"] = any(
            decl.reset is not None and not _reads_nothing(decl.initial)
            for decl in template.state[scope].values())
    if reads:
        state.own_all()
    else:
        state.own(key)


def _reads_nothing(initial: Any) -> bool:
    """Whether an initial value is a constant scalar or a literal built anew each time."""
    return type(constant_value(initial)) in _SCALAR_TYPES or fresh(initial)


_SCALAR_TYPES = (str, int, float, bool, type(None))


def _load_other(template: CompiledTemplate, snapshot: Snapshot, state: ActionState, pid: str,
                create: bool) -> dict[str, Any] | None:
    """Another participant's working state, read once per action and reset like `me`; a
    participant without state gets the initial one only when the `with` says `create`."""
    if pid in state.others:
        return state.others[pid]
    stored = _stored(snapshot, pid)
    if stored is None:
        if not create:
            return None
        # Their initial values read the data of this action (as `me`'s do for a newcomer).
        other = _initial(state, template, "participant")
        other[DAY_KEY] = state.data["today"]
    else:
        other = clone(stored)
        if other.get(DAY_KEY) != state.data["today"]:
            state.own_all()
            reset_daily(template.state["participant"], other, state.data, state.data["today"])
    state.others[pid] = other
    return other


def _open_room(template: CompiledTemplate, state: ActionState, room: Room) -> None:
    # What a new room's initial values and timers read: its state, and its room_info when
    # they may read that (the room is new: its data is not built yet).
    state.data["room"] = room.state
    if template.room_setup_reads_info:
        state.refresh_room_info()
    room.state.update(_initial(state, template, "room"))
    for timer in template.timers.values():
        after = timer.after(state.data)
        if (isinstance(after, bool) or not isinstance(after, (int, float))
                or not math.isfinite(after)):
            raise Refused("rule_error", f"timers.{timer.name}.after", f"not a number: {after!r}")
        room.timers[timer.name] = state.now + int(after)


def actor_info(actor: Actor) -> dict[str, Any]:
    return {"id": actor.id, "kind": actor.kind, "first_time": actor.first_time,
            "new_to_activity": actor.new_to_activity, "inviter": actor.inviter,
            "invited": actor.inviter is not None, "generation": actor.generation,
            "never_wins": actor.never_wins}


def initial_state(decls: dict[str, VarDecl], data: dict[str, Any]) -> dict[str, Any]:
    """Each declared variable's initial value, evaluated against `data`."""
    return {name: coerce(decl, decl.initial(data)) for name, decl in decls.items()}


def _initial(state: ActionState, template: CompiledTemplate, scope: str) -> dict[str, Any]:
    """`initial_state` for a new scope of this action: an initial value that shares a
    container with a scope not yet copied is computed again from copies of them all."""
    decls = template.state[scope]
    plan = template.initial_plans.get(scope, _UNPLANNED)
    if plan is _UNPLANNED:
        plan = template.initial_plans[scope] = _initial_plan(decls)
    if type(plan) is dict:  # every value a constant scalar
        return plan.copy()
    if plan is not None:
        return {name: value if decl is None else coerce(decl, decl.initial(state.data))
                for name, value, decl in plan}
    out = {}
    for name, decl in decls.items():
        value = decl.initial(state.data)
        if (type(value) is dict or type(value) is list) and not fresh(decl.initial) \
                and state.shares(value):
            state.own_all()
            return initial_state(decls, state.data)
        out[name] = coerce(decl, value)
    return out


_UNPLANNED: Any = object()


def _initial_plan(decls: dict[str, VarDecl]
                  ) -> list[tuple[str, Any, VarDecl | None]] | dict[str, Any] | None:
    """How to make a scope's initial state without reading the data, when every initial value
    is a constant (checked once: `(name, value, None)`) or a literal array or object (new each
    time: `(name, None, decl)`); the state itself (to copy) when all are constant scalars; None
    when some value reads the data."""
    plan: list[tuple[str, Any, VarDecl | None]] = []
    for name, decl in decls.items():
        value = constant_value(decl.initial)
        if type(value) in (str, int, float, bool, type(None)):
            try:
                plan.append((name, coerce(decl, value), None))
            except Refused:
                return None  # (refused at every action, as it is)
        elif fresh(decl.initial):
            plan.append((name, None, decl))
        else:
            return None
    if all(decl is None for _, _, decl in plan):
        return {name: value for name, value, _ in plan}
    return plan


def reset_daily(decls: dict[str, VarDecl], state: dict[str, Any], data: dict[str, Any],
                today: str) -> None:
    """Put `reset` variables back to their initial values when their period turns: a new
    calendar day (`daily`), ISO week (`weekly`, from Monday) or month (`monthly`)."""
    last = state.get(DAY_KEY)
    if last == today:
        return
    for name, decl in decls.items():
        if decl.reset is not None and (
                not isinstance(last, str)
                or period_key(last, decl.reset) != period_key(today, decl.reset)):
            state[name] = coerce(decl, decl.initial(data))
    state[DAY_KEY] = today


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "array": (list,), "object": (dict,), "map": (dict,),
    "number": (int, float), "integer": (int,), "null": (type(None),),
}


# The one type a declared type takes as it is without looking further (a float or a map
# needs a closer look).
_PLAIN = {"string": str, "boolean": bool, "array": list, "object": dict, "number": int,
          "integer": int, "null": type(None)}


def coerce(decl: VarDecl, value: Any) -> Any:
    """Check a value against its declared type; integral floats become ints (money stays exact).
    A map's entries are checked against its `values` type and its size against `max_keys`."""
    if type(value) is _PLAIN.get(decl.type):
        return value
    value = _coerce(decl.type, value, decl.name)
    if decl.type == "map":
        if decl.values is not None:
            for key, entry in value.items():
                value[key] = _coerce(decl.values, entry, f"{decl.name}.{key}")
        if decl.max_keys is not None and len(value) > decl.max_keys:
            raise Refused(decl.max_keys_error, f"state.{decl.name}",
                          f"{decl.name} would hold more than {decl.max_keys} keys")
    return value


def _coerce(kind: str, value: Any, name: str) -> Any:
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    ok = isinstance(value, _TYPES[kind])
    if ok and kind in ("number", "integer") and isinstance(value, bool):
        ok = False
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        raise Refused("rule_error", f"state.{name.split('.')[0]}",
                      f"{name} must be {kind}, got {value!r}")
    return value


def _check_types(template: CompiledTemplate, state: ActionState) -> None:
    """Check the declared type of every variable the effects wrote (initial and reset
    values were checked as they were made)."""
    touched = state.touched
    if not touched:
        return
    plain = template.plain_types
    if not plain:
        plain.update((scope, {name: _PLAIN.get(decl.type) for name, decl in decls.items()})
                     for scope, decls in template.state.items())
    names = touched.get("activity")
    if names:
        _check_scope(template.state["activity"], plain.get("activity", {}), names,
                     state.data["activity"])
    names = touched.get("me")
    if names:
        _check_scope(template.state["participant"], plain.get("participant", {}), names,
                     state.data["me"])
    if state.room is not None:
        _check_scope(template.state["room"], plain.get("room", {}), touched.get("room"),
                     state.room.state)
    for pid, other in state.others.items():
        _check_scope(template.state["participant"], plain.get("participant", {}),
                     touched.get(f"p:{pid}"), other)


_ABSENT: Any = object()


def _check_scope(decls: dict[str, VarDecl], plain: dict[str, Any], names: set[str] | None,
                 values: dict[str, Any] | None) -> None:
    if not names or values is None:
        return
    get = values.get
    for name in names:
        value = get(name, _ABSENT)
        # (an undeclared name: _ABSENT, never a value's type)
        if type(value) is not plain.get(name, _ABSENT) and value is not _ABSENT \
                and name in plain:
            break
    else:
        return  # every value written has its declared type as it is
    for name, decl in decls.items():  # in declared order: the first wrong one is reported
        if name in names and name in values:
            values[name] = coerce(decl, values[name])


def render_view(template: CompiledTemplate, scope: str, snapshot: Snapshot, viewer: Actor,
                now: int) -> dict[str, Any]:
    """What a participant may see: the template's view expressions, never the raw state.

    Room members appear with a masked display name and an `is_me` flag instead of their ids,
    and no participant id is shown: any string (or map key) in the result that is the viewer's,
    a room member's or one held by a variable declared `participants` is their masked name.
    """
    with in_zone(snapshot.timezone):
        return _render_view(template, scope, snapshot, viewer, now)


def _render_view(template: CompiledTemplate, scope: str, snapshot: Snapshot, viewer: Actor,
                 now: int) -> dict[str, Any]:
    today = local_date(now, snapshot.timezone)
    data: dict[str, Any] = {
        "config": snapshot.config, "activity": snapshot.activity, "actor": actor_info(viewer),
        "now": now, "today": today, "params": {}, "local": {},
        "room": snapshot.room.state if snapshot.room else {},
    }
    if snapshot.activity.get(DAY_KEY, today) != today:
        # Show today's values even before today's first action resets them.
        data["activity"] = clone(snapshot.activity)
        reset_daily(template.state["activity"], data["activity"], data, today)
    me = snapshot.participant
    if me is None or me.get(DAY_KEY) != today:
        me = clone(me) if me is not None else None
        data["me"] = me
        if me is None:
            data["me"] = initial_state(template.state["participant"], data)
        else:
            reset_daily(template.state["participant"], me, data, today)
    else:
        data["me"] = me
    if snapshot.room is not None:
        info = room_info(snapshot.room, viewer.id)
        info["initiator"] = mask_name(_name_of(snapshot.room, snapshot.room.initiator))
        info["members"] = [
            {"name": mask_name(m.display_name or m.participant), "role": m.role,
             "data": m.data, "joined_at": m.joined_at, "is_me": m.participant == viewer.id}
            for m in snapshot.room.members
        ]
        data["room_info"] = info
    else:
        data["room_info"] = {}
    view = {key: value(data) for key, value in template.views[scope]}
    names = _participant_names(template, snapshot, data, viewer)
    return _masked(view, names) if names else view


def _participant_names(template: CompiledTemplate, snapshot: Snapshot, data: dict[str, Any],
                       viewer: Actor) -> dict[str, str]:
    """Participant id -> the name a view shows instead (masked): the viewer, the room's
    members, and every id held by a variable declared `participants`."""
    names: dict[str, str] = {}
    for scope, key in (("activity", "activity"), ("room", "room"), ("participant", "me")):
        values = data.get(key) or {}
        for decl in template.state[scope].values():
            if decl.participants and decl.name in values:
                held = values[decl.name]
                ids = held.keys() if isinstance(held, dict) else \
                    held if isinstance(held, list) else [held]
                names.update((i, mask_name(i)) for i in ids if isinstance(i, str) and i)
    if snapshot.room is not None:
        names.update((m.participant, mask_name(m.display_name or m.participant))
                     for m in snapshot.room.members)
    if viewer.id:
        names[viewer.id] = mask_name(viewer.display_name or viewer.id)
    return names


def _masked(value: Any, names: dict[str, str]) -> Any:
    """`value` with every participant id in it (a string, a map's key) shown as their name."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [_masked(v, names) for v in value]
    if isinstance(value, dict):
        return {names.get(k, k): _masked(v, names) for k, v in value.items()}
    return value


def _name_of(room: Room, participant: str) -> str:
    member = room.member(participant)
    return (member.display_name if member and member.display_name else participant)


def mask_name(name: str) -> str:
    """`张三` -> `张*`, `alice` -> `a***`: enough to recognise a friend, not to identify one."""
    if not name:
        return "*"
    if len(name) == 1:
        return name + "*"
    if any(ord(ch) > 0x2E7F for ch in name):
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "***"


def initial_activity_state(template: CompiledTemplate, config: dict[str, Any], now: int,
                           timezone: str) -> dict[str, Any]:
    """The activity-scope state of a new activity (its initial values read `config`)."""
    today = local_date(now, timezone)
    data = {"config": config, "now": now, "today": today, "params": {}, "local": {}}
    with in_zone(timezone):
        state = initial_state(template.state["activity"], data)
    state[DAY_KEY] = today
    return state


def due_timers(room: Room, now: int) -> list[tuple[int, str]]:
    """The room's timers due at `now`, earliest first (ties by name, so replay is stable)."""
    if room.status != "open":
        return []
    return sorted((due, name) for name, due in room.timers.items() if due <= now)
