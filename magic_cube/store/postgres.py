"""The store for a fleet: PostgreSQL through psycopg 3 and a `psycopg_pool.ConnectionPool`.

It behaves like the SQLite store method by method (same tables from the same migrations, JSON
kept as TEXT, times as BIGINT epoch seconds, the same `Conflict`s), and replaces SQLite's one
database-wide writer with row locks:

- A write transaction runs at READ COMMITTED. `get_activity` in a write transaction locks the
  activity row (`SELECT … FOR NO KEY UPDATE`: excludes every other writer of that row, like
  FOR UPDATE, without blocking foreign-key checks). The engine reads the activity first in
  every write transaction, so one activity's actions serialise on its row — what SQLite's
  `BEGIN IMMEDIATE` gives per database — while different activities never wait for each other.
- `get_room` and `get_participant` in a write transaction lock their rows too. Rows are always
  locked in the same order, activity → room → participant, so transactions cannot deadlock.
- `known_participant` in a write transaction, when the merchant has not seen the participant
  yet, takes a transaction-scoped advisory lock on (merchant, participant) and looks again: two
  activities of one merchant acting for the same new shopper at once agree on who was first.
- Writes of rows read earlier stay conditional on the version read (`update_room`,
  `save_participant`), and violated UNIQUE/CHECK rules, deadlocks, serialisation failures and
  lock timeouts raise `Conflict`, exactly where the SQLite store does.
- A read transaction (`write=False`) is `REPEATABLE READ READ ONLY`: one consistent snapshot
  for all its statements, like a deferred SQLite transaction in WAL mode, and never a lock
  (a write inside one is an error here, where SQLite would allow it: open a write transaction).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from magic_cube.store.base import Conflict, Store, Tx
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
from magic_cube.store.schema import MIGRATIONS, translate

# Advisory lock keys (two-int form): (class, hashtext(name)).
_MIGRATION_LOCK = 0x6D63_0001  # "mc" 1: migrations of one schema
_PARTICIPANT_LOCK = 0x6D63_0002  # "mc" 2: first sight of one merchant's participant
_ACTIVITY_PARTICIPANT_LOCK = 0x6D63_0003  # "mc" 3: first row of a participant in an activity

# Options a database URL may carry as query parameters (removed before libpq sees the URL).
URL_OPTIONS = {"pool_min": int, "pool_max": int, "schema": str, "pool_timeout": float,
               "lock_timeout_ms": int}

# Errors that mean "refused because of a concurrent or conflicting write": the transaction is
# rolled back and the caller may retry.
_CONFLICTS = (errors.IntegrityError, errors.TransactionRollback, errors.LockNotAvailable)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """(`url` without magic-cube's own query options, those options parsed)."""
    parts = urlsplit(url)
    options: dict[str, Any] = {}
    kept = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in URL_OPTIONS:
            options[name] = URL_OPTIONS[name](value)
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), options


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str, pool_min: int | None = None, pool_max: int | None = None,
                 schema: str | None = None, pool_timeout: float | None = None,
                 lock_timeout_ms: int | None = None) -> None:
        """`url` is a libpq URL; it may also carry `pool_min`, `pool_max`, `schema`,
        `pool_timeout` and `lock_timeout_ms` as query parameters (arguments win).

        `schema` puts every table in that schema (created by `migrate`) through each
        connection's `search_path`; tests use a fresh one per run. `lock_timeout_ms` bounds
        the wait for a row lock (then `Conflict`), like SQLite's busy timeout.
        """
        self.conninfo, from_url = split_url(url)

        def pick(name: str, value: Any, default: Any) -> Any:
            return value if value is not None else from_url.get(name, default)

        self.pool_min = pick("pool_min", pool_min, 1)
        self.pool_max = max(1, self.pool_min, pick("pool_max", pool_max, 20))
        self.schema = pick("schema", schema, None) or None
        self.pool_timeout = pick("pool_timeout", pool_timeout, 30.0)
        self.lock_timeout_ms = pick("lock_timeout_ms", lock_timeout_ms, 10000)
        self._pool: ConnectionPool | None = None
        self._pool_pid: int | None = None
        self._abandoned: list[ConnectionPool] = []  # inherited across a fork: never touched
        self._lock = threading.Lock()

    # connections ---------------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection) -> None:
        """Run once on every new connection (autocommit, so the settings persist)."""
        if self.schema:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        conn.execute(sql.SQL("SET lock_timeout = {}").format(
            sql.Literal(f"{int(self.lock_timeout_ms)}ms")))

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.conninfo, autocommit=True)
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is not None and self._pool_pid == os.getpid():
            return pool
        with self._lock:
            if self._pool is not None and self._pool_pid != os.getpid():
                # A forked child must not use (or close) its parent's connections.
                self._abandoned.append(self._pool)
                self._pool = None
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.conninfo, min_size=self.pool_min, max_size=self.pool_max,
                    kwargs={"autocommit": True}, configure=self._configure, open=False,
                    timeout=self.pool_timeout, name="magic-cube")
                self._pool.open()
                self._pool_pid = os.getpid()
            return self._pool

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        """READ COMMITTED with row locks for writes; a REPEATABLE READ READ ONLY snapshot
        for reads. Committed when the block ends, rolled back if it raises."""
        with self._open_pool().connection() as conn:
            level = (psycopg.IsolationLevel.READ_COMMITTED if write
                     else psycopg.IsolationLevel.REPEATABLE_READ)
            if conn.isolation_level != level:
                conn.isolation_level = level
            if conn.read_only != (not write):
                conn.read_only = not write
            with conn.transaction():
                yield PostgresTx(conn, write)

    # migrations ----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations, each in its own transaction under an advisory lock, so
        that processes starting together apply each migration exactly once."""
        applied = []
        lock = sql.SQL("SELECT pg_advisory_xact_lock({}, hashtext({}))").format(
            sql.Literal(_MIGRATION_LOCK), sql.Literal(self.schema or ""))
        with self._connect() as conn:
            with conn.transaction():
                conn.execute(lock)
                if self.schema:
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                        sql.Identifier(self.schema)))
                conn.execute("CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, "
                             "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
            for version, name, statements in MIGRATIONS:
                with conn.transaction():
                    conn.execute(lock)
                    done = conn.execute("SELECT 1 FROM _migrations WHERE version = %s",
                                        (version,)).fetchone()
                    if done:
                        continue
                    for statement in statements:
                        conn.execute(translate(statement, self.dialect))
                    conn.execute(translate("INSERT INTO _migrations (version, name, applied_at) "
                                           "VALUES (%s, %s, datetime('now'))", self.dialect),
                                 (version, name))
                    applied.append(version)
        return applied

    def integrity_check(self) -> str:
        """"ok" when the server answers and the stored data meets the constraints."""
        problems = []
        try:
            with self.transaction(write=False) as tx:
                conn = tx.conn
                conn.execute("SELECT 1").fetchone()
                over = conn.execute("SELECT count(*) FROM rooms WHERE capacity IS NOT NULL "
                                    "AND size > capacity").fetchone()[0]
                if over:
                    problems.append(f"{over} room(s) over capacity")
                invalid = [r[0] for r in conn.execute(
                    "SELECT conname FROM pg_constraint WHERE NOT convalidated "
                    "AND connamespace = current_schema()::regnamespace ORDER BY conname")]
                if invalid:
                    problems.append("constraints not validated: " + ", ".join(invalid))
        except psycopg.Error as exc:
            return f"error: {exc}".strip()
        return "; ".join(problems) or "ok"

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()


def _conflict(exc: psycopg.Error) -> Conflict:
    return Conflict(str(exc).strip() or type(exc).__name__)


class PostgresTx(Tx):
    def __init__(self, conn: psycopg.Connection, write: bool) -> None:
        self.conn = conn
        self.write = write

    def _lock(self, query: str) -> str:
        """`query` locking the rows it reads, in a write transaction."""
        return f"{query} FOR UPDATE" if self.write else query

    def _cursor(self, query: str, args: Any = (), rows: bool = False) -> psycopg.Cursor:
        cur = self.conn.cursor(row_factory=dict_row) if rows else self.conn.cursor()
        try:
            cur.execute(query, args)
        except _CONFLICTS as exc:
            raise _conflict(exc) from exc
        return cur

    def _one(self, query: str, args: tuple = ()) -> dict[str, Any] | None:
        return self._cursor(query, args, rows=True).fetchone()

    def _all(self, query: str, args: tuple = ()) -> list[dict[str, Any]]:
        return self._cursor(query, args, rows=True).fetchall()

    def _row(self, query: str, args: Any = ()) -> tuple | None:
        return self._cursor(query, args).fetchone()

    def _exec(self, query: str, args: tuple = ()) -> int:
        return self._cursor(query, args).rowcount

    def _many(self, query: str, args: list[tuple]) -> None:
        if not args:
            return
        try:
            self.conn.cursor().executemany(query, args)
        except _CONFLICTS as exc:
            raise _conflict(exc) from exc

    # merchants -----------------------------------------------------------------------------

    def insert_merchant(self, m: Merchant) -> None:
        self._exec("INSERT INTO merchants (id, name, email, password_hash, participant_secret, "
                   "webhook_url, webhook_secret, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                   (m.id, m.name, m.email, m.password_hash, m.participant_secret, m.webhook_url,
                    m.webhook_secret, m.created_at))

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        row = self._one("SELECT * FROM merchants WHERE id = %s", (merchant_id,))
        return Merchant(**row) if row else None

    def get_merchant_by_email(self, email: str) -> Merchant | None:
        row = self._one("SELECT * FROM merchants WHERE email = %s", (email,))
        return Merchant(**row) if row else None

    def update_merchant(self, merchant_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = %s" for k in fields)
        self._exec(f"UPDATE merchants SET {sets} WHERE id = %s", (*fields.values(), merchant_id))

    def insert_api_key(self, key_id: str, merchant_id: str, key_hash: str, prefix: str,
                       now: int) -> None:
        self._exec("INSERT INTO api_keys (id, merchant_id, key_hash, prefix, created_at) "
                   "VALUES (%s, %s, %s, %s, %s)", (key_id, merchant_id, key_hash, prefix, now))

    def merchant_for_key_hash(self, key_hash: str) -> Merchant | None:
        row = self._one("SELECT m.* FROM api_keys k JOIN merchants m ON m.id = k.merchant_id "
                        "WHERE k.key_hash = %s AND k.revoked_at IS NULL", (key_hash,))
        return Merchant(**row) if row else None

    def list_api_keys(self, merchant_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT id, prefix, created_at, revoked_at FROM api_keys "
                         "WHERE merchant_id = %s ORDER BY created_at", (merchant_id,))

    def revoke_api_key(self, merchant_id: str, key_id: str, now: int) -> bool:
        return self._exec("UPDATE api_keys SET revoked_at = %s WHERE id = %s AND merchant_id = %s "
                          "AND revoked_at IS NULL", (now, key_id, merchant_id)) == 1

    # activities ----------------------------------------------------------------------------

    _ACTIVITY_JSON = ("config", "state", "initial_state")

    def _activity(self, row: dict[str, Any] | None) -> ActivityRecord | None:
        if row is None:
            return None
        for key in self._ACTIVITY_JSON:
            row[key] = loads(row[key])
        return ActivityRecord(**row)

    def get_activity(self, activity_id: str) -> ActivityRecord | None:
        """In a write transaction, also lock the row until the transaction ends: the first
        lock every engine write transaction takes, so one activity's actions serialise."""
        query = "SELECT * FROM activities WHERE id = %s"
        if self.write:
            query += " FOR NO KEY UPDATE"
        return self._activity(self._one(query, (activity_id,)))

    def get_activity_version(self, activity_id: str) -> tuple[int, str, int | None, int | None] | None:
        row = self._row("SELECT version, status, starts_at, ends_at FROM activities "
                        "WHERE id = %s", (activity_id,))
        return tuple(row) if row else None

    def insert_activity(self, a: ActivityRecord) -> None:
        row = {k: (dumps(v) if k in self._ACTIVITY_JSON else v) for k, v in vars(a).items()}
        cols = ", ".join(row)
        marks = ", ".join("%s" for _ in row)
        self._exec(f"INSERT INTO activities ({cols}) VALUES ({marks})", tuple(row.values()))

    def update_activity(self, activity_id: str, bump: bool = True, **fields: Any) -> None:
        """Write the given columns; `bump` moves the version a participant's ETag depends on."""
        sets = [f"{k} = %s" for k in fields]
        args = [dumps(v) if k in self._ACTIVITY_JSON else v for k, v in fields.items()]
        if bump:
            sets.append("version = version + 1")
        self._exec(f"UPDATE activities SET {', '.join(sets)} WHERE id = %s", (*args, activity_id))

    def list_activities(self, merchant_id: str, status: str | None = None,
                        search: str | None = None, before: str | None = None,
                        limit: int = 50) -> list[ActivityRecord]:
        where, args = ["merchant_id = %s"], [merchant_id]
        if status:
            where.append("status = %s")
            args.append(status)
        if search:
            # ILIKE under the bytewise collation: ASCII case-insensitive, like SQLite's LIKE.
            where.append("(title ILIKE %s OR template_id ILIKE %s)")
            args += [f"%{search}%", f"%{search}%"]
        if before:
            where.append("id < %s")
            args.append(before)
        rows = self._all(f"SELECT * FROM activities WHERE {' AND '.join(where)} "
                         f"ORDER BY id DESC LIMIT %s", (*args, limit))
        return [self._activity(r) for r in rows]

    def due_activities(self, now: int, limit: int) -> list[str]:
        cur = self._cursor(
            "SELECT id FROM activities WHERE (next_due IS NOT NULL AND next_due <= %s) "
            "OR (status = 'scheduled' AND starts_at <= %s) "
            "OR (status IN ('live', 'paused') AND ends_at IS NOT NULL AND ends_at <= %s) LIMIT %s",
            (now, now, now, limit))
        return [r[0] for r in cur.fetchall()]

    # rooms ---------------------------------------------------------------------------------

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        """In a write transaction, also lock the room row (after the activity's)."""
        return self._room(activity_id, room_id, lock=self.write)

    def _room(self, activity_id: str, room_id: str, lock: bool) -> StoredRoom | None:
        query = "SELECT * FROM rooms WHERE activity_id = %s AND id = %s"
        row = self._one(f"{query} FOR UPDATE" if lock else query, (activity_id, room_id))
        if row is None:
            return None
        members = [
            Member(m["participant_id"], m["role"], m["joined_at"], loads(m["data"]),
                   m["display_name"])
            for m in self._all("SELECT * FROM room_members WHERE activity_id = %s "
                               "AND room_id = %s ORDER BY position", (activity_id, room_id))
        ]
        room = Room(id=row["id"], status=row["status"], initiator=row["initiator"],
                    capacity=row["capacity"], opened_at=row["opened_at"],
                    state=loads(row["state"]), members=members, timers=loads(row["timers"]),
                    closed_at=row["closed_at"])
        return StoredRoom(room, row["version"])

    def get_room_state_version(self, activity_id: str, room_id: str) -> tuple[int, int | None] | None:
        """(version, next timer due) of a room: enough to answer a poll with 304."""
        row = self._row("SELECT version, next_due FROM rooms WHERE activity_id = %s AND id = %s",
                        (activity_id, room_id))
        return (row[0], row[1]) if row else None

    def insert_room(self, activity_id: str, room: Room) -> None:
        self._exec("INSERT INTO rooms (activity_id, id, status, initiator, capacity, opened_at, "
                   "closed_at, state, timers, next_due, size) "
                   "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                   (activity_id, room.id, room.status, room.initiator, room.capacity,
                    room.opened_at, room.closed_at, dumps(room.state), dumps(room.timers),
                    min(room.timers.values(), default=None), len(room.members)))

    def update_room(self, activity_id: str, room: Room, expected_version: int) -> None:
        """Conditional on the version read: a lost update is refused, never written."""
        n = self._exec("UPDATE rooms SET status = %s, closed_at = %s, state = %s, timers = %s, "
                       "next_due = %s, size = %s, version = version + 1 "
                       "WHERE activity_id = %s AND id = %s AND version = %s",
                       (room.status, room.closed_at, dumps(room.state), dumps(room.timers),
                        min(room.timers.values(), default=None) if room.status == "open" else None,
                        len(room.members), activity_id, room.id, expected_version))
        if n != 1:
            raise Conflict(f"room {room.id} changed concurrently")

    def insert_member(self, activity_id: str, room_id: str, member: Member, position: int) -> None:
        self._exec("INSERT INTO room_members (activity_id, room_id, participant_id, role, data, "
                   "display_name, joined_at, position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                   (activity_id, room_id, member.participant, member.role, dumps(member.data),
                    member.display_name, member.joined_at, position))

    def due_rooms(self, activity_id: str, now: int, limit: int = 100) -> list[str]:
        cur = self._cursor("SELECT id FROM rooms WHERE activity_id = %s AND next_due <= %s "
                           "ORDER BY next_due, id LIMIT %s", (activity_id, now, limit))
        return [r[0] for r in cur.fetchall()]

    def next_room_due(self, activity_id: str) -> int | None:
        row = self._row("SELECT min(next_due) FROM rooms WHERE activity_id = %s", (activity_id,))
        return row[0] if row else None

    def open_room_ids(self, activity_id: str) -> list[str]:
        cur = self._cursor("SELECT id FROM rooms WHERE activity_id = %s AND status = 'open' "
                           "ORDER BY opened_at, id", (activity_id,))
        return [r[0] for r in cur.fetchall()]

    def list_rooms(self, activity_id: str) -> list[StoredRoom]:
        cur = self._cursor("SELECT id FROM rooms WHERE activity_id = %s ORDER BY opened_at, id",
                           (activity_id,))
        # Listing is not acting: even a write transaction does not lock every room it lists.
        return [self._room(activity_id, r[0], lock=False) for r in cur.fetchall()]

    def rooms_of(self, activity_id: str, participant_id: str, limit: int = 20) -> list[str]:
        cur = self._cursor(
            "SELECT room_id FROM room_members WHERE activity_id = %s AND participant_id = %s "
            "ORDER BY joined_at DESC, room_id LIMIT %s", (activity_id, participant_id, limit))
        return [r[0] for r in cur.fetchall()]

    # participants --------------------------------------------------------------------------

    def get_participant(self, activity_id: str, participant_id: str) -> ParticipantRecord | None:
        """In a write transaction, also lock the participant's row (last in the order). A row
        that does not exist yet cannot be locked: then an advisory lock on (activity,
        participant), held to the end of the transaction, stands in for it and the row is
        looked up again, so that two writers of a new participant (an action and a heartbeat
        that does not take the activity's lock) queue instead of both inserting it."""
        query = self._lock("SELECT * FROM activity_participants WHERE activity_id = %s "
                           "AND participant_id = %s")
        row = self._one(query, (activity_id, participant_id))
        if row is None and self.write:
            self._row("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                      (_ACTIVITY_PARTICIPANT_LOCK, f"{activity_id}\x1f{participant_id}"))
            row = self._one(query, (activity_id, participant_id))
        if row is None:
            return None
        row["state"] = loads(row["state"])
        return ParticipantRecord(**row)

    def get_participant_version(self, activity_id: str, participant_id: str) -> int | None:
        row = self._row("SELECT version FROM activity_participants WHERE activity_id = %s "
                        "AND participant_id = %s", (activity_id, participant_id))
        return row[0] if row else None

    def save_participant(self, p: ParticipantRecord, expected_version: int | None) -> None:
        """Insert (`expected_version` None) or update conditionally on the version read."""
        state = dumps(p.state) if p.state is not None else None
        if expected_version is None:
            self._exec("INSERT INTO activity_participants (activity_id, participant_id, "
                       "display_name, state, version, first_action_at, last_action_at, actions, "
                       "last_seen_at, interaction_seconds) "
                       "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                       (p.activity_id, p.participant_id, p.display_name, state, p.version,
                        p.first_action_at, p.last_action_at, p.actions, p.last_seen_at,
                        p.interaction_seconds))
            return
        n = self._exec("UPDATE activity_participants SET display_name = %s, state = %s, "
                       "version = %s, first_action_at = %s, last_action_at = %s, actions = %s, "
                       "last_seen_at = %s, interaction_seconds = %s WHERE activity_id = %s "
                       "AND participant_id = %s AND version = %s",
                       (p.display_name, state, p.version, p.first_action_at, p.last_action_at,
                        p.actions, p.last_seen_at, p.interaction_seconds, p.activity_id,
                        p.participant_id, expected_version))
        if n != 1:
            raise Conflict(f"participant {p.participant_id} changed concurrently")

    def list_participants(self, activity_id: str, after: str | None = None,
                          limit: int = 1000) -> list[ParticipantRecord]:
        rows = self._all("SELECT * FROM activity_participants WHERE activity_id = %s "
                         "AND participant_id > %s ORDER BY participant_id LIMIT %s",
                         (activity_id, after or "", limit))
        for r in rows:
            r["state"] = loads(r["state"])
        return [ParticipantRecord(**r) for r in rows]

    def remember_participant(self, merchant_id: str, participant_id: str, activity_id: str,
                             now: int) -> bool:
        """Record a participant's first accepted action on this deployment; True if it is."""
        n = self._exec("INSERT INTO participants (merchant_id, id, first_seen_at, "
                       "first_activity_id) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                       (merchant_id, participant_id, now, activity_id))
        return n == 1

    def known_participant(self, merchant_id: str, participant_id: str) -> bool:
        """Whether the merchant has seen this participant. In a write transaction an unknown
        participant is looked up again under an advisory lock on (merchant, participant),
        held to the end of the transaction: a concurrent transaction of another activity
        acting for the same shopper waits, then sees this one's `remember_participant`."""
        query = "SELECT 1 FROM participants WHERE merchant_id = %s AND id = %s"
        args = (merchant_id, participant_id)
        if self._row(query, args) is not None:
            return True
        if not self.write:
            return False
        self._row("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                  (_PARTICIPANT_LOCK, f"{merchant_id}\x1f{participant_id}"))
        return self._row(query, args) is not None

    # action log, outbox --------------------------------------------------------------------

    _ACTION_JSON = ("params", "result", "events", "random")
    _ACTION_FLAGS = ("first_time", "new_to_activity")  # INTEGER 0/1 columns, as in SQLite

    def insert_action(self, a: ActionRecord) -> None:
        row = {k: (dumps(v) if k in self._ACTION_JSON else int(v) if k in self._ACTION_FLAGS
                   else v) for k, v in vars(a).items()}
        cols = ", ".join(row)
        marks = ", ".join("%s" for _ in row)
        self._exec(f"INSERT INTO actions ({cols}) VALUES ({marks})", tuple(row.values()))

    def list_actions(self, activity_id: str, after_seq: int = 0, limit: int = 100) -> list[ActionRecord]:
        rows = self._all("SELECT * FROM actions WHERE activity_id = %s AND seq > %s "
                         "ORDER BY seq LIMIT %s", (activity_id, after_seq, limit))
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
        self._many(
            "INSERT INTO outbox (activity_id, seq, type, data, created_at, next_attempt_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(activity_id, seq, e["type"], dumps(e["data"]), now, now) for e in events])

    def list_outbox(self, activity_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxRecord]:
        rows = self._all("SELECT id, activity_id, seq, type, data, created_at, attempts, "
                         "delivered_at FROM outbox WHERE activity_id = %s AND id > %s "
                         "ORDER BY id LIMIT %s", (activity_id, after_id, limit))
        for r in rows:
            r["data"] = loads(r["data"])
        return [OutboxRecord(**r) for r in rows]

    # the worker: due work across activities, webhook delivery ------------------------------

    def due_activity_ids(self, now: int, limit: int) -> list[str]:
        """Activities with work due at `now` (see base.Tx): live, paused or ended ones with a due
        room timer, scheduled ones whose start has come, live or paused ones whose end has come."""
        cur = self._cursor(
            "SELECT id FROM activities a WHERE a.status IN ('live', 'paused', 'ended') "
            "AND EXISTS (SELECT 1 FROM rooms r "
            "WHERE r.activity_id = a.id AND r.next_due <= %s) "
            "UNION SELECT id FROM activities WHERE status = 'scheduled' AND starts_at <= %s "
            "UNION SELECT id FROM activities WHERE status IN ('live', 'paused') "
            "AND ends_at <= %s ORDER BY 1 LIMIT %s", (now, now, now, limit))
        return [r[0] for r in cur.fetchall()]

    _EVENT_COLUMNS = ("o.id, o.activity_id, o.seq, o.type, o.data, o.created_at, o.attempts, "
                      "o.next_attempt_at, o.delivered_at, o.dead_at, o.last_error")
    _UNDELIVERED = "delivered_at IS NULL AND dead_at IS NULL"  # matches `outbox_undelivered`

    def claim_outbox(self, now: int, lease: int, limit: int) -> list[dict[str, Any]]:
        """See base.Tx. Each activity's oldest undelivered event is locked `FOR UPDATE SKIP
        LOCKED`: an event another worker is claiming right now is skipped, not waited for, and
        since only the oldest event of an activity is ever a candidate, that activity's later
        events are not taken either (one event per activity in flight). The lease is written
        in this transaction; commit before making the HTTP call."""
        rows = self._all(
            f"SELECT {self._EVENT_COLUMNS}, m.webhook_url, m.webhook_secret FROM activities a "
            "JOIN merchants m ON m.id = a.merchant_id "
            "JOIN outbox o ON o.id = (SELECT h.id FROM outbox h WHERE h.activity_id = a.id "
            f"AND h.{self._UNDELIVERED.replace(' AND ', ' AND h.')} ORDER BY h.id LIMIT 1) "
            "WHERE m.webhook_url IS NOT NULL AND m.webhook_url <> '' "
            # Checked on `o` itself, not only in the subquery: when another worker changed the
            # row since this statement's snapshot, FOR UPDATE re-evaluates these conditions on
            # the row's new version (the subquery still sees the old snapshot), so an event
            # delivered or leased meanwhile is not claimed again.
            f"AND o.{self._UNDELIVERED.replace(' AND ', ' AND o.')} "
            "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %s) "
            "ORDER BY o.next_attempt_at, o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED",
            (now, limit))
        if rows:
            self._exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = %s "
                       "WHERE id = ANY(%s)", (now + lease, [r["id"] for r in rows]))
        for r in rows:
            r["attempts"] += 1
            r["next_attempt_at"] = now + lease
            r["data"] = loads(r["data"])
        return rows

    def mark_delivered(self, event_id: int, now: int) -> bool:
        return self._exec("UPDATE outbox SET delivered_at = %s, dead_at = NULL, "
                          "next_attempt_at = NULL WHERE id = %s AND delivered_at IS NULL",
                          (now, event_id)) == 1

    def mark_failed(self, event_id: int, now: int, next_attempt_at: int, error: str,
                    dead: bool) -> bool:
        return self._exec(f"UPDATE outbox SET last_error = %s, next_attempt_at = %s, "
                          f"dead_at = %s WHERE id = %s AND {self._UNDELIVERED}",
                          (error, None if dead else next_attempt_at, now if dead else None,
                           event_id)) == 1

    def get_event(self, activity_id: str, event_id: int) -> dict[str, Any] | None:
        row = self._one(f"SELECT {self._EVENT_COLUMNS} FROM outbox o WHERE o.activity_id = %s "
                        "AND o.id = %s", (activity_id, event_id))
        if row is not None:
            row["data"] = loads(row["data"])
        return row

    def list_events(self, activity_id: str, status: str | None = None, after: int = 0,
                    limit: int = 100) -> list[dict[str, Any]]:
        where = {None: "", "pending": f"AND o.{self._UNDELIVERED.replace(' AND ', ' AND o.')} ",
                 "delivered": "AND o.delivered_at IS NOT NULL ",
                 "dead": "AND o.delivered_at IS NULL AND o.dead_at IS NOT NULL "}[status]
        rows = self._all(f"SELECT {self._EVENT_COLUMNS} FROM outbox o WHERE o.activity_id = %s "
                         f"AND o.id > %s {where}ORDER BY o.id LIMIT %s",
                         (activity_id, after, limit))
        for r in rows:
            r["data"] = loads(r["data"])
        return rows

    def redeliver(self, activity_id: str, event_id: int, now: int) -> bool:
        return self._exec("UPDATE outbox SET delivered_at = NULL, dead_at = NULL, attempts = 0, "
                          "next_attempt_at = %s, last_error = NULL WHERE activity_id = %s "
                          "AND id = %s AND (delivered_at IS NOT NULL OR dead_at IS NOT NULL)",
                          (now, activity_id, event_id)) == 1

    # stats ---------------------------------------------------------------------------------

    def add_stats(self, activity_id: str, hour: int, deltas: dict[str, int]) -> None:
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        cols = ", ".join(deltas)
        marks = ", ".join("%s" for _ in deltas)
        updates = ", ".join(f"{k} = stats.{k} + excluded.{k}" for k in deltas)
        self._exec(f"INSERT INTO stats (activity_id, hour, {cols}) VALUES (%s, %s, {marks}) "
                   f"ON CONFLICT (activity_id, hour) DO UPDATE SET {updates}",
                   (activity_id, hour, *deltas.values()))

    def add_event_stats(self, activity_id: str, hour: int, counts: dict[str, int]) -> None:
        """Add to the per-event-type counters of one hour."""
        self._many(
            "INSERT INTO event_stats (activity_id, hour, type, count) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (activity_id, hour, type) "
            "DO UPDATE SET count = event_stats.count + excluded.count",
            [(activity_id, hour, t, n) for t, n in counts.items()])

    def event_totals(self, activity_id: str) -> dict[str, int]:
        """Event type -> count over all hours."""
        cur = self._cursor("SELECT type, sum(count) FROM event_stats WHERE activity_id = %s "
                           "GROUP BY type ORDER BY type", (activity_id,))
        return {t: int(n) for t, n in cur.fetchall()}  # sum(bigint) is numeric

    def mark_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> bool:
        return self._exec("INSERT INTO participant_hours (activity_id, hour, participant_id) "
                          "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                          (activity_id, hour, participant_id)) == 1

    def hourly_stats(self, activity_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM stats WHERE activity_id = %s ORDER BY hour",
                         (activity_id,))

    # idempotency ---------------------------------------------------------------------------

    def get_idempotency(self, activity_id: str, participant_id: str, key: str) -> IdempotencyRecord | None:
        row = self._one("SELECT * FROM idempotency WHERE activity_id = %s AND participant_id = %s "
                        "AND key = %s", (activity_id, participant_id, key))
        if row is None:
            return None
        row["response"] = loads(row["response"])
        return IdempotencyRecord(**row)

    def claim_idempotency(self, rec: IdempotencyRecord, stale_before: int) -> bool:
        """Take the key for a new request: insert it, or take over an abandoned pending one."""
        n = self._exec("INSERT INTO idempotency (activity_id, participant_id, key, request_hash, "
                       "state, created_at) VALUES (%s, %s, %s, %s, 'pending', %s) "
                       "ON CONFLICT DO NOTHING",
                       (rec.activity_id, rec.participant_id, rec.key, rec.request_hash,
                        rec.created_at))
        if n == 1:
            return True
        return self._exec("UPDATE idempotency SET created_at = %s, request_hash = %s "
                          "WHERE activity_id = %s AND participant_id = %s AND key = %s "
                          "AND state = 'pending' AND created_at < %s",
                          (rec.created_at, rec.request_hash, rec.activity_id, rec.participant_id,
                           rec.key, stale_before)) == 1

    def complete_idempotency(self, activity_id: str, participant_id: str, key: str, status: int,
                             response: dict[str, Any]) -> None:
        self._exec("UPDATE idempotency SET state = 'done', status = %s, response = %s "
                   "WHERE activity_id = %s AND participant_id = %s AND key = %s",
                   (status, dumps(response), activity_id, participant_id, key))

    def release_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        self._exec("DELETE FROM idempotency WHERE activity_id = %s AND participant_id = %s "
                   "AND key = %s AND state = 'pending'", (activity_id, participant_id, key))

    def delete_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        """Forget a key whatever its state (an expired one, before it is used afresh)."""
        self._exec("DELETE FROM idempotency WHERE activity_id = %s AND participant_id = %s "
                   "AND key = %s", (activity_id, participant_id, key))

    def purge_idempotency(self, before: int) -> int:
        return self._exec("DELETE FROM idempotency WHERE created_at < %s", (before,))

    # console -------------------------------------------------------------------------------

    def count_participants(self, activity_id: str) -> int:
        """Participants with a row in the activity: everyone who acted or sent a heartbeat."""
        return self._row("SELECT count(*) FROM activity_participants WHERE activity_id = %s",
                         (activity_id,))[0]

    def get_login_failures(self, email: str) -> tuple[int, int, int | None] | None:
        """(failures, last failure time, locked until) for a console login email, if any."""
        row = self._row("SELECT failures, last_failed_at, locked_until FROM login_failures "
                        "WHERE email = %s", (email,))
        return (row[0], row[1], row[2]) if row else None

    def add_login_failure(self, email: str, now: int, reset_before: int, limit: int,
                          lock_until: int) -> tuple[int, int | None]:
        """Count a failed login in one statement (no read-then-write race): the count starts
        again when the previous failure is older than `reset_before`; reaching `limit` locks
        the email until `lock_until`. Returns (failures, locked until)."""
        row = self._row(
            "INSERT INTO login_failures (email, failures, last_failed_at, locked_until) "
            "VALUES (%(email)s, 1, %(now)s, CASE WHEN 1 >= %(limit)s THEN %(lock)s::bigint END) "
            "ON CONFLICT (email) DO UPDATE SET "
            "failures = CASE WHEN login_failures.last_failed_at < %(reset)s THEN 1 "
            "ELSE login_failures.failures + 1 END, "
            "locked_until = CASE WHEN (CASE WHEN login_failures.last_failed_at < %(reset)s "
            "THEN 1 ELSE login_failures.failures + 1 END) >= %(limit)s "
            "THEN %(lock)s::bigint END, "
            "last_failed_at = excluded.last_failed_at "
            "RETURNING failures, locked_until",
            {"email": email, "now": now, "limit": limit, "lock": lock_until,
             "reset": reset_before})
        return row[0], row[1]

    def clear_login_failures(self, email: str) -> None:
        self._exec("DELETE FROM login_failures WHERE email = %s", (email,))
