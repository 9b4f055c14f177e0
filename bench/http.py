"""HTTP benchmark: wrk over loopback against the production server command.

Two servers are measured in the same run, each started with the production command
(`python -m gunicorn -c gunicorn.conf.py …`: gevent workers, as many for both):

- the floor, bench/floor_app.py: a bare Flask app with no project code, one JSON route and one
  route answering 304 to a matching If-None-Match; measured before and after the app, its
  better figure is the floor;
- the app, with a trivial JSON endpoint added.

Every row of the app is printed as a ratio to the floor (a poll answered 304 to the floor's
304 route, the others to its JSON route) and to the app's trivial endpoint, the reference of
the goals (304 ≥ 0.9×, 200 ≥ 0.75×, action ≥ 0.5×):
  - the app's trivial endpoint (what the app's own machinery costs; goal ≥ 0.95× the floor),
  - a poll answered 304 (matching If-None-Match),
  - a full poll (200 with the activity view),
  - an action (a lottery draw by many different participants).

    python bench/http.py [--quick] [--workers N] [--connections C] [--seconds S]

Needs wrk, looked for when run (`make bench-http` installs it).
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# standard library's `http` package: drop the folder before anything imports `http.client`.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

BENCH_WSGI = """
from flask import jsonify
from magic_cube.app import create_app

app = create_app()


@app.get("/bench/trivial")
def trivial():
    return jsonify({"ok": True})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server did not come up at {url}")


def wrk(url: str, seconds: int, connections: int, threads: int, script: Path | None = None,
        headers: dict[str, str] | None = None) -> float:
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        statuses = ", ".join(re.findall(r"^status (\d+: \d+)$", out, re.MULTILINE))
        print(f"    note: {non2xx.group(1)} non-2xx/3xx responses for {url}"
              f"{f' (by status {statuses})' if statuses else ''}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise SystemExit(f"wrk printed no rate for {url}:\n{out}")
    return float(rate.group(1))


@contextlib.contextmanager
def serving(app: str, chdir: Path, env: dict[str, str], workers: int,
            ready: str) -> Iterator[str]:
    """`app` served by the production command from `chdir`; yields its base URL once `ready`
    (a path) answers, and stops the server's process group afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
         "--chdir", str(chdir), app],
        env={**env, "MAGIC_CUBE_BIND": f"127.0.0.1:{port}", "MAGIC_CUBE_WORKERS": str(workers)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base + ready)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def seed(env: dict[str, str], tmp: Path) -> tuple[str, Path]:
    """A lottery that does not run out during the run, and a wrk script drawing with a token
    per participant: (activity id, script)."""
    setup = textwrap.dedent("""
        import json
        from magic_cube.app import create_app
        engine = create_app().extensions["magic_cube"]
        m, key = engine.create_merchant("bench")
        a = engine.create_activity(m, "lottery", {
            "prizes": [{"name": "Coupon", "type": "coupon", "stock": 10000000, "odds": 3000}],
            "draws_per_day": 100, "draws_total": 10000})
        a = engine.publish(m, a["id"])
        tokens = [engine.participant_token(m, f"p{i}")[0] for i in range(3000)]
        print(json.dumps({"activity": a["id"], "tokens": tokens}))
    """)
    data = json.loads(subprocess.run([sys.executable, "-c", setup], env=env, check=True,
                                     capture_output=True, text=True).stdout)
    lua = tmp / "draw.lua"
    lua.write_text("tokens = {" + ",".join(f'"{t}"' for t in data["tokens"]) + "}\n"
                   + textwrap.dedent("""
        counter = math.random(1, #tokens)
        request = function()
          counter = counter + 1
          local t = tokens[(counter % #tokens) + 1]
          return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. t,
                                          ["Content-Type"] = "application/json"}, "{}")
        end
        -- Answers by status, summed over wrk's threads: a refused draw is not a draw.
        threads, statuses = {}, {}
        setup = function(thread) table.insert(threads, thread) end
        response = function(status) statuses[status] = (statuses[status] or 0) + 1 end
        done = function()
          local total = {}
          for _, thread in ipairs(threads) do
            for status, n in pairs(thread:get("statuses")) do
              total[status] = (total[status] or 0) + n
            end
          end
          for status, n in pairs(total) do io.write("status " .. status .. ": " .. n .. "\\n") end
        end
    """))
    return data["activity"], lua


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (`make bench-http` installs it)")
    seconds = 3 if args.quick else args.seconds
    c, t = args.connections, 2
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    (tmp / "bench_wsgi.py").write_text(BENCH_WSGI)
    # The floor is served from a folder of its own: bench/ on a server's sys.path would let
    # this file shadow the standard library's `http`.
    (tmp / "floor").mkdir()
    shutil.copy(Path(_here) / "floor_app.py", tmp / "floor" / "floor_app.py")
    # Abuse limits are on, as in production, and counted on every request; they are only
    # raised so far that a load generator on one IP is never refused.
    lots = "1000000/second"
    env = {**os.environ, "MAGIC_CUBE_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
           "MAGIC_CUBE_RATE_LIMIT_IP": lots, "MAGIC_CUBE_RATE_LIMIT_POLLS": lots,
           "MAGIC_CUBE_RATE_LIMIT_ACTIONS": lots,
           "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}"}

    def floor() -> tuple[float, float]:
        with serving("floor_app:app", tmp / "floor", env, args.workers, "/json") as base:
            wrk(f"{base}/json", 2, c, t)  # warm up
            return (wrk(f"{base}/json", seconds, c, t),
                    wrk(f"{base}/etag", seconds, c, t, headers={"If-None-Match": '"floor"'}))

    try:
        activity, lua = seed(env, tmp)
        floor_before = floor()
        with serving("bench_wsgi:app", tmp, env, args.workers, "/bench/trivial") as base:
            view = f"{base}/v1/activities/{activity}"
            etag = urllib.request.urlopen(view).headers["ETag"]
            wrk(f"{base}/bench/trivial", 2, c, t)  # warm up
            trivial = wrk(f"{base}/bench/trivial", seconds, c, t)
            not_modified = wrk(view, seconds, c, t, headers={"If-None-Match": etag})
            full = wrk(view, seconds, c, t)
            action = wrk(f"{view}/actions/draw", seconds, c, t, script=lua)
        floor_after = floor()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    floor_json = max(floor_before[0], floor_after[0])
    floor_304 = max(floor_before[1], floor_after[1])
    print(f"gunicorn gevent, {args.workers} workers per server, wrk {c} connections × "
          f"{seconds}s, loopback")
    print(f"  {'':<22}{'req/s':>9}  {'× floor':>8}  {'× app trivial':>14}")
    print(f"  {'floor JSON':<22}{floor_json:9.0f}  {'1.00×':>8}   (bare Flask; before "
          f"{floor_before[0]:.0f}, after {floor_after[0]:.0f})")
    print(f"  {'floor 304':<22}{floor_304:9.0f}  {'1.00×':>8}   (bare Flask; before "
          f"{floor_before[1]:.0f}, after {floor_after[1]:.0f})")
    print(f"  {'app trivial JSON':<22}{trivial:9.0f}  {trivial / floor_json:7.2f}×  "
          f"{'1.00×':>14}  (goal ≥ 0.95× floor)"
          f"{'' if trivial / floor_json >= 0.95 else '  BELOW GOAL'}")
    for name, value, base_floor, goal in (
            ("poll 304", not_modified, floor_304, 0.9), ("poll 200", full, floor_json, 0.75),
            ("action (lottery draw)", action, floor_json, 0.5)):
        ratio = value / trivial
        print(f"  {name:<22}{value:9.0f}  {value / base_floor:7.2f}×  {ratio:13.2f}×  "
              f"(goal ≥ {goal}×){'' if ratio >= goal else '  BELOW GOAL'}")


if __name__ == "__main__":
    main()
