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

import functools
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors, sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from magic_cube.store.base import ClaimedEvent, Conflict, Store, Tx
from magic_cube.store.records import StoredRoom
from magic_cube.store.schema import MIGRATIONS, translate
from magic_cube.store.sql import (
    SELECT_ACTIVITY,
    SELECT_PARTICIPANT,
    SQLTx,
    loads,
)

# Advisory lock keys (two-int form): (class, hashtext(name)); "mc" 2 and 3 are taken by the
# functions of migration 13 (store/schema.py).
_MIGRATION_LOCK = 0x6D63_0001  # "mc" 1: migrations of one schema
_OWNER_LOCK = 0x6D63_0004  # "mc" 4: held by a live process on its Idempotency-Key owner id

# A participant's row; in a write transaction locked, or the lock standing in for it taken.
_PARTICIPANT = f"{SELECT_PARTICIPANT} WHERE activity_id = ? AND participant_id = ?"
_PARTICIPANT_FOR_UPDATE = SELECT_PARTICIPANT.replace(
    " FROM activity_participants", " FROM mc_participant_for_update(?, ?)")
# Both look-ups under their locks, the participant's first (the order every writer takes them).
_PARTICIPANT_AND_KNOWN_FOR_UPDATE = (
    "SELECT f.*, mc_known_participant(?, ?) FROM (SELECT 1) AS one "
    f"LEFT JOIN LATERAL ({_PARTICIPANT_FOR_UPDATE}) AS f ON true")

# Options a database URL may carry as query parameters (removed before libpq sees the URL).
URL_OPTIONS = {"pool_min": int, "pool_max": int, "schema": str, "pool_timeout": float,
               "lock_timeout_ms": int}

# Errors that mean "refused because of a concurrent or conflicting write": the transaction is
# rolled back and the caller may retry. psycopg gives each SQLSTATE of class 40 (transaction
# rollback) a class of its own, not a subclass of `TransactionRollback` (40000): a deadlock
# (40P01) and a serialisation failure (40001) are named here, or they would be a 500.
_CONFLICTS = (errors.IntegrityError, errors.TransactionRollback, errors.DeadlockDetected,
              errors.SerializationFailure, errors.LockNotAvailable)


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
        # (pid, owner id, the connection holding the owner's advisory lock)
        self._owner: tuple[int, str, psycopg.Connection] | None = None

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

    def lane(self, activity_id: str) -> str:
        return activity_id

    def owner(self) -> str:
        """A random id on which this process holds a session advisory lock, on a connection of
        its own: the server releases it the moment the process or that connection dies, which
        is how another process sees that the owner's pending keys are abandoned. A new id (and
        connection) after a fork or once the connection is lost."""
        held = self._owner
        if held is not None and held[0] == os.getpid() and not held[2].closed:
            return held[1]
        with self._lock:
            held = self._owner
            if held is not None and held[0] == os.getpid() and not held[2].closed:
                return held[1]
            if held is not None and held[0] == os.getpid():
                held[2].close()
            owner = f"pg:{secrets.token_hex(8)}"
            conn = psycopg.connect(self.conninfo, autocommit=True)
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_OWNER_LOCK, owner))
            self._owner = (os.getpid(), owner, conn)
            return owner

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
                tx = PostgresTx(conn, write)
                yield tx
                if write:
                    tx.flush()

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
                conn = tx.conn  # type: ignore[attr-defined]
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
            held, self._owner = self._owner, None
        if held is not None and held[0] == os.getpid():
            held[2].close()
        if pool is not None and self._pool_pid == os.getpid():
            pool.close()


def _conflict(exc: psycopg.Error) -> Conflict:
    return Conflict(str(exc).strip() or type(exc).__name__)


@functools.lru_cache(maxsize=1024)
def _placeholders(query: str) -> str:
    """`query` with psycopg's `%s` for the shared SQL's `?` (no query has a literal `?`)."""
    return query.replace("?", "%s")


class PostgresTx(SQLTx):
    # ILIKE under the bytewise collation: ASCII case-insensitive, like SQLite's LIKE.
    _LIKE = "ILIKE"

    def __init__(self, conn: psycopg.Connection, write: bool) -> None:
        self.conn = conn
        self.write = write
        if write:
            # `get_activity` locks the row until the transaction ends: the first lock every
            # engine write transaction takes, so one activity's actions serialise (a batch of
            # them takes it once).
            self._select_activity = f"{SELECT_ACTIVITY} WHERE id = ? FOR NO KEY UPDATE"

    def _lock(self, query: str) -> str:
        """`query` locking the rows it reads, in a write transaction."""
        return f"{query} FOR UPDATE" if self.write else query

    def owner_gone(self, owner: str | None) -> bool:
        """A `pg:` owner is gone when its advisory lock is free (it would be held by a live
        owner's session): taking it here, until this transaction ends, tells."""
        if not owner or not owner.startswith("pg:"):
            return False
        row = self._row("SELECT pg_try_advisory_xact_lock(?, hashtext(?))",
                        (_OWNER_LOCK, owner.split("#", 1)[0]))
        return bool(row and row[0])

    def _cursor(self, query: str, args: Any = (), rows: bool = False) -> psycopg.Cursor:
        if self._opened < self._savepoints and not query.startswith("SELECT"):
            self._open_savepoints()  # (a SELECT here writes nothing: it reads and locks)
        cur = self.conn.cursor(row_factory=dict_row) if rows else self.conn.cursor()
        try:
            cur.execute(_placeholders(query), args)
        except psycopg.Error as exc:
            self._statement_failed = True  # the transaction is lost unless rolled back to one
            if isinstance(exc, _CONFLICTS):
                raise _conflict(exc) from exc
            raise
        return cur

    def _one(self, query: str, args: tuple = ()) -> dict[str, Any] | None:
        return self._cursor(query, args, rows=True).fetchone()  # type: ignore[return-value]

    def _all(self, query: str, args: tuple = ()) -> list[dict[str, Any]]:
        return self._cursor(query, args, rows=True).fetchall()  # type: ignore[return-value]

    def _row(self, query: str, args: Any = ()) -> tuple | None:
        return self._cursor(query, args).fetchone()

    def _rows(self, query: str, args: tuple = ()) -> list[tuple]:
        return self._cursor(query, args).fetchall()

    def _exec(self, query: str, args: tuple = ()) -> int:
        return self._cursor(query, args).rowcount

    def _many(self, query: str, args: list[tuple]) -> int:
        if not args:
            return 0
        if self._opened < self._savepoints:
            self._open_savepoints()
        try:
            # (In a pipeline: one round trip for every row. Its rowcount is the sum.)
            cursor = self.conn.cursor()
            cursor.executemany(_placeholders(query), args)
            return cursor.rowcount
        except psycopg.Error as exc:
            self._statement_failed = True
            if isinstance(exc, _CONFLICTS):
                raise _conflict(exc) from exc
            raise

    # activities ----------------------------------------------------------------------------

    # rooms ---------------------------------------------------------------------------------

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        """In a write transaction, also lock the room row (after the activity's)."""
        return self._room(activity_id, room_id, lock=self.write)

    # participants --------------------------------------------------------------------------

    def _participant_row(self, activity_id: str, participant_id: str) -> tuple | None:
        """In a write transaction, also lock the participant's row (last in the order). A row
        that does not exist yet cannot be locked: then an advisory lock on (activity,
        participant), held to the end of the transaction, stands in for it and the row is
        looked up again, so that two writers of a new participant (an action and a heartbeat
        that does not take the activity's lock) queue instead of both inserting it. One
        statement either way: the function `mc_participant_for_update` (migration 13)."""
        query = _PARTICIPANT_FOR_UPDATE if self.write else _PARTICIPANT
        return self._row(query, (activity_id, participant_id))

    def _participant_and_known_row(self, activity_id: str, participant_id: str,
                                   merchant_id: str) -> tuple | None:
        if not self.write:
            return super()._participant_and_known_row(activity_id, participant_id, merchant_id)
        return self._row(_PARTICIPANT_AND_KNOWN_FOR_UPDATE,
                         (merchant_id, participant_id, activity_id, participant_id))

    def _is_known(self, merchant_id: str, participant_id: str) -> bool:
        """Whether the merchant has seen this participant. In a write transaction an unknown
        participant is looked up again under an advisory lock on (merchant, participant),
        held to the end of the transaction: a concurrent transaction of another activity
        acting for the same shopper waits, then sees this one's `remember_participant`. One
        statement either way: the function `mc_known_participant` (migration 13)."""
        if self.write:
            row = self._row("SELECT mc_known_participant(?, ?)", (merchant_id, participant_id))
            return bool(row and row[0])
        return self._row("SELECT 1 FROM participants WHERE merchant_id = ? AND id = ?",
                         (merchant_id, participant_id)) is not None

    # the worker: due work across activities, webhook delivery ------------------------------

    def due_activity_ids(self, now: int, limit: int) -> list[str]:
        """Activities with work due at `now` (see base.Tx): live, paused or ended ones with a due
        room timer, scheduled ones whose start has come, live or paused ones whose end has come,
        and ones with a due activity timer (`next_due`)."""
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
            "AND next_due <= ? ORDER BY 1 LIMIT ?", (now, now, now, now, limit))
        return [r[0] for r in rows]

    def claim_outbox(self, now: int, lease: int, limit: int) -> list[ClaimedEvent]:
        """See base.Tx. Each activity's oldest undelivered event is locked `FOR UPDATE SKIP
        LOCKED`: an event another worker is claiming right now is skipped, not waited for, and
        since only the oldest event of an activity is ever a candidate, that activity's later
        events are not taken either (one event per activity in flight). The lease is written
        in this transaction; commit before making the HTTP call."""
        self._write_activities()
        self._write_outbox()
        rows = self._all(
            f"SELECT {self._EVENT_COLUMNS}, m.webhook_url, m.webhook_secret FROM activities a "
            "JOIN merchants m ON m.id = a.merchant_id "
            "JOIN outbox o ON o.id = (SELECT h.id FROM outbox h WHERE h.activity_id = a.id "
            f"AND {self._PENDING.format(t='h')} ORDER BY h.id LIMIT 1) "
            "WHERE m.webhook_url IS NOT NULL AND m.webhook_url <> '' "
            # Checked on `o` itself, not only in the subquery: when another worker changed the
            # row since this statement's snapshot, FOR UPDATE re-evaluates these conditions on
            # the row's new version (the subquery still sees the old snapshot), so an event
            # delivered or leased meanwhile is not claimed again.
            f"AND {self._PENDING.format(t='o')} "
            "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?) "
            "ORDER BY o.next_attempt_at, o.id LIMIT ? FOR UPDATE OF o SKIP LOCKED",
            (now, limit))
        if rows:
            self._exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? "
                       "WHERE id = ANY(?)", (now + lease, [r["id"] for r in rows]))
        for r in rows:
            r["attempts"] += 1
            r["next_attempt_at"] = now + lease
            r["data"] = loads(r["data"])
        return rows  # type: ignore[return-value]  # the columns of a ClaimedEvent

    # console -------------------------------------------------------------------------------

    def add_login_failure(self, email: str, now: int, reset_before: int, limit: int,
                          lock_until: int, address: str = "") -> tuple[int, int | None]:
        """See base.Tx: one statement, so there is no read-then-write race."""
        row = self._row(  # named placeholders: `_placeholders` leaves them as they are
            "INSERT INTO login_failures (email, address, failures, last_failed_at, locked_until) "
            "VALUES (%(email)s, %(address)s, 1, %(now)s, "
            "CASE WHEN 1 >= %(limit)s THEN %(lock)s::bigint END) "
            "ON CONFLICT (email, address) DO UPDATE SET "
            "failures = CASE WHEN login_failures.last_failed_at < %(reset)s THEN 1 "
            "ELSE login_failures.failures + 1 END, "
            "locked_until = CASE WHEN (CASE WHEN login_failures.last_failed_at < %(reset)s "
            "THEN 1 ELSE login_failures.failures + 1 END) >= %(limit)s "
            "THEN %(lock)s::bigint END, "
            "last_failed_at = excluded.last_failed_at "
            "RETURNING failures, locked_until",
            {"email": email, "address": address, "now": now, "limit": limit,
             "lock": lock_until, "reset": reset_before})
        assert row is not None  # RETURNING always answers a row
        return row[0], row[1]
