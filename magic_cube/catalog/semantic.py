"""Checks the meta-schema cannot express: every name an expression reads is declared, every
operator is allowed, every error code, timer and action referred to exists, and rooms are only
used where one exists.

It runs on documents that already pass the meta-schema, so it trusts their shape. Authoring
mistakes would otherwise surface only at run time, in front of shoppers, as `rule_error`s or
silent nulls (JsonLogic reads an undeclared name as null).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from magic_cube.catalog.errors import BUILTIN_ERRORS
from magic_cube.catalog.labels import emits
from magic_cube.catalog.problems import TemplateProblem, format_path
from magic_cube.catalog.schemaref import object_properties, schema_at, undeclared_segment
from magic_cube.rules.compiler import definition_order, inline_definitions
from magic_cube.rules.errors import TemplateCompileError
from magic_cube.rules.jsonlogic import (
    JsonLogicError,
    RuleTooDeep,
    RuleTooLarge,
    UnknownOperator,
    compile_rule,
    var_paths,
)
from magic_cube.rules.timers import parse_time_of_day

Path = list[str | int]

# The names of the table in docs/templates.md, in its order (messages list them this way).
NAMES = ("config", "activity", "room", "room_info", "me", "them", "actor", "params", "local",
         "now", "today")
ROOM_INFO_KEYS = frozenset({"id", "status", "initiator", "size", "capacity", "opened_at", "timers",
                            "members", "is_member", "is_initiator", "my_role"})
ACTOR_KEYS = frozenset({"id", "kind", "first_time", "new_to_activity", "inviter", "invited",
                        "generation", "never_wins"})
STATE_SCOPE = {"activity": "activity", "room": "room", "me": "participant", "them": "participant"}
CONTAINERS = ("map", "object", "array")  # what a computed `key` can index
SCALARS = {"integer": "an integer", "number": "a number", "string": "a string",
           "boolean": "a boolean"}

# Who may read what (docs/templates.md, "Expressions and the names they read").
CHECK_NAMES = frozenset({"config"})
LIMIT_NAMES = CHECK_NAMES  # a limit's max: the merchant's settings, not anyone's state
ACTIVITY_INITIAL_NAMES = frozenset({"config", "now", "today"})
PARTICIPANT_INITIAL_NAMES = ACTIVITY_INITIAL_NAMES | {"actor"}
ROOM_INITIAL_NAMES = PARTICIPANT_INITIAL_NAMES | {"params", "me", "local"}
ACTION_NAMES = frozenset(NAMES)
TIMER_NAMES = frozenset(NAMES)  # evaluated as the room opens, inside the opening action
VIEW_NAMES = frozenset({"config", "activity", "me", "actor", "now", "today"})
ROOM_VIEW_NAMES = VIEW_NAMES | {"room", "room_info"}
ACTIVITY_TIMER_NAMES = frozenset({"config", "activity", "now", "today"})
END_TIMER = "end"

UI_HINTS = {"label", "help", "placeholder", "widget", "order", "group", "hidden", "readonly",
            "choices"}
UI_TEXT_HINTS = {"label", "help", "placeholder", "group"}
UI_WIDGETS = {"text", "textarea", "number", "money", "percent", "select", "radio", "checkboxes",
              "switch", "date", "datetime", "hidden"}

ROOM_HINT_ACTION = ('{what} needs a room: use it in an action with "room": "target", '
                    "or after create_room")


@dataclass
class Context:
    """What the expressions at one place of a template may read."""

    where: str  # for messages: "action help", "the me view", "a config check" …
    names: frozenset[str]
    room: bool = False  # room/room_info hold a room here
    # (action, params schema) pairs whose params a `params.X` read must be declared in.
    params: list[tuple[str, Any]] = field(default_factory=list)
    bound: set[str] | None = None  # locals bound so far; None: judge against all_locals only
    all_locals: set[str] = field(default_factory=set)
    in_loop: bool = False
    them: bool = False  # inside `with`: them.NAME is another participant's state

    def child(self) -> Context:
        return Context(self.where, self.names, self.room, self.params,
                       set(self.bound) if self.bound is not None else None, self.all_locals,
                       self.in_loop, self.them)

    def merge(self, *branches: Context) -> None:
        # After if/each: a local bound or a room opened in a branch may exist from then on.
        for branch in branches:
            if self.bound is not None and branch.bound is not None:
                self.bound |= branch.bound
            self.room = self.room or branch.room


def semantic_problems(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """Every semantic mistake in a template that passes the meta-schema."""
    return _Checker(doc, file).run()


class _Checker:
    def __init__(self, doc: dict[str, Any], file: str) -> None:
        self.doc = doc
        self.file = file
        self.problems: list[TemplateProblem] = []
        config = doc.get("config", {})
        self.config_schema: dict[str, Any] = config.get("schema", {})
        declared = doc.get("state", {})
        self.state: dict[str, dict[str, Any]] = {
            scope: declared.get(scope, {}) for scope in ("activity", "room", "participant")}
        self.actions: dict[str, Any] = doc.get("actions", {})
        self.timers: dict[str, Any] = doc.get("timers", {})
        self.errors = set(doc.get("errors", {})) | set(BUILTIN_ERRORS)
        self.creators = [name for name, action in self.actions.items()
                         if _find(action.get("effects", []), "create_room", ["effects"])]
        self.definitions: dict[str, Any] = doc.get("definitions", {})
        # Stand-ins, so that compiling a rule checks the names it reads with "def".
        self.stand_ins = {name: _stand_in for name in self.definitions}
        self.acyclic = True
        self.limit_ids: dict[str, tuple[str, str]] = {}  # a shared limit id -> (per, within)

    def run(self) -> list[TemplateProblem]:
        self.check_definitions()
        self.check_config()
        self.check_state()
        for name, action in self.actions.items():
            self.check_action(name, action)
        self.check_timers()
        self.check_views()
        self.check_metrics()
        self.check_events()
        return self.problems

    def report(self, path: Path, message: str, code: str) -> None:
        self.problems.append(TemplateProblem(self.file, format_path(path), message, code))

    # -- definitions -------------------------------------------------------------------------

    def check_definitions(self) -> None:
        """Each definition must compile, and none may reach itself. What a definition reads
        is judged where it is used, since the names readable there differ."""
        try:
            definition_order(self.definitions)
        except TemplateCompileError as exc:
            self.acyclic = False
            where: Path = ["definitions", str(exc.path).removeprefix("definitions.")]
            self.report(where, str(exc).removeprefix(f"{exc.path}: "), "definition_cycle")
        for name, rule in self.definitions.items():
            try:
                compile_rule(rule, self.stand_ins)
            except JsonLogicError as exc:
                self.report(["definitions", name, *exc.path], str(exc), _jsonlogic_code(exc))

    # -- config ------------------------------------------------------------------------------

    def check_config(self) -> None:
        config = self.doc.get("config", {})
        self.check_schema(self.config_schema, ["config", "schema"], "the config schema")
        self.check_ui_hints(self.config_schema, ["config", "schema"])
        for name, action in self.doc.get("actions", {}).items():  # the shopper's forms
            if isinstance(action, dict) and isinstance(action.get("params"), dict):
                self.check_ui_hints(action["params"], ["actions", name, "params"])
        ctx = Context("a config check", CHECK_NAMES)
        for i, check in enumerate(config.get("checks", [])):
            path: Path = ["config", "checks", i]
            self.expr(check["rule"], [*path, "rule"], ctx)
            self.error_code(check["error"], [*path, "error"])
            fld = check["field"]
            if fld and undeclared_segment(self.config_schema, fld.split(".")) is not None:
                self.report([*path, "field"], f"{fld!r} is not a field of the config schema",
                            "unknown_config_field")
        self.check_defaults(self.config_schema, ["config", "schema"])
        top = object_properties(self.config_schema, self.config_schema) or {}
        for i, name in enumerate(config.get("live_editable", [])):
            if name not in top:
                self.report(["config", "live_editable", i],
                            f"{name!r} is not a top-level property of the config schema",
                            "unknown_config_field")

    def check_defaults(self, root: Any, path: Path) -> None:
        """Each property's `default` must pass its own schema: a merchant who leaves the field
        as it comes would otherwise be told off for a value they never typed."""
        try:
            validator = Draft202012Validator(
                root, format_checker=Draft202012Validator.FORMAT_CHECKER)
        except (SchemaError, TypeError):  # reported by check_schema
            return

        def walk(node: Any, here: Path) -> None:
            if not isinstance(node, dict):
                return
            for name, sub in (node.get("properties") or {}).items():
                at: Path = [*here, "properties", name]
                if isinstance(sub, dict) and "default" in sub:
                    try:
                        error = next(validator.evolve(schema=sub).iter_errors(sub["default"]),
                                     None)
                    except Exception:  # noqa: BLE001  (an unresolvable $ref: check_schema's)
                        error = None
                    if error is not None:
                        self.report([*at, "default"], f"the default of {name!r} does not pass "
                                    f"its own schema: {error.message}", "bad_default")
                walk(sub, at)
            items = node.get("items")
            if isinstance(items, dict):
                walk(items, [*here, "items"])
            for key in ("$defs", "definitions"):
                for name, sub in (node.get(key) or {}).items():
                    walk(sub, [*here, key, name])

        walk(root, path)

    def check_schema(self, schema: Any, path: Path, what: str) -> None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            self.report([*path, *exc.absolute_path],
                        f"{what} is not a valid JSON Schema: {exc.message}", "bad_schema")

    def check_ui_hints(self, node: Any, path: Path) -> None:
        """`x-ui` annotations drive the console's form; validation ignores them, so we check."""
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.check_ui_hints(item, [*path, i])
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "x-ui" and not (path and path[-1] == "properties"):
                self.check_ui(value, node, [*path, key])
            elif key not in ("const", "default", "enum", "examples"):
                self.check_ui_hints(value, [*path, key])

    def check_ui(self, ui: Any, schema: dict[str, Any], path: Path) -> None:
        if not isinstance(ui, dict):
            self.report(path, "x-ui must be an object of UI hints", "bad_ui_hint")
            return
        for hint, value in ui.items():
            where = [*path, hint]
            if hint not in UI_HINTS:
                self.report(where, f"unknown UI hint {hint!r}; hints are "
                            f"{', '.join(sorted(UI_HINTS))}", "bad_ui_hint")
            elif hint in UI_TEXT_HINTS and not _is_i18n(value):
                self.report(where, f"{hint} must be i18n text {{\"zh\": …, \"en\": …}}",
                            "bad_ui_hint")
            elif hint == "widget" and value not in UI_WIDGETS:
                self.report(where, f"unknown widget {value!r}; widgets are "
                            f"{', '.join(sorted(UI_WIDGETS))}", "bad_ui_hint")
            elif hint == "widget" and value == "money" and not _integer_only(schema):
                self.report(where, "a money field holds a whole number of fen: declare it "
                            f'"type": "integer", not {json.dumps(schema.get("type"))}',
                            "money_not_integer")
            elif hint in ("hidden", "readonly") and not isinstance(value, bool):
                self.report(where, f"{hint} must be true or false", "bad_ui_hint")
            elif hint == "choices" and not (isinstance(value, dict)
                                            and all(_is_i18n(v) for v in value.values())):
                self.report(where, "choices must map each choice to i18n text "
                            "{\"zh\": …, \"en\": …}", "bad_ui_hint")
            elif hint == "order":
                props = object_properties(self.config_schema, schema) or {}
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    self.report(where, "order must be a list of property names", "bad_ui_hint")
                    continue
                for i, name in enumerate(value):
                    if name not in props:
                        self.report([*where, i],
                                    f"order names {name!r}, which is not a property here",
                                    "bad_ui_hint")

    # -- state -------------------------------------------------------------------------------

    def check_state(self) -> None:
        room_ctx = self.room_opening_context("a room variable's initial value", ROOM_INITIAL_NAMES)
        contexts = {
            "activity": Context("an activity variable's initial value", ACTIVITY_INITIAL_NAMES),
            "participant": Context("a participant variable's initial value",
                                   PARTICIPANT_INITIAL_NAMES),
            "room": room_ctx,
        }
        for scope, decls in self.state.items():
            for name, decl in decls.items():
                path: Path = ["state", scope, name, "initial"]
                self.expr(decl["initial"], path, contexts[scope])
                if not _literal_fits(decl["initial"], decl["type"]):
                    self.report(path, f"the initial value {decl['initial']!r} is not "
                                f"{_a(decl['type'])}", "wrong_type")
                for key in ("values", "max_keys", "max_keys_error"):
                    if key in decl and decl["type"] != "map":
                        self.report(["state", scope, name, key], f"{key} only applies to a "
                                    f"map, and {name} is {_a(decl['type'])}", "wrong_type")
                if "max_keys_error" in decl:
                    self.error_code(decl["max_keys_error"],
                                    ["state", scope, name, "max_keys_error"])

    def room_opening_context(self, where: str, names: frozenset[str]) -> Context:
        """Room initials and timer delays are evaluated inside whichever action opens the room."""
        all_locals: set[str] = set()
        for name in self.creators:
            all_locals |= _bound_names(self.actions[name].get("effects", []))
        return Context(where, names, room=True,
                       params=[(n, self.actions[n].get("params")) for n in self.creators],
                       all_locals=all_locals)

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, name: str, action: dict[str, Any]) -> None:
        base: Path = ["actions", name]
        target = action.get("room", "none") == "target"
        effects = action.get("effects", [])
        if "params" in action:
            self.check_schema(action["params"], [*base, "params"], "the params schema")
        if "room_status" in action and not target:
            self.report([*base, "room_status"],
                        'room_status only applies to actions with "room": "target"',
                        "room_status_without_room")
        creates = _find(effects, "create_room", [*base, "effects"])
        for extra in creates[1:]:
            self.report(extra, "an action opens at most one room (a second create_room)",
                        "create_room_twice")
        if creates and target:
            self.report(creates[0], 'create_room is only allowed in "room": "none" actions; '
                        "this one targets an existing room", "create_room_in_room_action")
        ctx = Context(f"action {name}", ACTION_NAMES, room=target,
                      params=[(name, action.get("params"))], bound=set(),
                      all_locals=_bound_names(effects))
        for i, guard in enumerate(action.get("guards", [])):
            self.expr(guard["rule"], [*base, "guards", i, "rule"], ctx)
            self.error_code(guard["error"], [*base, "guards", i, "error"])
        self.effects(effects, [*base, "effects"], ctx)
        self.check_limits(name, action, base)
        # The result is evaluated after all effects: every local and a newly opened room exist.
        after = Context(ctx.where, ACTION_NAMES, room=target or bool(creates), params=ctx.params,
                        all_locals=ctx.all_locals)
        for key, value in action.get("result", {}).items():
            self.expr(value, [*base, "result", key], after)

    def check_limits(self, name: str, action: dict[str, Any], base: Path) -> None:
        """A limit reads only config, names a declared error, counts only what it can count
        (participants' actions; a room only where the action has one), and limits sharing an
        id count the same thing in the same window."""
        ctx = Context(f"the limits of action {name}", LIMIT_NAMES)
        for i, limit in enumerate(action.get("limits", [])):
            path: Path = [*base, "limits", i]
            self.expr(limit["max"], [*path, "max"], ctx)
            self.error_code(limit["error"], [*path, "error"])
            if action.get("by") != "participant":
                self.report(path, f'limits count only participants\' actions, and {name} has '
                            f'"by": "{action.get("by")}"', "limit_never_counted")
            if limit["within"] == "room" and action.get("room", "none") != "target":
                self.report([*path, "within"], 'within "room" needs an action with '
                            '"room": "target"', "room_not_available")
            if "id" in limit:
                shape = (limit["per"], limit["within"])
                seen = self.limit_ids.setdefault(limit["id"], shape)
                if seen != shape:
                    self.report([*path, "id"], f"limit {limit['id']!r} counts per {seen[0]} "
                                f"within {seen[1]} elsewhere; limits sharing an id must count "
                                "the same", "limit_id_mismatch")

    def effects(self, effects: list[dict[str, Any]], path: Path, ctx: Context) -> None:
        for i, effect in enumerate(effects):
            ((kind, body),) = effect.items()
            getattr(self, f"effect_{kind}")(body, [*path, i, kind], ctx)

    def exprs(self, body: dict[str, Any], keys: tuple[str, ...], path: Path, ctx: Context) -> None:
        for key in keys:
            if key in body:
                self.expr(body[key], [*path, key], ctx)
        for group in ("data", "object", "miss"):  # maps of name -> expression
            for key, value in body.get(group, {}).items():
                self.expr(value, [*path, group, key], ctx)

    def effect_set(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("value", "key"), path, ctx)
        self.write(body["path"], [*path, "path"], ctx, "set", keyed="key" in body)
        head, *keys = str(body["path"]).split(".")
        decl = self.state[STATE_SCOPE[head]].get(keys[0]) \
            if head in STATE_SCOPE and len(keys) == 1 and "key" not in body else None
        if decl is not None and not _literal_fits(body["value"], decl["type"]):
            # A literal of the wrong type would only be refused when the action runs.
            self.report([*path, "value"], f"{body['value']!r} is not {_a(decl['type'])}, the "
                        f"declared type of {body['path']}", "wrong_type")

    def effect_add(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("value", "min", "max", "key"), path, ctx)
        self.write(body["path"], [*path, "path"], ctx, "add", ("integer", "number"),
                   keyed="key" in body)
        if "error" in body:
            self.error_code(body["error"], [*path, "error"])

    def effect_append(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("value", "key"), path, ctx)
        self.write(body["path"], [*path, "path"], ctx, "append", ("array",), keyed="key" in body)

    def effect_remove(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("key", "value"), path, ctx)
        wanted = ("map", "object") if "key" in body else ("array",)
        self.write(body["path"], [*path, "path"], ctx, "remove", wanted)

    def effect_with(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("participant",), path, ctx)
        inner = ctx.child()
        inner.them = True
        self.effects(body["do"], [*path, "do"], inner)
        ctx.merge(inner)
        if "error" in body:
            self.error_code(body["error"], [*path, "error"])

    def effect_let(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("value",), path, ctx)
        self.bind(body["name"], ctx)

    def effect_create_room(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("capacity",), path, ctx)
        if ctx.in_loop:
            self.report(path, "create_room inside each would open one room per item",
                        "create_room_twice")
        ctx.room = True

    def effect_join(self, body: dict, path: Path, ctx: Context) -> None:
        self.need_room(path, ctx, "join")
        self.exprs(body, (), path, ctx)
        for key in ("full_error", "twice_error"):
            if key in body:
                self.error_code(body[key], [*path, key])

    def effect_close(self, body: dict, path: Path, ctx: Context) -> None:
        self.need_room(path, ctx, "close")

    def effect_draw(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("items", "out_of", "guarantee"), path, ctx)
        if "stock" in body:
            self.write(body["stock"], [*path, "stock"], ctx, "draw.stock", ("array",))
        self.bind(body["as"], ctx)

    def effect_split(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("total", "parts", "min", "max"), path, ctx)
        self.bind(body["as"], ctx)

    def effect_emit(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, (), path, ctx)

    def effect_schedule(self, body: dict, path: Path, ctx: Context) -> None:
        self.need_room(path, ctx, "schedule")
        if body["timer"] not in self.timers:
            self.report([*path, "timer"], f"schedule names timer {body['timer']!r}, which is not "
                        "declared in timers", "unknown_timer")
        self.exprs(body, ("at",), path, ctx)

    def effect_if(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("rule",), path, ctx)
        then, other = ctx.child(), ctx.child()
        self.effects(body.get("then", []), [*path, "then"], then)
        self.effects(body.get("else", []), [*path, "else"], other)
        ctx.merge(then, other)

    def effect_each(self, body: dict, path: Path, ctx: Context) -> None:
        self.exprs(body, ("in",), path, ctx)
        inner = ctx.child()
        inner.in_loop = True
        self.bind(body["as"], inner)
        self.effects(body["do"], [*path, "do"], inner)
        ctx.merge(inner)

    def effect_reject(self, body: dict, path: Path, ctx: Context) -> None:
        self.error_code(body["error"], [*path, "error"])

    @staticmethod
    def bind(name: str, ctx: Context) -> None:
        if ctx.bound is not None:
            ctx.bound.add(name)

    def need_room(self, path: Path, ctx: Context, what: str) -> None:
        if not ctx.room:
            self.report(path, ROOM_HINT_ACTION.format(what=what), "room_not_available")

    def write(self, target: str, path: Path, ctx: Context, what: str,
              types: tuple[str, ...] = (), keyed: bool = False) -> None:
        head, *keys = target.split(".")
        if head == "them" and not ctx.them:
            self.report(path, f"{what} writes {target}, but them is only there inside with",
                        "them_not_available")
            return
        if head == "local":
            problem = self.local_problem(keys[0], ctx)
            if problem:
                self.report(path, f"{what} writes {target}, but local.{keys[0]} {problem}",
                            "unbound_local")
            return
        if head == "room" and not ctx.room:
            self.report(path, ROOM_HINT_ACTION.format(what=f"{what} writes {target}, which"),
                        "room_not_available")
            return
        scope = STATE_SCOPE[head]
        decl = self.state[scope].get(keys[0])
        if decl is None:
            self.report(path, f"{what} writes {target}, but {keys[0]!r} is not declared in "
                        f"state.{scope}", "undeclared_state")
        elif len(keys) > 1:
            self.deeper(decl, keys[1:], target, path)
        elif keyed:
            self.keyed_write(decl, target, path, what, types)
        elif types and decl["type"] not in types:
            wanted = " or ".join(_a(t) for t in types)
            self.report(path, f"{what} needs {wanted} variable, but {target} is declared as "
                        f"{decl['type']}", "wrong_type")

    def keyed_write(self, decl: dict[str, Any], target: str, path: Path, what: str,
                    types: tuple[str, ...]) -> None:
        """`key` picks an entry of `target`: a map, an object or an array; a map's declared
        entry type must suit the effect (`add` needs numbers, `append` arrays)."""
        if decl["type"] not in CONTAINERS:
            self.report(path, f"{what} with key needs a map, an object or an array, but "
                        f"{target} is declared as {decl['type']}", "wrong_type")
        elif decl["type"] == "map" and types and decl.get("values") not in (None, *types):
            wanted = " or ".join(_a(t) for t in types)
            self.report(path, f"{what} with key needs entries that are {wanted}, but {target} "
                        f"holds {decl['values']} values", "wrong_type")

    def deeper(self, decl: dict[str, Any], keys: list[str], name: str, path: Path) -> None:
        kind = decl["type"]
        variable = ".".join(name.split(".")[:2])
        if kind in SCALARS:
            self.report(path, f"{name}: {variable} is {SCALARS[kind]} and has no keys",
                        "wrong_type")
        elif kind == "array" and not keys[0].isdigit():
            self.report(path, f"{name}: {variable} is an array; index it with a number",
                        "wrong_type")
        elif kind == "map" and len(keys) > 1 and decl.get("values") in SCALARS:
            self.report(path, f"{name}: the entries of {variable} are "
                        f"{SCALARS[decl['values']]}s and have no keys", "wrong_type")

    # -- expressions -------------------------------------------------------------------------

    def expr(self, rule: Any, path: Path, ctx: Context) -> None:
        try:
            compile_rule(rule, self.stand_ins)
            # A definition reads with the data of the place that uses it.
            reads = var_paths(inline_definitions(rule, self.definitions) if self.acyclic
                              else rule)
        except JsonLogicError as exc:
            self.report([*path, *exc.path], str(exc), _jsonlogic_code(exc))
            return
        for var in reads:
            self.read(str(var), path, ctx)
        self.compare_kinds(inline_definitions(rule, self.definitions) if self.acyclic else rule,
                           path)

    def compare_kinds(self, rule: Any, path: Path) -> None:
        """Refuse comparing a date-time string with a number (`now`, a counter): JavaScript
        compares them as numbers, the string reads as NaN, and the rule silently never holds."""
        for op, args in _operations_outside_literals(rule):
            if op not in COMPARISONS or len(args) < 2:
                continue
            kinds = [self.kind_of(arg) for arg in args[:3]]
            if "date-time" in kinds and "number" in kinds:
                shown = next(_describe(a) for a, k in zip(args, kinds, strict=False)
                             if k == "date-time")
                self.report(path, f'"{op}" compares a date-time string ({shown}) with a '
                            "number: JavaScript reads the string as NaN, so the answer never "
                            'depends on the time; convert it with {"date_time": …} first',
                            "date_time_compared_with_number")

    def kind_of(self, node: Any) -> str | None:
        """"number", "date-time" (an ISO string) or None (unknown) for a comparison operand."""
        if type(node) in (int, float):
            return "number"
        if type(node) is str:
            return "date-time" if _DATE_TIME.match(node) else None
        if type(node) is not dict or len(node) != 1:
            return None
        ((op, values),) = node.items()
        if op in NUMERIC_OPERATORS:
            return "number"
        keys = _literal_read(op, values)
        if keys is None:
            return None
        head, rest = keys[0], keys[1:]
        if head == "now" and not rest:
            return "number"
        if head == "config" and rest:
            decl = schema_at(self.config_schema, rest)
            if decl is None:
                return None
            if decl.get("format") == "date-time":
                return "date-time"
            return "number" if decl.get("type") in ("integer", "number") else None
        if head in STATE_SCOPE and len(rest) == 1:
            state = self.state[STATE_SCOPE[head]].get(rest[0])
            if isinstance(state, dict) and state.get("type") in ("integer", "number"):
                return "number"
        return None

    def read(self, var: str, path: Path, ctx: Context) -> None:
        head, *keys = var.split(".")
        if head not in NAMES:
            self.report(path, f"reads {var}, but {head!r} is not a name expressions can read "
                        f"({', '.join(NAMES)})", "unknown_name")
            return
        if head not in ctx.names:
            allowed = ", ".join(n for n in NAMES if n in ctx.names)
            self.report(path, f"reads {var}, but {ctx.where} cannot read {head} (only {allowed})",
                        "name_not_allowed")
            return
        if head in ("room", "room_info") and not ctx.room:
            self.report(path, ROOM_HINT_ACTION.format(what=f"reads {var}, which"),
                        "room_not_available")
            return
        if head == "them" and not ctx.them:
            self.report(path, f"reads {var}, but them is only there inside with",
                        "them_not_available")
            return
        if not keys:
            return
        if head == "config":
            self.read_config(var, keys, path)
        elif head in STATE_SCOPE:
            self.read_state(STATE_SCOPE[head], var, keys, path)
        elif head == "room_info":
            self.read_room_info(var, keys, path)
        elif head == "actor":
            if keys[0] not in ACTOR_KEYS:
                self.report(path, f"reads {var}, but actor has no {keys[0]!r} (it has "
                            f"{', '.join(sorted(ACTOR_KEYS))})", "unknown_key")
        elif head == "params":
            self.read_param(var, keys, path, ctx)
        elif head == "local":
            problem = self.local_problem(keys[0], ctx)
            if problem:
                self.report(path, f"reads {var}, but local.{keys[0]} {problem}", "unbound_local")
        else:  # now, today
            self.report(path, f"reads {var}, but {head} is a single value without keys",
                        "unknown_key")

    def read_config(self, var: str, keys: list[str], path: Path) -> None:
        bad = undeclared_segment(self.config_schema, keys)
        if bad is not None:
            self.report(path, f"reads {var}, but config.{'.'.join(keys[:bad + 1])} is not a "
                        "property of the config schema", "undeclared_config")

    def read_state(self, scope: str, var: str, keys: list[str], path: Path) -> None:
        decl = self.state[scope].get(keys[0])
        if decl is None:
            self.report(path, f"reads {var}, but {keys[0]!r} is not declared in state.{scope}",
                        "undeclared_state")
        elif len(keys) > 1:
            self.deeper(decl, keys[1:], var, path)

    def read_room_info(self, var: str, keys: list[str], path: Path) -> None:
        if keys[0] not in ROOM_INFO_KEYS:
            self.report(path, f"reads {var}, but room_info has no {keys[0]!r} (it has "
                        f"{', '.join(sorted(ROOM_INFO_KEYS))})", "unknown_key")
        elif keys[0] == "timers" and len(keys) > 1 and keys[1] not in self.timers:
            self.report(path, f"reads {var}, but {keys[1]!r} is not a declared timer",
                        "unknown_timer")

    def read_param(self, var: str, keys: list[str], path: Path, ctx: Context) -> None:
        if not ctx.params:
            self.report(path, f"reads {var}, but no action that opens a room provides params",
                        "undeclared_param")
        for action, schema in ctx.params:
            root = schema if isinstance(schema, dict) else {}
            bad = undeclared_segment(root, keys)
            if bad is not None:
                self.report(path, f"reads {var}, but params.{'.'.join(keys[:bad + 1])} is not "
                            f"declared in the params schema of action {action!r}",
                            "undeclared_param")

    @staticmethod
    def local_problem(name: str, ctx: Context) -> str | None:
        if ctx.bound is not None and name in ctx.bound:
            return None
        if name in ctx.all_locals:
            if ctx.bound is None:
                return None
            return "is read before it is bound (effects run in order)"
        return "is never bound (by let, draw, split or each)"

    def error_code(self, code: str, path: Path) -> None:
        if code not in self.errors:
            self.report(path, f"error code {code!r} is not declared in errors (and is not "
                        "built in)", "undeclared_error")

    # -- timers, views, metrics --------------------------------------------------------------

    def check_timers(self) -> None:
        ctx = self.room_opening_context("a timer's after", TIMER_NAMES)
        activity_ctx = Context("an activity timer", ACTIVITY_TIMER_NAMES)
        for name, timer in self.timers.items():
            path: Path = ["timers", name]
            room_timer = "after" in timer
            if room_timer:
                self.expr(timer["after"], [*path, "after"], ctx)
            else:
                self.check_activity_timer(timer, path, activity_ctx)
            action = self.actions.get(timer["action"])
            runs = f"timer runs action {timer['action']!r}"
            if action is None:
                self.report([*path, "action"], f"{runs}, which does not exist", "unknown_action")
                continue
            if action.get("by") != "timer":
                self.report([*path, "action"], f'{runs}, which must have "by": "timer"',
                            "timer_action_not_by_timer")
            target = action.get("room", "none") == "target"
            if room_timer and not target:
                self.report([*path, "action"], f'{runs}, which must have "room": "target"',
                            "timer_action_without_room")
            elif not room_timer and target:
                self.report([*path, "action"], f"{runs}: an activity timer runs outside any "
                            'room, so its action must have "room": "none"',
                            "activity_timer_action_in_room")
            elif not room_timer:
                for write in _writes(action.get("effects", []), ["actions", timer["action"],
                                                                 "effects"]):
                    if write[1].startswith("me."):
                        self.report(write[0], f"{runs}, which has no participant: it cannot "
                                    f"write {write[1]}", "activity_timer_writes_me")

    def check_activity_timer(self, timer: dict[str, Any], path: Path, ctx: Context) -> None:
        key = "at" if "at" in timer else "daily"
        value = timer[key]
        if key == "at" and value == END_TIMER:
            return
        if isinstance(value, str) and key == "at":
            self.report([*path, key], 'at is an expression giving epoch seconds, or "end", '
                        f"not the string {value!r}", "bad_timer_time")
            return
        if key == "daily":  # a literal time that cannot be read would never fire, silently
            literals = value if isinstance(value, list) else [value]
            for i, item in enumerate(literals):
                if isinstance(item, str | int) and parse_time_of_day(item) is None:
                    where = [*path, key, i] if isinstance(value, list) else [*path, key]
                    self.report(where, f"{item!r} is no time of day: give \"HH:MM\", "
                                "\"HH:MM:SS\" or seconds after midnight (0 to 86399)",
                                "bad_timer_time")
            self.check_daily_field(value, [*path, key])
        self.expr(value, [*path, key], ctx)
        if key == "at" and self.kind_of(value) == "date-time":
            self.report([*path, key], 'at reads a date-time string, which is no time to '
                        'fire at: convert it with {"date_time": …}',
                        "date_time_compared_with_number")

    def check_daily_field(self, value: Any, path: Path) -> None:
        """A `format: time` field holds a time with its UTC offset (10:00:00+08:00), which
        `daily` does not take as a local time of day: such a timer would never fire."""
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if type(item) is not dict or len(item) != 1:
                continue
            keys = _literal_read(*next(iter(item.items())))
            if not keys or keys[0] != "config" or len(keys) < 2:
                continue
            decl = schema_at(self.config_schema, keys[1:])
            if decl is not None and decl.get("format") == "time":
                where = [*path, i] if isinstance(value, list) else path
                self.report(where, f"daily reads {'.'.join(keys)}, a \"format\": \"time\" "
                            "field, whose values carry a UTC offset (10:00:00+08:00) and are "
                            "no local time of day, so the timer would never fire: declare it "
                            "as a string with \"pattern\": \"^([01][0-9]|2[0-3]):[0-5][0-9]$\" "
                            "(\"20:00\", in the activity's time zone)", "daily_time_with_offset")

    def check_views(self) -> None:
        for scope, view in self.doc.get("views", {}).items():
            names = ROOM_VIEW_NAMES if scope == "room" else VIEW_NAMES
            ctx = Context(f"the {scope} view", names, room=scope == "room")
            for key, value in view.items():
                self.expr(value, ["views", scope, key], ctx)

    def check_events(self) -> None:
        """Events named by metrics, the funnel and fulfilment must be emitted (a typo would
        count nothing, or issue no code), and fulfilment reads keys their data has."""
        datas: dict[str, list[Any]] = {event: [] for event in ENGINE_EVENTS}
        for event, data, _path in emits(self.doc):
            datas.setdefault(event, []).append(data)
        named: list[tuple[str, Path]] = [
            (event, ["metrics", "completion", i])
            for i, event in enumerate(self.doc.get("metrics", {}).get("completion", []))]
        named += [(step["event"], ["funnel", i, "event"])
                  for i, step in enumerate(self.doc.get("funnel", [])) if "event" in step]
        fulfilment = self.doc.get("fulfilment", {})
        named += [(event, ["fulfilment", event]) for event in fulfilment]
        for event, path in named:
            if event not in datas:
                self.report(path, f"event {event!r} is never emitted by this template",
                            "unknown_event")
        for event, spec in fulfilment.items():
            objects = [d for d in datas.get(event, []) if isinstance(d, dict)]
            if not objects or len(objects) != len(datas[event]):
                continue  # data built by an expression: its keys are known only when it runs
            for part in ("participant", "item", "kind", "amount"):
                key = spec.get(part)
                if isinstance(key, str) and not all(key in d for d in objects):
                    self.report(["fulfilment", event, part],
                                f"{key!r} is not a key of the data {event!r} is emitted with",
                                "unknown_event_data")

    def check_metrics(self) -> None:
        for i, name in enumerate(self.doc.get("metrics", {}).get("participation", [])):
            if name not in self.actions:
                self.report(["metrics", "participation", i],
                            f"{name!r} is not an action of this template", "unknown_action")
        for i, step in enumerate(self.doc.get("funnel", [])):
            action = step.get("action")
            if action is not None and action not in self.actions:
                self.report(["funnel", i, "action"],
                            f"{action!r} is not an action of this template", "unknown_action")


# Events the engine records itself, which a template may count or label as its own.
ENGINE_EVENTS = ("participant.voided", "participant.invited")


def _find(effects: list[Any], kind: str, path: Path) -> list[Path]:
    """Paths of every effect of `kind`, in document order, through if/each bodies."""
    found: list[Path] = []
    for i, effect in enumerate(effects):
        if not isinstance(effect, dict) or len(effect) != 1:
            continue
        ((name, body),) = effect.items()
        here: Path = [*path, i, name]
        if name == kind:
            found.append(here)
        if isinstance(body, dict):
            for sub in ("then", "else", "do"):
                if isinstance(body.get(sub), list) and name in ("if", "each", "with"):
                    found += _find(body[sub], kind, [*here, sub])
    return found


def _writes(effects: list[Any], path: Path) -> list[tuple[Path, str]]:
    """(path, written path) of every effect that writes state, through if/each/with bodies."""
    found: list[tuple[Path, str]] = []
    for i, effect in enumerate(effects):
        if not isinstance(effect, dict) or len(effect) != 1:
            continue
        ((name, body),) = effect.items()
        if not isinstance(body, dict):
            continue
        here: Path = [*path, i, name]
        for key in ("path", "stock"):
            if isinstance(body.get(key), str):
                found.append(([*here, key], body[key]))
        for sub in ("then", "else", "do"):
            if isinstance(body.get(sub), list):
                found += _writes(body[sub], [*here, sub])
    return found


def _bound_names(effects: list[Any]) -> set[str]:
    names: set[str] = set()
    for effect in effects:
        if not isinstance(effect, dict) or len(effect) != 1:
            continue
        ((kind, body),) = effect.items()
        if not isinstance(body, dict):
            continue
        bound = body.get("name") if kind == "let" else body.get("as")
        if isinstance(bound, str) and kind in ("let", "draw", "split", "each"):
            names.add(bound)
        for sub in ("then", "else", "do"):
            if kind in ("if", "each", "with") and isinstance(body.get(sub), list):
                names |= _bound_names(body[sub])
    return names


COMPARISONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "===", "!=="})
NUMERIC_OPERATORS = frozenset({"+", "-", "*", "/", "%", "min", "max", "length", "floor", "ceil",
                               "size",
                               "date_time", "day_number", "week_number", "day_of_week",
                               "start_of_day", "time_of_day", "add_days"})
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _operations_outside_literals(rule: Any) -> list[tuple[str, list]]:
    """Every operation of `rule` (not inside literal objects or `preserve`)."""
    out: list[tuple[str, list]] = []
    stack = [rule]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(node)
        elif type(node) is dict and len(node) == 1:
            ((op, values),) = node.items()
            args = values if type(values) is list else [values]
            out.append((op, args))
            if op != "preserve":
                stack.extend(args)
    return out


def _integer_only(schema: dict[str, Any]) -> bool:
    """Whether a field's declared type admits whole numbers only (or null)."""
    declared = schema.get("type")
    types = set(declared) if isinstance(declared, list) else {declared}
    return "integer" in types and types <= {"integer", "null"}


def _literal_read(op: str, values: Any) -> list[str] | None:
    """The keys a `var` or `val` with a literal path reads at the top scope, else None."""
    args = values if type(values) is list else [values]
    if op == "var" and args and type(args[0]) is str and args[0]:
        return args[0].split(".")
    if op == "val" and args and all(type(a) is str for a in args):
        return list(args)
    return None


def _describe(node: Any) -> str:
    keys = _literal_read(*next(iter(node.items()))) if type(node) is dict and node else None
    return ".".join(keys) if keys else json.dumps(node, ensure_ascii=False)


def _stand_in(data: Any) -> Any:
    return None


def _jsonlogic_code(exc: JsonLogicError) -> str:
    if isinstance(exc, UnknownOperator):
        return "unknown_operator"
    if isinstance(exc, RuleTooDeep):
        return "rule_too_deep"
    if isinstance(exc, RuleTooLarge):
        return "rule_too_large"
    return "bad_expression"


def _literal_fits(value: Any, kind: str) -> bool:
    """A literal initial value matches its declared type (expressions are judged at run time)."""
    if isinstance(value, dict):
        return True  # an operation (or an object literal for an object variable)
    if isinstance(value, list):
        return kind == "array"
    if kind == "integer":
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and float(value).is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    return False


def _a(kind: str) -> str:
    articles = {"array": "an array", "object": "an object", "integer": "an integer"}
    return articles.get(kind, f"a {kind}")


def _is_i18n(value: Any) -> bool:
    return (isinstance(value, dict) and isinstance(value.get("zh"), str)
            and isinstance(value.get("en"), str))

