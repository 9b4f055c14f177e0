"""One hot activity on PostgreSQL: two app servers on one database, every client drawing on the
same lottery.

    python bench/hot_lottery.py [--seconds 10] [--clients 32] [--workers 1] [--database-url URL]

Starts two production servers (gunicorn, gevent workers; `--workers` each) on a fresh schema of
the PostgreSQL server at `--database-url` (default MAGIC_CUBE_TEST_POSTGRES_URL or
postgresql://postgres@127.0.0.1:5432/test), and `--clients` threads that draw, each draw by a
new participant, half of them through each server, for `--seconds`. Then checks the
activity's invariants (engine/invariants.py: stock, prizes awarded, log replay, counters) and
that every acknowledged draw is in the log. Prints accepted draws per second and the latency
of a draw, and how many actions shared each commit. The schema is dropped at the end. No asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

import http.client  # noqa: E402 (after bench/ leaves sys.path: bench/http.py would shadow it)

import psycopg  # noqa: E402
import requests  # noqa: E402
from psycopg import sql  # noqa: E402

from magic_cube.engine import Participant  # noqa: E402, F401 (the engine loads first)
from magic_cube.engine.invariants import invariants, read_all  # noqa: E402
from magic_cube.hammer.servers import Server  # noqa: E402
from magic_cube.hammer.stores import make_engine  # noqa: E402

LOTTERY = {"prizes": [{"name": "Coupon", "type": "coupon", "stock": 1_000_000, "odds": 3000},
                      {"name": "Mug", "type": "physical", "stock": 200, "odds": 500}],
           "draws_per_day": 3, "draws_total": 10}


TOKENS_AHEAD = 1_000  # per client, signed before the clock starts (more are signed if needed)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def write_batches(base_url: str) -> tuple[int, float]:
    """(write transactions, actions in them) so far, from a server's /metrics."""
    found = {"count": 0.0, "sum": 0.0}
    for line in requests.get(f"{base_url}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        kind = name.removeprefix("magic_cube_write_batch_actions_")
        if kind in found:
            found[kind] += float(value)
    return int(found["count"]), found["sum"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per server")
    parser.add_argument("--database-url", default=os.environ.get(
        "MAGIC_CUBE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    schema = f"mc_bench_{uuid.uuid4().hex[:12]}"
    url = f"{args.database_url}{'&' if '?' in args.database_url else '?'}schema={schema}"

    engine = make_engine(url)
    try:
        merchant, _ = engine.create_merchant("hot lottery bench")
        created = engine.create_activity(merchant, "lottery", LOTTERY)
        lottery = engine.publish(merchant, created["id"])["id"]
        servers = [Server(url, workers=args.workers, log_dir=tempfile.gettempdir())
                   for _ in range(2)]
        for s in servers:
            s.launch()
        for s in servers:
            s.wait_up()
        acks: list[tuple[str, int]] = []
        latencies: list[float] = []
        refused: dict[str, int] = {}
        lock = threading.Lock()
        stop = threading.Event()

        def signed(n: int, i: int) -> tuple[str, str]:
            """Client n's i-th participant, a new one each draw, and its token."""
            who = f"c{n}-{i}"
            return who, engine.participant_token(merchant, who)[0]

        def client(n: int) -> None:
            # http.client on one kept-alive connection, tokens signed ahead: the client shares
            # the machine's cores with the servers and the database, so it does little else.
            conn = http.client.HTTPConnection(servers[n % 2].base_url.removeprefix("http://"),
                                              timeout=60)
            path = f"/v1/activities/{lottery}/actions/draw"
            tokens = ahead[n]
            for i in range(10**9):
                if stop.is_set():
                    return
                who, token = tokens[i] if i < len(tokens) else signed(n, i)
                began = time.perf_counter()
                conn.request("POST", path, body=b"{}", headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                r = conn.getresponse()
                answer = json.loads(r.read())
                took = time.perf_counter() - began
                with lock:
                    if r.status == 200:
                        acks.append((who, answer["seq"]))
                        latencies.append(took)
                    else:
                        code = f"{r.status} {answer.get('error', '?')}"
                        refused[code] = refused.get(code, 0) + 1

        ahead = [[signed(n, i) for i in range(TOKENS_AHEAD)] for n in range(args.clients)]
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join(60)
        elapsed = time.perf_counter() - started
        time.sleep(1.5)  # every worker has written its metrics (about once a second)
        batches = [write_batches(s.base_url) for s in servers]
        for s in servers:
            s.stop()
        problems = invariants(engine, lottery)
        log = {e.participant_id: e.seq for e in read_all(engine, lottery)["log"]}
        missing = [a for a in acks if log.get(a[0]) != a[1]]
        print(f"hot lottery on PostgreSQL: 2 servers × {args.workers} gevent worker(s) on one "
              f"database, {args.clients} clients, {elapsed:.1f} s")
        print(f"  accepted draws  {len(acks)}  ({len(acks) / elapsed:.0f} actions/s)   "
              f"refused {refused or 0}")
        print(f"  draw latency    p50 {percentile(latencies, 0.5) * 1000:.1f} ms   "
              f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms")
        print("  write batches   " + "   ".join(
            f"server {n + 1}: {count} commits, {total / max(count, 1):.1f} actions each"
            for n, (count, total) in enumerate(batches)))
        print(f"  invariants      {'ok' if not problems else problems[:5]}   "
              f"acknowledged draws missing from the log: {len(missing)}   "
              f"logged {len(log)}")
    finally:
        engine.store.close()
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


if __name__ == "__main__":
    main()
