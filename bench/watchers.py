"""Ten thousand phones watching: draws on a lottery that many held long polls watch.

    python bench/watchers.py [--watchers 1000] [--rate 20] [--seconds 15] [--workers 2]

Serves the app with the production command (gunicorn, gevent workers) on loopback, on a
SQLite file in a temporary folder, rate limits off. Opens `--watchers` long polls on one
lottery's public view (`?wait=25` with `If-None-Match`: each is answered when the view changes,
then asked again with the new ETag), from gevent greenlets in this process; then draws, each by
a new participant, at a fixed `--rate` for `--seconds`.

Prints draw latency (p50, p99, max), how the polls saw the changes — the largest delay from a
change to a poll seeing it (measured from the answer to the draw that made it, as seen by a
plain poll right after), the answers a poll got without a change — and, last, whether every
held poll saw the final view. Goals: draw p99 under 100 ms, every change seen within 2 s, no
answer without a change. No asserts.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the standard
# library's `http`: put the checkout there instead (before anything imports `http`).
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from gevent import monkey  # noqa: E402

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

LOTTERY = {"prizes": [{"name": "Coupon", "type": "coupon", "stock": 1_000_000, "odds": 3000},
                      {"name": "Mug", "type": "physical", "stock": 1_000_000, "odds": 500}],
           "draws_per_day": 3, "draws_total": 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(database_url: str, drawers: int) -> tuple[str, list[str]]:
    """A live lottery and a token for each drawer."""
    from magic_cube.catalog import Catalog
    from magic_cube.engine import Engine
    from magic_cube.settings import Settings
    from magic_cube.store import open_store

    store = open_store(database_url)
    store.migrate()
    engine = Engine(store, Catalog.discover(), Settings.load(environ={}))
    merchant, _ = engine.create_merchant("watchers bench")
    activity = engine.create_activity(merchant, "lottery", LOTTERY)
    engine.publish(merchant, activity["id"])
    tokens = [engine.participant_token(merchant, f"drawer-{i}")[0] for i in range(drawers)]
    engine.close()
    return activity["id"], tokens


def version(etag: str) -> int:
    """The activity version an `"a{version}[.date]"` ETag names."""
    return int(etag.strip('"').lstrip("a").split(".")[0])


class Server:
    def __init__(self, database_url: str, workers: int, folder: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "MAGIC_CUBE_DATABASE_URL": database_url,
               "MAGIC_CUBE_RATE_LIMIT_ENABLED": "false", "MAGIC_CUBE_WORKERS": str(workers),
               "MAGIC_CUBE_BIND": f"127.0.0.1:{self.port}",
               "MAGIC_CUBE_SECRET_KEY": "watchers-bench"}
        self.log = open(folder / "server.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the server did not start: see {folder / 'server.log'}")

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


class Watcher:
    """One phone holding a long poll on the public view, again and again."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.etag = ""
        self.seen: list[tuple[float, int]] = []  # (when, version) of each changed answer
        self.unchanged = 0  # 200s whose ETag was the one sent
        self.errors = 0
        self.reconnects = 0  # connections the server closed (the next poll may reach another
        # worker, whose published view can differ)
        self.stopping = False

    def first(self) -> None:
        for attempt in range(20):  # a thousand connecting at once can overflow the backlog
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                break
            except OSError:
                gevent.sleep(0.05 * (attempt + 1))
        self.etag = response.getheader("ETag") or ""
        self.conn = conn

    def run(self) -> None:
        while not self.stopping:
            if self.conn.sock is None:
                self.reconnects += 1
            try:
                self.conn.request("GET", f"{self.path}?wait=25",
                                  headers={"If-None-Match": self.etag})
                response = self.conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                if self.stopping:
                    return
                self.errors += 1
                gevent.sleep(0.1)
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            if response.status == 200:
                etag = response.getheader("ETag") or ""
                if etag == self.etag:
                    self.unchanged += 1
                self.etag = etag
                self.seen.append((time.monotonic(), version(etag)))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20, help="draws per second")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    draws = int(args.rate * args.seconds)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'watchers.db'}"
        activity, tokens = seed(url, draws)
        server = Server(url, args.workers, folder)
        path = f"/v1/activities/{activity}"
        try:
            watchers = [Watcher(server.port, path) for _ in range(args.watchers)]
            gevent.joinall([gevent.spawn(w.first) for w in watchers], raise_error=True)
            polls = [gevent.spawn(w.run) for w in watchers]
            gevent.sleep(2)  # every poll held

            latencies: list[float] = []
            changes: list[tuple[float, int]] = []  # (answer to the draw, version it made)
            drawer = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            looker = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            start = time.monotonic()
            for i, token in enumerate(tokens):
                gevent.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                began = time.monotonic()
                drawer.request("POST", f"{path}/actions/draw", body=b"{}",
                               headers={"Authorization": f"Bearer {token}",
                                        "Content-Type": "application/json"})
                answer = drawer.getresponse()
                answer.read()
                done = time.monotonic()
                latencies.append(done - began)
                if answer.status != 200:
                    print(f"  draw {i}: {answer.status}")
                looker.request("GET", path)
                view = looker.getresponse()
                view.read()
                changes.append((done, version(view.getheader("ETag") or '"a0"')))
            gevent.sleep(3)  # the last change reaches every poll
            final = changes[-1][1] if changes else 0
            for w in watchers:
                w.stopping = True
            gevent.killall(polls, timeout=5)
        finally:
            server.stop()

    first_made: dict[int, float] = {}
    for when, v in changes:
        first_made.setdefault(v, when)
    made = sorted(first_made.items())
    delays: list[float] = []
    for w in watchers:
        for v, when in made:
            seen = next((t for t, got in w.seen if got >= v), None)
            if seen is not None:
                delays.append(max(0.0, seen - when))
    answers = sum(len(w.seen) for w in watchers)
    behind = sum(1 for w in watchers if not w.seen or w.seen[-1][1] < final)
    print(f"watchers bench: {args.watchers} held polls on one lottery, {len(latencies)} draws "
          f"at {args.rate:g}/s, gunicorn × {args.workers} gevent workers, SQLite, loopback")
    print(f"  draw latency    p50 {percentile(latencies, 0.5) * 1000:7.1f} ms   "
          f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms   "
          f"max {max(latencies) * 1000:7.1f} ms  (goal: p99 < 100 ms)")
    print(f"  view changes    {len(made)} versions; {answers} answers to held polls "
          f"({answers / max(1, args.watchers):.1f} per poll)")
    print(f"  seen within     p50 {percentile(delays, 0.5) * 1000:7.1f} ms   "
          f"p99 {percentile(delays, 0.99) * 1000:7.1f} ms   "
          f"max {max(delays, default=0) * 1000:7.1f} ms  (goal: max < 2000 ms)")
    print(f"  unchanged 200s  {sum(w.unchanged for w in watchers)}   poll errors "
          f"{sum(w.errors for w in watchers)}   reconnections "
          f"{sum(w.reconnects for w in watchers)}   polls behind the final view: {behind}")
    print(json.dumps({"draw_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
                      "draw_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
                      "max_seen_ms": round(max(delays, default=0) * 1000, 1),
                      "unchanged": sum(w.unchanged for w in watchers), "behind": behind}))


if __name__ == "__main__":
    main()
