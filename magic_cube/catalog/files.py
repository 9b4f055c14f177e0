"""Finding and reading template files: shared by the catalog, the label checks and the
scenario runner, which all read what an author wrote before anything is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from magic_cube.catalog.problems import TemplateProblem

TEMPLATE_FILE = "template.json"


def template_files(directory: Path) -> list[Path]:
    if (directory / TEMPLATE_FILE).is_file():
        return [directory / TEMPLATE_FILE]
    return sorted(directory.glob(f"*/{TEMPLATE_FILE}"))


def read_json(file: Path) -> tuple[Any, list[TemplateProblem]]:
    """The parsed file, or the problems that kept it from parsing (with line and column)."""
    name = str(file)
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return None, [TemplateProblem(name, "", f"cannot read: {exc.strerror or exc}",
                                      "unreadable")]
    except UnicodeDecodeError as exc:
        return None, [TemplateProblem(name, "", f"not UTF-8 text: {exc}", "unreadable")]
    duplicates: list[str] = []

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # JSON lets a later key silently replace an earlier one: almost always a mistake.
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        doc = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        return None, [TemplateProblem(name, "", f"invalid JSON at line {exc.lineno}, column "
                                      f"{exc.colno}: {exc.msg}", "json_syntax")]
    problems = [TemplateProblem(name, "", f"duplicate key {key!r}: the later value silently wins",
                                "duplicate_key") for key in duplicates]
    return doc, problems
