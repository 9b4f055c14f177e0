"""The project-wide exception base, and how an error message quotes what it refuses.

Every error magic-cube raises on purpose derives from `MagicCubeError`, so callers (the API's
one error handler, the CLI) can tell our refusals from bugs with a single `except`. A message
that quotes a client's value does so through `shown` or `quoting`: it names what was wrong
without sending a large value back (a request body may hold 64 KiB in one string).
"""

from __future__ import annotations

from typing import Any

ECHO_LIMIT = 100  # characters of a value a message quotes
MESSAGE_LIMIT = 300  # characters of a message that quotes values


class MagicCubeError(Exception):
    """Base class of every deliberate magic-cube error."""


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` - 1 characters and an ellipsis."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def shown(value: Any) -> str:
    """`value` as a message quotes it: its repr, cut to `ECHO_LIMIT` characters."""
    return cut(repr(value), ECHO_LIMIT)


def quoting(message: str, value: Any) -> str:
    """`message`, which quotes `value` by its repr (as jsonschema's messages do), quoting it
    by `shown` instead; cut to `MESSAGE_LIMIT` as it may quote more (unexpected keys)."""
    full = repr(value)
    if len(full) > ECHO_LIMIT:
        message = message.replace(full, shown(value))
    return cut(message, MESSAGE_LIMIT)
