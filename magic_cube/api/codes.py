"""Every error code the API can answer with, where it comes from, its status and meaning.

Used to document each operation's error responses in `/openapi.json`, to render the table on
`/docs`, and by the test that keeps docs/api.md complete.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from magic_cube.api import challenge as api_challenge
from magic_cube.api import errors as api_errors
from magic_cube.catalog import Catalog
from magic_cube.catalog.errors import BUILTIN_ERRORS
from magic_cube.engine import errors as engine_errors
from magic_cube.engine import events as engine_events
from magic_cube.engine import forecasts as engine_forecasts

# Modules whose EngineError subclasses are answered by the API as they are.
ENGINE_ERROR_MODULES = (engine_errors, engine_events, engine_forecasts, api_challenge)


@dataclass(frozen=True)
class Code:
    code: str
    status: int
    meaning: str
    source: str  # "api", "engine", "template" (built-in) or a template id


def engine_codes() -> dict[str, Code]:
    out: dict[str, Code] = {}
    for module in ENGINE_ERROR_MODULES:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, engine_errors.EngineError) and cls.__module__ == module.__name__:
                out.setdefault(cls.code, Code(cls.code, cls.status, cls.message, "engine"))
    return out


def handler_codes() -> dict[str, Code]:
    messages = {cls.code: cls.message for cls in vars(api_errors).values()
                if inspect.isclass(cls) and issubclass(cls, api_errors.ApiError)}
    extra = {
        "invalid_wait": "`wait` is not a number of seconds from 0 to 25 in ASCII digits",
        "template_not_found": "No template with this id (and version)",
        "template_mismatch": "A pinned template's file changed on the server (operator error)",
        "conflict": "Another request changed the same data; try again",
    }
    return {code: Code(code, status, messages.get(code) or extra.get(code, ""), "api")
            for code, status in api_errors.HANDLER_CODES.items()}


def builtin_template_codes() -> dict[str, Code]:
    return {code: Code(code, status, text["en"], "template")
            for code, (status, text) in BUILTIN_ERRORS.items()}


def all_codes(catalog: Catalog | None = None) -> dict[str, Code]:
    """API, engine and built-in template codes; with a catalog, each template's own codes too."""
    out = {**handler_codes()}
    for code, entry in engine_codes().items():
        out.setdefault(code, entry)
    for code, entry in builtin_template_codes().items():
        out.setdefault(code, entry)
    if catalog is not None:
        for tpl in catalog.entries():
            for code, spec in sorted(tpl.doc.get("errors", {}).items()):
                out.setdefault(code, Code(code, spec["status"], spec["message"].get("en", ""),
                                          tpl.id))
    return out


def status_of(code: str) -> int:
    found = all_codes().get(code)
    if found is None:
        raise KeyError(f"unknown error code {code!r}")
    return found.status
