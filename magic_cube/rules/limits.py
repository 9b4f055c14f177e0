"""What an action's `limits` count, and in which window (docs/templates.md, "Limits").

Pure: the engine counts in the store, in the action's transaction (engine/action_limits.py);
scenarios count in memory (rules/sim.py). Both key a count by (limit id, subject, period).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from magic_cube.rules.compiler import Limit
from magic_cube.rules.days import local_date, zone
from magic_cube.rules.model import Rejection

Key = tuple[str, str, str]  # (limit id, subject, period)


def subject(per: str, participant: str, device: str, address: str) -> str:
    """Who is counted: `d:` the device id; without one (or per address) `a:` the address;
    without either (an action from inside the server) or per participant, `p:` the
    participant. Leaving the device header out so dodges nothing."""
    if per == "device" and device:
        return f"d:{device}"
    if per in ("device", "address") and address:
        return f"a:{address}"
    return f"p:{participant}"


def period(within: str, room_id: str | None, now: int, tz: str) -> str:
    """The window an action counts in: its room, local date, local ISO week, or "" (all)."""
    if within == "room":
        return room_id or ""
    if within == "day":
        return local_date(now, tz)
    if within == "week":
        year, week, _ = datetime.fromtimestamp(now, UTC).astimezone(zone(tz)).isocalendar()
        return f"{year}-W{week:02d}"
    return ""


def most(limit: Limit, config: dict[str, Any]) -> int | Rejection:
    """The limit's `max` for this configuration: a whole number, else a rule error."""
    try:
        value = limit.max({"config": config})
    except Exception as exc:  # an expression failing at run time, as a guard's would
        return Rejection("rule_error", limit.where, f"max: {exc}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Rejection("rule_error", limit.where, f"max is {value!r}, not a number")
    return int(value)


def counted(limits: list[Limit], config: dict[str, Any], participant: str, device: str,
            address: str, room_id: str | None, now: int,
            tz: str) -> list[tuple[Limit, Key, int]] | Rejection:
    """(limit, key, max) of each limit an action counts under, or the rule error of a `max`."""
    out: list[tuple[Limit, Key, int]] = []
    for limit in limits:
        cap = most(limit, config)
        if isinstance(cap, Rejection):
            return cap
        key = (limit.id, subject(limit.per, participant, device, address),
               period(limit.within, room_id, now, tz))
        out.append((limit, key, cap))
    return out


def reached(limit: Limit) -> Rejection:
    return Rejection(limit.error, limit.where, "limit reached")
