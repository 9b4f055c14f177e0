"""The runs: seed, start the servers, hammer them, stop them, then check everything.

Topologies: `run_postgres` — two app servers on different ports sharing one PostgreSQL
schema, clients spread over both; `run_sqlite` — one gunicorn with several worker processes
on one SQLite file. `run_crash` kills a server's whole process group with SIGKILL under load,
several times, restarting it each time.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from magic_cube.hammer.floor import Floor, sql_floor
from magic_cube.hammer.load import Hammer
from magic_cube.hammer.report import Report
from magic_cube.hammer.seeding import Seed, seed
from magic_cube.hammer.servers import Server
from magic_cube.hammer.statements import statement_profile
from magic_cube.hammer.verification import verify
from magic_cube.hammer.workload import Sizes, hot_configs, sizes


def _measure_floor(database_url: str, profile_url: str,
                   configs: dict[str, dict[str, Any]], threads: int,
                   seconds: float) -> Floor:
    profile = statement_profile(profile_url, configs)
    return sql_floor(database_url, profile, threads, seconds)


def _report(store: str, topology: str, hammer: Hammer, data: Seed, servers: list[Server],
            crashes: int = 0) -> Report:
    """Check everything after a run (exactly, unless answers were lost to crashes)."""
    tally = hammer.tally
    verification = verify(data, tally.acks, exact=not crashes, edits=hammer.edits)
    return Report(store, topology, hammer.clients, tally, verification, hammer.elapsed,
                  crashes=crashes, edits=hammer.edits,
                  settled_checked=hammer.settled_checked).read_logs(servers)


def run_sqlite(workdir: str | Path, size: Sizes | None = None, clients: int | None = None,
               actions: int | None = None, floor: bool = True) -> Report:
    """Topology (b): one gunicorn with several worker processes on one SQLite file."""
    size = size or sizes()
    clients = clients or size.clients
    actions = actions or size.actions
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'hammer.db'}"
    configs = hot_configs(actions)
    data = seed(url, size.participants, configs)
    server = Server(url, workers=size.sqlite_workers, log_dir=workdir)
    try:
        server.start()
        hammer = Hammer(data, [server.base_url], clients, actions)
        hammer.run()
        hammer.check_settled_polls()
    finally:
        server.stop()
    report = _report("sqlite", f"1 gunicorn × {size.sqlite_workers} gevent workers on one "
                     f"SQLite file", hammer, data, [server])
    if floor:
        report.floor = _measure_floor(url, f"sqlite:///{workdir / 'profile.db'}",
                                      configs, clients, size.floor_seconds)
    return report


def run_postgres(database_url: str, profile_url: str | None, workdir: str | Path,
                 size: Sizes | None = None, clients: int | None = None,
                 actions: int | None = None, floor: bool = True) -> Report:
    """Topology (a): two app servers on different ports sharing the (fresh, empty) PostgreSQL
    schema at `database_url`, clients spread over both. `profile_url` is another empty
    schema, for counting an action's statements."""
    size = size or sizes()
    clients = clients or size.clients
    actions = actions or size.actions
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    configs = hot_configs(actions)
    data = seed(database_url, size.participants, configs)
    servers = [Server(database_url, workers=size.postgres_workers, log_dir=workdir)
               for _ in range(2)]
    try:
        for s in servers:
            s.launch()
        for s in servers:
            s.wait_up()
        hammer = Hammer(data, [s.base_url for s in servers], clients, actions)
        hammer.run()
        hammer.check_settled_polls()
    finally:
        for s in servers:
            s.stop()
    report = _report("postgresql", f"2 gunicorns × {size.postgres_workers} gevent "
                     f"worker(s) sharing one PostgreSQL schema", hammer, data, servers)
    if floor and profile_url:
        report.floor = _measure_floor(database_url, profile_url, configs,
                                      clients, size.floor_seconds)
    return report


def run_crash(database_url: str, workdir: str | Path, crashes: int,
              size: Sizes | None = None, clients: int | None = None,
              rng_seed: int | None = None) -> Report:
    """Hammer one server continuously and SIGKILL its whole process group `crashes` times,
    restarting it on the same port each time; then check every acknowledged action is in the
    log, no partial action exists and the store is intact."""
    size = size or sizes()
    clients = clients or size.clients
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(rng_seed)
    data = seed(database_url, size.participants, hot_configs(size.actions))
    workers = size.sqlite_workers if database_url.startswith("sqlite") else 2
    server = Server(database_url, workers=workers, log_dir=workdir)
    survived = 0
    try:
        server.start()
        hammer = Hammer(data, [server.base_url], clients, None, tolerate_disconnects=True)
        hammer.start()
        try:
            for _ in range(crashes):
                before = hammer.tally.actions
                deadline = time.monotonic() + 30
                # Under load: wait for a random number of actions since the last restart.
                target = before + rng.randint(15, 40)
                while hammer.tally.actions < target and time.monotonic() < deadline:
                    time.sleep(0.02)
                server.kill()
                survived += 1
                time.sleep(rng.uniform(0.0, 0.3))
                server.start()
            target = hammer.tally.actions + 20
            deadline = time.monotonic() + 30
            while hammer.tally.actions < target and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            hammer.stop()
            hammer.join(120)
    finally:
        server.stop()
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    return _report(kind, f"1 gunicorn × {workers} workers, SIGKILLed {survived}× under load",
                   hammer, data, [server], crashes=survived)
