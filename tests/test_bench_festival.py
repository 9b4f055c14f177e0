"""The festival benchmark (bench/festival.py) in its quick mode: it runs on both stores, with
one caller and several, breaks no invariant and ends with its summary line. Timings are not
asserted."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from stores import STORE_PARAMS, require_postgres

BENCH = Path(__file__).resolve().parent.parent / "bench" / "festival.py"
SUMMARY = re.compile(r"festival: 200 actions, \d+ actions/s, p99 \d+\.\d ms, "
                     r"RSS growth -?\d+\.\d MB, projected \d+\.\d h for 50 M")


def load_festival() -> ModuleType:
    """bench/festival.py as a module (bench/ is not a package, and must not go on sys.path,
    where bench/http.py would shadow the standard library's `http`)."""
    spec = importlib.util.spec_from_file_location("bench_festival", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_quick_festival_keeps_every_invariant(kind, capsys):
    if kind == "postgresql":
        require_postgres()
    festival = load_festival()
    status = festival.main(["--quick", "--store", kind, "--threads", "1,4"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert SUMMARY.fullmatch(lines[-1]), lines[-1]
    assert lines.count("  invariants: 12 activities checked, 0 problems") == 2, lines
    assert status == 0


def test_festival_has_the_reference_shape():
    festival = load_festival()
    shares = festival.zipf_shares()
    assert len(shares) == 12 and shares[0] > 0.3 and abs(sum(shares) - 1) < 1e-9
    templates = [t for t, _ in festival.festival_configs(20000)]
    assert sorted(set(templates)) == ["bargain", "gift", "group_buy", "lottery"]
    assert all(templates.count(t) == 3 for t in set(templates))


def test_quick_festival_under_gevent_serves_as_the_server_does():
    """`--gevent` monkey-patches its own process first, so it runs as a child: its callers are
    greenlets, its floor ends (a bare sqlite3 loop never yields to the clock's greenlet), and
    it breaks nothing."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--gevent", "--store", "sqlite",
         "--threads", "1,16"], capture_output=True, text=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.startswith("sqlite, 16 greenlets: 200 actions") for line in lines), lines
    assert lines.count("  invariants: 12 activities checked, 0 problems") == 2, lines
    assert SUMMARY.fullmatch(lines[-1]), lines[-1]
