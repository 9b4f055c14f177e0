"""How many transactions and statements one action takes as the app runs it, counted on a
real store, so that the bare-SQL floor can do the same amount of work per "action"."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magic_cube.hammer.seeding import seed
from magic_cube.hammer.stores import make_engine
from magic_cube.hammer.workload import TEMPLATES

if TYPE_CHECKING:
    from magic_cube.store import Store, Tx


@dataclass
class Profile:
    """Transactions and statements of one action as the app runs it (averaged)."""

    read_transactions: float
    read_statements: float
    write_transactions: float
    write_statements: float
    samples: int

    def describe(self) -> str:
        return (f"{self.read_transactions:.1f} read txn × {self.read_statements:.1f} stmts + "
                f"{self.write_transactions:.1f} write txn × {self.write_statements:.1f} stmts")


class _CountingCursor:
    def __init__(self, cursor, tally: list[int]) -> None:
        self._cursor = cursor
        self._tally = tally

    def execute(self, *args: Any, **kwargs: Any):
        self._tally[0] += 1
        self._cursor.execute(*args, **kwargs)
        return self._cursor

    def executemany(self, query: str, rows: Any, *args: Any, **kwargs: Any):
        rows = list(rows)
        self._tally[0] += len(rows)
        return self._cursor.executemany(query, rows, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _CountingConnection:
    """A DB-API connection (sqlite3 or psycopg) that counts the statements run through it."""

    def __init__(self, conn, tally: list[int]) -> None:
        self._conn = conn
        self._tally = tally

    def execute(self, *args: Any, **kwargs: Any):
        self._tally[0] += 1
        return self._conn.execute(*args, **kwargs)

    def executemany(self, query: str, rows: Any, *args: Any, **kwargs: Any):
        rows = list(rows)
        self._tally[0] += len(rows)
        return self._conn.executemany(query, rows, *args, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any):
        return _CountingCursor(self._conn.cursor(*args, **kwargs), self._tally)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def count_statements(store: Store) -> list[tuple[bool, int]]:
    """Make `store` record (write?, statements) of every transaction it runs from now on."""
    record: list[tuple[bool, int]] = []
    original = store.transaction

    @contextlib.contextmanager
    def counted(write: bool = True) -> Iterator[Tx]:
        tally = [0]
        try:
            with original(write) as tx:
                # Both SQL stores run every statement through their transaction's DB-API
                # `conn`, those they run on leaving the block (deferred counters) included.
                conn = tx.conn  # type: ignore[attr-defined]
                tx.conn = _CountingConnection(conn, tally)  # type: ignore[attr-defined]
                yield tx
        finally:
            record.append((write, tally[0]))

    store.transaction = counted  # type: ignore[method-assign]
    return record


def statement_profile(database_url: str, configs: dict[str, dict[str, Any]],
                      actions: int = 60) -> Profile:
    """Run a sample of the hammer's actions through the engine, as the API does
    (authenticate, then act), on an empty database at `database_url`, counting statements."""
    from magic_cube.engine import EngineError

    engine = make_engine(database_url)
    try:
        data = seed(database_url, 40, configs, engine=engine)
        record = count_statements(engine.store)
        rng = random.Random(7)
        rooms: dict[str, list[tuple[str, str]]] = {t: [] for t in TEMPLATES}
        per_action: list[list[tuple[bool, int]]] = []
        people = data.participants
        for i in range(actions):
            template = TEMPLATES[i % 4]
            who = rng.choice(people)
            room, params, action = None, {}, None
            mine = rooms[template]
            if template == "lottery":
                action = "draw"
            elif not mine or rng.random() < 0.3:
                action = {"group_buy": "start", "bargain": "start", "gift": "send"}[template]
                params = {"shares": 3} if template == "gift" else {}
            else:
                action = {"group_buy": "join", "bargain": "help", "gift": "claim"}[template]
                room = mine[-1][0]
            start = len(record)
            try:
                participant = engine.authenticate_participant(data.activities[template],
                                                              data.tokens[who])
                answer = engine.act(data.activities[template], action, participant, params,
                                    room)
            except EngineError:
                continue
            per_action.append(record[start:])
            if answer.status == 200 and action in ("start", "send"):
                mine.append((answer.body["room"], who))
        reads = [sum(1 for w, _ in a if not w) for a in per_action]
        writes = [sum(1 for w, _ in a if w) for a in per_action]
        read_stmts = [n for a in per_action for w, n in a if not w]
        write_stmts = [n for a in per_action for w, n in a if w]

        def mean(xs: Sequence[float]) -> float:
            return sum(xs) / len(xs) if xs else 0.0

        return Profile(mean(reads), mean(read_stmts), mean(writes), mean(write_stmts),
                       len(per_action))
    finally:
        engine.store.close()
