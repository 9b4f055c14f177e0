"""Errors the rules layer raises: one at compile time, one while an action runs.

They live apart from the compiler and the effects so that both (and the interpreter) can
raise them while imports keep pointing one way: compiler -> effects -> errors.
"""

from __future__ import annotations

from magic_cube.errors import MagicCubeError


class TemplateCompileError(MagicCubeError):
    """A template that cannot be compiled; `path` locates the offending node."""

    code = "template_invalid"

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class Refused(Exception):
    """Raised while effects run; the interpreter turns it into a `Rejection`."""

    def __init__(self, error: str, where: str, detail: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.where = where
        self.detail = detail
