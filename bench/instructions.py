"""Instructions per request through the whole app, counted by callgrind: repeatable where
timings on a shared two-core machine are not (bench/wsgi.py's rows move by a tenth from one
run to the next; the same code counted twice differs by about half a percent).

Each row runs this file under `valgrind --tool=callgrind` twice, in process as bench/wsgi.py
does (the same WSGI environs, the same app and bare floor): once with FEW requests after the
warm-up and once with MANY. The difference of the two totals over MANY − FEW is what one
request costs, start-up and warm-up cancelled out. SQLite runs with `synchronous=OFF` (a
count has no disk); the metrics are recorded as under gunicorn.

    python bench/instructions.py [--rows floor,trivial,draw,heartbeat] [--few N --many N]

Rows: `draw` (a lottery draw by a participant with a token, body `{}`), `heartbeat`, `trivial`
(the app's trivial endpoint), `floor` (the bare Flask app's JSON route). Needs valgrind.
Takes a few minutes: callgrind runs Python about fifty times slower.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the standard
# library's `http` (which werkzeug imports): the checkout instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
ROWS = ("floor", "trivial", "draw", "heartbeat")
TOKENS = 600
WARM_UP = 100


def child(row: str, count: int) -> None:
    """What runs under callgrind: the app (or the floor) warmed up, then `count` requests."""
    os.environ["MAGIC_CUBE_SQLITE_SYNCHRONOUS"] = "OFF"
    # Loaded here, not imported at the top: bench/wsgi.py sets the environment up as it is
    # loaded. (By its path: bench/ is off sys.path, where bench/http.py would shadow `http`.)
    spec = importlib.util.spec_from_file_location("bench_wsgi", ROOT / "bench" / "wsgi.py")
    assert spec is not None and spec.loader is not None
    wsgi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wsgi)

    call = wsgi.Caller()
    if row == "floor":
        floor = wsgi.floor_app()
        requests = [(floor, wsgi.environ("/json")) for _ in range(WARM_UP + count)]
    else:
        app, activity_id, tokens = wsgi.bench_app(TOKENS)
        path, body = {"draw": (f"/v1/activities/{activity_id}/actions/draw", b"{}"),
                      "heartbeat": (f"/v1/activities/{activity_id}/heartbeat", b""),
                      "trivial": ("/bench/trivial", b"")}[row]
        method = "GET" if row == "trivial" else "POST"
        requests = [(app, wsgi.environ(path, method, body,
                                       {"Authorization": f"Bearer {tokens[i % TOKENS]}"}))
                    for i in range(WARM_UP + count)]
    for target, env in requests:
        call(target, env)
    if not call.status.startswith("200"):
        raise SystemExit(f"{row}: expected 200, got {call.status}")


def counted(row: str, count: int, work: Path) -> int:
    """Instructions callgrind counted for a whole run of `child(row, count)`."""
    out = work / f"{row}.{count}.callgrind"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    sys.executable, __file__, "--child", row, str(count)],
                   check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    found = re.search(r"^summary: (\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if found is None:
        raise SystemExit(f"callgrind wrote no summary for {row}")
    return int(found.group(1))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--few", type=int, default=100)
    parser.add_argument("--many", type=int, default=400)
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROWS)
    if unknown or args.many <= args.few:
        raise SystemExit(f"rows are {', '.join(ROWS)}; --many must exceed --few")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install -y valgrind)")
    work = Path(tempfile.mkdtemp(prefix="magic-cube-instructions-"))
    try:
        print(f"instructions per request (callgrind; {args.many} − {args.few} requests "
              f"after {WARM_UP} warm-up ones; Python {sys.version.split()[0]})")
        results: dict[str, int] = {}
        for row in rows:
            few, many = counted(row, args.few, work), counted(row, args.many, work)
            results[row] = (many - few) // (args.many - args.few)
            ratio = (f"   {results['floor'] / results[row]:.2f}× the floor"
                     if "floor" in results and row != "floor" else "")
            print(f"  {row:<10}{results[row]:>12,}{ratio}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
