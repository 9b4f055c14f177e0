"""The catalog: every template found on disk or published by installed packages.

Each `template.json` is parsed, checked against the meta-schema, checked semantically and
compiled. A broken template is recorded in `Catalog.problems` and skipped: one author's typo
must never take the other activities down.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from magic_cube.catalog.config import ConfigValidator
from magic_cube.catalog.errors import BUILTIN_ERRORS
from magic_cube.catalog.files import TEMPLATE_FILE, read_json, template_files
from magic_cube.catalog.metaschema import meta_problems, scenario_problems
from magic_cube.catalog.problems import TemplateInvalid, TemplateProblem, format_path
from magic_cube.catalog.semantic import semantic_problems
from magic_cube.catalog.versions import version_key
from magic_cube.errors import MagicCubeError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "activity_templates"
ENTRY_POINT_GROUP = "magic_cube.templates"


class TemplateNotFound(MagicCubeError):
    """No template with this id (and version) in the catalog."""

    code = "template_not_found"

    def __init__(self, template_id: str, version: str | None = None) -> None:
        self.template_id = template_id
        self.version = version
        what = f"{template_id} {version}" if version else template_id
        super().__init__(f"template not found: {what}")


class TemplateMismatch(MagicCubeError):
    """A pinned template whose content changed since the activity was created from it."""

    code = "template_mismatch"

    def __init__(self, template_id: str, version: str, expected: str, actual: str) -> None:
        self.template_id, self.version = template_id, version
        self.expected, self.actual = expected, actual
        super().__init__(f"template {template_id} {version} has changed since it was pinned "
                         f"(hash {actual[:12]}…, pinned {expected[:12]}…)")


@dataclass
class TemplateEntry:
    """One valid template version."""

    id: str
    version: str
    title: dict[str, str]
    description: dict[str, str]
    kind: str
    path: Path | None  # the template.json; None for one kept in the database only
    directory: Path | None  # its folder (scenarios, page.html); None as for `path`
    doc: dict[str, Any] = field(repr=False)
    content_hash: str
    compiled: Any = field(default=None, repr=False)  # CompiledTemplate, None if no compiler

    @property
    def config_validator(self) -> ConfigValidator:
        return ConfigValidator.for_template(self.doc, self.content_hash)

    def sort_key(self) -> tuple[str, Any]:
        return self.id, version_key(self.version)


def content_hash(doc: Any) -> str:
    """sha256 of the canonical JSON: formatting and key order do not change a template."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def pin(entry: TemplateEntry) -> dict[str, str]:
    """What an activity stores to refer to exactly this template version."""
    return {"template_id": entry.id, "template_version": entry.version,
            "template_hash": entry.content_hash}


class Catalog:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], TemplateEntry] = {}
        self.problems: list[TemplateProblem] = []
        self.files: list[Path] = []  # every template.json looked at, valid or not

    @classmethod
    def discover(cls, dirs: list[Path] | None = None, entry_points: bool = True) -> Catalog:
        """Templates under `dirs` (default: the repository's `activity_templates/`), then
        those published under the entry-point group `magic_cube.templates`."""
        catalog = cls()
        if dirs is None:
            if DEFAULT_DIR.is_dir():
                catalog.add_directory(DEFAULT_DIR)
        else:
            for directory in dirs:
                catalog.add_directory(Path(directory))
        if entry_points:
            catalog.add_entry_points()
        return catalog

    @classmethod
    def served(cls, template_dirs: str = "") -> Catalog:
        """What a server serves: `discover()`'s templates plus the folders of the
        `template_dirs` setting (comma-separated), as the commands that name no --dir see."""
        extra = [Path(d.strip()) for d in str(template_dirs).split(",") if d.strip()]
        if not extra:
            return cls.discover()
        return cls.discover([*([DEFAULT_DIR] if DEFAULT_DIR.is_dir() else []), *extra])

    def add_directory(self, directory: Path) -> None:
        """A template directory (holding template.json) or a root of them (`*/template.json`)."""
        if not directory.is_dir():
            self.problems.append(TemplateProblem(str(directory), "", "template directory not found",
                                                 "not_found"))
            return
        for file in template_files(directory):
            self.add_file(file)

    def add_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            where = f"entry point {ep.name} ({ep.value})"
            try:
                directory = _entry_point_dir(ep.load())
            except Exception as exc:  # a broken package must not break discovery
                self.problems.append(TemplateProblem(where, "", f"cannot load: {exc}",
                                                     "entry_point"))
                continue
            if directory is None:
                self.problems.append(TemplateProblem(
                    where, "",
                    "must give a directory: a path, a string or a callable returning one",
                    "entry_point"))
                continue
            self.add_directory(directory)

    def add_file(self, file: Path) -> TemplateEntry | None:
        file = file.resolve()
        if file in self.files:
            return None  # the same directory reached twice (e.g. also published by a package)
        self.files.append(file)
        entry, problems = load_entry(file)
        if entry is not None:
            existing = self._entries.get((entry.id, entry.version))
            if existing is not None and existing.content_hash != entry.content_hash:
                problems = [TemplateProblem(
                    str(file), "version",
                    f"{entry.id} {entry.version} is already provided by {existing.path} with "
                    "different content; bump the version", "duplicate_version")]
            elif existing is None:
                self._entries[(entry.id, entry.version)] = entry
        self.problems.extend(problems)
        return None if problems else entry

    def entries(self) -> list[TemplateEntry]:
        """Every valid template version, by id, then by version (oldest first)."""
        return sorted(self._entries.values(), key=TemplateEntry.sort_key)

    def get(self, template_id: str, version: str | None = None) -> TemplateEntry:
        """A template version; the latest by semver precedence when `version` is None."""
        if version is not None:
            entry = self._entries.get((template_id, version))
            if entry is None:
                raise TemplateNotFound(template_id, version)
            return entry
        versions = [e for (tid, _), e in self._entries.items() if tid == template_id]
        if not versions:
            raise TemplateNotFound(template_id)
        return max(versions, key=TemplateEntry.sort_key)

    def get_pinned(self, template_id: str, version: str, template_hash: str) -> TemplateEntry:
        """The exact template an activity was created from; refuses one whose content changed."""
        entry = self.get(template_id, version)
        if entry.content_hash != template_hash:
            raise TemplateMismatch(template_id, version, template_hash, entry.content_hash)
        return entry

    def __contains__(self, template_id: object) -> bool:
        return any(tid == template_id for tid, _ in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def problems_by_file(self) -> dict[str, list[TemplateProblem]]:
        out: dict[str, list[TemplateProblem]] = {}
        for problem in self.problems:
            out.setdefault(problem.file, []).append(problem)
        return out


def _entry_point_dir(loaded: Any) -> Path | None:
    if callable(loaded) and not isinstance(loaded, str | os.PathLike):
        loaded = loaded()
    if isinstance(loaded, str | os.PathLike):
        return Path(os.fspath(loaded))
    return None


def check_document(doc: Any, file: str) -> tuple[Any, list[TemplateProblem]]:
    """(compiled template, problems): the meta-schema first; semantic checks only for a
    well-formed document (they trust its shape); compilation only for a sound one."""
    problems = meta_problems(doc, file)
    if problems:
        return None, problems + _semantic_beside(doc, file, problems)
    problems = semantic_problems(doc, file)
    if problems:
        return None, problems
    return compile_document(doc, file)


def _semantic_beside(doc: Any, file: str, meta: list[TemplateProblem]) -> list[TemplateProblem]:
    """The semantic problems of a document that fails the meta-schema, so one run reports
    every mistake. The malformed parts are cut out first (the pass trusts the shape), and
    problems in the same entry as a malformed part (an action, a view, a timer …) are left
    for the next run: they may only echo the cut."""
    if not isinstance(doc, dict):
        return []
    pruned = copy.deepcopy(doc)
    entries = set()
    for problem in meta:
        parts = _PATH_PART.findall(problem.path)
        if parts:
            _cut(pruned, parts)
            entries.add(tuple(parts[:2]))
    try:
        found = semantic_problems(pruned, file)
    except Exception:  # a shape the cut did not foresee: report the meta-schema problems alone
        return []
    return [p for p in found if tuple(_PATH_PART.findall(p.path)[:2]) not in entries]


_PATH_PART = re.compile(r"[^.\[\]]+")


def _cut(doc: dict[str, Any], parts: list[str]) -> None:
    """Delete the object member that holds the malformed node: the last key before the first
    array index (deleting an array item would shift its siblings' paths)."""
    node: Any = doc
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            following = parts[i + 1] if i + 1 < len(parts) else None
            if following is None or following.isdigit():
                del node[part]
                return
            node = node[part]
        else:
            return


def compile_document(doc: dict[str, Any], file: str) -> tuple[Any, list[TemplateProblem]]:
    try:
        # Imported here: the rules compiler is optional for validation-only uses.
        from magic_cube.rules.compiler import compile_template
        from magic_cube.rules.errors import TemplateCompileError
    except ImportError:
        return None, []
    try:
        return compile_template(doc), []
    except TemplateCompileError as exc:
        message = str(exc)
        prefix = f"{exc.path}: "
        message = message[len(prefix):] if message.startswith(prefix) else message
        return None, [TemplateProblem(file, _path_text(exc.path), message, "compile_error")]
    except Exception as exc:  # a compiler bug must not take the catalog down
        return None, [TemplateProblem(file, "", f"cannot compile: {type(exc).__name__}: {exc}",
                                      "compile_error")]


def _path_text(path: Any) -> str:
    if isinstance(path, list | tuple):
        return format_path(path)
    return str(path or "")


def load_entry(file: Path) -> tuple[TemplateEntry | None, list[TemplateProblem]]:
    """Parse, validate and compile one template.json; (entry, []) or (None, problems)."""
    name = str(file)
    doc, problems = read_json(file)
    if doc is None or problems:
        return None, problems
    compiled, problems = check_document(doc, name)
    if problems:
        return None, problems
    return TemplateEntry(
        id=doc["id"], version=doc["version"], title=doc["title"], description=doc["description"],
        kind=doc["kind"], path=file, directory=file.parent, doc=doc,
        content_hash=content_hash(doc), compiled=compiled,
    ), []


def kept_entry(doc: dict[str, Any], directory: Path | None = None) -> TemplateEntry:
    """A template document as an activity pinned it (kept in the database): compiled again,
    not checked again — it passed the checks of its day, and the activity's rules must not
    change under it. `directory` lends its page partial, if any."""
    compiled, problems = compile_document(doc, f"{doc.get('id')} {doc.get('version')} (kept)")
    if problems:
        raise TemplateInvalid(problems)
    return TemplateEntry(
        id=doc["id"], version=doc["version"], title=doc["title"], description=doc["description"],
        kind=doc["kind"], path=None, directory=directory, doc=doc,
        content_hash=content_hash(doc), compiled=compiled,
    )


def load_template(file: Path) -> TemplateEntry:
    """One template.json as an entry; raises `TemplateInvalid` listing every problem."""
    entry, problems = load_entry(Path(file))
    if entry is None:
        raise TemplateInvalid(problems)
    return entry


def validate_path(path: Path) -> list[TemplateProblem]:
    """Problems of a template.json, of a template directory (with its scenarios), or of every
    template under a root of them. An empty list means valid."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = template_files(path)
        if not files:
            return [TemplateProblem(str(path), "", f"no {TEMPLATE_FILE} found here or in its "
                                    "subdirectories", "not_found")]
    else:
        return [TemplateProblem(str(path), "", "no such file or directory", "not_found")]
    problems: list[TemplateProblem] = []
    for file in files:
        entry, found = load_entry(file)
        problems += found
        if entry is not None:
            problems += _scenario_problems(entry)
    return problems


def _step_actor_problems(entry: TemplateEntry, step: dict[str, Any], file: str,
                         where: str) -> list[TemplateProblem]:
    """A step whose actor cannot perform its action: the run would only say `not_allowed`."""
    action = step["action"]
    by = entry.doc["actions"][action].get("by")
    if step.get("expect", {}).get("error") == "not_allowed":  # the refusal is the point
        return []
    merchant = step.get("actor") == "merchant"
    if "void" in step:
        message = "a void step has no actor or action: {\"void\": NAME} runs the void actions"
    elif by == "void":
        message = (f"{action!r} runs only when the merchant voids a participant: write the step "
                   f"as {{\"void\": NAME}}")
    elif by == "timer":
        message = (f"{action!r} runs only from its timer: a step with just `at` lets the time "
                   "pass")
    elif by == "merchant" and not merchant:
        message = (f"{action!r} is a merchant action: write the step with \"actor\": "
                   "\"merchant\" and `subject`, the participant acted for")
    elif by == "participant" and merchant:
        message = f"{action!r} is a participant action: name the participant as `actor`"
    else:
        return []
    return [TemplateProblem(file, f"{where}.action", message, "wrong_actor")]


def _scenario_problems(entry: TemplateEntry) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    declared = set(entry.doc.get("errors", {}))
    if entry.directory is None:
        return problems
    for file in sorted((entry.directory / "scenarios").glob("*.json")):
        doc, found = read_json(file)
        if doc is None or found:
            problems += found
            continue
        found = scenario_problems(doc, str(file))
        if found:
            problems += found
            continue
        if isinstance(doc.get("config"), dict):  # `test` would refuse it before any step
            _filled, errors = entry.config_validator.validate(doc["config"])
            for where, messages in errors.items():
                problems += [TemplateProblem(str(file), f"config.{where}" if where else "config",
                                             e["message"], "invalid_config") for e in messages]
        for i, step in enumerate(doc["steps"]):
            action = step.get("action")
            if action is not None and action not in entry.doc["actions"]:
                problems.append(TemplateProblem(str(file), f"steps[{i}].action",
                                                f"{action!r} is not an action of {entry.id}",
                                                "unknown_action"))
            elif action is not None:
                problems += _step_actor_problems(entry, step, str(file), f"steps[{i}]")
            if action is not None and step.get("actor") == "merchant" and "subject" not in step:
                problems.append(TemplateProblem(
                    str(file), f"steps[{i}]",
                    "a merchant step needs `subject`, the participant acted for",
                    "missing_subject"))
            code = step.get("expect", {}).get("error")
            # `activity_not_live`: the simulation refuses actions after the scenario's `end`
            if code is not None and code not in declared and code not in BUILTIN_ERRORS \
                    and code != "activity_not_live":
                problems.append(TemplateProblem(
                    str(file), f"steps[{i}].expect.error",
                    f"error code {code!r} is not declared by {entry.id}", "undeclared_error"))
    return problems
