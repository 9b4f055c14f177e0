"""What a rule reads and which operators it uses, without compiling or running it.

The catalog's semantic pass uses these to check every name a template's expressions read
against what the template declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from magic_cube.rules.jsonlogic.js import to_string

# Operators whose second argument runs once per item, with the item as its data.
SCOPED_OPERATORS = frozenset({"map", "filter", "reduce", "all", "none", "some"})


def _rescoped(op: str, index: int) -> bool:
    return (op in SCOPED_OPERATORS and index == 1) or (op == "try" and index >= 1)


def _operations(rule: Any) -> Iterator[tuple[str, list, int]]:
    """Yield ``(operator, arguments, depth)`` for every operation that would run.

    ``depth`` counts the per-item bodies of map/filter/reduce/all/none/some and the
    fallbacks of try around the operation: there ``var`` reads the item (or the error)
    rather than the data. Literal objects and what ``preserve`` holds are skipped:
    nothing inside them is evaluated.
    """
    stack: list[tuple[Any, int]] = [(rule, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is list:
            stack.extend((item, depth) for item in reversed(node))
        elif type(node) is dict and len(node) == 1:
            ((op, values),) = node.items()
            args = values if type(values) is list else [values]
            yield op, args, depth
            if op == "preserve":
                continue
            stack.extend(
                (arg, depth + _rescoped(op, i)) for i, arg in reversed(list(enumerate(args)))
            )


def operators_in(rule: Any) -> set[str]:
    """Names of the operations ``rule`` uses, unknown ones included (nothing is raised)."""
    return {op for op, _, _ in _operations(rule)}


def _literal_path(value: Any) -> str | None:
    if type(value) in (str, int, float, bool) and value != "":
        return to_string(value)
    return None


def _keys_read(op: str, args: list) -> list:
    """The arguments of a data-reading operation that name paths."""
    if op == "var":
        return args[:1]
    if op == "missing":
        return args[0] if args and type(args[0]) is list else args
    if op == "missing_some":
        return args[1] if len(args) > 1 and type(args[1]) is list else args[1:2]
    return []


def _val_path(op: str, args: list) -> tuple[int, str] | None:
    """(scope level, dotted path) of a ``val`` or ``exists`` with literal keys, else None."""
    if op not in ("val", "exists"):
        return None
    level = 0
    if op == "exists" and len(args) == 1 and type(args[0]) is list:
        args = args[0]
    elif op == "val" and args and type(args[0]) is list:
        first = args[0]
        if len(first) != 1 or type(first[0]) not in (int, float):
            return None
        level, args = abs(int(first[0])), args[1:]
    keys = [_literal_path(key) for key in args]
    if not keys or None in keys:
        return None
    return level, ".".join(k for k in keys if k is not None)


def _read_paths(rule: Any, want_scoped: bool) -> list[str]:
    paths: dict[str, None] = {}
    for op, args, depth in _operations(rule):
        found = _val_path(op, args)
        if found is not None:
            # A val that climbs `level` scopes reads the data of the scope it lands in.
            level, path = found
            if (max(depth - level, 0) > 0) is want_scoped:
                paths[path] = None
            continue
        if (depth > 0) is not want_scoped:
            continue
        for key in _keys_read(op, args):
            literal = _literal_path(key)
            if literal is not None:
                paths[literal] = None
    return list(paths)


def var_paths(rule: Any) -> list[str]:
    """Literal data paths ``rule`` reads (``var``, ``missing``, ``missing_some`` keys).

    Paths inside the per-item body of map/filter/reduce/all/none/some are left
    out: they name fields of the item, not of the data (see ``scoped_var_paths``).
    Computed paths and ``""`` (the whole data) are left out too.
    """
    return _read_paths(rule, want_scoped=False)


def scoped_var_paths(rule: Any) -> list[str]:
    """Literal paths read inside per-item bodies, relative to the item
    (``current``/``accumulator`` for ``reduce``)."""
    return _read_paths(rule, want_scoped=True)


_READERS = frozenset({"var", "missing", "missing_some", "val", "exists"})


def reads_path(doc: Any, path: str) -> bool:
    """Whether any expression anywhere in `doc` (a whole template, effects and all) may read
    the data at dotted `path` or below it. Conservative: every single-key object is taken
    for an operation, a read inside a loop body counts as a read of the data, and a read whose
    path is computed or empty (the whole data) counts as reading everything."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if type(node) is list:
            stack.extend(node)
        elif type(node) is dict:
            if len(node) == 1:
                ((op, values),) = node.items()
                if op in _READERS and _may_read(op, values if type(values) is list
                                                else [values], path):
                    return True
            stack.extend(node.values())
    return False


def _may_read(op: str, args: list, path: str) -> bool:
    if op in ("val", "exists"):
        found = _val_path(op, args)
        keys: list[str | None] = [found[1] if found else None]
    elif op == "var" and not args:
        return True  # the whole data
    else:
        keys = [_literal_path(key) for key in _keys_read(op, args)]
        if op != "var" and not keys:
            keys = [None]  # (missing over a computed list)
    return any(key is None or key == path or path.startswith(key + ".")
               or key.startswith(path + ".") for key in keys)


def data_reads(rule: Any) -> list[str] | None:
    """The literal paths `rule` reads from its data, or None when it may read more than
    those: a computed or empty path (the whole data), a named definition. Reads of an
    item inside a loop body (or of an error in a fallback) are not reads of the data."""
    paths: list[str] = []
    for op, args, depth in _operations(rule):
        if op == "def":
            return None
        if op not in _READERS:
            continue
        if op in ("val", "exists"):
            found = _val_path(op, args)
            if found is None:
                return None
            if max(depth - found[0], 0) == 0:
                paths.append(found[1])
            continue
        if depth > 0:
            continue
        keys = _keys_read(op, args) if args else []
        if not keys:
            return None  # (var of nothing: the whole data; missing of a computed list)
        for key in keys:
            literal = _literal_path(key)
            if literal is None:
                return None
            paths.append(literal)
    return paths
