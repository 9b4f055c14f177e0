"""The SQL both stores share: every `Tx` method whose statements and row conversions are the
same on SQLite and PostgreSQL, written once with `?` placeholders.

A subclass runs the statements through five hooks on its own driver — `_one` and `_all`
(rows as dicts), `_row` and `_rows` (rows as tuples), `_exec` (a write: its row count) and
`_many` (one statement, many argument tuples) — translating the placeholders if its driver
needs to, and raising `Conflict` where a constraint refuses a write. It overrides only the
methods whose SQL differs (row locks, `SKIP LOCKED`, `RETURNING`, …).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields as dataclass_fields
from dataclasses import replace as dataclass_replace
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from magic_cube.store.base import ClaimedEvent, Conflict, OutboxEvent, Tx
from magic_cube.store.records import (
    ActionRecord,
    ActivityRecord,
    IdempotencyRecord,
    Member,
    Merchant,
    OutboxRecord,
    ParticipantRecord,
    Room,
    StoredRoom,
)

# Made once, not per call: `json.dumps` with options builds a new encoder every time, and
# every action writes several JSON columns. The C encoder (when present) is called directly:
# the same output as `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`, without
# the circular-reference check (stored values are trees; a cycle still fails, as RecursionError).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_C_ENCODE = c_make_encoder(None, _ENCODER.default, encode_basestring, None, ":", ",", False,
                           False, True) if c_make_encoder is not None else None
_DECODER = json.JSONDecoder()
# What `decode` runs, less its two whitespace checks (set by JSONDecoder.__init__).
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]


def dumps(value: Any) -> str:
    if _C_ENCODE is None:
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def loads(text: str | None) -> Any:
    if text is None:
        return None
    try:  # compact JSON, as `dumps` writes it: one scan from the first character to the last
        value, end = _SCAN(text, 0)
        if end == len(text):
            return value
    except StopIteration:
        pass
    return _DECODER.decode(text)  # anything else (whitespace, an error) takes the full path


# The statements `flush` writes the counters with, made once per shape.
_HOURS = "INSERT INTO participant_hours (activity_id, hour, participant_id)"
_EVENTS = "INSERT INTO event_stats (activity_id, hour, type, count)"
_EVENTS_UPSERT = ("ON CONFLICT (activity_id, hour, type) "
                  "DO UPDATE SET count = event_stats.count + excluded.count")


@functools.lru_cache(maxsize=256)
def _rows_sql(insert: str, width: int, rows: int, tail: str) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{insert} VALUES {', '.join([row] * rows)} {tail}"


@functools.lru_cache(maxsize=256)
def _stats_sql(columns: tuple[str, ...], rows: int) -> str:
    updates = ", ".join(f"{c} = stats.{c} + excluded.{c}" for c in columns)
    return _rows_sql(f"INSERT INTO stats (activity_id, hour, {', '.join(columns)})",
                     len(columns) + 2, rows,
                     f"ON CONFLICT (activity_id, hour) DO UPDATE SET {updates}")


_ACTIVITY_JSON_COLUMNS = frozenset(("config", "state", "initial_state", "campaigns"))


@functools.lru_cache(maxsize=256)
def _update_activity_sql(columns: tuple[str, ...], bump: bool) -> str:
    sets = [f"{c} = ?" for c in columns] + (["version = version + 1"] if bump else [])
    return f"UPDATE activities SET {', '.join(sets)} WHERE id = ?"


# Rows read for a record name its fields, in order, and become it positionally: no dict of
# column names per row (an action reads its activity and its actor every time).
_ACTIVITY_FIELDS = tuple(f.name for f in dataclass_fields(ActivityRecord))
SELECT_ACTIVITY = f"SELECT {', '.join(_ACTIVITY_FIELDS)} FROM activities"
_ACTIVITY_JSON_AT = tuple(_ACTIVITY_FIELDS.index(k) for k in ("config", "state", "initial_state"))
_CAMPAIGNS_AT = _ACTIVITY_FIELDS.index("campaigns")
_GUESTS_AT = _ACTIVITY_FIELDS.index("guests")

_PARTICIPANT_FIELDS = tuple(f.name for f in dataclass_fields(ParticipantRecord))
SELECT_PARTICIPANT = f"SELECT {', '.join(_PARTICIPANT_FIELDS)} FROM activity_participants"
_PARTICIPANT_STATE_AT = _PARTICIPANT_FIELDS.index("state")
# The participant's row (NULLs when there is none) and whether the merchant knows them: the
# two look-ups of an action by someone new to the activity, in one statement.
PARTICIPANT_AND_KNOWN = (
    f"SELECT {', '.join('ap.' + f for f in _PARTICIPANT_FIELDS)}, "
    "EXISTS (SELECT 1 FROM participants WHERE merchant_id = ? AND id = ?) "
    "FROM (SELECT 1) AS one LEFT JOIN activity_participants ap "
    "ON ap.activity_id = ? AND ap.participant_id = ?")
_PARTICIPANT_VERSION_AT = _PARTICIPANT_FIELDS.index("version")
_PARTICIPANT_NAME_AT = _PARTICIPANT_FIELDS.index("display_name")
_INSERT_PARTICIPANTS = f"INSERT INTO activity_participants ({', '.join(_PARTICIPANT_FIELDS)})"
# A kept participant's update: the row's other fields, then its key and the version read.
_UPDATE_PARTICIPANT = (
    f"UPDATE activity_participants SET {', '.join(f + ' = ?' for f in _PARTICIPANT_FIELDS[2:])} "
    "WHERE activity_id = ? AND participant_id = ? AND version = ?")
_INSERT_KNOWN = "INSERT INTO participants (merchant_id, id, first_seen_at, first_activity_id)"
_INSERT_DEVICES = ("INSERT INTO participant_devices (activity_id, participant_id, device, "
                   "first_seen)")
_ROOM_COLUMNS = ("activity_id", "id", "status", "initiator", "capacity", "opened_at", "closed_at",
                 "state", "timers", "next_due", "size", "version")
_ROOM_VERSION_AT = _ROOM_COLUMNS.index("version")
_ROOM_NEXT_DUE_AT = _ROOM_COLUMNS.index("next_due")
_INSERT_ROOMS = f"INSERT INTO rooms ({', '.join(_ROOM_COLUMNS)})"
# A kept room's update: what an action changes, then its key and the version read.
_UPDATE_ROOM = ("UPDATE rooms SET status = ?, closed_at = ?, state = ?, timers = ?, next_due = ?, "
                "size = ?, version = ? WHERE activity_id = ? AND id = ? AND version = ?")
_INSERT_MEMBERS = ("INSERT INTO room_members (activity_id, room_id, participant_id, role, data, "
                   "display_name, joined_at, position)")
_TAKE_LIMITS = ("INSERT INTO action_limits (activity_id, limit_id, subject, period, count) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (activity_id, limit_id, subject, period) "
                "DO UPDATE SET count = action_limits.count + excluded.count "
                "WHERE action_limits.count + excluded.count <= ?")
_ROWS_PER_INSERT = 500  # at most 10,000 parameters: within SQLite's and PostgreSQL's limits
_KEY_FIELDS = tuple(f.name for f in dataclass_fields(IdempotencyRecord))
_INSERT_KEYS = f"INSERT INTO idempotency ({', '.join(_KEY_FIELDS)})"
_INSERT_OUTBOX = "INSERT INTO outbox (activity_id, seq, type, data, created_at, next_attempt_at)"
_REDEMPTION_COLUMNS = ("code", "merchant_id", "activity_id", "seq", "position", "participant_id",
                       "display_name", "event", "item", "kind", "amount", "created_at")
_INSERT_REDEMPTIONS = f"INSERT INTO redemptions ({', '.join(_REDEMPTION_COLUMNS)})"


def _bumped(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A participant's row with its version moved on by one."""
    values = list(row)
    values[_PARTICIPANT_VERSION_AT] += 1
    return tuple(values)


def participant_from_row(row: tuple | None) -> ParticipantRecord | None:
    """A row of `SELECT_PARTICIPANT` as the record."""
    if row is None:
        return None
    values = list(row)
    values[_PARTICIPANT_STATE_AT] = loads(values[_PARTICIPANT_STATE_AT])
    return ParticipantRecord(*values)


_ACTION_COLUMNS = ("activity_id", "seq", "at", "actor_kind", "participant_id", "action", "params",
                   "room_id", "new_room_id", "result", "events", "random", "first_time",
                   "new_to_activity", "display_name", "timer", "inviter", "device", "address",
                   "never_wins")
# `insert_action` writes them in this order: every field of the record, none left out.
assert _ACTION_COLUMNS == tuple(f.name for f in dataclass_fields(ActionRecord))
_INSERT_ACTIONS = f"INSERT INTO actions ({', '.join(_ACTION_COLUMNS)})"


def _fold(pending: list[tuple[str, str, int, Any]]
          ) -> tuple[dict[tuple[str, int], dict[str, int]], dict[tuple[str, int, str], int],
                     dict[tuple[str, int], dict[str, None]]]:
    """Pending counter moves summed: (stats by bucket, event counts, participants by hour)."""
    stats: dict[tuple[str, int], dict[str, int]] = {}
    events: dict[tuple[str, int, str], int] = {}
    hours: dict[tuple[str, int], dict[str, None]] = {}
    for kind, activity_id, hour, what in pending:
        if kind == "stats":
            bucket = stats.get((activity_id, hour))
            if bucket is None:
                stats[activity_id, hour] = {name: n for name, n in what.items() if n}
            else:
                for name, n in what.items():
                    if n:
                        bucket[name] = bucket.get(name, 0) + n
        elif kind == "events":
            for name, n in what.items():
                key = (activity_id, hour, name)
                events[key] = events.get(key, 0) + n
        else:
            hours.setdefault((activity_id, hour), {})[what] = None
    return stats, events, hours


# LIKE patterns are built by `containing`, whose escape character this clause declares:
# SQLite has none unless told, PostgreSQL's default is the same backslash.
LIKE_ESCAPE = "ESCAPE '\\'"


def containing(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its `%`, `_` and `\\` escaped: a search for
    `%` finds a percent sign, not every row."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@functools.cache
def _savepoint(depth: int) -> tuple[str, str, str]:
    """The statements that open, roll back to and release a savepoint at this depth."""
    name = f"sp{depth}"
    return f"SAVEPOINT {name}", f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"


def _copy(record: ActivityRecord) -> ActivityRecord:
    """A shallow copy (its JSON values shared), without `copy.copy`'s protocol look-ups."""
    copied = object.__new__(ActivityRecord)
    copied.__dict__.update(record.__dict__)
    return copied


class SQLTx(Tx):
    conn: Any

    # The operator of `list_activities`' search: ASCII case-insensitive on both databases.
    _LIKE = "LIKE"

    # Counter moves not yet written: ("stats" | "events" | "hour", activity, hour, what), in
    # the order they were made. `flush` folds them into a few statements before the commit;
    # a savepoint rolled back drops the ones made since it.
    _counts: list[tuple[str, str, int, Any]]
    # The activities read in this transaction, as last written in it: a batch of one
    # activity's actions (group commit) reads and decodes its row once, not once per action
    # (on PostgreSQL, the row lock too). `update_activity` changes the record here and keeps
    # the columns it changed (`_unwritten`) for `flush`, which writes each row once, as do the
    # statements that read the table; a savepoint rolled back puts back what was here when it
    # began.
    _read: dict[str, ActivityRecord]
    _unwritten: dict[str, set[str]]
    # Action-log rows not inserted yet: `flush` inserts them in one statement (as do the
    # statements that read the log, first), so a batch's actions are one insert.
    _logged: list[tuple[Any, ...]]
    # How many of `_counts` and of `_logged` are written. While a savepoint is open, what is
    # written stays listed: rolling it back undoes the writes made inside it, those of entries
    # kept from before it too, which must then be written again.
    _counts_written = 0
    _logged_written = 0
    # Participants new to an activity (`save_participant` with no version read), shoppers new
    # to their merchant (`remember_participant`) and the devices participants came with
    # (`note_device`), not inserted yet: rows as a read gives them, inserted by `flush` in one
    # statement each; reads of them in this transaction are answered from here. `_unknown`:
    # shoppers `known_participant` found unknown (on PostgreSQL, under the advisory lock it
    # then holds), which `remember_participant` may therefore count as new without asking.
    _people: dict[tuple[str, str], tuple[Any, ...]]
    # Participants' rows changed (`save_participant` of a row that exists), not written yet:
    # (the row as a read gives it, the version the transaction read), updated by `flush`
    # conditionally on that version, as `save_participant` once did at once. Every writer of
    # a participant's row has read it in the same transaction under its activity's lock (on
    # PostgreSQL the row itself is locked when read), so the update cannot miss; if it ever
    # did, the whole transaction fails with `Conflict` rather than write over a change.
    _updated: dict[tuple[str, str], tuple[tuple[Any, ...], int]]
    _newcomers: dict[tuple[str, str], tuple[Any, ...]]
    # Rooms created or changed, not written yet: (activity, room) -> (its `rooms` row as it is
    # now, its version in the database — None for a room created in this transaction — its
    # members as a read gives them, the member rows not inserted yet). A read of the room is
    # answered from here; `flush` (or a statement that reads rooms, first) inserts the new
    # rooms in one statement, updates the others conditionally on the version read, as for
    # participants (a room is read under its activity's lock, and on PostgreSQL locked itself,
    # before it is changed), and inserts the members.
    _rooms: dict[tuple[str, str], tuple[tuple[Any, ...], int | None,
                                        tuple[tuple[Any, ...], ...], tuple[tuple[Any, ...], ...]]]
    # Action limits read or taken: key -> (count as it is now, what is not written yet, the
    # cap it was taken under). An action takes its limits under its activity's lock, so what
    # was read stays true; `flush` adds what was taken, still conditional on the cap.
    _limits: dict[tuple[str, str, str, str], tuple[int, int, int]]
    _devices: dict[tuple[str, str, str], tuple[Any, ...]]
    _unknown: set[tuple[str, str]]
    _seen: set[tuple[str, str]]  # shoppers found known in this transaction
    # Idempotency-Keys claimed in this transaction that no row held: the claim, then its
    # completion, kept for `flush` (a claim is made under its activity's lock, which every
    # claim of a key of that activity takes first, so no other transaction can claim it
    # meanwhile).
    _keys: dict[tuple[str, str, str], IdempotencyRecord]
    # Rows of the tables only ever appended to in an action (webhook events, codes), not
    # inserted yet: insert statement -> rows in order (an event's id follows that order).
    _appended: dict[str, list[tuple[Any, ...]]]
    _savepoints = 0  # how deep the savepoint open now is
    # How many savepoints are open in the database (always the outermost ones): one is opened
    # only before the first write inside it, so a part that writes nothing, or only what is
    # kept back for the commit, runs none. A statement that fails in a part with no savepoint
    # open (`_statement_failed`, noted by a store where that loses the whole transaction, as
    # on PostgreSQL) makes the transaction `broken`: group commit runs the batch's other
    # actions again in a new one.
    _opened = 0
    _statement_failed = False
    broken = False  # a part could not be rolled back alone: only the whole transaction can

    # hooks ---------------------------------------------------------------------------------

    def _lock(self, query: str) -> str:
        """`query` locking the rows it reads until the transaction ends: on SQLite a write
        transaction already holds the whole database (PostgreSQL adds FOR UPDATE)."""
        return query

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        """The first row of a query, as a dict, or None."""
        raise NotImplementedError

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        """Every row of a query, as dicts."""
        raise NotImplementedError

    def _row(self, sql: str, args: Any = ()) -> tuple | None:
        """The first row of a query, as a tuple, or None."""
        raise NotImplementedError

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Every row of a query, as tuples."""
        raise NotImplementedError

    def _exec(self, sql: str, args: tuple = ()) -> int:
        """Run a write; the number of rows it changed."""
        raise NotImplementedError

    def _many(self, sql: str, args: list[tuple]) -> int:
        """Run one statement once per argument tuple; the number of rows it changed in all."""
        raise NotImplementedError

    # savepoints, deferred counters ---------------------------------------------------------

    def _pending(self) -> list[tuple[str, str, int, Any]]:
        try:
            return self._counts
        except AttributeError:
            self._counts = []
            return self._counts

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested part of the transaction that an exception rolls back alone."""
        # Named by depth, not one name each: a batch's savepoints, one after another, run the
        # same three statements, prepared once (SQLite and PostgreSQL both take a name used
        # again to mean the newest savepoint of that name).
        self._savepoints += 1
        depth = self._savepoints
        name = _savepoint(depth)
        pending, logged = self._pending(), self._log()
        mark, logged_mark = len(pending), len(logged)
        written, logged_written = self._counts_written, self._logged_written
        known, unwritten = self._known(), self._changed()
        # What must come back if this part is rolled back: the records not written yet (the
        # others are read again), the rows not inserted yet.
        kept = {a: (_copy(known[a]), set(columns)) for a, columns in unwritten.items()}
        rows = self._kept_copies()
        self._statement_failed = False
        try:
            yield
        except BaseException:
            del pending[mark:]
            del logged[logged_mark:]
            self._counts_written, self._logged_written = written, logged_written
            known.clear()
            unwritten.clear()
            for activity_id, (record, columns) in kept.items():
                known[activity_id], unwritten[activity_id] = record, columns
            (self._people, self._updated, self._newcomers, self._rooms, self._limits,
             self._devices, self._keys, self._appended) = rows
            # (On PostgreSQL the advisory locks taken inside are let go with it.)
            self._unknown.clear()
            self._seen.clear()
            if self._opened >= depth:
                try:
                    self._exec(name[1])
                    self._exec(name[2])
                    self._statement_failed = False
                except Exception:
                    self.broken = True  # e.g. SQLite rolled the whole transaction back itself
                finally:
                    self._opened = depth - 1
            elif self._statement_failed:
                self.broken = True
            raise
        finally:
            self._savepoints -= 1
        if self._opened >= depth:
            self._exec(name[2])
            self._opened = depth - 1

    def _open_savepoints(self) -> None:
        """Open the savepoints not opened yet, outermost first, before a write."""
        while self._opened < self._savepoints:
            self.conn.execute(_savepoint(self._opened + 1)[0])
            self._opened += 1

    def flush(self) -> None:
        """Write what was kept back so far: each activity row changed, once; the counter
        moves: the participant-hour marks in one insert, then one upsert of hourly buckets and
        one of event counts, whatever the number of actions (a batch of actions on one
        activity in the same hour moves one row of each)."""
        self._write_activities()
        self._write_actions()
        self._write_people()
        self._write_rooms()
        self._write_limits()
        self._write_outbox()
        self._write_codes()
        self._write_keys()
        pending = self._pending()
        if len(pending) == self._counts_written:
            return
        stats, events, hours = _fold(pending[self._counts_written:])
        self._counts_written = len(pending)
        if not self._savepoints:  # (none open: no rollback can need them again)
            pending.clear()
            self._counts_written = 0
        for (activity_id, hour), people in hours.items():
            args: list[Any] = []
            for p in people:
                args += (activity_id, hour, p)
            added = self._exec(_rows_sql(_HOURS, 3, len(people), "ON CONFLICT DO NOTHING"),
                               tuple(args))
            if added:
                bucket = stats.setdefault((activity_id, hour), {})
                bucket["participants"] = bucket.get("participants", 0) + added
        # Moves that cancel out (a sum of 0) are not written; nor is a bucket left with none.
        buckets = {key: deltas for key, deltas in stats.items() if any(deltas.values())}
        if buckets:
            names: set[str] = set()
            for deltas in buckets.values():
                names.update(c for c, v in deltas.items() if v)
            columns = tuple(sorted(names))
            args = []
            for (activity_id, hour), deltas in buckets.items():
                args += (activity_id, hour)
                args += [deltas.get(c, 0) for c in columns]
            self._exec(_stats_sql(columns, len(buckets)), tuple(args))
        rows = [(a, h, t, n) for (a, h, t), n in events.items() if n]
        if rows:
            self._exec(_rows_sql(_EVENTS, 4, len(rows), _EVENTS_UPSERT),
                       tuple(v for row in rows for v in row))

    # merchants -----------------------------------------------------------------------------

    def insert_merchant(self, m: Merchant) -> None:
        self._exec("INSERT INTO merchants (id, name, email, password_hash, participant_secret, "
                   "webhook_url, webhook_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (m.id, m.name, m.email, m.password_hash, m.participant_secret, m.webhook_url,
                    m.webhook_secret, m.created_at))

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        row = self._one("SELECT * FROM merchants WHERE id = ?", (merchant_id,))
        return Merchant(**row) if row else None

    def get_merchant_by_email(self, email: str) -> Merchant | None:
        row = self._one("SELECT * FROM merchants WHERE email = ?", (email,))
        return Merchant(**row) if row else None

    def update_merchant(self, merchant_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE merchants SET {sets} WHERE id = ?", (*fields.values(), merchant_id))

    def insert_api_key(self, key_id: str, merchant_id: str, key_hash: str, prefix: str,
                       now: int) -> None:
        self._exec("INSERT INTO api_keys (id, merchant_id, key_hash, prefix, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", (key_id, merchant_id, key_hash, prefix, now))

    def merchant_for_key_hash(self, key_hash: str) -> Merchant | None:
        row = self._one("SELECT m.* FROM api_keys k JOIN merchants m ON m.id = k.merchant_id "
                        "WHERE k.key_hash = ? AND k.revoked_at IS NULL", (key_hash,))
        return Merchant(**row) if row else None

    def list_api_keys(self, merchant_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT id, prefix, created_at, revoked_at FROM api_keys "
                         "WHERE merchant_id = ? ORDER BY created_at", (merchant_id,))

    def revoke_api_key(self, merchant_id: str, key_id: str, now: int) -> bool:
        return self._exec("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND merchant_id = ? "
                          "AND revoked_at IS NULL", (now, key_id, merchant_id)) == 1

    # activities ----------------------------------------------------------------------------

    _ACTIVITY_JSON = ("config", "state", "initial_state")  # and `campaigns`, which may be NULL

    def _activity(self, row: tuple | None) -> ActivityRecord | None:
        """A row of `SELECT_ACTIVITY` (the record's fields in order) as the record."""
        if row is None:
            return None
        values = list(row)
        for i in _ACTIVITY_JSON_AT:
            values[i] = loads(values[i])
        if values[_CAMPAIGNS_AT] is not None:
            values[_CAMPAIGNS_AT] = loads(values[_CAMPAIGNS_AT])
        values[_GUESTS_AT] = bool(values[_GUESTS_AT])  # SQLite keeps booleans as 0/1
        return ActivityRecord(*values)

    def _known(self) -> dict[str, ActivityRecord]:
        try:
            return self._read
        except AttributeError:
            self._read = {}
            return self._read

    def _changed(self) -> dict[str, set[str]]:
        try:
            return self._unwritten
        except AttributeError:
            self._unwritten = {}
            return self._unwritten

    def _write_activities(self) -> None:
        """Write the activity rows `update_activity` changed, each once, with what it left."""
        unwritten = self._changed()
        while unwritten:
            activity_id, columns = unwritten.popitem()
            record = self._read[activity_id]
            names = tuple(sorted(columns))
            args = [dumps(getattr(record, c)) if c in _ACTIVITY_JSON_COLUMNS
                    else getattr(record, c) for c in names]
            self._exec(_update_activity_sql(names, False), (*args, activity_id))

    def get_activity(self, activity_id: str) -> ActivityRecord | None:
        known = self._known()
        record = known.get(activity_id)
        if record is None:
            record = self._activity(self._row(self._select_activity, (activity_id,)))
            if record is None:
                return None
            known[activity_id] = record
        # A copy of its own for the caller, who may set its fields; the JSON values are shared,
        # and nothing changes them in place (a new state is a new dict).
        return _copy(record)

    # How `get_activity` reads the row (PostgreSQL locks it in a write transaction).
    _select_activity = f"{SELECT_ACTIVITY} WHERE id = ?"

    def get_activity_version(self, activity_id: str
                             ) -> tuple[int, str, int | None, int | None, int | None] | None:
        self._write_activities()
        row = self._row("SELECT version, status, starts_at, ends_at, next_due FROM activities "
                        "WHERE id = ?", (activity_id,))
        return tuple(row) if row else None

    def insert_activity(self, a: ActivityRecord) -> None:
        row = {k: (dumps(v) if k in self._ACTIVITY_JSON else v) for k, v in vars(a).items()}
        row["campaigns"] = dumps(a.campaigns) if a.campaigns is not None else None
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._exec(f"INSERT INTO activities ({cols}) VALUES ({marks})", tuple(row.values()))

    def update_activity(self, activity_id: str, bump: bool = True, **fields: Any) -> None:
        """Write the given columns; `bump` moves the version a participant's ETag depends on.
        An activity this transaction has read is written once, by `flush` (or before a
        statement that reads the table): a batch of its actions updates its row once."""
        known = self._known().get(activity_id)
        if known is None:
            args = [dumps(v) if k in _ACTIVITY_JSON_COLUMNS else v for k, v in fields.items()]
            self._exec(_update_activity_sql(tuple(fields), bump), (*args, activity_id))
            return
        columns = self._changed().setdefault(activity_id, set())
        for name, value in fields.items():
            setattr(known, name, value)
            columns.add(name)
        if bump:
            known.version += 1
            columns.add("version")

    def list_activities(self, merchant_id: str, status: str | None = None,
                        search: str | None = None, before: str | None = None,
                        limit: int = 50) -> list[ActivityRecord]:
        where, args = ["merchant_id = ?"], [merchant_id]
        if status:
            where.append("status = ?")
            args.append(status)
        if search:
            where.append(f"(title {self._LIKE} ? {LIKE_ESCAPE} "
                         f"OR template_id {self._LIKE} ? {LIKE_ESCAPE})")
            args += [containing(search), containing(search)]
        if before:
            where.append("id < ?")
            args.append(before)
        self._write_activities()
        rows = self._rows(f"{SELECT_ACTIVITY} WHERE {' AND '.join(where)} "
                          f"ORDER BY id DESC LIMIT ?", (*args, limit))
        return [a for r in rows if (a := self._activity(r)) is not None]

    # rooms ---------------------------------------------------------------------------------

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        return self._room(activity_id, room_id, lock=False)

    def _kept_room(self, activity_id: str, room_id: str) -> tuple[Any, ...] | None:
        self._kept_rows()
        return self._rooms.get((activity_id, room_id))

    def _room(self, activity_id: str, room_id: str, lock: bool) -> StoredRoom | None:
        """A room with its members; `lock` (asked for by PostgreSQL only) reads it FOR UPDATE."""
        kept = self._kept_room(activity_id, room_id)
        if kept is not None:  # created or changed in this transaction
            row, _, members, _ = kept
            return StoredRoom(Room(
                id=row[1], status=row[2], initiator=row[3], capacity=row[4], opened_at=row[5],
                state=loads(row[7]), members=[Member(p, role, at, loads(data), name)
                                              for p, role, at, data, name in members],
                timers=loads(row[8]), closed_at=row[6]), row[_ROOM_VERSION_AT])
        query = "SELECT * FROM rooms WHERE activity_id = ? AND id = ?"
        row = self._one(f"{query} FOR UPDATE" if lock else query, (activity_id, room_id))
        if row is None:
            return None
        members = [
            Member(m["participant_id"], m["role"], m["joined_at"], loads(m["data"]),
                   m["display_name"])
            for m in self._all("SELECT * FROM room_members WHERE activity_id = ? AND room_id = ? "
                               "ORDER BY position", (activity_id, room_id))
        ]
        room = Room(id=row["id"], status=row["status"], initiator=row["initiator"],
                    capacity=row["capacity"], opened_at=row["opened_at"],
                    state=loads(row["state"]), members=members, timers=loads(row["timers"]),
                    closed_at=row["closed_at"])
        return StoredRoom(room, row["version"])

    def get_room_state_version(self, activity_id: str, room_id: str
                               ) -> tuple[int, int | None] | None:
        """(version, next timer due) of a room: enough to answer a poll with 304."""
        kept = self._kept_room(activity_id, room_id)
        if kept is not None:
            return kept[0][_ROOM_VERSION_AT], kept[0][_ROOM_NEXT_DUE_AT]
        row = self._row("SELECT version, next_due FROM rooms WHERE activity_id = ? AND id = ?",
                        (activity_id, room_id))
        return (row[0], row[1]) if row else None

    def _keep_room(self, activity_id: str, room: Room, version: int, read: int | None,
                   joined: tuple[tuple[Any, ...], ...], created: bool = False) -> None:
        members = tuple((m.participant, m.role, m.joined_at, dumps(m.data), m.display_name)
                        for m in room.members)
        # (As the statements had it: a new room's next timer, a changed one's while it is open.)
        next_due = min(room.timers.values(), default=None) \
            if created or room.status == "open" else None
        self._rooms[activity_id, room.id] = (
            (activity_id, room.id, room.status, room.initiator, room.capacity, room.opened_at,
             room.closed_at, dumps(room.state), dumps(room.timers), next_due,
             len(room.members), version), read, members, joined)

    def insert_room(self, activity_id: str, room: Room) -> None:
        """Kept back for `flush`, as is every change to the room until then."""
        if self._kept_room(activity_id, room.id) is not None:
            raise Conflict(f"room {room.id} exists already")  # as the insert would fail
        self._keep_room(activity_id, room, 1, None, (), created=True)

    def update_room(self, activity_id: str, room: Room, expected_version: int) -> None:
        """Conditional on the version read: a lost update is refused, never written (here, if
        the room was changed in this transaction; else by `flush`, which updates it)."""
        kept = self._kept_room(activity_id, room.id)
        if kept is None:
            self._keep_room(activity_id, room, expected_version + 1, expected_version, ())
            return
        if kept[0][_ROOM_VERSION_AT] != expected_version:
            raise Conflict(f"room {room.id} changed concurrently")
        self._keep_room(activity_id, room, expected_version + 1, kept[1], kept[3])

    def insert_member(self, activity_id: str, room_id: str, member: Member, position: int) -> None:
        row = (activity_id, room_id, member.participant, member.role, dumps(member.data),
               member.display_name, member.joined_at, position)
        kept = self._kept_room(activity_id, room_id)
        if kept is None:  # (a room is written before its members: none of ours does this)
            self._exec(f"{_INSERT_MEMBERS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            return
        if any(r[2] == member.participant or r[7] == position for r in kept[3]):
            raise Conflict(f"{member.participant} is in room {room_id} already")
        members = kept[2]
        if all(m[0] != member.participant for m in members):
            members += ((member.participant, member.role, member.joined_at, dumps(member.data),
                         member.display_name),)
        self._rooms[activity_id, room_id] = (kept[0], kept[1], members, kept[3] + (row,))

    def _write_rooms(self) -> None:
        """Insert the rooms created, update the rooms changed (conditionally on the version
        read) and insert their new members, as kept so far."""
        self._kept_rows()
        if not self._rooms:
            return
        kept = list(self._rooms.values())
        self._rooms.clear()
        new = [row for row, read, _, _ in kept if read is None]
        if new:
            self._insert_rows(_INSERT_ROOMS, new)
        changed = [(row[2], row[6], row[7], row[8], row[9], row[10], row[11], row[0], row[1],
                    read) for row, read, _, _ in kept if read is not None]
        if changed and self._many(_UPDATE_ROOM, changed) != len(changed):
            raise Conflict("a room changed concurrently")
        joined = [member for *_, rows in kept for member in rows]
        if joined:
            self._insert_rows(_INSERT_MEMBERS, joined)

    def due_rooms(self, activity_id: str, now: int, limit: int = 100) -> list[str]:
        # Rooms kept back are due by what is kept; the table answers for the others (asked for
        # as many more as are kept, which it may still list as they were).
        self._kept_rows()
        kept = {rid: row[_ROOM_NEXT_DUE_AT] for (aid, rid), (row, *_) in self._rooms.items()
                if aid == activity_id}
        rows = self._rows("SELECT next_due, id FROM rooms WHERE activity_id = ? "
                          "AND next_due <= ? ORDER BY next_due, id LIMIT ?",
                          (activity_id, now, limit + len(kept)))
        if not kept:
            return [r[1] for r in rows]
        due = [(r[0], r[1]) for r in rows if r[1] not in kept]
        due += [(at, rid) for rid, at in kept.items() if at is not None and at <= now]
        return [rid for _, rid in sorted(due)[:limit]]

    def open_room_ids(self, activity_id: str) -> list[str]:
        self._write_rooms()
        rows = self._rows("SELECT id FROM rooms WHERE activity_id = ? AND status = 'open' "
                          "ORDER BY opened_at, id", (activity_id,))
        return [r[0] for r in rows]

    def list_rooms(self, activity_id: str) -> list[StoredRoom]:
        self._write_rooms()
        rows = self._rows("SELECT id FROM rooms WHERE activity_id = ? ORDER BY opened_at, id",
                          (activity_id,))
        # Listing is not acting: even a write transaction does not lock every room it lists.
        return [room for r in rows if (room := self._room(activity_id, r[0], lock=False))]

    def rooms_of(self, activity_id: str, participant_id: str, limit: int = 20) -> list[str]:
        self._write_rooms()
        rows = self._rows(
            "SELECT room_id FROM room_members WHERE activity_id = ? AND participant_id = ? "
            "ORDER BY joined_at DESC, room_id LIMIT ?", (activity_id, participant_id, limit))
        return [r[0] for r in rows]

    def room_page(self, activity_id: str, status: str | None = None,
                  before: tuple[int, str] | None = None, limit: int = 50) -> list[StoredRoom]:
        self._write_rooms()
        where = ["activity_id = ?"]
        args: list[Any] = [activity_id]
        if status:
            where.append("status = ?")
            args.append(status)
        if before is not None:
            where.append("(opened_at < ? OR (opened_at = ? AND id < ?))")
            args += [before[0], before[0], before[1]]
        rows = self._all(f"SELECT * FROM rooms WHERE {' AND '.join(where)} "
                         "ORDER BY opened_at DESC, id DESC LIMIT ?", (*args, limit))
        members: dict[str, list[Member]] = {r["id"]: [] for r in rows}
        if rows:  # every member of the page in one read, not one per room
            marks = ", ".join("?" for _ in rows)
            for m in self._all(f"SELECT * FROM room_members WHERE activity_id = ? "
                               f"AND room_id IN ({marks}) ORDER BY room_id, position",
                               (activity_id, *members)):
                members[m["room_id"]].append(
                    Member(m["participant_id"], m["role"], m["joined_at"], loads(m["data"]),
                           m["display_name"]))
        return [StoredRoom(Room(id=r["id"], status=r["status"], initiator=r["initiator"],
                                capacity=r["capacity"], opened_at=r["opened_at"],
                                state=loads(r["state"]), members=members[r["id"]],
                                timers=loads(r["timers"]), closed_at=r["closed_at"]),
                           r["version"]) for r in rows]

    def room_actions(self, activity_id: str, room_id: str, limit: int = 100) -> list[ActionRecord]:
        self._write_actions()
        rows = self._all("SELECT * FROM actions WHERE activity_id = ? "
                         "AND (room_id = ? OR new_room_id = ?) ORDER BY seq DESC LIMIT ?",
                         (activity_id, room_id, room_id, limit))
        for r in rows:
            for key in self._ACTION_JSON:
                r[key] = loads(r[key])
            for key in self._ACTION_FLAGS:
                r[key] = bool(r[key])
        return [ActionRecord(**r) for r in rows]

    # participants --------------------------------------------------------------------------

    def _kept_rows(self) -> tuple[dict[tuple[str, str], tuple[Any, ...]],
                                  dict[tuple[str, str], tuple[Any, ...]]]:
        """The new participants and shoppers kept back; every container of rows kept back is
        made here, at first use (a poll's lone read never needs them)."""
        try:
            return self._people, self._newcomers
        except AttributeError:
            self._people, self._newcomers, self._devices, self._unknown = {}, {}, {}, set()
            self._updated, self._rooms, self._limits = {}, {}, {}
            self._seen, self._appended, self._keys = set(), {}, {}
            return self._people, self._newcomers

    def _kept_copies(self) -> tuple[Any, ...]:
        """Copies of the containers of rows kept back, as `savepoint` puts them back."""
        self._kept_rows()
        return (dict(self._people), dict(self._updated), dict(self._newcomers),
                dict(self._rooms), dict(self._limits), dict(self._devices), dict(self._keys),
                {t: list(rows) for t, rows in self._appended.items()})

    def _kept_participant(self, activity_id: str, participant_id: str) -> tuple[Any, ...] | None:
        """A participant's row as kept in this transaction (new, or changed), else None."""
        people, _ = self._kept_rows()
        key = (activity_id, participant_id)
        row = people.get(key)
        if row is None and key in self._updated:
            row = self._updated[key][0]
        return row

    def _write_people(self) -> None:
        """Insert the participants, the shoppers new to their merchant and the devices kept
        back so far; update the participants' rows changed."""
        people, newcomers = self._kept_rows()
        for insert, rows, tail in ((_INSERT_PARTICIPANTS, people, ""),
                                   (_INSERT_KNOWN, newcomers, "ON CONFLICT DO NOTHING"),
                                   (_INSERT_DEVICES, self._devices, "ON CONFLICT DO NOTHING")):
            if rows:
                values = list(rows.values())
                rows.clear()
                self._insert_rows(insert, values, tail)
        if self._updated:
            updates = [(*row[2:], row[0], row[1], read)
                       for row, read in self._updated.values()]
            self._updated.clear()
            if self._many(_UPDATE_PARTICIPANT, updates) != len(updates):
                raise Conflict("a participant changed concurrently")

    def _insert_rows(self, insert: str, rows: list[tuple[Any, ...]], tail: str = "") -> None:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start:start + _ROWS_PER_INSERT]
            self._exec(_rows_sql(insert, len(chunk[0]), len(chunk), tail),
                       tuple(v for row in chunk for v in row))

    def _append(self, insert: str, rows: list[tuple[Any, ...]]) -> None:
        """Keep rows of an append-only table for `flush` (or a read of the table, first)."""
        self._kept_rows()
        kept = self._appended.get(insert)
        if kept is None:
            self._appended[insert] = rows
        else:
            kept += rows

    def _write_appended(self, insert: str) -> None:
        self._kept_rows()
        rows = self._appended.pop(insert, None)
        if rows:
            self._insert_rows(insert, rows)

    def _write_outbox(self) -> None:
        self._write_appended(_INSERT_OUTBOX)

    def _write_codes(self) -> None:
        self._write_appended(_INSERT_REDEMPTIONS)

    def get_participant(self, activity_id: str, participant_id: str,
                        merchant_id: str | None = None) -> ParticipantRecord | None:
        """See base.Tx. With `merchant_id`, the same statement finds out whether that merchant
        knows the participant, for `known_participant` to answer without another."""
        _, newcomers = self._kept_rows()
        row = self._kept_participant(activity_id, participant_id)
        if row is not None:  # new, or read and changed, in this transaction
            return participant_from_row(row)
        if merchant_id is None or (merchant_id, participant_id) in newcomers:
            return participant_from_row(self._participant_row(activity_id, participant_id))
        found = self._participant_and_known_row(activity_id, participant_id, merchant_id)
        assert found is not None  # (one row whatever it finds)
        (self._seen if found[-1] else self._unknown).add((merchant_id, participant_id))
        return participant_from_row(found[:-1] if found[0] is not None else None)

    def _participant_and_known_row(self, activity_id: str, participant_id: str,
                                   merchant_id: str) -> tuple | None:
        return self._row(PARTICIPANT_AND_KNOWN,
                         (merchant_id, participant_id, activity_id, participant_id))

    def _participant_row(self, activity_id: str, participant_id: str) -> tuple | None:
        return self._row(f"{SELECT_PARTICIPANT} WHERE activity_id = ? AND participant_id = ?",
                         (activity_id, participant_id))

    def get_participant_version(self, activity_id: str, participant_id: str) -> int | None:
        kept = self._kept_participant(activity_id, participant_id)
        if kept is not None:
            return int(kept[_PARTICIPANT_VERSION_AT])
        row = self._row("SELECT version FROM activity_participants WHERE activity_id = ? "
                        "AND participant_id = ?", (activity_id, participant_id))
        return row[0] if row else None

    def save_participant(self, p: ParticipantRecord, expected_version: int | None) -> None:
        """Insert (`expected_version` None) or update conditionally on the version read. Both
        are kept back for `flush` (a new row inserted, a changed one updated there), and
        changed where they are kept until then."""
        people, _ = self._kept_rows()
        key = (p.activity_id, p.participant_id)
        current = self._kept_participant(*key)
        if current is not None and (expected_version is None
                                    or current[_PARTICIPANT_VERSION_AT] != expected_version):
            # as the insert, or the update of the version read, would have failed
            raise Conflict(f"participant {p.participant_id} changed concurrently")
        row = (p.activity_id, p.participant_id, p.display_name,
               dumps(p.state) if p.state is not None else None, p.version, p.first_action_at,
               p.last_action_at, p.actions, p.last_seen_at, p.interaction_seconds, p.inviter,
               p.generation)
        if key in people or expected_version is None:
            people[key] = row
        else:  # updated where the database has the version first read
            read = self._updated[key][1] if key in self._updated else expected_version
            self._updated[key] = (row, read)

    def list_participants(self, activity_id: str, after: str | None = None,
                          limit: int = 1000) -> list[ParticipantRecord]:
        self._write_people()
        rows = self._rows(f"{SELECT_PARTICIPANT} WHERE activity_id = ? "
                          "AND participant_id > ? ORDER BY participant_id LIMIT ?",
                          (activity_id, after or "", limit))
        return [p for r in rows if (p := participant_from_row(r)) is not None]

    def remember_participant(self, merchant_id: str, participant_id: str, activity_id: str,
                             now: int) -> bool:
        """Record a participant's first accepted action on this deployment; True if it is."""
        _, newcomers = self._kept_rows()
        key = (merchant_id, participant_id)
        if key in newcomers:
            return False
        if key in self._unknown:  # looked up in this transaction: kept back for `flush`
            newcomers[key] = (merchant_id, participant_id, now, activity_id)
            return True
        n = self._exec("INSERT INTO participants "
                       "(merchant_id, id, first_seen_at, first_activity_id) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       (merchant_id, participant_id, now, activity_id))
        return n == 1

    def known_participant(self, merchant_id: str, participant_id: str) -> bool:
        _, newcomers = self._kept_rows()
        key = (merchant_id, participant_id)
        if key in newcomers or key in self._seen:
            return True
        if key in self._unknown:
            return False
        if self._is_known(merchant_id, participant_id):
            self._seen.add(key)
            return True
        self._unknown.add(key)
        return False

    def _is_known(self, merchant_id: str, participant_id: str) -> bool:
        return self._row("SELECT 1 FROM participants WHERE merchant_id = ? AND id = ?",
                         (merchant_id, participant_id)) is not None

    # action log, outbox --------------------------------------------------------------------

    _ACTION_JSON = ("params", "result", "events", "random")
    _ACTION_FLAGS = ("first_time", "new_to_activity", "never_wins")  # INTEGER 0/1 columns

    def _log(self) -> list[tuple[Any, ...]]:
        try:
            return self._logged
        except AttributeError:
            self._logged = []
            return self._logged

    def insert_action(self, a: ActionRecord) -> None:
        """Add to the log (written by `flush`, or before a statement that reads the log)."""
        # Every action writes one: the columns spelt out, not looked up field by field.
        self._log().append((
            a.activity_id, a.seq, a.at, a.actor_kind, a.participant_id, a.action, dumps(a.params),
            a.room_id, a.new_room_id, dumps(a.result), dumps(a.events), dumps(a.random),
            int(a.first_time), int(a.new_to_activity), a.display_name, a.timer, a.inviter,
            a.device, a.address, int(a.never_wins)))

    def _write_actions(self) -> None:
        """Insert the log rows `insert_action` kept, in as few statements as fit."""
        logged = self._log()
        if len(logged) > self._logged_written:
            self._insert_rows(_INSERT_ACTIONS, logged[self._logged_written:])
        self._logged_written = len(logged)
        if not self._savepoints:  # (none open: no rollback can need them again)
            logged.clear()
            self._logged_written = 0

    def list_actions(self, activity_id: str, after_seq: int = 0,
                     limit: int = 100) -> list[ActionRecord]:
        self._write_actions()
        rows = self._all("SELECT * FROM actions WHERE activity_id = ? AND seq > ? ORDER BY seq "
                         "LIMIT ?", (activity_id, after_seq, limit))
        out = []
        for r in rows:
            for key in self._ACTION_JSON:
                r[key] = loads(r[key])
            for key in self._ACTION_FLAGS:
                r[key] = bool(r[key])
            out.append(ActionRecord(**r))
        return out

    def insert_outbox(self, activity_id: str, seq: int, events: list[dict[str, Any]],
                      now: int) -> None:
        """Kept back for `flush`, or a read of the outbox, which inserts them in order."""
        if events:
            self._append(_INSERT_OUTBOX, [(activity_id, seq, e["type"], dumps(e["data"]), now,
                                           now) for e in events])

    def list_outbox(self, activity_id: str, after_id: int = 0,
                    limit: int = 100) -> list[OutboxRecord]:
        self._write_outbox()
        rows = self._all("SELECT id, activity_id, seq, type, data, created_at, attempts, "
                         "delivered_at FROM outbox WHERE activity_id = ? AND id > ? ORDER BY id "
                         "LIMIT ?", (activity_id, after_id, limit))
        for r in rows:
            r["data"] = loads(r["data"])
        return [OutboxRecord(**r) for r in rows]

    # the worker: due work across activities, webhook delivery ------------------------------

    def due_activity_ids(self, now: int, limit: int) -> list[str]:
        """Activities with work due at `now` (see base.Tx). Driven by the live activities, one
        `rooms_due` seek each (open rooms come due when their activity ends, so none lingers)."""
        self._write_activities()
        self._write_rooms()
        rows = self._rows(
            "SELECT id FROM activities a WHERE a.status IN ('live', 'paused', 'ended') "
            "AND EXISTS (SELECT 1 FROM rooms r "
            "WHERE r.activity_id = a.id AND r.next_due <= ?) "
            "UNION SELECT id FROM activities WHERE status = 'scheduled' AND starts_at <= ? "
            "UNION SELECT id FROM activities WHERE status IN ('live', 'paused') "
            "AND ends_at <= ? "
            "UNION SELECT id FROM activities WHERE status IN ('live', 'paused', 'ended') "
            "AND next_due <= ? LIMIT ?", (now, now, now, now, limit))
        return [r[0] for r in rows]

    _EVENT_COLUMNS = ("o.id, o.activity_id, o.seq, o.type, o.data, o.created_at, o.attempts, "
                      "o.next_attempt_at, o.delivered_at, o.dead_at, o.last_error")
    # An event is pending while neither delivered nor dead (`outbox_undelivered`'s condition).
    _PENDING = "{t}.delivered_at IS NULL AND {t}.dead_at IS NULL"

    def claim_outbox(self, now: int, lease: int, limit: int) -> list[ClaimedEvent]:
        """See base.Tx. Runs in the caller's `BEGIN IMMEDIATE` transaction, which holds the
        write lock from the first read: two workers' claims are serialised, and the second sees
        the first one's lease."""
        self._write_activities()
        self._write_outbox()
        rows = self._all(
            f"SELECT {self._EVENT_COLUMNS}, m.webhook_url, m.webhook_secret FROM activities a "
            "JOIN merchants m ON m.id = a.merchant_id "
            "JOIN outbox o ON o.id = (SELECT h.id FROM outbox h WHERE h.activity_id = a.id "
            f"AND {self._PENDING.format(t='h')} ORDER BY h.id LIMIT 1) "
            "WHERE m.webhook_url IS NOT NULL AND m.webhook_url <> '' "
            f"AND {self._PENDING.format(t='o')} "  # as in postgres.py (no-op here)
            "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?) "
            "ORDER BY o.next_attempt_at, o.id LIMIT ?", (now, limit))
        for r in rows:
            self._exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? "
                       "WHERE id = ?", (now + lease, r["id"]))
            r["attempts"] += 1
            r["next_attempt_at"] = now + lease
            r["data"] = loads(r["data"])
        return rows  # type: ignore[return-value]  # the columns of a ClaimedEvent

    def mark_delivered(self, event_id: int, now: int) -> bool:
        self._write_outbox()
        return self._exec("UPDATE outbox SET delivered_at = ?, dead_at = NULL, "
                          "next_attempt_at = NULL WHERE id = ? AND delivered_at IS NULL",
                          (now, event_id)) == 1

    def mark_failed(self, event_id: int, now: int, next_attempt_at: int, error: str,
                    dead: bool) -> bool:
        self._write_outbox()
        return self._exec(f"UPDATE outbox SET last_error = ?, next_attempt_at = ?, dead_at = ? "
                          f"WHERE id = ? AND {self._PENDING.format(t='outbox')}",
                          (error, None if dead else next_attempt_at, now if dead else None,
                           event_id)) == 1

    def get_event(self, activity_id: str, event_id: int) -> OutboxEvent | None:
        self._write_outbox()
        row = self._one(f"SELECT {self._EVENT_COLUMNS} FROM outbox o WHERE o.activity_id = ? "
                        "AND o.id = ?", (activity_id, event_id))
        if row is not None:
            row["data"] = loads(row["data"])
        return row  # type: ignore[return-value]  # the columns of an OutboxEvent

    def list_events(self, activity_id: str, status: str | None = None, after: int = 0,
                    limit: int = 100) -> list[OutboxEvent]:
        self._write_outbox()
        where = {None: "", "pending": f"AND {self._PENDING.format(t='o')} ",
                 "delivered": "AND o.delivered_at IS NOT NULL ",
                 "dead": "AND o.delivered_at IS NULL AND o.dead_at IS NOT NULL "}[status]
        rows = self._all(f"SELECT {self._EVENT_COLUMNS} FROM outbox o WHERE o.activity_id = ? "
                         f"AND o.id > ? {where}ORDER BY o.id LIMIT ?", (activity_id, after, limit))
        for r in rows:
            r["data"] = loads(r["data"])
        return rows  # type: ignore[return-value]  # the columns of an OutboxEvent

    def count_pending_webhooks(self) -> int:
        # From the merchants with a webhook URL down, through `outbox_undelivered` (CROSS JOIN
        # keeps SQLite to that order): events of merchants without one stay pending for ever,
        # and are neither counted nor scanned.
        self._write_activities()
        self._write_outbox()
        row = self._row(
            "SELECT count(*) FROM merchants m CROSS JOIN activities a CROSS JOIN outbox o "
            "WHERE m.webhook_url IS NOT NULL AND m.webhook_url <> '' "
            f"AND a.merchant_id = m.id AND o.activity_id = a.id AND {self._PENDING.format(t='o')}")
        return row[0] if row else 0

    def redeliver(self, activity_id: str, event_id: int, now: int) -> bool:
        self._write_outbox()
        return self._exec("UPDATE outbox SET delivered_at = NULL, dead_at = NULL, attempts = 0, "
                          "next_attempt_at = ?, last_error = NULL WHERE activity_id = ? "
                          "AND id = ? AND (delivered_at IS NOT NULL OR dead_at IS NOT NULL)",
                          (now, activity_id, event_id)) == 1

    # stats ---------------------------------------------------------------------------------

    def add_stats(self, activity_id: str, hour: int, deltas: dict[str, int]) -> None:
        """Deferred: written by `flush` (before the commit, or a read of the stats)."""
        if any(deltas.values()):
            self._pending().append(("stats", activity_id, hour, deltas))

    def add_event_stats(self, activity_id: str, hour: int, counts: dict[str, int]) -> None:
        """Add to the per-event-type counters of one hour (deferred, like `add_stats`)."""
        if counts:
            self._pending().append(("events", activity_id, hour, counts))

    def count_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> None:
        """Count the participant in the hour's `participants` unless already marked in it
        (deferred: `flush` inserts the marks and counts the new ones)."""
        self._pending().append(("hour", activity_id, hour, participant_id))

    def event_totals(self, activity_id: str) -> dict[str, int]:
        """Event type -> count over all hours."""
        self.flush()
        rows = self._rows("SELECT type, sum(count) FROM event_stats WHERE activity_id = ? "
                          "GROUP BY type ORDER BY type", (activity_id,))
        return {t: int(n) for t, n in rows}  # PostgreSQL's sum(bigint) is numeric

    def mark_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> bool:
        return self._exec("INSERT INTO participant_hours (activity_id, hour, participant_id) "
                          "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          (activity_id, hour, participant_id)) == 1

    def hourly_stats(self, activity_id: str) -> list[dict[str, Any]]:
        self.flush()
        return self._all("SELECT * FROM stats WHERE activity_id = ? ORDER BY hour", (activity_id,))

    # idempotency ---------------------------------------------------------------------------

    def _kept_keys(self) -> dict[tuple[str, str, str], IdempotencyRecord]:
        self._kept_rows()
        return self._keys

    def _write_keys(self) -> None:
        keys = self._kept_keys()
        if keys:
            rows = [(r.activity_id, r.participant_id, r.key, r.request_hash, r.state, r.status,
                     None if r.response is None else dumps(r.response), r.created_at, r.owner)
                    for r in keys.values()]
            keys.clear()
            self._insert_rows(_INSERT_KEYS, rows)

    def get_idempotency(self, activity_id: str, participant_id: str,
                        key: str) -> IdempotencyRecord | None:
        kept = self._kept_keys().get((activity_id, participant_id, key))
        if kept is not None:
            return dataclass_replace(kept)
        row = self._one("SELECT * FROM idempotency WHERE activity_id = ? AND participant_id = ? "
                        "AND key = ?", (activity_id, participant_id, key))
        if row is None:
            return None
        row["response"] = loads(row["response"])
        return IdempotencyRecord(**row)

    def owner_gone(self, owner: str | None) -> bool:
        """Whether the process that claimed a key as `owner` is known to be gone."""
        return False

    def claim_idempotency(self, rec: IdempotencyRecord, stale_before: int) -> bool:
        """Take the key for a new request: a key no row holds is claimed in this transaction,
        and written by `flush` as it is then (one statement, the usual case: the look-up); or
        take over a pending one that is abandoned: older than `stale_before`, or claimed by an
        owner that is gone. The takeover is conditional on the claim read."""
        keys = self._kept_keys()
        where = (rec.activity_id, rec.participant_id, rec.key)
        if where in keys:
            return False  # claimed in this transaction already
        row = self._row("SELECT state, created_at, owner FROM idempotency WHERE activity_id = ? "
                        "AND participant_id = ? AND key = ?", where)
        if row is None:
            keys[where] = dataclass_replace(rec)
            return True
        if row[0] != "pending":
            return False
        if row[1] >= stale_before and not self.owner_gone(row[2]):
            return False
        same_owner = "owner IS NULL" if row[2] is None else "owner = ?"
        return self._exec("UPDATE idempotency SET created_at = ?, request_hash = ?, owner = ? "
                          "WHERE activity_id = ? AND participant_id = ? AND key = ? "
                          f"AND state = 'pending' AND created_at = ? AND {same_owner}",
                          (rec.created_at, rec.request_hash, rec.owner, rec.activity_id,
                           rec.participant_id, rec.key, row[1],
                           *(() if row[2] is None else (row[2],)))) == 1

    def complete_idempotency(self, activity_id: str, participant_id: str, key: str, status: int,
                             response: dict[str, Any], owner: str | None = None) -> None:
        """With `owner`, only while that claim still holds the key: a claim taken over meanwhile
        raises `Conflict`, which rolls the action back (never two effects for one key)."""
        kept = self._kept_keys().get((activity_id, participant_id, key))
        if kept is not None:
            if owner is not None and (kept.state != "pending" or kept.owner != owner):
                raise Conflict(f"Idempotency-Key {key!r} was taken over by another request")
            self._keys[activity_id, participant_id, key] = dataclass_replace(
                kept, state="done", status=status, response=response)
            return
        sql = ("UPDATE idempotency SET state = 'done', status = ?, response = ? "
               "WHERE activity_id = ? AND participant_id = ? AND key = ?")
        args: tuple = (status, dumps(response), activity_id, participant_id, key)
        if owner is not None:
            sql += " AND state = 'pending' AND owner = ?"
            args += (owner,)
        if self._exec(sql, args) != 1 and owner is not None:
            raise Conflict(f"Idempotency-Key {key!r} was taken over by another request")

    def release_idempotency(self, activity_id: str, participant_id: str, key: str,
                            owner: str | None = None) -> None:
        """Forget a pending key (with `owner`: only that claim's)."""
        keys = self._kept_keys()
        kept = keys.get((activity_id, participant_id, key))
        if kept is not None:
            if kept.state == "pending" and (owner is None or kept.owner == owner):
                del keys[activity_id, participant_id, key]
            return
        sql = ("DELETE FROM idempotency WHERE activity_id = ? AND participant_id = ? "
               "AND key = ? AND state = 'pending'")
        args: tuple = (activity_id, participant_id, key)
        if owner is not None:
            sql += " AND owner = ?"
            args += (owner,)
        self._exec(sql, args)

    def delete_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        """Forget a key whatever its state (an expired one, before it is used afresh)."""
        if self._kept_keys().pop((activity_id, participant_id, key), None) is not None:
            return  # (no row holds it)
        self._exec("DELETE FROM idempotency WHERE activity_id = ? AND participant_id = ? "
                   "AND key = ?", (activity_id, participant_id, key))

    def purge_idempotency(self, before: int) -> int:
        self._write_keys()
        return self._exec("DELETE FROM idempotency WHERE created_at < ?", (before,))

    # console -------------------------------------------------------------------------------

    def count_participants(self, activity_id: str) -> int:
        """Participants with a row in the activity: everyone who acted or sent a heartbeat."""
        self._write_people()
        row = self._row("SELECT count(*) FROM activity_participants WHERE activity_id = ?",
                        (activity_id,))
        return int(row[0]) if row else 0

    def get_login_failures(self, email: str,
                           address: str = "") -> tuple[int, int, int | None] | None:
        """See base.Tx."""
        row = self._row("SELECT failures, last_failed_at, locked_until FROM login_failures "
                        "WHERE email = ? AND address = ?", (email, address))
        return (row[0], row[1], row[2]) if row else None

    def add_login_failure(self, email: str, now: int, reset_before: int, limit: int,
                          lock_until: int, address: str = "") -> tuple[int, int | None]:
        """See base.Tx: one statement, so there is no read-then-write race."""
        self._exec(
            "INSERT INTO login_failures (email, address, failures, last_failed_at, "
            "locked_until) VALUES (?, ?, 1, ?, CASE WHEN 1 >= ? THEN ? END) "
            "ON CONFLICT (email, address) DO UPDATE SET "
            "failures = CASE WHEN login_failures.last_failed_at < ? THEN 1 "
            "ELSE login_failures.failures + 1 END, "
            "locked_until = CASE WHEN (CASE WHEN login_failures.last_failed_at < ? THEN 1 "
            "ELSE login_failures.failures + 1 END) >= ? THEN ? END, "
            "last_failed_at = excluded.last_failed_at",
            (email, address, now, limit, lock_until, reset_before, reset_before, limit,
             lock_until))
        row = self._row("SELECT failures, locked_until FROM login_failures "
                        "WHERE email = ? AND address = ?", (email, address))
        assert row is not None  # written just above
        return row[0], row[1]

    def clear_login_failures(self, email: str, address: str = "") -> None:
        self._exec("DELETE FROM login_failures WHERE email = ? AND address = ?",
                   (email, address))

    def purge_login_failures(self, before: int, now: int) -> int:
        return self._exec("DELETE FROM login_failures WHERE last_failed_at < ? "
                          "AND (locked_until IS NULL OR locked_until <= ?)", (before, now))

    # the schema -------------------------------------------------------------------------------

    def applied_migrations(self) -> list[int]:
        return [row[0] for row in self._rows("SELECT version FROM _migrations ORDER BY version")]

    # share links ------------------------------------------------------------------------------

    def insert_share(self, code: str, activity_id: str, room_id: str | None, sharer: str,
                     now: int) -> tuple[str, bool]:
        """The sharer's code for this activity and room: `code` if new, else the one they
        already have; and whether it is new."""
        n = self._exec("INSERT INTO shares (code, activity_id, room_id, sharer, created_at) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (activity_id, sharer, room_id) "
                       "DO NOTHING", (code, activity_id, room_id or "", sharer, now))
        row = self._row("SELECT code FROM shares WHERE activity_id = ? AND sharer = ? "
                        "AND room_id = ?", (activity_id, sharer, room_id or ""))
        assert row is not None
        return row[0], n == 1

    def get_share(self, code: str) -> dict[str, Any] | None:
        row = self._one("SELECT code, activity_id, room_id, sharer, created_at, opens "
                        "FROM shares WHERE code = ?", (code,))
        if row is not None:
            row["room_id"] = row["room_id"] or None
        return row

    def count_share_open(self, code: str) -> None:
        self._exec("UPDATE shares SET opens = opens + 1 WHERE code = ?", (code,))

    def sharing_summary(self, activity_id: str, top: int = 10) -> dict[str, Any]:
        """Links, sharers and opens; invited participants by generation; the top inviters."""
        self._write_people()
        links, sharers, opens = self._row(
            "SELECT COUNT(*), COUNT(DISTINCT sharer), COALESCE(SUM(opens), 0) FROM shares "
            "WHERE activity_id = ?", (activity_id,)) or (0, 0, 0)
        generations = self._rows(
            "SELECT generation, COUNT(*) FROM activity_participants WHERE activity_id = ? "
            "AND first_action_at IS NOT NULL GROUP BY generation ORDER BY generation",
            (activity_id,))
        inviters = self._rows(
            "SELECT i.inviter, COUNT(*) AS n, MAX(p.display_name) FROM activity_participants i "
            "LEFT JOIN activity_participants p ON p.activity_id = i.activity_id "
            "AND p.participant_id = i.inviter WHERE i.activity_id = ? AND i.inviter IS NOT NULL "
            "GROUP BY i.inviter ORDER BY n DESC, i.inviter LIMIT ?", (activity_id, top))
        return {"links": int(links), "sharers": int(sharers), "opens": int(opens),
                "generations": [(int(g), int(n)) for g, n in generations],
                "top_inviters": [(who, int(n), name or "") for who, n, name in inviters]}

    # limits per device and address (engine/action_limits.py) ----------------------------

    def take_limit(self, activity_id: str, limit_id: str, subject: str, period: str,
                   most: int) -> bool:
        """Counted here and written by `flush`: a limit is taken in an action, under its
        activity's lock, which every other taker of the activity's limits waits for."""
        if most < 1:
            return False
        key = (activity_id, limit_id, subject, period)
        count, taken, _ = self._limit(key)
        if count >= most:
            return False
        self._limits[key] = (count + 1, taken + 1, most)
        return True

    def _limit(self, key: tuple[str, str, str, str]) -> tuple[int, int, int]:
        """(count as it is now, how much of it is not written yet, the cap) of a limit."""
        self._kept_rows()
        kept = self._limits.get(key)
        if kept is None:
            row = self._row("SELECT count FROM action_limits WHERE activity_id = ? "
                            "AND limit_id = ? AND subject = ? AND period = ?", key)
            kept = self._limits[key] = (int(row[0]) if row else 0, 0, 0)
        return kept

    def _write_limits(self) -> None:
        """Add what was taken, each still under its cap: were a count ever taken outside its
        activity's lock, a transaction that raced it would fail here, not count past the cap."""
        self._kept_rows()
        taken = [(*key, n, most) for key, (_, n, most) in self._limits.items() if n]
        self._limits.clear()
        if taken and self._many(_TAKE_LIMITS, taken) != len(taken):
            raise Conflict("an action limit was taken concurrently")

    def limit_count(self, activity_id: str, limit_id: str, subject: str, period: str) -> int:
        return self._limit((activity_id, limit_id, subject, period))[0]

    def limit_counts(self, activity_id: str) -> list[tuple[str, str, str, int]]:
        self._write_limits()
        rows = self._rows("SELECT limit_id, subject, period, count FROM action_limits "
                          "WHERE activity_id = ? ORDER BY limit_id, subject, period",
                          (activity_id,))
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def note_device(self, activity_id: str, participant_id: str, device: str, now: int) -> None:
        """Kept back for `flush` (the first time seen in this transaction stands)."""
        self._kept_rows()
        self._devices.setdefault((activity_id, participant_id, device),
                                 (activity_id, participant_id, device, now))

    def used_device(self, activity_id: str, participant_id: str, device: str) -> bool:
        self._kept_rows()
        if (activity_id, participant_id, device) in self._devices:
            return True
        return self._row("SELECT 1 FROM participant_devices WHERE activity_id = ? "
                         "AND participant_id = ? AND device = ?",
                         (activity_id, participant_id, device)) is not None

    # the console: fulfilment and analytics ----------------------------------------------------

    def _redemption(self, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is not None:
            row["shipping"] = loads(row["shipping"])
        return row

    def insert_redemptions(self, rows: list[dict[str, Any]]) -> None:
        """Kept back for `flush`, or a read of the codes, which inserts them."""
        if rows:
            self._append(_INSERT_REDEMPTIONS,
                         [tuple(r.get(c) for c in _REDEMPTION_COLUMNS) for r in rows])

    def list_redemptions(self, activity_id: str, after: str | None = None, limit: int = 100,
                         search: str | None = None) -> list[dict[str, Any]]:
        self._write_codes()
        sql, args = "SELECT * FROM redemptions WHERE activity_id = ?", [activity_id]
        if search:
            sql += " AND (code = ? OR participant_id = ?)"
            args += [search.upper(), search]
        if after:
            sql += (" AND (seq, position) > (SELECT seq, position FROM redemptions "
                    "WHERE code = ?)")
            args.append(after)
        rows = self._all(sql + " ORDER BY seq, position LIMIT ?", (*args, limit))
        return [r for r in map(self._redemption, rows) if r is not None]

    def get_redemption(self, merchant_id: str, code: str,
                       lock: bool = False) -> dict[str, Any] | None:
        self._write_codes()
        query = "SELECT * FROM redemptions WHERE code = ? AND merchant_id = ?"
        return self._redemption(self._one(self._lock(query) if lock else query,
                                          (code, merchant_id)))

    def redeem(self, merchant_id: str, code: str, now: int, by: str) -> bool:
        self._write_codes()
        return self._exec("UPDATE redemptions SET redeemed_at = ?, redeemed_by = ? "
                          "WHERE code = ? AND merchant_id = ? AND redeemed_at IS NULL "
                          "AND voided_at IS NULL",
                          (now, by, code, merchant_id)) == 1

    def set_shipping(self, merchant_id: str, code: str, shipping: dict[str, Any] | None,
                     shipped_at: int | None) -> bool:
        self._write_codes()
        return self._exec("UPDATE redemptions SET shipping = ?, shipped_at = ? "
                          "WHERE code = ? AND merchant_id = ?",
                          (dumps(shipping) if shipping is not None else None, shipped_at, code,
                           merchant_id)) == 1

    def void_redemptions(self, activity_id: str, participant_id: str, now: int) -> int:
        self._write_codes()
        return self._exec("UPDATE redemptions SET voided_at = ? WHERE activity_id = ? "
                          "AND participant_id = ? AND redeemed_at IS NULL AND voided_at IS NULL",
                          (now, activity_id, participant_id))

    def put_block(self, activity_id: str, kind: str, value: str, outcome: str, reason: str,
                  now: int) -> None:
        self._exec("INSERT INTO blocks (activity_id, kind, value, outcome, reason, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (activity_id, kind, value) DO UPDATE "
                   "SET outcome = excluded.outcome, reason = excluded.reason, "
                   "created_at = excluded.created_at",
                   (activity_id, kind, value, outcome, reason, now))
        self._count_blocks(activity_id)

    def delete_block(self, activity_id: str, kind: str, value: str) -> bool:
        deleted = self._exec("DELETE FROM blocks WHERE activity_id = ? AND kind = ? "
                             "AND value = ?", (activity_id, kind, value)) == 1
        self._count_blocks(activity_id)
        return deleted

    def _count_blocks(self, activity_id: str) -> None:
        """The activity row's count of its blocks: an action reads it there, and looks its
        participant up in `blocks` only when there are some."""
        self._write_activities()
        self._exec("UPDATE activities SET blocks = (SELECT COUNT(*) FROM blocks "
                   "WHERE activity_id = ?) WHERE id = ?", (activity_id, activity_id))
        self._known().pop(activity_id, None)  # read afresh, with its count

    def list_blocks(self, activity_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT kind, value, outcome, reason, created_at FROM blocks "
                         "WHERE activity_id = ? ORDER BY created_at DESC, kind, value",
                         (activity_id,))

    def find_block(self, activity_id: str, participant_id: str, device: str) -> str | None:
        # "refused" sorts after "never_wins": MAX picks the stronger of two matching blocks
        row = self._one("SELECT MAX(outcome) AS outcome FROM blocks WHERE activity_id = ? AND "
                        "((kind = 'participant' AND value = ?) OR (kind = 'device' AND value = ?))",
                        (activity_id, participant_id, device))
        return row["outcome"] if row else None

    def invited_first_timers(self, activity_id: str) -> list[tuple[str, str, int]]:
        self._write_actions()
        rows = self._all("SELECT inviter, participant_id, at FROM actions WHERE activity_id = ? "
                         "AND inviter IS NOT NULL AND first_time = 1 ORDER BY seq",
                         (activity_id,))
        return [(r["inviter"], r["participant_id"], r["at"]) for r in rows]

    def room_only_helpers(self, activity_id: str, min_rooms: int) -> list[tuple[str, int]]:
        self._write_actions()
        self._write_rooms()
        rows = self._all(
            "SELECT a.participant_id, COUNT(DISTINCT a.room_id) AS rooms FROM actions a "
            "LEFT JOIN rooms r ON r.activity_id = a.activity_id AND r.id = a.room_id "
            "WHERE a.activity_id = ? AND a.actor_kind = 'participant' GROUP BY a.participant_id "
            "HAVING SUM(CASE WHEN a.room_id IS NULL OR r.initiator = a.participant_id "
            "THEN 1 ELSE 0 END) = 0 AND COUNT(DISTINCT a.room_id) >= ? "
            "ORDER BY rooms DESC, a.participant_id", (activity_id, min_rooms))
        return [(r["participant_id"], r["rooms"]) for r in rows]

    def keep_template_docs(self, docs: list[tuple[str, str, str, str]], now: int) -> None:
        self._many("INSERT INTO template_docs (content_hash, template_id, version, doc, kept_at) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING",
                   [(*doc, now) for doc in docs])

    def template_doc(self, content_hash: str) -> str | None:
        row = self._one("SELECT doc FROM template_docs WHERE content_hash = ?", (content_hash,))
        return row["doc"] if row else None

    def participant_codes(self, activity_id: str, participant_id: str) -> list[dict[str, Any]]:
        self._write_codes()
        rows = self._all("SELECT * FROM redemptions WHERE activity_id = ? AND participant_id = ? "
                         "ORDER BY seq, position", (activity_id, participant_id))
        return [r for r in map(self._redemption, rows) if r is not None]

    def touch_participants(self, activity_id: str, participant_ids: list[str]) -> None:
        people, _ = self._kept_rows()
        kept = [pid for pid in participant_ids
                if self._kept_participant(activity_id, pid) is not None]
        for pid in kept:  # not written yet: its version moves where it is kept
            key = (activity_id, pid)
            if key in people:
                people[key] = _bumped(people[key])
            else:
                row, read = self._updated[key]
                self._updated[key] = (_bumped(row), read)
        if kept:
            participant_ids = [pid for pid in participant_ids if pid not in kept]
        if participant_ids:
            marks = ", ".join("?" * len(participant_ids))
            self._exec("UPDATE activity_participants SET version = version + 1 "
                       f"WHERE activity_id = ? AND participant_id IN ({marks})",
                       (activity_id, *participant_ids))

    def display_names(self, activity_id: str, participant_ids: list[str]) -> dict[str, str]:
        names = {pid: row[_PARTICIPANT_NAME_AT] for pid in participant_ids
                 if (row := self._kept_participant(activity_id, pid)) is not None}
        participant_ids = [pid for pid in participant_ids if pid not in names]
        if not participant_ids:
            return names
        marks = ", ".join("?" * len(participant_ids))
        rows = self._all("SELECT participant_id, display_name FROM activity_participants "
                         f"WHERE activity_id = ? AND participant_id IN ({marks})",
                         (activity_id, *participant_ids))
        return names | {r["participant_id"]: r["display_name"] for r in rows}

    def participants_by(self, activity_id: str, column: str,
                        min_participants: int) -> list[tuple[str, list[str]]]:
        self._write_actions()
        if column not in ("device", "address"):
            raise ValueError(column)
        rows = self._all(
            f"SELECT {column} AS value, participant_id FROM actions WHERE activity_id = ? "
            f"AND actor_kind = 'participant' AND {column} <> '' AND {column} IN "
            f"(SELECT {column} FROM actions WHERE activity_id = ? AND "
            f"actor_kind = 'participant' AND {column} <> '' GROUP BY {column} "
            f"HAVING COUNT(DISTINCT participant_id) >= ?) "
            f"GROUP BY {column}, participant_id ORDER BY {column}, participant_id",
            (activity_id, activity_id, min_participants))
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r["value"], []).append(r["participant_id"])
        return sorted(out.items(), key=lambda item: (-len(item[1]), item[0]))

    def funnel_counts(self, activity_id: str, actions: list[str], events: list[str],
                      since: int, until: int) -> dict[str, int]:
        self._write_actions()
        self._write_rooms()
        out: dict[str, int] = {}
        for name in actions:
            row = self._row("SELECT COUNT(DISTINCT participant_id) FROM actions "
                            "WHERE activity_id = ? AND action = ? AND actor_kind = 'participant' "
                            "AND at >= ? AND at < ?", (activity_id, name, since, until))
            out[f"action:{name}"] = int(row[0]) if row else 0
        for event in events:
            # Events are stored as compact JSON: `{"type":"x",…}`.
            pattern = containing(f'"type":"{event}"')
            row = self._row(
                "SELECT COUNT(*) FROM (SELECT m.participant_id FROM actions a "
                "JOIN room_members m ON m.activity_id = a.activity_id "
                "AND m.room_id = COALESCE(a.room_id, a.new_room_id) "
                f"WHERE a.activity_id = ? AND a.events LIKE ? {LIKE_ESCAPE} "
                "AND a.at >= ? AND a.at < ? "
                "UNION SELECT a.participant_id FROM actions a WHERE a.activity_id = ? "
                f"AND a.events LIKE ? {LIKE_ESCAPE} AND a.at >= ? AND a.at < ? "
                "AND COALESCE(a.room_id, a.new_room_id) IS NULL AND a.participant_id <> '') t",
                (activity_id, pattern, since, until, activity_id, pattern, since, until))
            out[f"event:{event}"] = int(row[0]) if row else 0
        return out

    def count_actors(self, activity_id: str, since: int, until: int) -> int:
        self._write_actions()
        row = self._row("SELECT COUNT(DISTINCT participant_id) FROM actions "
                        "WHERE activity_id = ? AND actor_kind = 'participant' "
                        "AND at >= ? AND at < ?", (activity_id, since, until))
        return int(row[0]) if row else 0

    # campaigns (engine/campaigns.py) ------------------------------------------------------

    def insert_campaign(self, row: dict[str, Any]) -> None:
        cols = ", ".join(row)
        self._exec(f"INSERT INTO campaigns ({cols}) VALUES ({', '.join('?' for _ in row)})",
                   tuple(row.values()))

    def get_campaign(self, campaign_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM campaigns WHERE id = ?", (campaign_id,))

    def list_campaigns(self, merchant_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT c.*, m.role FROM campaign_members m JOIN campaigns c "
                         "ON c.id = m.campaign_id WHERE m.merchant_id = ? ORDER BY c.id DESC",
                         (merchant_id,))

    def add_campaign_member(self, campaign_id: str, merchant_id: str, role: str,
                            now: int) -> bool:
        return self._exec("INSERT INTO campaign_members (campaign_id, merchant_id, role, "
                          "joined_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (campaign_id, merchant_id, role, now)) == 1

    def campaign_role(self, campaign_id: str, merchant_id: str) -> str | None:
        row = self._row("SELECT role FROM campaign_members WHERE campaign_id = ? "
                        "AND merchant_id = ?", (campaign_id, merchant_id))
        return row[0] if row else None

    def list_campaign_members(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT m.merchant_id, x.name, m.role, m.joined_at "
                         "FROM campaign_members m JOIN merchants x ON x.id = m.merchant_id "
                         "WHERE m.campaign_id = ? ORDER BY m.joined_at, m.merchant_id",
                         (campaign_id,))

    def insert_campaign_invite(self, code: str, campaign_id: str, now: int) -> None:
        self._exec("INSERT INTO campaign_invites (code, campaign_id, created_at) "
                   "VALUES (?, ?, ?)", (code, campaign_id, now))

    def get_campaign_invite(self, code: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM campaign_invites WHERE code = ?", (code,))

    def accept_campaign_invite(self, code: str, merchant_id: str, now: int) -> bool:
        return self._exec("UPDATE campaign_invites SET accepted_by = ?, accepted_at = ? "
                          "WHERE code = ? AND accepted_by IS NULL",
                          (merchant_id, now, code)) == 1

    def list_campaign_invites(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM campaign_invites WHERE campaign_id = ? "
                         "ORDER BY created_at, code", (campaign_id,))

    def add_campaign_activity(self, campaign_id: str, activity_id: str, merchant_id: str,
                              now: int) -> bool:
        added = bool(self._exec(
            "UPDATE campaign_activities SET added_at = ?, removed_at = NULL "
            "WHERE campaign_id = ? AND activity_id = ? AND removed_at IS NOT NULL",
            (now, campaign_id, activity_id))) or self._exec(
            "INSERT INTO campaign_activities (campaign_id, activity_id, merchant_id, added_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (campaign_id, activity_id, merchant_id, now)) == 1
        self._keep_campaigns(activity_id)
        return added

    def remove_campaign_activity(self, campaign_id: str, activity_id: str, now: int) -> bool:
        removed = self._exec("UPDATE campaign_activities SET removed_at = ? "
                             "WHERE campaign_id = ? AND activity_id = ? AND removed_at IS NULL",
                             (now, campaign_id, activity_id)) == 1
        self._keep_campaigns(activity_id)
        return removed

    def _keep_campaigns(self, activity_id: str) -> None:
        """Keep the activity's campaigns on its row, where every action reads them."""
        self.update_activity(activity_id, bump=False, campaigns=self.campaigns_of(activity_id))

    def campaigns_of(self, activity_id: str) -> list[list[Any]]:
        rows = self._rows("SELECT ca.campaign_id, ca.added_at, c.starts_at, c.ends_at "
                          "FROM campaign_activities ca "
                          "JOIN campaigns c ON c.id = ca.campaign_id WHERE ca.activity_id = ? "
                          "AND ca.removed_at IS NULL ORDER BY ca.campaign_id", (activity_id,))
        return [[r[0], max(int(r[1]), int(r[2])), int(r[3])] for r in rows]

    def list_campaign_activities(self, campaign_id: str) -> list[dict[str, Any]]:
        self._write_activities()
        return self._all("SELECT ca.activity_id, ca.merchant_id, ca.added_at, ca.removed_at, "
                         "a.title, a.template_id, a.status, a.timezone, m.name AS merchant_name "
                         "FROM campaign_activities ca JOIN activities a ON a.id = ca.activity_id "
                         "JOIN merchants m ON m.id = ca.merchant_id WHERE ca.campaign_id = ? "
                         "ORDER BY ca.added_at, ca.activity_id", (campaign_id,))

    def join_campaign(self, campaign_id: str, participant_id: str, activity_id: str, now: int,
                      first_ever: bool, inviter: str | None) -> bool:
        return self._exec("INSERT INTO campaign_participants (campaign_id, participant_id, "
                          "first_seen, activity_id, first_ever, inviter) "
                          "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (campaign_id, participant_id, now, activity_id, int(first_ever),
                           inviter)) == 1

    def add_campaign_stats(self, campaign_id: str, activity_id: str, hour: int,
                           deltas: dict[str, int]) -> None:
        columns = tuple(sorted(c for c, v in deltas.items() if v))
        if not columns:
            return
        updates = ", ".join(f"{c} = campaign_stats.{c} + excluded.{c}" for c in columns)
        self._exec(f"INSERT INTO campaign_stats (campaign_id, activity_id, hour, "
                   f"{', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 3))}) "
                   f"ON CONFLICT (campaign_id, activity_id, hour) DO UPDATE SET {updates}",
                   (campaign_id, activity_id, hour, *(deltas[c] for c in columns)))

    def add_campaign_completions(self, campaign_id: str, activity_id: str, hour: int,
                                 counts: dict[str, int]) -> None:
        for kind, n in sorted(counts.items()):
            self._exec("INSERT INTO campaign_completions (campaign_id, activity_id, hour, type, "
                       "count) VALUES (?, ?, ?, ?, ?) ON CONFLICT (campaign_id, activity_id, "
                       "hour, type) DO UPDATE SET count = campaign_completions.count + "
                       "excluded.count", (campaign_id, activity_id, hour, kind, n))

    def campaign_buckets(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM campaign_stats WHERE campaign_id = ? "
                         "ORDER BY hour, activity_id", (campaign_id,))

    def campaign_completion_counts(self, campaign_id: str) -> list[tuple[str, str, int]]:
        rows = self._rows("SELECT activity_id, type, sum(count) FROM campaign_completions "
                          "WHERE campaign_id = ? GROUP BY activity_id, type "
                          "ORDER BY activity_id, type", (campaign_id,))
        return [(a, t, int(n)) for a, t, n in rows]

    def campaign_people(self, campaign_id: str) -> dict[str, int]:
        row = self._row("SELECT COUNT(*), COALESCE(SUM(first_ever), 0), COUNT(inviter), "
                        "COUNT(DISTINCT inviter) FROM campaign_participants "
                        "WHERE campaign_id = ?", (campaign_id,))
        values = [int(v or 0) for v in row] if row else [0, 0, 0, 0]
        return dict(zip(("participants", "first_ever", "invited", "inviters"), values,
                        strict=True))
