"""Compile a template document once into closures the interpreter runs many times.

The catalog validates a template (meta-schema, then semantic checks) before it gets here, so
the compiler trusts the shape and only turns expressions into closures and effects into
callables. A template is compiled once per process; actions never re-parse JSON rules.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from jsonschema import Draft202012Validator

from magic_cube.rules.effects import Effect, compile_effects
from magic_cube.rules.errors import TemplateCompileError
from magic_cube.rules.jsonlogic import (
    DEFINITION_OPERATOR,
    Definitions,
    JsonLogicError,
    Known,
    compile_rule,
    truthy,
)
from magic_cube.rules.jsonlogic.closures import NOT_CONSTANT, constant_value
from magic_cube.rules.jsonlogic.introspect import data_reads, reads_path
from magic_cube.rules.timers import END, FIRED, ActivityTimer

Expr = Callable[[Any], Any]
MEMBERS = "room_info.members"
Compile = Callable[[Any, str], Expr]


@dataclass
class VarDecl:
    name: str
    type: str
    initial: Expr
    reset: str | None = None
    values: str | None = None  # a map's entry type
    max_keys: int | None = None  # a map's bound on its number of keys
    max_keys_error: str = "limit_reached"
    participants: bool = False  # holds participant ids (a map: as its keys): masked in views


@dataclass
class Guard:
    rule: Expr
    error: str
    where: str


@dataclass
class Limit:
    """At most `max` accepted actions per `per` (device, address, participant) within
    `within` (room, day, week, activity); counted under `id`, shared by the limits of every
    action that names the same one (engine/action_limits.py)."""

    id: str
    per: str
    within: str
    max: Expr
    error: str
    where: str


@dataclass
class CompiledAction:
    name: str
    by: str
    room: str  # "none" or "target"
    room_status: tuple[str, ...]
    params: Draft202012Validator
    guards: list[Guard]
    effects: list[Effect]
    result: list[tuple[str, Expr]]
    title: dict[str, str]
    limits: list[Limit] = field(default_factory=list)
    # Whether `{}` passes `params` (worked out once: most actions take no params, and
    # validating nothing against a schema is most of the cost of a small action).
    empty_params_ok: bool = False
    # Params found valid before, by a canonical key (the interpreter fills it).
    valid_params: dict[Any, None] = field(default_factory=dict)
    # Whether any expression the action may run reads `room_info.members` (else room_info
    # leaves the list out).
    room_info_members: bool = True
    # Whether its result can never refuse the action (only reads, `if` and literals): then a
    # caller that does not want the result (a forecast) may skip working it out.
    result_pure: bool = False


@dataclass
class Timer:
    name: str
    after: Expr
    action: str


@dataclass
class Check:
    rule: Expr
    field: str
    error: str
    message: dict[str, str]


@dataclass
class CompiledTemplate:
    id: str
    version: str
    doc: dict[str, Any]
    currency: str
    state: dict[str, dict[str, VarDecl]]
    actions: dict[str, CompiledAction]
    timers: dict[str, Timer]
    views: dict[str, list[tuple[str, Expr]]]
    errors: dict[str, dict[str, Any]]
    checks: list[Check]
    participation: frozenset[str]
    completion: frozenset[str]
    live_editable: frozenset[str] = field(default_factory=frozenset)
    # Timers of the activity itself (`at`, `daily`); `timers` above are the rooms' (`after`).
    activity_timers: dict[str, ActivityTimer] = field(default_factory=dict)
    # Whether a new room's initial values and timers may read its `room_info` (else the
    # interpreter builds it only once the room is set up).
    room_setup_reads_info: bool = True
    # Per scope, how the interpreter makes its initial state (worked out on first use).
    initial_plans: dict[str, Any] = field(default_factory=dict)
    # Per scope, each variable's one plain type (None: look closer), for the interpreter's
    # check of what an action wrote (worked out on first use).
    plain_types: dict[str, dict[str, Any]] = field(default_factory=dict)

    def error_status(self, code: str, default: int = 409) -> int:
        return self.errors.get(code, {}).get("status", default)

    @cached_property
    def timer_inputs(self) -> tuple[str, ...] | None:
        """The activity variables the times of the activity's timers read (with their marks of
        what fired), or None when they may read more: the clock, a computed path. Equal
        inputs give equal times, so whoever holds them need not work the times out again."""
        names = {FIRED}
        declared = self.doc.get("timers", {})
        for name in self.activity_timers:
            body = declared.get(name, {})
            for rule in (body.get("at"), body.get("daily")):
                paths = data_reads(rule) if rule not in (None, END) else []
                if paths is None:
                    return None
                for path in paths:
                    head, _, rest = path.partition(".")
                    if head == "config":
                        continue  # the same for the whole activity
                    if head != "activity" or not rest:
                        return None
                    names.add(rest.split(".")[0])
        return tuple(sorted(names))


def expr(rule: Any, path: str, definitions: Definitions | None = None,
         known: Known | None = None) -> Expr:
    """Compile one JsonLogic expression, re-raising its errors with the template path."""
    try:
        return compile_rule(rule, {} if definitions is None else definitions, known)
    except JsonLogicError as exc:
        sub = "/".join(str(p) for p in getattr(exc, "path", []) or [])
        raise TemplateCompileError(str(exc), f"{path}/{sub}" if sub else path) from exc


def definition_order(definitions: dict[str, Any]) -> list[str]:
    """The names of `definitions`, each after those it reads; raises on a cycle."""
    order: list[str] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == "done" or name not in definitions:
            return  # an unknown name is reported where it is compiled
        if state.get(name) == "visiting":
            cycle = " -> ".join([*trail[trail.index(name):], name])
            raise TemplateCompileError(f"definitions refer to each other in a cycle: {cycle}",
                                       f"definitions.{name}")
        state[name] = "visiting"
        for used in definitions_used(definitions[name]):
            visit(used, [*trail, name])
        state[name] = "done"
        order.append(name)

    for name in definitions:
        visit(name, [])
    return order


def definitions_used(rule: Any) -> list[str]:
    """The names a rule reads with `{"def": NAME}`, literal objects included (cheap and safe)."""
    out: list[str] = []
    stack = [rule]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(node)
        elif type(node) is dict:
            if len(node) == 1 and DEFINITION_OPERATOR in node:
                value = node[DEFINITION_OPERATOR]
                name = value[0] if type(value) is list and len(value) == 1 else value
                if type(name) is str:
                    out.append(name)
            else:
                stack.extend(node.values())
    return out


def inline_definitions(rule: Any, definitions: dict[str, Any]) -> Any:
    """`rule` with every `{"def": NAME}` replaced by NAME's expression (itself inlined), for
    tools that look at what a rule reads. Unknown names stay as they are; call it only on
    definitions without cycles (`definition_order` checks)."""
    if type(rule) is list:
        return [inline_definitions(item, definitions) for item in rule]
    if type(rule) is not dict:
        return rule
    if len(rule) == 1 and DEFINITION_OPERATOR in rule:
        names = definitions_used(rule)
        if names and names[0] in definitions:
            return inline_definitions(definitions[names[0]], definitions)
        return rule
    return {key: inline_definitions(value, definitions) for key, value in rule.items()}


def compile_definitions(definitions: dict[str, Any],
                        known: Known | None = None) -> dict[str, Expr]:
    """Each named expression compiled once, after those it reads."""
    compiled: dict[str, Expr] = {}
    for name in definition_order(definitions):
        compiled[name] = expr(definitions[name], f"definitions.{name}", compiled, known)
    return compiled


def compile_template(doc: dict[str, Any], config: dict[str, Any] | None = None
                     ) -> CompiledTemplate:
    """Turn a validated template document into a `CompiledTemplate`.

    With `config`, the template is compiled for that one config (`compile_for`): what depends
    only on it is worked out once, here. Run it only with that config."""
    known = None if config is None else {"config": config}
    definitions = compile_definitions(doc.get("definitions", {}), known)

    def ex(rule: Any, path: str) -> Expr:
        return expr(rule, path, definitions, known)

    # Effects that write what is known to be of its variable's declared type need not note
    # it for the interpreter's check (effects.declared_type).
    declared = {scope: {name: decl.get("type") for name, decl in decls.items()}
                for scope, decls in doc.get("state", {}).items() if isinstance(decls, dict)}
    ex.declared = declared  # type: ignore[attr-defined]

    def ex_map(mapping: dict[str, Any], path: str) -> list[tuple[str, Expr]]:
        return [(key, ex(value, f"{path}.{key}")) for key, value in mapping.items()]

    state = {  # (names interned: the keys of every state, which rules look up by name)
        scope: {
            sys.intern(name): VarDecl(sys.intern(name), decl["type"],
                          ex(decl.get("initial"), f"state.{scope}.{name}.initial"),
                          decl.get("reset"), decl.get("values"), decl.get("max_keys"),
                          decl.get("max_keys_error", "limit_reached"),
                          decl.get("participants", False))
            for name, decl in doc.get("state", {}).get(scope, {}).items()
        }
        for scope in ("activity", "room", "participant")
    }
    actions = {name: _action(name, body, ex) for name, body in doc["actions"].items()}
    # What an action evaluates besides its own body: initial values, a new room's timers,
    # definitions. (Views get their own room_info, with masked members: render_view.)
    common = reads_path([doc.get("state"), doc.get("timers"), doc.get("definitions")],
                        MEMBERS)
    for key, compiled in actions.items():
        compiled.room_info_members = common or reads_path(doc["actions"][key], MEMBERS)
    declared = doc.get("timers", {})
    timers = {name: Timer(name, ex(t["after"], f"timers.{name}.after"), t["action"])
              for name, t in declared.items() if "after" in t}
    activity_timers = {name: _activity_timer(name, t, ex)
                       for name, t in declared.items() if "after" not in t}
    for name, action in [*((t.name, t.action) for t in timers.values()),
                         *((t.name, t.action) for t in activity_timers.values())]:
        if action not in actions:
            raise TemplateCompileError(f"unknown action {action!r}", f"timers.{name}.action")
    views = {scope: ex_map(doc.get("views", {}).get(scope, {}), f"views.{scope}")
             for scope in ("activity", "room", "me")}
    config = doc.get("config", {})
    checks = [
        Check(ex(c["rule"], f"config.checks[{i}].rule"), c["field"], c["error"],
              c.get("message", {}))
        for i, c in enumerate(config.get("checks", []))
    ]
    metrics = doc.get("metrics", {})
    return CompiledTemplate(
        id=doc["id"], version=doc["version"], doc=doc, currency=doc.get("currency", "CNY"),
        state=state, actions=actions, timers=timers, views=views,
        errors=doc.get("errors", {}), checks=checks,
        participation=frozenset(metrics.get("participation", [])),
        completion=frozenset(metrics.get("completion", [])),
        live_editable=frozenset(config.get("live_editable", [])),
        activity_timers=activity_timers,
        room_setup_reads_info=reads_path(
            [doc.get("state", {}).get("room"), doc.get("timers"), doc.get("definitions")],
            "room_info"),
    )


# Operators whose every argument is evaluated and tested for truth at most: they raise
# only if an argument does.
_TRUTH_OPERATORS = frozenset({"if", "?:", "!", "!!"})


def _passes(rule: Expr) -> bool:
    value = constant_value(rule)
    return value is not NOT_CONSTANT and truthy(value)


def compile_for(doc: dict[str, Any], config: dict[str, Any],
                fallback: CompiledTemplate) -> CompiledTemplate:
    """`doc` compiled for this one `config`, for a caller that runs many actions with it (a
    forecast): a `var` of the config reads as its value, so a guard or branch that depends
    only on the config is settled once. `fallback` (the template compiled for any config)
    where a value of the config makes some rule fail to compile: it then fails where it runs,
    as it would have."""
    try:
        return compile_template(doc, config)
    except Exception:  # (whatever a builder made of a value it never saw as a literal)
        return fallback


def cannot_raise(rule: Any) -> bool:
    """Whether evaluating `rule` can never raise, whatever the data: it is made of literals,
    `var` reads of a literal path (with a literal default) and `if`/`!`/`!!` of such."""
    if rule is None or type(rule) in (str, int, float, bool):
        return True
    if type(rule) is list:
        return all(cannot_raise(item) for item in rule)
    if type(rule) is not dict or len(rule) != 1:
        return False
    (op, args), = rule.items()
    if op == "var":
        path = args[0] if type(args) is list and 1 <= len(args) <= 2 else args
        default = args[1] if type(args) is list and len(args) == 2 else None
        return type(path) is str and (default is None or type(default) in (str, int, float,
                                                                            bool))
    return op in _TRUTH_OPERATORS and cannot_raise(args)


def _activity_timer(name: str, body: dict[str, Any], ex: Compile) -> ActivityTimer:
    if body.get("at") == END:
        return ActivityTimer(name, body["action"], end=True)
    if "at" in body:
        return ActivityTimer(name, body["action"], at=ex(body["at"], f"timers.{name}.at"))
    return ActivityTimer(name, body["action"], daily=ex(body["daily"], f"timers.{name}.daily"))


def _action(name: str, body: dict[str, Any], ex: Compile) -> CompiledAction:
    path = f"actions.{name}"
    params_schema = body.get("params", {"type": "object"})
    guards = [Guard(ex(g["rule"], f"{path}.guards[{i}].rule"), g["error"], f"guards[{i}]")
              for i, g in enumerate(body.get("guards", []))]
    # (a guard known to pass, in a template compiled for one config, is left out)
    guards = [g for g in guards if not _passes(g.rule)]
    room = body.get("room", "none")
    params = Draft202012Validator(params_schema,
                                  format_checker=Draft202012Validator.FORMAT_CHECKER)
    return CompiledAction(
        name=name,
        by=body.get("by", "participant"),
        room=room,
        room_status=tuple(body.get("room_status", ["open"])),
        params=params,
        empty_params_ok=params.is_valid({}),
        guards=guards,
        effects=compile_effects(body.get("effects", []), f"{path}.effects", ex),
        result=[(k, ex(v, f"{path}.result.{k}")) for k, v in body.get("result", {}).items()],
        result_pure=all(cannot_raise(v) for v in body.get("result", {}).values()),
        title=body.get("title", {}),
        limits=[Limit(lim.get("id") or f"{name}.{i}", lim["per"], lim["within"],
                      ex(lim["max"], f"{path}.limits[{i}].max"), lim["error"], f"limits[{i}]")
                for i, lim in enumerate(body.get("limits", []))],
    )
