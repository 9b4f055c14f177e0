"""The bare-SQL floor: what the same store does with no HTTP, Flask or rules.

Threads loop, each "action" being the transactions of one action as the app runs it, with the
same number of statements (see `statements.py`), on four hot rows of the floor's own tables.
The hammer reports its hot-activity actions/s as a ratio to this; timing is reported, never
asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magic_cube.concurrency import cooperative
from magic_cube.hammer.statements import Profile

FLOOR_DDL = [
    "CREATE TABLE floor_hot (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL)",
    "CREATE TABLE floor_part (hot INTEGER NOT NULL, pid TEXT NOT NULL, n INTEGER NOT NULL, "
    "state TEXT NOT NULL, PRIMARY KEY (hot, pid))",
    "CREATE TABLE floor_log (hot INTEGER NOT NULL, seq INTEGER NOT NULL, pid TEXT NOT NULL, "
    "data TEXT NOT NULL, PRIMARY KEY (hot, seq))",
]
_PAYLOAD = json.dumps({"stock": [3, 5], "draws": 120, "wins": 8, "note": "x" * 200})


class _FloorOps:
    """The statements of the floor loop, in one dialect (`?` or `%s` placeholders)."""

    def __init__(self, postgres: bool) -> None:
        p = "%s" if postgres else "?"
        lock = " FOR NO KEY UPDATE" if postgres else ""
        self.lock_hot = f"SELECT id, seq, state FROM floor_hot WHERE id = {p}{lock}"
        self.read_hot = f"SELECT id, seq, state FROM floor_hot WHERE id = {p}"
        self.read_part = f"SELECT n, state FROM floor_part WHERE hot = {p} AND pid = {p}"
        self.bump = f"UPDATE floor_hot SET seq = seq + 1, state = {p} WHERE id = {p}"
        self.log = (f"INSERT INTO floor_log (hot, seq, pid, data) VALUES ({p}, "
                    f"(SELECT seq FROM floor_hot WHERE id = {p}), {p}, {p})")
        self.part = (f"INSERT INTO floor_part (hot, pid, n, state) VALUES ({p}, {p}, 1, {p}) "
                     f"ON CONFLICT (hot, pid) DO UPDATE SET n = floor_part.n + 1, "
                     f"state = excluded.state")

    def write(self, hot: int, pid: str, n: int) -> list[tuple[str, tuple]]:
        """`n` statements: lock the hot row, then writes and reads like an action's."""
        cycle = [(self.read_part, (hot, pid)), (self.bump, (_PAYLOAD, hot)),
                 (self.log, (hot, hot, pid, _PAYLOAD)), (self.part, (hot, pid, _PAYLOAD)),
                 (self.read_hot, (hot,))]
        out: list[tuple[str, tuple]] = [(self.lock_hot, (hot,))]
        i = 0
        while len(out) < n:
            out.append(cycle[i % len(cycle)])
            i += 1
        # The log insert must come after a bump (its seq is new): keep it so.
        if not any(q is self.bump for q, _ in out):
            out = [(q, a) for q, a in out if q is not self.log]
            while len(out) < n:
                out.append((self.read_hot, (hot,)))
        return out[:max(n, 1)]

    def read(self, hot: int, pid: str, n: int) -> list[tuple[str, tuple]]:
        cycle = [(self.read_hot, (hot,)), (self.read_part, (hot, pid))]
        return [cycle[i % 2] for i in range(max(n, 1))]


@dataclass
class Floor:
    ops_per_second: float
    ops: int
    seconds: float
    threads: int
    profile: Profile
    description: str


def _rounded(x: float) -> int:
    return max(int(round(x)), 0)


class _PostgresFloor:
    """The floor's tables in the schema named by a PostgreSQL URL, written as the PostgreSQL
    store writes: READ COMMITTED writes, REPEATABLE READ read-only reads."""

    driver = "psycopg"

    def __init__(self, database_url: str) -> None:
        from magic_cube.store.postgres import split_url

        self.conninfo, options = split_url(database_url)
        self.schema = options.get("schema")

    def connect(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.conninfo, autocommit=True)
        if self.schema:
            conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def create(self) -> None:
        with self.connect() as conn:
            if self.schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(f'SET search_path TO "{self.schema}"')
            for ddl in FLOOR_DDL:
                conn.execute(ddl.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
            conn.execute("TRUNCATE floor_hot, floor_part, floor_log")
            for hot in range(4):
                conn.execute("INSERT INTO floor_hot VALUES (%s, 0, %s)", (hot, _PAYLOAD))

    def transaction(self, conn: Any, write: bool, statements: list[tuple[str, tuple]]) -> None:
        import psycopg

        level = (psycopg.IsolationLevel.READ_COMMITTED if write
                 else psycopg.IsolationLevel.REPEATABLE_READ)
        if conn.isolation_level != level:
            conn.isolation_level = level
        if conn.read_only != (not write):
            conn.read_only = not write
        with conn.transaction():
            for query, args in statements:
                cursor = conn.execute(query, args)
                if query.startswith("SELECT"):
                    cursor.fetchall()

    def remove(self) -> None:
        """The tables stay in the schema, which is dropped with the run's."""


class _SqliteFloor:
    """A SQLite file beside the store's, opened as the SQLite store opens its own (WAL, busy
    timeout, the configured `synchronous`), written in `BEGIN IMMEDIATE` transactions."""

    driver = "sqlite3"

    def __init__(self, database_url: str) -> None:
        from magic_cube.settings import Settings

        path = Path(database_url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        self.path = str(path.with_name(path.stem + "-floor.db"))
        self.settings = Settings.load({"database_url": database_url})

    def connect(self) -> sqlite3.Connection:
        busy_ms = self.settings.sqlite_busy_timeout_ms
        conn = sqlite3.connect(self.path, timeout=busy_ms / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.settings.sqlite_synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def create(self) -> None:
        self.remove()
        conn = self.connect()
        for ddl in FLOOR_DDL:
            conn.execute(ddl)
        for hot in range(4):
            conn.execute("INSERT INTO floor_hot VALUES (?, 0, ?)", (hot, _PAYLOAD))
        conn.close()

    def transaction(self, conn: Any, write: bool, statements: list[tuple[str, tuple]]) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            for query, args in statements:
                conn.execute(query, args).fetchall()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(self.path + suffix)


def sql_floor(database_url: str, profile: Profile, threads: int, seconds: float) -> Floor:
    """The bare-SQL floor on the store at `database_url` (a SQLite file path URL, or a
    PostgreSQL URL): `threads` loops, each "action" = the profile's transactions with the same
    number of statements, on four hot rows, no HTTP, no Flask, no rules."""
    postgres = database_url.startswith(("postgresql://", "postgres://"))
    db = _PostgresFloor(database_url) if postgres else _SqliteFloor(database_url)
    ops = _FloorOps(postgres)
    reads = _rounded(profile.read_transactions)
    read_n = _rounded(profile.read_statements)
    writes = max(_rounded(profile.write_transactions), 1)
    write_n = max(_rounded(profile.write_statements), 1)

    def action(conn: Any, rng: random.Random) -> None:
        hot = rng.randrange(4)
        pid = f"u{rng.randrange(200):05d}"
        for _ in range(reads):
            db.transaction(conn, False, ops.read(hot, pid, read_n))
        for _ in range(writes):
            db.transaction(conn, True, ops.write(hot, pid, write_n))

    db.create()
    try:
        total, elapsed = _loop(db.connect, action, threads, seconds)
    finally:
        db.remove()
    return Floor(total / elapsed, total, elapsed, threads, profile,
                 f"{db.driver}, {threads} {'greenlet' if cooperative() else 'thread'}"
                 f"{'s' if threads != 1 else ''}, "
                 f"per action {profile.describe()}")


def _loop(connect: Callable[[], Any], action: Callable[[Any, random.Random], None],
          threads: int, seconds: float) -> tuple[int, float]:
    """`action` repeated for `seconds` by `threads` threads, each on its own connection:
    (actions done, seconds taken). The first failure stops them all and is raised."""
    stop = threading.Event()
    counts = [0] * threads
    failures: list[BaseException] = []

    def run(index: int) -> None:
        rng = random.Random(index)
        try:
            conn = connect()
            try:
                # Each loop watches the clock too: a greenlet whose statements never yield
                # (sqlite3 under gevent) would otherwise never let `stop` be set.
                while not stop.is_set() and time.monotonic() < deadline:
                    action(conn, rng)
                    counts[index] += 1
            finally:
                conn.close()
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    began = time.monotonic()
    deadline = began + seconds
    for t in workers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in workers:
        t.join(60)
    elapsed = time.monotonic() - began
    if failures:
        raise RuntimeError(f"the SQL floor loop failed: {failures[0]!r}") from failures[0]
    return sum(counts), elapsed
