"""Time on the wire: ISO 8601 in the API, whole epoch seconds inside the engine.

Requests give date-times with an offset (`2026-11-11T10:00:00+08:00`); responses render every
timestamp in UTC with a `Z` (`2026-11-11T02:00:00Z`), so a client never has to guess a zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Keys whose integer values are timestamps wherever they appear in a response, template views
# and action results included: `*_at` by convention, and the action log's `at`.
TIME_KEYS_EXACT = frozenset({"at"})


def to_iso(epoch: int | None) -> str | None:
    """`1794362400` -> `"2026-11-11T02:00:00Z"`; None stays None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_epoch(value: datetime | None) -> int | None:
    """An aware datetime as whole epoch seconds (fractions are dropped)."""
    if value is None:
        return None
    return int(value.timestamp())


def is_time_key(key: Any) -> bool:
    return isinstance(key, str) and (key.endswith("_at") or key in TIME_KEYS_EXACT)


def iso_times(value: Any) -> Any:
    """A copy of an engine result with every timestamp field rendered as ISO 8601 UTC: epoch
    seconds, and date-times with another offset (a view reading a config date-time)."""
    if isinstance(value, dict):
        return {k: (_iso(v) if is_time_key(k) else iso_times(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [iso_times(v) for v in value]
    return value


def _iso(value: Any) -> Any:
    if _is_epoch(value):
        return to_iso(value)
    if isinstance(value, str) and len(value) > 19 and not value.endswith("Z"):
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None:
                return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except (ValueError, OverflowError):  # not a date-time, or not one UTC can hold
            pass
        return value
    return iso_times(value)


def _is_epoch(value: Any) -> bool:
    # bool is an int in Python; a flag named `*_at` is not a time.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253402300800
