"""A merchant's live controls: start a scheduled activity now, move its end, top up stock.

Each is one write transaction that also appends a merchant entry to the action log, like a
live config edit (`$config`): `$start`, `$schedule` (the end moved, before and after) and
`$stock` (which stock, by how much). Replay applies `$stock` to the state it rebuilds and
numbers the others in place, so `engine.replay` agrees with what is stored.

What can be topped up is read from the template, not named in code: an activity variable whose
initial value is exactly `{"var": "config.X"}` follows config field X (a group-buy's or a
bargain's stock), and an array variable whose initial value is
`{"map": [{"var": "config.P"}, {"var": "X"}]}` follows field X of each row of P (a lottery's
stock per prize).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from magic_cube.engine.core import Core
from magic_cube.engine.errors import InvalidActivity, InvalidConfig, InvalidTransition
from magic_cube.engine.lifecycle import Lifecycle, describe, time_errors
from magic_cube.i18n import N_
from magic_cube.store import Tx
from magic_cube.store.records import ActionRecord, ActivityRecord, Merchant

LIVE_STATUSES = ("scheduled", "live", "paused")
MAX_TOP_UP = 10_000_000


@dataclass(frozen=True)
class StockLine:
    """One stock a merchant can top up: the config field it started from, the activity
    variable that counts what is left (and its index for a per-row stock)."""

    field: str  # "stock" or "prizes.1.stock"
    variable: str
    index: int | None
    left: int
    total: int
    row: dict[str, Any] | None = None  # the config row of a per-row stock (a prize)


def _column(expr: Any) -> Any:
    """The config column an initial value reads: `{"var": "stock"}`, or that less what a paced
    lottery holds back to release later (`{"-": [{"var": "stock"}, …]}`)."""
    if isinstance(expr, dict) and isinstance(expr.get("-"), list) and expr["-"]:
        expr = expr["-"][0]
    return expr.get("var") if isinstance(expr, dict) else None


def stock_lines(doc: dict[str, Any], config: dict[str, Any],
                state: dict[str, Any]) -> list[StockLine]:
    """Every stock of this activity that a top-up can raise."""
    out: list[StockLine] = []
    for name, decl in doc.get("state", {}).get("activity", {}).items():
        initial = decl.get("initial") if isinstance(decl, dict) else None
        if not isinstance(initial, dict):
            continue
        var = initial.get("var")
        if isinstance(var, str) and var.startswith("config.") and decl.get("type") == "integer":
            key = var.removeprefix("config.")
            total, left = config.get(key), state.get(name)
            if isinstance(total, int) and isinstance(left, int) and "." not in key:
                out.append(StockLine(key, name, None, left, total))
            continue
        mapped = initial.get("map")
        if decl.get("type") != "array" or not isinstance(mapped, list) or len(mapped) != 2:
            continue
        rows_var, item_var = (_column(m) for m in mapped)
        if not (isinstance(rows_var, str) and rows_var.startswith("config.")
                and isinstance(item_var, str) and "." not in item_var):
            continue
        rows, left = config.get(rows_var.removeprefix("config.")), state.get(name)
        if not isinstance(rows, list) or not isinstance(left, list):
            continue
        for i, row in enumerate(rows):
            if isinstance(row, dict) and isinstance(row.get(item_var), int) and i < len(left):
                out.append(StockLine(f"{rows_var.removeprefix('config.')}.{i}.{item_var}",
                                     name, i, left[i], row[item_var], row))
    return out


def apply_top_up(doc: dict[str, Any], config: dict[str, Any], state: dict[str, Any],
                 field: str, add: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, state) with the stock at `field` raised by `add`; `KeyError` for a field that
    is not a stock of this template. Replay calls this with the logged entry."""
    line = next((s for s in stock_lines(doc, config, state) if s.field == field), None)
    if line is None:
        raise KeyError(field)
    config, state = copy.deepcopy(config), copy.deepcopy(state)
    if line.index is None:
        config[line.field] += add
        state[line.variable] += add
    else:
        rows_key, _, item = field.split(".")
        config[rows_key][line.index][item] += add
        state[line.variable][line.index] += add
    return config, state


def _log(tx: Tx, activity: ActivityRecord, action: str, params: dict[str, Any],
         now: int) -> None:
    activity.seq += 1
    tx.insert_action(ActionRecord(
        activity_id=activity.id, seq=activity.seq, at=now, actor_kind="merchant",
        participant_id="", action=action, params=params, room_id=None, new_room_id=None,
        result={}, events=[], random=[]))


class Controls:
    """Start now, move the end, top up stock: each applied and logged in one transaction."""

    def __init__(self, core: Core, lifecycle: Lifecycle) -> None:
        self.core = core
        self.lifecycle = lifecycle

    def _open(self, tx: Tx, merchant: Merchant, activity_id: str) -> ActivityRecord:
        activity = self.core.activity(tx, activity_id, merchant)
        self.lifecycle.advance(tx, activity, self.core.now())
        return activity

    def start_now(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """A scheduled activity goes live now instead of at its start time."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self._open(tx, merchant, activity_id)
            if activity.status != "scheduled":
                raise InvalidTransition(N_("Cannot start an activity that is {status}"),
                                        words={"status": activity.status})
            _log(tx, activity, "$start", {"before": activity.starts_at, "at": now}, now)
            activity.status, activity.starts_at, activity.updated_at = "live", now, now
            tx.update_activity(activity.id, status="live", starts_at=now, seq=activity.seq,
                               updated_at=now)
            activity.version += 1
            self.lifecycle.timers_moved(tx, activity, now)
        self.core.notify(activity_id)
        return describe(activity)

    def set_end(self, merchant: Merchant, activity_id: str, ends_at: int) -> dict[str, Any]:
        """Move a published activity's end (later, or earlier but still in the future)."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self._open(tx, merchant, activity_id)
            if activity.status not in LIVE_STATUSES:
                raise InvalidTransition(f"Cannot move the end of an activity that is "
                                        f"{activity.status}")
            if errors := time_errors({"ends_at": ends_at}):
                raise InvalidActivity(errors=errors)
            if ends_at <= now or (activity.starts_at is not None
                                  and ends_at <= activity.starts_at):
                raise InvalidActivity(errors={"ends_at": [
                    {"code": "ends_in_past",
                     "message": "The end must be in the future and after the start"}]})
            before = activity.ends_at
            _log(tx, activity, "$schedule", {"before": {"ends_at": before},
                                             "after": {"ends_at": ends_at}}, now)
            activity.ends_at, activity.updated_at = ends_at, now
            tx.update_activity(activity.id, ends_at=ends_at, seq=activity.seq, updated_at=now)
            activity.version += 1
            self.lifecycle.timers_moved(tx, activity, now)
        self.core.notify(activity_id)
        return describe(activity)

    def stock(self, merchant: Merchant, activity_id: str) -> list[StockLine]:
        """The stocks a top-up can raise (none for a draft: it has no state yet)."""
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id, merchant)
        if activity.status == "draft":
            return []
        return stock_lines(self.core.entry(activity).doc, activity.config, activity.state)

    def top_up(self, merchant: Merchant, activity_id: str, field: str,
               add: int) -> dict[str, Any]:
        """Put `add` more units of the stock at `field` on sale."""
        if isinstance(add, bool) or not isinstance(add, int) or not 0 < add <= MAX_TOP_UP:
            raise InvalidConfig(errors={field: [
                {"code": "invalid_amount",
                 "message": f"Top up by a whole number from 1 to {MAX_TOP_UP}"}]})
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self._open(tx, merchant, activity_id)
            if activity.status not in LIVE_STATUSES:
                raise InvalidTransition(N_("Cannot top up an activity that is {status}"),
                                        words={"status": activity.status})
            entry = self.core.entry(activity)
            try:
                config, state = apply_top_up(entry.doc, activity.config, activity.state,
                                             field, add)
            except KeyError:
                raise InvalidConfig(errors={field: [
                    {"code": "not_a_stock", "message": "Not a stock of this activity"}]}) from None
            _filled, errors = entry.config_validator.validate(config)
            if errors:
                raise InvalidConfig(errors=errors)
            _log(tx, activity, "$stock", {"field": field, "add": add}, now)
            activity.config, activity.state, activity.updated_at = config, state, now
            tx.update_activity(activity.id, config=config, state=state, seq=activity.seq,
                               updated_at=now)
            activity.version += 1
        self.core.notify(activity_id)
        return describe(activity)


def without_top_up(config: dict[str, Any], field: str, add: int) -> dict[str, Any]:
    """`config` as it was before a logged top-up (replay starts from the published config)."""
    config = copy.deepcopy(config)
    *parents, last = field.split(".")
    node: Any = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] -= add
    return config


def top_up_state(doc: dict[str, Any], state: dict[str, Any], field: str,
                 add: int) -> dict[str, Any]:
    """Only the state side of a top-up (the invariant checker's view of what went on sale)."""
    parts = field.split(".")
    state = copy.deepcopy(state)
    for name, decl in doc.get("state", {}).get("activity", {}).items():
        initial = decl.get("initial") if isinstance(decl, dict) else None
        if not isinstance(initial, dict):
            continue
        if len(parts) == 1 and initial == {"var": f"config.{field}"}:
            state[name] += add
            return state
        mapped = initial.get("map")
        if len(parts) == 3 and isinstance(mapped, list) and len(mapped) == 2 \
                and _column(mapped[0]) == f"config.{parts[0]}" and _column(mapped[1]) == parts[2]:
            state[name][int(parts[1])] += add
            return state
    return state
