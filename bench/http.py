"""HTTP benchmark: wrk over loopback against the production server command.

Measures, as ratios to a trivial Flask JSON endpoint served by the same server, app and
settings in the same run:
  - a poll answered 304 (matching If-None-Match),
  - a full poll (200 with the activity view),
  - an action (a lottery draw by many different participants).
Goals: 304 ≥ 0.9×, 200 ≥ 0.75×, action ≥ 0.5×.

    python bench/http.py [--quick] [--workers N] [--connections C] [--seconds S]

Needs wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, and its name would shadow the
# standard library's `http` package: drop the folder before anything imports `http.client`.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
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
        print(f"    note: {non2xx.group(1)} non-2xx/3xx responses for {url}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    seconds = 3 if args.quick else args.seconds
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    (tmp / "bench_wsgi.py").write_text(BENCH_WSGI)
    # Abuse limits would refuse a load generator on one IP: they are measured off.
    env = {**os.environ, "MAGIC_CUBE_DATABASE_URL": f"sqlite:///{tmp}/bench.db",
           "MAGIC_CUBE_RATE_LIMIT_ENABLED": "false",
           "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}"}

    # Data: a lottery that does not run out during the run, and a token per participant.
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
    activity = data["activity"]
    lua = tmp / "draw.lua"
    lua.write_text("tokens = {" + ",".join(f'"{t}"' for t in data["tokens"]) + "}\n" + textwrap.dedent("""
        counter = math.random(1, #tokens)
        request = function()
          counter = counter + 1
          local t = tokens[(counter % #tokens) + 1]
          return wrk.format("POST", nil, {["Authorization"] = "Bearer " .. t,
                                          ["Content-Type"] = "application/json"}, "{}")
        end
    """))

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
         "--chdir", str(tmp), "bench_wsgi:app"],
        env={**env, "MAGIC_CUBE_BIND": f"127.0.0.1:{port}",
             "MAGIC_CUBE_WORKERS": str(args.workers)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/bench/trivial")
        view = f"{base}/v1/activities/{activity}"
        etag = urllib.request.urlopen(view).headers["ETag"]
        c, t = args.connections, 2
        wrk(f"{base}/bench/trivial", 2, c, t)  # warm up
        trivial = wrk(f"{base}/bench/trivial", seconds, c, t)
        not_modified = wrk(view, seconds, c, t, headers={"If-None-Match": etag})
        full = wrk(view, seconds, c, t)
        action = wrk(f"{view}/actions/draw", seconds, c, t, script=lua)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"gunicorn gevent, {args.workers} workers, wrk {c} connections × {seconds}s, loopback")
    print(f"  trivial Flask JSON  {trivial:9.0f} req/s  (floor)")
    for name, value, goal in (("poll 304", not_modified, 0.9), ("poll 200", full, 0.75),
                              ("action (draw)", action, 0.5)):
        ratio = value / trivial
        print(f"  {name:<18}  {value:9.0f} req/s  {ratio:5.2f}×  (goal ≥ {goal}×)"
              f"{'' if ratio >= goal else '  BELOW GOAL'}")


if __name__ == "__main__":
    main()
