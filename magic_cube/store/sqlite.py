"""The embedded default store: one SQLite file, via sqlite-utils.

WAL so that readers never wait for the writer; `BEGIN IMMEDIATE` for every write transaction so
that two writers never both read and then collide at commit; a busy timeout so that waiting
writers queue instead of failing. Constraints (primary keys, UNIQUE, CHECK) refuse whatever a
race might still let through.

`synchronous="FULL"` (the default) means a write transaction is on disk before `transaction()`
returns — before anything it did is acknowledged — as SQLite's own FULL does, but with the
fsync outside SQLite's write lock: SQLite writes the WAL at `synchronous=NORMAL` (no fsync at
commit, the lock released as soon as the WAL frames are written) and the store then fsyncs the
WAL itself. The fsync covers every frame written before it, so an acknowledged transaction is
durable with everything it read; meanwhile another process's writer goes ahead instead of
waiting out this one's disk flush, and under gevent the flush runs on a native thread
(`concurrency.off_the_loop`) so this worker's other requests go on too. What this changes:
for the millisecond of the flush, a reader may see a transaction not yet on disk, which a
power loss (not a process crash: the OS has the frames) could then undo — never one that was
acknowledged. NORMAL and OFF are SQLite's own.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from magic_cube.concurrency import off_the_loop
from magic_cube.store.base import Conflict, Store, Tx
from magic_cube.store.owners import local_owner, local_owner_gone
from magic_cube.store.schema import MIGRATIONS, translate
from magic_cube.store.sql import SQLTx


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_ms: int = 10000,
                 synchronous: str = "FULL", pool_size: int = 32) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        # FULL: the WAL synced by the store after each write commit, outside SQLite's lock (see
        # the module's docstring); decided by the first connection, which finds out whether
        # the file is in WAL mode (it stays in it).
        self._sync_wal: bool | None = None
        # Idle connections, the last returned on top (LIFO: a warm one is reused first). A list
        # under a plain lock: taken and given back around every transaction, where a
        # `queue.Queue`'s conditions cost more than the list operations themselves.
        self._pool: list[sqlite3.Connection] = []
        self._pool_size = pool_size
        self._pool_lock = threading.Lock()
        self._lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._memory_conn = self._connect() if self.path == ":memory:" else None

    def _connect(self) -> sqlite3.Connection:
        # No waiting inside SQLite: its busy handler sleeps in C, which would freeze a whole
        # gevent worker. `_begin` waits for the write lock with a cooperative sleep instead.
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 0")
        if self.path != ":memory:":
            # Switching a new file to WAL needs a moment's exclusive lock, and SQLite does not
            # always wait for it with the busy handler: retry when another process holds it.
            for attempt in range(50):
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.05)
            if self._sync_wal is None:
                self._sync_wal = mode == "wal" and self.synchronous.upper() == "FULL"
        synchronous = "NORMAL" if self._sync_wal else self.synchronous
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if self._memory_conn is not None:
            self._lock.acquire()  # one shared connection for ":memory:"
            return self._memory_conn
        with self._pool_lock:
            if self._pool:
                return self._pool.pop()
        return self._connect()

    def _release(self, conn: sqlite3.Connection) -> None:
        if conn is self._memory_conn:
            self._lock.release()
            return
        with self._pool_lock:
            if len(self._pool) < self._pool_size:
                self._pool.append(conn)
                return
        conn.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = self._acquire()
        try:
            yield conn
        finally:
            self._release(conn)

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        conn = self._acquire()  # not through `_connection`: one generator less per action
        try:
            self._begin(conn, "BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                tx = SQLiteTx(conn)
                yield tx
                tx.flush()
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                conn.execute("ROLLBACK")
                if _busy(exc):  # WAL makes this rare once the write lock is held
                    raise Conflict("the database was busy; try again") from exc
                raise
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if write and self._sync_wal:
                self._sync()
        finally:
            self._release(conn)

    def _sync(self) -> None:
        """fsync the WAL: what the last commit wrote there, and everything before it. Opened
        afresh each time, as the file may have been made anew since (a checkpoint of the last
        connection to close removes it, having synced the database file)."""
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed and removed: in the database file, which was synced
        try:
            off_the_loop(lambda: os.fsync(fd))
        finally:
            os.close(fd)

    def activity_version(self, activity_id: str
                         ) -> tuple[int, str, int | None, int | None, int | None] | None:
        # Outside BEGIN … COMMIT a SELECT is a read transaction of its own: one statement, not
        # three, for every poll.
        conn = self._acquire()
        try:
            return SQLiteTx(conn).get_activity_version(activity_id)
        finally:
            self._release(conn)

    def _begin(self, conn: sqlite3.Connection, statement: str) -> None:
        """Start a transaction, waiting up to the busy timeout for another writer to finish.

        The wait is `time.sleep`, which gevent makes cooperative: while one greenlet waits for
        the write lock, the others in its process keep answering polls."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        delay = 0.0002
        while True:
            try:
                conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    if _busy(exc):
                        raise Conflict("the database stayed busy; try again") from exc
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.005)

    def owner(self) -> str:
        return local_owner()

    def migrate(self) -> list[int]:
        applied = []
        with self._connection() as conn:
            db = sqlite_utils.Database(conn)
            for version, name, statements in MIGRATIONS:
                self._begin(conn, "BEGIN IMMEDIATE")  # two processes migrating at once take turns
                try:
                    if "_migrations" not in db.table_names():
                        db.table("_migrations").create(
                            {"version": int, "name": str, "applied_at": str}, pk="version",
                            if_not_exists=True)
                    done = conn.execute("SELECT 1 FROM _migrations WHERE version = ?",
                                        (version,)).fetchone()
                    if not done:
                        for statement in statements:
                            if sql := translate(statement, "sqlite"):
                                conn.execute(sql)
                        conn.execute("INSERT INTO _migrations (version, name, applied_at) "
                                     "VALUES (?, ?, datetime('now'))", (version, name))
                        applied.append(version)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        if applied and self._sync_wal:
            self._sync()  # one flush for every migration applied
        return applied

    def integrity_check(self) -> str:
        with self._connection() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        with self._pool_lock:
            idle, self._pool = self._pool, []
        for conn in idle:
            conn.close()
        if self._memory_conn is not None:
            self._memory_conn.close()


def _busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc)
    return "locked" in message or "busy" in message


def _translate(exc: sqlite3.IntegrityError) -> Conflict:
    return Conflict(str(exc))


class SQLiteTx(SQLTx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def owner_gone(self, owner: str | None) -> bool:
        return local_owner_gone(owner)

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        cur = self.conn.execute(sql, args)
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _row(self, sql: str, args: Any = ()) -> tuple | None:
        return self.conn.execute(sql, args).fetchone()

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self.conn.execute(sql, args).fetchall()

    def _exec(self, sql: str, args: tuple = ()) -> int:
        if self._opened < self._savepoints:
            self._open_savepoints()
        try:
            return self.conn.execute(sql, args).rowcount
        except sqlite3.IntegrityError as exc:
            raise _translate(exc) from exc

    def _many(self, sql: str, args: list[tuple]) -> int:
        if self._opened < self._savepoints:
            self._open_savepoints()
        try:
            return self.conn.executemany(sql, args).rowcount
        except sqlite3.IntegrityError as exc:
            raise _translate(exc) from exc
