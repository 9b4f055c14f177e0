"""Actions per second through the Engine on a SQLite file, against a floor measured in the run.

Run as ``python bench/engine.py [--quick] [--profile] [--synchronous NORMAL] [--threads N]
[--gevent]``.
Workloads, in one process:

- lottery draws, each by a new participant;
- the same with an Idempotency-Key on every draw (as the mini-program sends);
- bargain helps, each by a new helper, five to a bargain (the fifth completes it).

Each runs twice: from one thread (one action at a time: every action is its own commit), and
from `--threads` threads at once (16 by default, as a server's concurrent requests), where the
engine's group commit lets concurrent actions share a commit. With ``--gevent`` the process is
monkey-patched first, as gunicorn's gevent workers are, and the threads are greenlets: the way
the production server runs actions.

The floor is what SQLite itself costs for one fsync'd transaction per action: a bare sqlite3
loop with the engine's pragmas (WAL, synchronous FULL by default, BEGIN IMMEDIATE … COMMIT)
running as many transactions, and in each as many statements of each kind (point SELECT,
INSERT, UPDATE, upsert) against as many tables, with the same payload sizes, as one engine
action does alone. The statements are recorded with `sqlite3.Connection.set_trace_callback` on
20 engine actions of each workload, and the floor cycles through them. Engine and floor run in
alternating rounds (the disk's fsync time drifts); each reports its best round. Prints
actions/s for each and the ratios: one thread against the floor (the engine's own cost per
action), and the threads against the floor, whose goal is 1.5× or more (sharing commits beats
one commit per action). Below it (or with --profile) it prints where the engine's time goes.
No asserts.
"""

from __future__ import annotations

import sys

if "--gevent" in sys.argv:  # before anything imports threading, as gunicorn's worker does
    from gevent import monkey

    monkey.patch_all()

import argparse
import cProfile
import itertools
import pstats
import re
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the standard
# library's `http` (which werkzeug imports): put the checkout there instead.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from magic_cube.catalog import Catalog  # noqa: E402
from magic_cube.engine import Engine, Participant  # noqa: E402
from magic_cube.settings import Settings  # noqa: E402
from magic_cube.store import open_store  # noqa: E402

START = 1_794_362_400  # 2026-11-11 10:00 Asia/Shanghai
ROUNDS = 5
TRACED = 20  # engine actions traced to build the floor's statement mix

LOTTERY = {"prizes": [{"name": "Coupon", "type": "coupon", "stock": 10_000_000, "odds": 3000},
                      {"name": "Mug", "type": "physical", "stock": 10_000_000, "odds": 500}],
           "draws_per_day": 3, "draws_total": 10}
BARGAIN = {"product_name": "Kettle", "original_price": 10000, "floor_price": 1000,
           "helpers_needed": 5, "cut_min": 100, "cut_max": 5000, "stock": 1000}

_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", re.IGNORECASE)

Plan = list[list[tuple[str, str, int]]]  # transactions of (kind, table, payload bytes)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def build_engine(directory: Path, synchronous: str) -> Engine:
    store = open_store(f"sqlite:///{directory / 'bench.db'}", synchronous=synchronous)
    store.migrate()
    return Engine(store, Catalog.discover(), Settings.load(environ={}), Clock())


class Workload:
    """`prepare(actions)` once, then `step(i)` performs the i-th action."""

    label = ""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.merchant, _ = engine.create_merchant(f"bench {name}")

    def publish(self, template: str, config: dict) -> str:
        activity = self.engine.create_activity(self.merchant, template, config)
        self.engine.publish(self.merchant, activity["id"])
        return activity["id"]

    def prepare(self, actions: int) -> None:
        raise NotImplementedError

    def step(self, i: int) -> None:
        raise NotImplementedError


class Draws(Workload):
    label = "lottery draw, a new participant each"
    keyed = False

    def prepare(self, actions: int) -> None:
        self.activity = self.publish("lottery", LOTTERY)

    def step(self, i: int) -> None:
        r = self.engine.act(self.activity, "draw", Participant(f"{self.name}-p{i}", "Shopper"),
                            idempotency_key=f"draw-{i}" if self.keyed else None)
        assert r.status == 200, r.body


class KeyedDraws(Draws):
    label = "lottery draw with an Idempotency-Key, a new participant each"
    keyed = True


class Helps(Workload):
    label = "bargain help, a new helper each (5 helpers complete a bargain)"

    def prepare(self, actions: int) -> None:
        """Open enough bargains up front that every help finds one still open."""
        self.activity = self.publish("bargain", BARGAIN)
        needed = actions // BARGAIN["helpers_needed"] + 2
        self.rooms = [self.engine.act(self.activity, "start", Participant(f"{self.name}-i{n}"))
                      .body["room"] for n in range(needed)]
        self.helps = itertools.count()  # next() is atomic: threads share it

    def step(self, i: int) -> None:
        room = self.rooms[next(self.helps) // BARGAIN["helpers_needed"]]
        r = self.engine.act(self.activity, "help", Participant(f"{self.name}-h{i}", "Friend"),
                            room_id=room)
        assert r.status == 200, r.body


def trace_one(engine: Engine, workload: Workload, i: int) -> list[str]:
    """The SQL statements one engine action runs (one thread: the LIFO pool hands the same
    connection back every time)."""
    statements: list[str] = []
    with engine.store._connection() as conn:
        conn.set_trace_callback(statements.append)
    try:
        workload.step(i)
    finally:
        with engine.store._connection() as conn:
            conn.set_trace_callback(None)
    return statements


def shape(statements: list[str]) -> Plan:
    """The traced statements as transactions of (kind, table, payload bytes)."""
    plan: Plan = []
    for sql in statements:
        verb = sql.split(None, 1)[0].upper()
        if verb == "BEGIN":
            plan.append([])
            continue
        if verb in ("COMMIT", "ROLLBACK"):
            continue
        upper = sql.upper()
        kind = "upsert" if "ON CONFLICT" in upper and "DO UPDATE" in upper else verb.lower()
        tables = _TABLE.findall(sql)
        payload = sum(len(m) for m in _LITERAL.findall(sql))
        plan[-1].append((kind, tables[0] if tables else "t", payload))
    return plan


class Floor:
    """A bare sqlite3 loop running the traced actions' transactions, one action a step,
    cycling through `plans` (so hits and misses come in the engine's own mix)."""

    def __init__(self, directory: Path, plans: list[Plan], synchronous: str) -> None:
        self.plans = plans
        path = directory / f"floor-{time.monotonic_ns()}.db"
        self.conn = conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        tables = {table for plan in plans for txn in plan for _, table, _ in txn}
        for table in sorted(tables):
            conn.execute(f"CREATE TABLE f_{table} (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            conn.executemany(f"INSERT INTO f_{table} VALUES (?, ?)",
                             [(f"seed{j}", "x" * 200) for j in range(200)])
        self.counter = 0

    def step(self, i: int) -> None:
        conn = self.conn
        for txn in self.plans[i % len(self.plans)]:
            conn.execute("BEGIN IMMEDIATE")
            for kind, table, size in txn:
                self.counter += 1
                existing = f"seed{(i + self.counter) % 200}"
                if kind == "select":
                    conn.execute(f"SELECT * FROM f_{table} WHERE k = ?", (existing,)).fetchall()
                elif kind == "insert":
                    conn.execute(f"INSERT INTO f_{table} VALUES (?, ?) ON CONFLICT DO NOTHING",
                                 (f"n{self.counter}", "x" * size))
                elif kind == "upsert":
                    conn.execute(f"INSERT INTO f_{table} VALUES (?, ?) ON CONFLICT (k) "
                                 f"DO UPDATE SET v = excluded.v", (existing, "x" * size))
                else:
                    conn.execute(f"UPDATE f_{table} SET v = ? WHERE k = ?",
                                 ("x" * size, existing))
            conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def in_threads(engine: Engine, workload: Workload, first: int, count: int,
               threads: int) -> float:
    """Seconds `threads` threads take to perform actions first … first + count - 1."""
    numbers = iter(range(first, first + count))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def loop() -> None:
        while True:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            engine.clock.now = START + i  # one action a second: the hours roll over too
            try:
                workload.step(i)
            except BaseException as exc:  # reported below
                errors.append(exc)
                return

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    started = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def rates(engine: Engine, workload: Workload, floor: Floor, n: int,
          threads: int) -> tuple[float, float, float, float]:
    """Best-of-ROUNDS rates of the engine from one thread, from `threads` threads, and of the
    floor, measured alternately; and the mean actions per commit of the threaded rounds."""
    for i in range(min(50, n)):  # warm up: caches, compiled validators, the pool
        workload.step(-1 - i)
        floor.step(-1 - i)
    per_round = max(1, n // ROUNDS)
    best_one = best_many = best_floor = 0.0
    commits = getattr(engine.core, "commits", None)
    batches = jobs = 0
    for r in range(ROUNDS):
        base = 2 * r * per_round
        best_one = max(best_one, per_round / in_threads(engine, workload, base, per_round, 1))
        before = (commits.batches, commits.jobs) if commits else (0, 0)
        seconds = in_threads(engine, workload, base + per_round, per_round, threads)
        best_many = max(best_many, per_round / seconds)
        if commits:
            batches += commits.batches - before[0]
            jobs += commits.jobs - before[1]
        started = time.perf_counter()
        for i in range(r * per_round, (r + 1) * per_round):
            floor.step(i)
        best_floor = max(best_floor, per_round / (time.perf_counter() - started))
    return best_one, best_many, best_floor, (jobs / batches if batches else 1.0)


def statements_in_threads(engine: Engine, workload: Workload, first: int, count: int,
                          threads: int) -> tuple[float, float]:
    """(statements per action, actions per commit) of `count` actions from `threads` threads,
    counted by the hammer's statement tracer (savepoints and deferred counters included)."""
    from magic_cube.hammer.statements import count_statements

    record = count_statements(engine.store)
    try:
        in_threads(engine, workload, first, count, threads)
    finally:
        del engine.store.transaction  # the tracer's wrapper: back to the store's own
    writes = [n for write, n in record if write]
    return sum(writes) / count, count / max(1, len(writes))


def _area(file: str, function: str) -> str:
    if file == "~":
        if "sqlite3" in function:
            return "sqlite3 (C: statements, commit)"
        return "builtins"
    if "/magic_cube/" in file:
        return "magic_cube/" + file.split("/magic_cube/", 1)[1]
    for name in ("json", "copy", "jsonschema", "referencing", "hmac", "contextlib", "queue",
                 "threading"):
        if f"/{name}/" in file or file.endswith(f"/{name}.py"):
            return name
    return "other"


def profile(workload: Workload, n: int, top: int = 12) -> str:
    """Own time per area and the top functions by own time, per action."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(n):
        workload.step(10_000_000 + i)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    areas: Counter = Counter()
    functions: Counter = Counter()
    for (file, line, function), (_cc, _nc, own, _cum, _callers) in stats.items():
        areas[_area(file, function)] += own
        where = function if file == "~" else f"{Path(file).name}:{line} {function}"
        functions[where] += own
    total = sum(areas.values())
    lines = [f"  profile ({n} actions, cProfile inflates Python time): "
             f"{total / n * 1e6:.0f} µs per action"]
    for area, own in areas.most_common(top):
        lines.append(f"    {own / total:6.1%} {own / n * 1e6:7.0f} µs  {area}")
    lines.append("  top functions by own time:")
    for where, own in functions.most_common(top):
        lines.append(f"    {own / total:6.1%} {own / n * 1e6:7.0f} µs  {where}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer actions (a smoke run)")
    parser.add_argument("--profile", action="store_true",
                        help="profile every workload (done anyway when below 0.5×)")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"],
                        help="SQLite synchronous mode for both sides (default FULL, the setting's)")
    parser.add_argument("--threads", type=int, default=16,
                        help="concurrent callers in the threaded rounds (default 16)")
    parser.add_argument("--gevent", action="store_true",
                        help="greenlets instead of threads, as under gunicorn's gevent workers")
    args = parser.parse_args()
    n = 300 if args.quick else 2000
    callers = "greenlets" if args.gevent else "threads"

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        engine = build_engine(directory, args.synchronous)
        print(f"magic-cube engine bench: {n} actions per workload, SQLite {sqlite3.sqlite_version} "
              f"WAL, synchronous {args.synchronous}, Python {sys.version.split()[0]}, "
              f"one process; one thread, then {args.threads} {callers}\n")
        for number, cls in enumerate((Draws, KeyedDraws, Helps)):
            workload = cls(engine, f"w{number}")
            workload.prepare(3 * n + max(100, n // 4) + TRACED + 600)
            workload.step(-10_000)
            plans = [shape(trace_one(engine, workload, -10_001 - t)) for t in range(TRACED)]
            statements = [s for plan in plans for txn in plan for s in txn]
            kinds = Counter(kind for kind, _, _ in statements)
            floor = Floor(directory, plans, args.synchronous)
            one, many, floor_rate, per_commit = rates(engine, workload, floor, n, args.threads)
            floor.close()
            traced, per_txn = statements_in_threads(engine, workload, 3 * n, min(n, 500),
                                                    args.threads)
            ratio = many / floor_rate
            print(workload.label)
            print(f"  per action (mean of {TRACED} traced): "
                  f"{sum(len(p) for p in plans) / TRACED:g} transaction(s), "
                  f"{len(statements) / TRACED:g} statements ("
                  f"{', '.join(f'{v / TRACED:g} {k}' for k, v in sorted(kinds.items()))}) on "
                  f"{len({t for _, t, _ in statements})} tables, "
                  f"{sum(size for _, _, size in statements) / TRACED:.0f} bytes of values")
            print(f"  engine, 1 thread    {one:8.0f} actions/s  ({1000 / one:.2f} ms each; "
                  f"{one / floor_rate:.2f}× the floor)")
            print(f"  engine, {args.threads:2d} {callers:<9}{many:8.0f} actions/s  "
                  f"({per_commit:.1f} actions per commit; traced: {traced:.1f} statements "
                  f"per action, {per_txn:.1f} actions per write transaction)")
            print(f"  floor               {floor_rate:8.0f} actions/s  "
                  f"(one fsync'd transaction per action)")
            print(f"  ratio    {ratio:8.2f}×  {args.threads} {callers} / floor (goal ≥ 1.5×)"
                  f"{'' if ratio >= 1.5 else '  BELOW'}")
            if args.profile or ratio < 1.5:
                print(profile(workload, max(100, n // 4)))
            else:
                print()
        engine.store.close()


if __name__ == "__main__":
    main()
