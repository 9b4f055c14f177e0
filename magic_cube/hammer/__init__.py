"""The reliability hammer: real servers, concurrent HTTP clients, then every rule checked.

`magic-cube hammer` and `tests/reliability/` share this package. A run:

1. seeds a merchant, one *hot* activity of each bundled template whose stock runs out during
   the run, and a participant token per shopper, through the engine (`seeding.py`, with the
   sizes and configs of `workload.py`);
2. starts real servers with the production command (`python -m gunicorn -c gunicorn.conf.py
   wsgi:app`, configured by `MAGIC_CUBE_BIND`, `MAGIC_CUBE_WORKERS`,
   `MAGIC_CUBE_DATABASE_URL`), each in its own process group (`servers.py`);
3. hammers them over HTTP from threads with `requests.Session`s (`load.py`): lottery draws,
   group-buy starts and joins on a few groups, bargain starts, helps and buys, gift sends and
   claims, mixed with polls (`If-None-Match`) and heartbeats, counting every answer by status,
   and recording every action acknowledged with a 2xx (with its `seq`) (`tally.py`);
4. checks afterwards, from the database alone (`verification.py`): `invariants()` of
   `magic_cube.engine.invariants` for each activity (stock ≥ 0, awards = initial − left, no
   group over its size, no helper twice, no gift unit claimed twice, stats equal the action
   log, outbox equals the events, replay equals state), every acknowledged action in the log
   under its `seq` with its participant, params, room and result, and the store's integrity
   check;
5. measures a bare-SQL floor on the same kind of store (`floor.py`): a loop doing, per
   "action", the same transactions with the same number of statements as one action does
   through the engine (counted by `statements.py`), with no HTTP, Flask or rules; the
   hot-activity actions/s is printed as a ratio to it (`report.py`). Timing is reported, never
   asserted.

The topologies are in `runs.py`, the click command in `command.py`.
"""

from magic_cube.hammer.command import hammer
from magic_cube.hammer.floor import Floor, sql_floor
from magic_cube.hammer.load import Hammer
from magic_cube.hammer.report import Report
from magic_cube.hammer.rooms import Rooms
from magic_cube.hammer.runs import run_crash, run_postgres, run_sqlite
from magic_cube.hammer.seeding import Seed, seed
from magic_cube.hammer.servers import ROOT, Server, free_port
from magic_cube.hammer.statements import Profile, count_statements, statement_profile
from magic_cube.hammer.stores import (
    DEFAULT_POSTGRES_URL,
    fresh_postgres,
    make_engine,
    postgres_base_url,
    with_schema,
)
from magic_cube.hammer.tally import Ack, Tally
from magic_cube.hammer.verification import Verification, read_log, verify
from magic_cube.hammer.workload import (
    HOT_ROOMS,
    LONG,
    SHORT,
    TEMPLATES,
    Sizes,
    hot_configs,
    long_mode,
    sizes,
)

__all__ = [
    "DEFAULT_POSTGRES_URL", "HOT_ROOMS", "LONG", "ROOT", "SHORT", "TEMPLATES", "Ack", "Floor",
    "Hammer", "Profile", "Report", "Rooms", "Seed", "Server", "Sizes", "Tally", "Verification",
    "count_statements", "fresh_postgres", "free_port", "hammer", "hot_configs", "long_mode",
    "make_engine", "postgres_base_url", "read_log", "run_crash", "run_postgres", "run_sqlite",
    "seed", "sizes", "sql_floor", "statement_profile", "verify", "with_schema",
]
