"""What a rule can be refused for, at compile time or (rarely) at run time."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence

Path = list[str | int]


class JsonLogicError(ValueError):
    """Base error; ``path`` locates the offending node inside the rule."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.path: Path = list(path)

    @property
    def pointer(self) -> str:
        """``path`` as a JSON pointer, "" for the whole rule."""
        return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in self.path)


class UnknownOperator(JsonLogicError):
    """An operation whose name is not an allowed operator.

    Without a ``reason`` the message names the operator and, from ``known``, the closest
    allowed one.
    """

    def __init__(
        self,
        operator: str,
        path: Sequence[str | int],
        reason: str | None = None,
        known: Collection[str] = (),
    ) -> None:
        if reason is None:
            shown = operator if len(operator) <= 40 else operator[:37] + "..."
            reason = f"unknown operator {shown!r}"
            close = difflib.get_close_matches(operator, known, n=1)
            if close:
                reason += f" (did you mean {close[0]!r}?)"
        super().__init__(reason, path)
        self.operator = operator


class RuleTooDeep(JsonLogicError):
    """Nesting beyond ``MAX_DEPTH``: refused before anything recurses into it."""


class RuleTooLarge(JsonLogicError):
    """More than ``MAX_NODES`` values in one rule."""


class InvalidRule(JsonLogicError):
    """Not JSON, or an operation json-logic-js would always fail on."""


class EvaluationError(JsonLogicError):
    """Raised at run time only where json-logic-js itself throws."""


class ThrownError(EvaluationError):
    """Raised by ``throw``; ``error`` is the error object a ``try`` fallback reads."""

    def __init__(self, error: object, path: Sequence[str | int] = ()) -> None:
        super().__init__(f"thrown: {error!r}", path)
        self.error = error
