"""Compile a template document once into closures the interpreter runs many times.

The catalog validates a template (meta-schema, then semantic checks) before it gets here, so
the compiler trusts the shape and only turns expressions into closures and effects into
callables. A template is compiled once per process; actions never re-parse JSON rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from magic_cube.rules.effects import Effect, compile_effects
from magic_cube.rules.errors import TemplateCompileError
from magic_cube.rules.jsonlogic import JsonLogicError, compile_rule

Expr = Callable[[Any], Any]


@dataclass
class VarDecl:
    name: str
    type: str
    initial: Expr
    reset: str | None = None


@dataclass
class Guard:
    rule: Expr
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

    def error_status(self, code: str, default: int = 409) -> int:
        return self.errors.get(code, {}).get("status", default)


def expr(rule: Any, path: str) -> Expr:
    """Compile one JsonLogic expression, re-raising its errors with the template path."""
    try:
        return compile_rule(rule)
    except JsonLogicError as exc:
        sub = "/".join(str(p) for p in getattr(exc, "path", []) or [])
        raise TemplateCompileError(str(exc), f"{path}/{sub}" if sub else path) from exc


def expr_map(mapping: dict[str, Any], path: str) -> list[tuple[str, Expr]]:
    return [(key, expr(value, f"{path}.{key}")) for key, value in mapping.items()]


def compile_template(doc: dict[str, Any]) -> CompiledTemplate:
    """Turn a validated template document into a `CompiledTemplate`."""
    state = {
        scope: {
            name: VarDecl(name, decl["type"],
                          expr(decl.get("initial"), f"state.{scope}.{name}.initial"),
                          decl.get("reset"))
            for name, decl in doc.get("state", {}).get(scope, {}).items()
        }
        for scope in ("activity", "room", "participant")
    }
    actions = {name: _action(name, body) for name, body in doc["actions"].items()}
    timers = {
        name: Timer(name, expr(t["after"], f"timers.{name}.after"), t["action"])
        for name, t in doc.get("timers", {}).items()
    }
    for timer in timers.values():
        if timer.action not in actions:
            raise TemplateCompileError(f"unknown action {timer.action!r}",
                                       f"timers.{timer.name}.action")
    views = {scope: expr_map(doc.get("views", {}).get(scope, {}), f"views.{scope}")
             for scope in ("activity", "room", "me")}
    config = doc.get("config", {})
    checks = [
        Check(expr(c["rule"], f"config.checks[{i}].rule"), c["field"], c["error"],
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
    )


def _action(name: str, body: dict[str, Any]) -> CompiledAction:
    path = f"actions.{name}"
    params_schema = body.get("params", {"type": "object"})
    guards = [Guard(expr(g["rule"], f"{path}.guards[{i}].rule"), g["error"], f"guards[{i}]")
              for i, g in enumerate(body.get("guards", []))]
    room = body.get("room", "none")
    return CompiledAction(
        name=name,
        by=body.get("by", "participant"),
        room=room,
        room_status=tuple(body.get("room_status", ["open"])),
        params=Draft202012Validator(params_schema,
                                    format_checker=Draft202012Validator.FORMAT_CHECKER),
        guards=guards,
        effects=compile_effects(body.get("effects", []), f"{path}.effects", expr),
        result=expr_map(body.get("result", {}), f"{path}.result"),
        title=body.get("title", {}),
    )
