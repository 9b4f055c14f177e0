"""Warnings for texts a template leaves to its merchants' guesswork: a config field without a
zh/en label, a choice without one (the console would show the raw value), an emitted event
type without a label in `events`; a view that reads `now`, which goes stale; a required
action param the shopper page cannot send (an array); a
live-editable config field whose edit the state it seeds does not follow; and a division stored
in an integer variable without rounding (`integers.py`); a `done` message naming a result key
the action never has (`done.py`).

These are warnings, not problems: such a template still works, but its console speaks in
property names and event codes. `magic-cube templates validate` prints them.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

from magic_cube.catalog.done import done_warnings
from magic_cube.catalog.files import read_json, template_files
from magic_cube.catalog.integers import fraction_warnings
from magic_cube.catalog.problems import TemplateProblem, format_path, rule_objects
from magic_cube.catalog.schemaref import resolve
from magic_cube.rules.jsonlogic.introspect import reads_path

Path = list[str | int]


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else an empty one (template data may be anything)."""
    return value if isinstance(value, dict) else {}


def _has_both(text: Any) -> bool:
    return isinstance(text, dict) and bool(text.get("zh")) and bool(text.get("en"))


def label_warnings(doc: dict[str, Any], file: str,
                   own_page: bool = True) -> list[TemplateProblem]:
    """One warning per config field, choice or emitted event without zh and en labels, and —
    for a template without its own page (`own_page`), shown by the generic one — per view key."""
    out: list[TemplateProblem] = _stale_view_warnings(doc, file) + _config_warnings(doc, file) \
        + fraction_warnings(doc, file) + _param_warnings(doc, file) + done_warnings(doc, file)
    if not own_page:
        out += _view_key_warnings(doc, file)
    schema = doc.get("config", {}).get("schema", {})
    _fields(schema, schema, ["config", "schema"], out, file, set())
    labels = mapping(doc.get("events"))
    for event, path in emitted_events(doc):
        if not _has_both(labels.get(event)):
            out.append(TemplateProblem(file, format_path(path),
                                       f"event {event!r} has no zh/en label in `events`",
                                       "missing_label"))
    return out


def _stale_view_warnings(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """View keys that read `now` beside something else: a view changes only with the state
    and the date, so a comparison with the time goes stale between changes."""
    out = []
    definitions = mapping(doc.get("definitions"))
    for scope, view in mapping(doc.get("views")).items():
        for key, rule in mapping(view).items():
            if rule != {"var": "now"} and _reads_now(rule, definitions, set()):
                out.append(TemplateProblem(
                    file, format_path(["views", scope, key]),
                    f"view key {key!r} reads now: a view changes only with the state and the "
                    "date, so this goes stale between changes (show the time, or let a timer "
                    "write the state)", "view_reads_now"))
    return out


def _config_warnings(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """A live-editable field read by an activity variable's initial value that does not
    follow its edits: only a number whose initial is exactly `{"var": "config.X"}` moves
    with X (engine/lifecycle.py, `follow_config`)."""
    config = mapping(doc.get("config"))
    out: list[TemplateProblem] = []
    editable = config.get("live_editable")
    if not isinstance(editable, list):
        return out
    variables = mapping(mapping(doc.get("state")).get("activity"))
    for name in (n for n in editable if isinstance(n, str)):
        for var, decl in variables.items():
            initial = mapping(decl).get("initial")
            follows = initial == {"var": f"config.{name}"} \
                and mapping(decl).get("type") in ("integer", "number")
            if not follows and reads_path(initial, f"config.{name}"):
                out.append(TemplateProblem(
                    file, format_path(["state", "activity", var, "initial"]),
                    f"activity.{var} starts from config.{name}, which is live-editable, but a "
                    f"live edit of {name} changes only the config, not activity.{var}: only "
                    f'a number whose initial is exactly {{"var": "config.{name}"}} follows '
                    "an edit", "live_edit_not_followed"))
    return out


# Operators whose value changes only when the local date does: what they make of `now` moves
# with the date, which a view's ETag carries, so it never goes stale.
_BY_DATE = frozenset({"local_date", "day_number", "start_of_day", "day_of_week", "week_number"})


def _reads_now(rule: Any, definitions: dict[str, Any], seen: set[str]) -> bool:
    """Whether `rule` reads the time of day: `now` itself, not only its date, here or in a
    definition it reads."""
    if isinstance(rule, dict):
        if rule.get("var") == "now" or (isinstance(rule.get("var"), list)
                                         and rule["var"][:1] == ["now"]):
            return True
        if len(rule) == 1 and next(iter(rule)) in _BY_DATE \
                and next(iter(rule.values())) in ({"var": "now"}, [{"var": "now"}]):
            return False
        name = rule.get("def") if len(rule) == 1 else None
        if isinstance(name, str) and name not in seen:
            return _reads_now(definitions.get(name), definitions, seen | {name})
        return any(_reads_now(v, definitions, seen) for v in rule.values())
    if isinstance(rule, list):
        return any(_reads_now(v, definitions, seen) for v in rule)
    return False


PAGE_PARAM_TYPES = ("integer", "number", "string", "boolean")


def _param_warnings(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """Required params of a participant action that no shopper page can send: its forms
    (the generic page's and `mc.form`) send text, numbers, yes/no and choices, one value a
    field, so such an action is always refused `invalid_params` from the page."""
    out = []
    for name, action in mapping(doc.get("actions")).items():
        action = mapping(action)
        if action.get("by", "participant") != "participant":
            continue
        schema = mapping(action.get("params"))
        props = mapping(schema.get("properties"))
        for param in schema.get("required") or []:
            kind = mapping(props.get(param)).get("type") if isinstance(param, str) else None
            if kind in PAGE_PARAM_TYPES:
                continue
            out.append(TemplateProblem(
                file, format_path(["actions", name, "params", "properties", param]),
                f"param {param!r} is {_a_type(kind)}, which the shopper page cannot send (its "
                "forms send text, numbers, yes/no and choices, one value a field): the "
                f"action {name!r} can be performed from a mini-program only; ask for such "
                "input one value a param (a quiz: one answer at a time)", "param_not_on_page"))
    return out


def _a_type(kind: Any) -> str:
    if isinstance(kind, str):
        return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
    return "of no single type" if kind is None else f"of the types {kind}"


def _view_key_warnings(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """View keys the generic shopper page would show by their raw names: no `view_labels`
    entry, and not read straight from a labelled config field."""
    labels = mapping(doc.get("view_labels"))
    props = mapping(mapping(mapping(doc.get("config")).get("schema")).get("properties"))
    out = []
    for scope, view in mapping(doc.get("views")).items():
        for key, rule in mapping(view).items():
            if _has_both(labels.get(key)):
                continue
            read = rule.get("var") if isinstance(rule, dict) else None
            field = props.get(read.removeprefix("config.")) if isinstance(read, str) \
                and read.startswith("config.") else None
            if isinstance(field, dict) and _has_both(mapping(field.get("x-ui")).get("label")):
                continue
            out.append(TemplateProblem(
                file, format_path(["views", scope, key]),
                f"view key {key!r} has no zh/en label in `view_labels` (the generic page, used "
                "without a page.html, would show its name)", "missing_label"))
    return out


def _fields(root: dict[str, Any], node: Any, path: Path, out: list[TemplateProblem],
            file: str, seen: set[int]) -> None:
    if not isinstance(node, dict) or id(node) in seen:
        return
    seen.add(id(node))
    for name, sub in (node.get("properties") or {}).items():
        here = [*path, "properties", name]
        target = resolve(root, sub)
        if not isinstance(target, dict):
            continue
        ui = mapping(target.get("x-ui"))
        hidden = ui.get("hidden") is True or ui.get("widget") == "hidden" or "const" in target
        if not hidden and not _has_both(ui.get("label")) and not _has_both(target.get("title")):
            out.append(TemplateProblem(file, format_path(here),
                                       f"field {name!r} has no zh/en label", "missing_label"))
        choices = mapping(ui.get("choices"))
        for value in target.get("enum") or []:
            if not isinstance(value, bool) and value is not None \
                    and not _has_both(choices.get(str(value))):
                out.append(TemplateProblem(file, format_path([*here, "x-ui", "choices"]),
                                           f"choice {value!r} of {name!r} has no zh/en label",
                                           "missing_label"))
        _fields(root, target, here, out, file, seen)
        items = target.get("items")
        if isinstance(items, dict):
            _fields(root, resolve(root, items), [*here, "items"], out, file, seen)
    for key in ("allOf", "oneOf", "anyOf"):
        for i, member in enumerate(node.get(key) or []):
            _fields(root, resolve(root, member), [*path, key, i], out, file, seen)
    for key in ("then", "else"):
        _fields(root, node.get(key), [*path, key], out, file, seen)


def emitted_events(doc: dict[str, Any]) -> list[tuple[str, Path]]:
    """(event type, where it is emitted) for every `emit` effect, in document order."""
    return [(event, path) for event, _data, path in emits(doc)]


def emits(doc: dict[str, Any]) -> list[tuple[str, Any, Path]]:
    """(event type, its `data`, where it is emitted) for every `emit` effect, in order."""
    found: list[tuple[str, Any, Path]] = []
    for value, path in rule_objects(doc):
        emit = value.get("emit")
        if isinstance(emit, dict) and isinstance(emit.get("event"), str):
            found.append((emit["event"], emit.get("data"), [*path, "emit", "event"]))
    return found


def event_label(doc: dict[str, Any], event: str, lang: str) -> str | None:
    """An event type's label in `lang` (None when the template has none)."""
    labels = doc.get("events")
    text = labels.get(event) if isinstance(labels, dict) else None
    if not isinstance(text, dict):
        return None
    return text.get(lang) or text.get("en")


def label_warnings_of(path: Any) -> list[TemplateProblem]:
    """The label warnings of a template.json, or of every template under a directory."""
    target = FsPath(path)
    files = [target] if target.is_file() else template_files(target) if target.is_dir() else []
    out: list[TemplateProblem] = []
    for file in files:
        doc, problems = read_json(file)
        if isinstance(doc, dict) and not problems:
            out += label_warnings(doc, str(file), (file.parent / "page.html").is_file())
    return out
