"""Input names and ids. A field's input is named by its dotted path (`config.prizes.0.name`)
and its id derives from that name, so an error keyed `prizes.0.name` finds its input."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Errors keyed by the path of their field in the config (`prizes.0.name`, "" for the root), as
# the validator reports them: `{path: [{"code", "message"}]}`.
FieldErrors = dict[str, list[dict[str, str]]]


def input_name(prefix: str, path: list[str]) -> str:
    """The name of the input at `path` (`["prizes", "0"]` → `config.prizes.0`)."""
    return ".".join([prefix, *path]) if prefix else ".".join(path)


def field_id(name: str) -> str:
    """The HTML id of the input named `name`
    (`config.prizes.0.name` → `field-config-prizes-0-name`)."""
    return "field-" + (re.sub(r"[^\w-]", "-", name.replace(".", "-")) or "root")


def form_keys(form: Any) -> list[str]:
    """Every name submitted in `form`, in order."""
    return [str(k) for k in (form.keys() if hasattr(form, "keys") else [])]


def submitted(form: Any, name: str) -> list[str]:
    """Every value submitted under `name`: werkzeug's MultiDict, or a mapping of name → str or
    list of str."""
    if hasattr(form, "getlist"):
        return [str(v) for v in form.getlist(name)]
    value = form.get(name) if isinstance(form, Mapping) else None
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
