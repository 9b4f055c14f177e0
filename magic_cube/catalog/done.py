"""Warnings for an action's `done` message (what the shopper's page says once it is done):
a `{key}` placeholder naming a key the action's `result` never has would show as nothing."""

from __future__ import annotations

import re
from typing import Any

from magic_cube.catalog.problems import TemplateProblem, format_path

# As the page script fills it (shopper/static/page.js, `fill`): {key} or {key|money}.
PLACEHOLDER = re.compile(r"\{(\w+)(\|money)?\}")


def done_warnings(doc: dict[str, Any], file: str) -> list[TemplateProblem]:
    """One warning per placeholder of a `done` message that names no key of the result."""
    out: list[TemplateProblem] = []
    actions = doc.get("actions")
    for name, action in (actions.items() if isinstance(actions, dict) else []):
        done = action.get("done") if isinstance(action, dict) else None
        if not isinstance(done, dict):
            continue
        result = action.get("result")
        keys = set(result) if isinstance(result, dict) else set()
        for lang, text in done.items():
            for key in PLACEHOLDER.findall(text if isinstance(text, str) else ""):
                if key[0] not in keys:
                    out.append(TemplateProblem(
                        file, format_path(["actions", name, "done", lang]),
                        f"{{{key[0]}}} names no key of this action's result "
                        f"({', '.join(sorted(keys)) or 'it has none'}): it would show as nothing",
                        "unknown_result_key"))
    return out
