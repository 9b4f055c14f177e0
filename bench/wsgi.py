"""What the app itself costs per request, in process: no server, no sockets, no load generator.

bench/http.py measures through gunicorn and wrk, which share the machine's two cores with the
app: its ratios move by a tenth from one run to the next. Here the same WSGI environ is handed
to the app and to the floor — bench/floor_app.py, a bare Flask app with no project code — in
the same process, in alternating rounds, and each keeps its best round: what is left is the
app's own work per request.

    python bench/wsgi.py [--quick] [--rounds N]

Rows, each against the floor's matching route and against the app's trivial endpoint (which
bench/http.py judges the polls and the action by); the goals, judged here against the floor,
are bench/http.py's, whose requests also carry the server's share, so they are easier to meet
there than here:

  - the app's trivial JSON endpoint: its middleware, hooks and request context (goal ≥ 0.95×);
  - a poll answered 304 (If-None-Match matches), against the floor's 304;
  - a full poll (200, the activity view), against the floor's JSON;
  - a participant's poll of their own view (`/me`, with a token) answered 304, against the
    floor's 304 (the goal of a 304);
  - a lottery draw, each by a participant with a token, against the floor's JSON: one at a
    time, so each is its own fsync'd commit to a SQLite file (synchronous FULL, the default),
    where a server's concurrent draws share commits (bench/engine.py, bench/http.py).

The metrics are recorded as under gunicorn (PROMETHEUS_MULTIPROC_DIR set), and the abuse limits
are on, only raised so far that one client is never refused. No asserts.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the standard
# library's `http` (which werkzeug imports): put the checkout there instead.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

WORK = tempfile.mkdtemp(prefix="magic-cube-wsgi-bench-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(WORK, "metrics")  # before any import
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"])
LOTS = "1000000/second"
for name in ("IP", "POLLS", "ACTIONS"):
    os.environ[f"MAGIC_CUBE_RATE_LIMIT_{name}"] = LOTS
os.environ["MAGIC_CUBE_DATABASE_URL"] = f"sqlite:///{WORK}/bench.db"

import argparse  # noqa: E402
import importlib.util  # noqa: E402

from flask import Flask, jsonify  # noqa: E402

from magic_cube.app import create_app  # noqa: E402

WSGI = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TOKENS = 3000


def floor_app() -> Flask:
    spec = importlib.util.spec_from_file_location("floor_app", ROOT / "bench" / "floor_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def environ(path: str, method: str = "GET", body: bytes = b"",
            headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A WSGI environ as gunicorn hands one over for a request from wrk."""
    out: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "RAW_URI": path,
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "50000", "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "wrk", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
        "wsgi.run_once": False, "wsgi.version": (1, 0)}
    if body:
        out["CONTENT_TYPE"] = "application/json"
        out["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        out["HTTP_" + name.upper().replace("-", "_")] = value
    return out


def bench_app(tokens: int) -> tuple[Flask, str, list[str]]:
    """The app with a trivial endpoint (`/bench/trivial`), a live lottery that does not run
    out, and the tokens of `tokens` participants: (app, the lottery's id, tokens)."""
    app = create_app()
    app.add_url_rule("/bench/trivial", "bench_trivial", lambda: jsonify({"ok": True}))
    engine = app.extensions["magic_cube"]
    merchant, _ = engine.create_merchant("bench")
    activity = engine.create_activity(merchant, "lottery", {
        "prizes": [{"name": "Coupon", "type": "coupon", "stock": 10_000_000, "odds": 3000}],
        "draws_per_day": 100, "draws_total": 10_000})
    activity_id = engine.publish(merchant, activity["id"])["id"]
    return app, activity_id, [engine.participant_token(merchant, f"p{i}")[0]
                              for i in range(tokens)]


class Caller:
    """Calls an app the way a WSGI server does, keeping the last status and headers."""

    def __init__(self) -> None:
        self.status = ""
        self.headers: dict[str, str] = {}

    def start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status, self.headers = status, dict(headers)

    def __call__(self, app: WSGI, env: dict[str, Any]) -> bytes:
        answer = app(env, self.start)
        try:
            return b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()


class Row:
    """One comparison: `app_env(i)` against `floor_env(i)`, each expected to answer `status`."""

    def __init__(self, label: str, goal: float, app_env: Callable[[int], dict[str, Any]],
                 floor_env: Callable[[int], dict[str, Any]], status: str,
                 before: Callable[[], None] = lambda: None) -> None:
        self.label, self.goal, self.status, self.before = label, goal, status, before
        self.app_env, self.floor_env = app_env, floor_env
        self.best_app = self.best_floor = float("inf")


def timed(call: Caller, app: WSGI, make: Callable[[int], dict[str, Any]], first: int,
          count: int, status: str) -> float:
    """Seconds per request of `count` requests (their environs built beforehand)."""
    envs = [make(first + i) for i in range(count)]
    started = time.perf_counter()
    for env in envs:
        call(app, env)
    seconds = (time.perf_counter() - started) / count
    if not call.status.startswith(status):
        raise SystemExit(f"expected {status}, got {call.status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=0, help="alternating rounds (default 30)")
    args = parser.parse_args()
    rounds = args.rounds or (6 if args.quick else 30)
    per_round = 300 if args.quick else 1000

    floor = floor_app()
    app, activity_id, tokens = bench_app(TOKENS)
    engine = app.extensions["magic_cube"]
    poll = f"/v1/activities/{activity_id}"
    call = Caller()
    current = {"etag": "", "me": ""}

    def fresh_etag() -> None:  # the draws change the view between rounds
        call(app, environ(poll))
        current["etag"] = call.headers["ETag"]

    watcher = {"Authorization": f"Bearer {tokens[0]}"}  # one participant watching their own view

    def fresh_me_etag() -> None:
        call(app, environ(poll + "/me", headers=watcher))
        current["me"] = call.headers["ETag"]

    def draw(i: int) -> dict[str, Any]:
        return environ(poll + "/actions/draw", "POST", b"{}",
                       {"Authorization": f"Bearer {tokens[i % TOKENS]}"})

    rows = [
        Row("app trivial JSON", 0.95, lambda i: environ("/bench/trivial"),
            lambda i: environ("/json"), "200"),
        Row("poll 304", 0.9, lambda i: environ(poll, headers={"If-None-Match": current["etag"]}),
            lambda i: environ("/etag", headers={"If-None-Match": '"floor"'}), "304", fresh_etag),
        Row("poll 200", 0.75, lambda i: environ(poll), lambda i: environ("/json"), "200"),
        Row("own view 304", 0.9, lambda i: environ(poll + "/me", headers={
            **watcher, "If-None-Match": current["me"]}),
            lambda i: environ("/etag", headers={"If-None-Match": '"floor"'}), "304",
            fresh_me_etag),
        Row("action (lottery draw)", 0.5, draw, lambda i: environ("/json"), "200"),
    ]
    for row in rows:  # warm up: caches, compiled validators, every token checked once
        row.before()
        timed(call, app, row.app_env, 0, TOKENS if row.app_env is draw else 100, row.status)
        timed(call, floor, row.floor_env, 0, 100, "200" if row.status == "200" else "304")
    done = TOKENS
    for _ in range(rounds):
        for row in rows:
            row.before()
            row.best_app = min(row.best_app, timed(call, app, row.app_env, done, per_round,
                                                   row.status))
            row.best_floor = min(row.best_floor, timed(
                call, floor, row.floor_env, done, per_round,
                "304" if row.status == "304" else "200"))
            done += per_round

    print(f"in process, best of {rounds} alternating rounds of {per_round} requests; "
          f"SQLite synchronous FULL; Python {sys.version.split()[0]}")
    trivial = rows[0].best_app
    print(f"  {'':24}{'app µs':>9}{'floor µs':>10}{'app adds':>10}{'× floor':>9}"
          f"{'× trivial':>11}")
    for row in rows:
        ratio = row.best_floor / row.best_app
        print(f"  {row.label:<24}{row.best_app * 1e6:9.1f}{row.best_floor * 1e6:10.1f}"
              f"{(row.best_app - row.best_floor) * 1e6:10.1f}{ratio:8.2f}×"
              f"{trivial / row.best_app:10.2f}×  (goal ≥ {row.goal}× the floor)"
              f"{'' if ratio >= row.goal else '  BELOW'}")
    engine.store.close()


if __name__ == "__main__":
    main()
