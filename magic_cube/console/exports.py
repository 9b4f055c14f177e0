"""Every CSV the console exports, built one way: participants, the action log, winners for the
warehouse, a campaign's hours.

A file opens in Excel as the merchant reads the console: UTF-8 with a BOM (Chinese stays
Chinese), headers in the merchant's language (a participant variable by the template's own
label), times as local wall time (`2026-11-11 10:00:00`) in the activity's or campaign's time
zone, named in the header, and money in yuan with two decimals as a plain number a spreadsheet
can add up (the header says yuan). A cell never runs as a formula. Only the action log's raw
columns keep the data as logged (JSON, money in fen), for a developer.

Files are streamed: the store is read `PAGE` rows at a time, each page in its own short read
transaction and sent as one chunk, so a file of millions of rows never sits in memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Response, stream_with_context
from flask_babel import gettext as _

from magic_cube.console.context import i18n, joined, local_moment, tz_or_utc, zone_name
from magic_cube.console.labels import ACTOR_LABELS, kind_labels, shipping_labels
from magic_cube.console.present import (
    UNIT_SUFFIXES,
    action_name,
    event_name,
    event_text,
    merchant_details,
)
from magic_cube.engine import Engine, Merchant
from magic_cube.engine.fulfilment import SHIPPING_FIELDS
from magic_cube.engine.money import MoneyReads

PAGE = 1000  # rows read from the store per chunk
BOM = "\ufeff"  # Excel reads the file as UTF-8 only with it
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run as a formula (a shopper chooses their name)."""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def rows_chunk(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buffer.getvalue()


def csv_response(chunks: Iterator[str], filename: str) -> Response:
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# how values read ---------------------------------------------------------------------------

def timed(column: str, tz: str) -> str:
    """A time column's header, naming the zone its times are in."""
    return _("%(column)s (%(zone)s)", column=column, zone=zone_name(tz))


def local_time(ts: int | None, tz: str) -> str:
    """Epoch seconds as wall time in `tz`, as a spreadsheet reads a date and time."""
    moment = local_moment(ts, tz)
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def in_yuan(column: str) -> str:
    """A money column's header: says yuan (once)."""
    if column.endswith(UNIT_SUFFIXES):
        return column
    return _("%(column)s (yuan)", column=column)


def yuan_number(fen: Any) -> str:
    """Fen as yuan with two decimals and no grouping or sign: `1234.50`, which adds up."""
    if isinstance(fen, bool) or not isinstance(fen, int | float):
        return "" if fen is None else str(fen)
    return str((Decimal(int(fen)) / 100).quantize(Decimal("0.01")))


def plain(value: Any) -> Any:
    """A participant variable's value: a map as `key: value` pairs, a list of plain values
    joined; anything deeper as compact JSON (by `cell`)."""
    if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
        return joined(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return joined(value)
    return value


# participants ------------------------------------------------------------------------------

def state_columns(entry: Any, config: dict[str, Any] | None = None
                  ) -> list[tuple[str, str, bool]]:
    """(variable, header, holds money) of each declared participant variable: a column each,
    headed by the template's label for it (its name when it has none)."""
    if entry is None:
        return []
    declared = entry.doc.get("state", {}).get("participant", {})
    money = MoneyReads(entry.doc, config)
    out = []
    for name, declaration in declared.items():
        label = declaration.get("label") if isinstance(declaration, dict) else None
        header = i18n(label) if label else name.replace("_", " ")
        is_money = money.money({"var": f"me.{name}"})
        out.append((name, in_yuan(header) if is_money else header, is_money))
    return out


def participant_columns(tz: str) -> list[str]:
    return [_("Participant ID"), _("Name"), timed(_("First action"), tz),
            timed(_("Last action"), tz), _("Actions"), _("Interaction seconds"),
            _("Invited by"), _("Generation")]


def participants_csv(engine: Engine, activity_id: str, page: int = PAGE, *, tz: str = "UTC",
                     entry: Any = None, config: dict[str, Any] | None = None) -> Iterator[str]:
    """The participants CSV: a header chunk, then one chunk per page of `page` rows."""
    extra = state_columns(entry, config)
    yield BOM + rows_chunk([participant_columns(tz) + [h for _n, h, _m in extra]])
    after: str | None = None
    while True:
        rows = engine.participants(activity_id, after, page)  # its own read transaction
        if not rows:
            return
        yield rows_chunk([[r.participant_id, r.display_name, local_time(r.first_action_at, tz),
                           local_time(r.last_action_at, tz), r.actions, r.interaction_seconds,
                           r.inviter or "", r.generation,
                           *[_state_value((r.state or {}).get(n, ""), money)
                             for n, _h, money in extra]] for r in rows])
        if len(rows) < page:
            return
        after = rows[-1].participant_id


def _state_value(value: Any, money: bool) -> Any:
    return yuan_number(value) if money else plain(value)


# the action log ----------------------------------------------------------------------------

def action_columns(tz: str) -> list[str]:
    """What a merchant reads first (who, what, what happened), then the raw data as logged
    (JSON, money in fen) for a developer."""
    return [_("No."), timed(_("Time"), tz), _("Actor"), _("Participant ID"), _("Name"),
            _("Action"), _("What happened"), _("Room"), _("First time"),
            _("Parameters (raw data)"), _("Result (raw data)"), _("Events (raw data)")]


def action_row(entry: Any, i: dict[str, Any], tz: str) -> list[Any]:
    """One logged action as the CSV's row: names and labels in the merchant's language."""
    actor = ACTOR_LABELS.get(i["actor"])
    happened = joined(event_text(entry, e) for e in i["events"] or []) \
        or merchant_details(entry, i)
    return [i["seq"], local_time(i["at"], tz), str(actor) if actor else i["actor"],
            i["participant"] or "", i.get("display_name") or "", action_name(entry, i["action"]),
            happened, i["room"] or "", _("Yes") if i["first_time"] else _("No"), i["params"],
            i["result"], i["events"]]


def actions_csv(engine: Engine, merchant: Merchant, activity_id: str,
                entry: Any, page: int = PAGE, *, tz: str = "UTC") -> Iterator[str]:
    """The action log CSV, one chunk per page of `page` log entries."""
    yield BOM + rows_chunk([action_columns(tz)])
    after = 0
    while True:
        items, cursor = engine.action_log(merchant, activity_id, after=after, limit=page)
        if items:
            yield rows_chunk([action_row(entry, i, tz) for i in items])
        if cursor is None:
            return
        after = cursor


# winners -----------------------------------------------------------------------------------

WINNERS_PAGE = 100


def warehouse_columns(tz: str) -> list[str]:
    return [_("Code"), timed(_("Won at"), tz), _("Participant ID"), _("Name"),
            _("What happened"), _("Item"), _("Kind"), in_yuan(_("Amount")),
            timed(_("Redeemed at"), tz), *shipping_labels().values(),
            timed(_("Shipped at"), tz)]


def warehouse_csv(engine: Engine, merchant: Merchant, activity: dict[str, Any],
                  entry: Any) -> Iterator[str]:
    """Every winner and order, one chunk per page, with shipping details, for the warehouse."""
    tz, kinds = activity["timezone"], kind_labels()
    yield BOM + rows_chunk([warehouse_columns(tz)])
    after: str | None = None
    while True:
        items = engine.redemptions(merchant, activity["id"], after=after, limit=WINNERS_PAGE)
        if not items:
            return
        yield rows_chunk([[
            i["code"], local_time(i["created_at"], tz), i["participant_id"], i["display_name"],
            event_name(entry, i["event"]), i["item"], kinds.get(i["kind"], i["kind"]),
            yuan_number(i["amount"]), local_time(i["redeemed_at"], tz),
            *[(i["shipping"] or {}).get(k, "") for k in SHIPPING_FIELDS],
            local_time(i["shipped_at"], tz)] for i in items])
        if len(items) < WINNERS_PAGE:
            return
        after = items[-1]["code"]


# a campaign --------------------------------------------------------------------------------

def campaign_csv(stats: dict[str, Any], tz: str) -> Iterator[str]:
    """A campaign's hours, each starting at its local time."""
    zone = tz_or_utc(tz)
    rows: list[list[Any]] = [[timed(_("Hour"), tz), _("Participations"), _("New participants"),
                              _("First-time participants"), _("Interaction minutes"),
                              _("Completions"), _("Invited participants")]]
    for h in stats["hourly"]:
        moment = datetime.fromtimestamp(h["hour"], tz=UTC).astimezone(zone)
        rows.append([moment.strftime("%Y-%m-%d %H:%M"), h["participations"],
                     h["new_participants"], h["first_ever_participants"],
                     h["interaction_minutes"], h["completions"], h["invited"]])
    yield BOM + rows_chunk(rows)
