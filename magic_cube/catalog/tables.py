"""Lists a view shows that run along a config table (a number per prize: the stock left of
each), so that each number can be named by its row, `Plum: 50 · Orchid: 30`, wherever the view
is shown: the console's preview and the generic shopper page."""

from __future__ import annotations

from typing import Any

SCOPES = {"activity": "activity", "room": "room", "me": "participant"}


def config_var(expression: Any) -> str | None:
    """`{"var": "config.X"}` -> `X`, else None."""
    if isinstance(expression, dict) and set(expression) == {"var"} \
            and isinstance(expression["var"], str) and expression["var"].startswith("config."):
        return expression["var"].removeprefix("config.")
    return None


def mapped_table(expression: Any) -> str | None:
    """`{"map": [{"var": "config.prizes"}, …]}` -> `prizes`."""
    if not isinstance(expression, dict) or set(expression) != {"map"}:
        return None
    args = expression["map"]
    if not isinstance(args, list) or not args:
        return None
    field = config_var(args[0])
    return field if field is not None and "." not in field else None


def row_names(doc: dict[str, Any], expression: Any, config: dict[str, Any]) -> list[str]:
    """The names of the rows of the config table a view list runs along — a `map` over the
    table, or a variable that starts as one (a lottery's stock per prize) — else none."""
    table = mapped_table(expression)
    if table is None and isinstance(expression, dict) and set(expression) == {"var"} \
            and isinstance(expression["var"], str):
        head, _dot, variable = expression["var"].partition(".")
        decl = (doc.get("state") or {}).get(SCOPES.get(head) or "", {}).get(variable)
        table = mapped_table(decl.get("initial")) if isinstance(decl, dict) else None
    rows = config.get(table) if table is not None else None
    if not isinstance(rows, list) or not rows:
        return []
    names = []
    for i, row in enumerate(rows):
        name = row.get("name") or row.get("title") if isinstance(row, dict) else None
        names.append(str(name) if name not in (None, "") else str(i + 1))
    return names


def view_row_names(doc: dict[str, Any], config: dict[str, Any]) -> dict[str, list[str]]:
    """For each key of the template's views that lists a number per row of a config table,
    the rows' names."""
    out: dict[str, list[str]] = {}
    for view in (doc.get("views") or {}).values():
        for key, expression in (view or {}).items():
            names = row_names(doc, expression, config)
            if names:
                out.setdefault(key, names)
    return out
