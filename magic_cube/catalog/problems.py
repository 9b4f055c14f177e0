"""What is wrong with a template, located precisely enough for an author to fix it.

Every check (JSON syntax, meta-schema, semantics, compilation) reports `TemplateProblem`s
rather than raising, so one run shows an author all of their mistakes at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from magic_cube.errors import MagicCubeError

_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")


@dataclass(frozen=True)
class TemplateProblem:
    file: str  # the file as given (template.json, a scenario, or an entry point's name)
    path: str  # JSON path inside the file, e.g. `actions.help.guards[2].rule`; "" = the whole file
    message: str
    code: str  # a stable, machine-readable kind, e.g. `unknown_operator`

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '(root)'}: {self.message}"


class TemplateInvalid(MagicCubeError):
    """A template that failed validation; `problems` lists every mistake found."""

    code = "template_invalid"

    def __init__(self, problems: list[TemplateProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def format_path(parts: Iterable[str | int]) -> str:
    """`["actions", "help", "guards", 2, "rule"]` -> `actions.help.guards[2].rule`.

    Keys that are not plain identifiers (JsonLogic operators such as `==`, keys with dots) are
    quoted, `rule["=="][0]`, so a path can always be followed back unambiguously.
    """
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


def rule_objects(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], list[str | int]]]:
    """Every JSON object under the template's `actions` and `timers` (effects at any depth
    among them), with its path, in document order: what the checks that look for one kind of
    effect walk."""
    stack: list[tuple[Any, list[str | int]]] = [(doc.get("timers", {}), ["timers"]),
                                                (doc.get("actions", {}), ["actions"])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            yield value, path
            stack.extend(reversed([(sub, [*path, key]) for key, sub in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(sub, [*path, i]) for i, sub in enumerate(value)]))
