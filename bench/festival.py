"""The festival benchmark: a synthetic festival replayed through the Engine, in process.

Run as ``python bench/festival.py [--actions N] [--store sqlite|postgresql|both]
[--threads 1,8] [--gevent] [--quick] [--seed S]``. The workload has the shape of the festivals the
project is built for (a dozen activities, one very hot; 50 M participations, 1.4 M first-time
participants, 7 M minutes of interaction):

- 12 live activities of one merchant, three of each bundled template, stocked so that refusals
  are a realistic minority (per-day limits, a helper who already helped, a full group);
- each visit goes to an activity drawn from a Zipf law (s = 1.1: the hot lottery gets ~35 %
  of the visits);
- one visit in 36 is by a first-time participant; the others reuse a pool of participants the
  deployment already knows (made known before the run by one draw each on an earlier activity);
- friends arrive through rooms opened earlier (bargain helps, group joins, gift claims on the
  newest open rooms), and a completed bargain's initiator comes back to buy;
- every action is followed 8 s later (simulated clock) by a heartbeat, ~8 s of interaction
  per participation, as 7 M minutes over 50 M participations gives; visits arrive at a pace
  where a participant comes back every 3 h on average (past the session timeout);
- each call goes through the API's path minus HTTP: `authenticate_participant` with a signed
  token, then `act` with an Idempotency-Key (as the clients send) or `heartbeat`.

An *action* is one `act` call; its heartbeat comes on top and is inside the measured time, so
actions/s is the rate at which participations are served. Latency percentiles are per action.
RSS growth is read from /proc/self/statm before and after the measured run.

With ``--gevent`` the process is monkey-patched first, as gunicorn's gevent workers are, and
the callers are greenlets (default ``--threads 1,32``): the way the production server serves
a festival, one process per core, each with many requests in flight. Threads make the GIL the
arbiter of who runs; greenlets switch only where the engine waits, so more actions meet in one
commit.

The floor is `magic_cube.hammer.floor.sql_floor` on the same kind of store, with as many
threads: a bare sqlite3 (or psycopg) loop doing one fsync'd transaction per action, holding as
many statements as the engine ran for an action and its heartbeat (counted with
`hammer.statements.count_statements` on more festival actions after the measured run). The
engine's own transactions per action are printed beside it. Afterwards every activity is
checked with `engine.invariants` (replay included); the problem count must be 0. (Under
``--gevent`` the SQLite floor runs one loop: a bare sqlite3 loop cannot yield while another
connection holds the write lock, so more greenlets would only wait in C for each other.)

The last line, for the first store's run with the most actions/s (of its thread counts), is:
``festival: N actions, X actions/s, p99 Y ms, RSS growth Z MB, projected H h for 50 M``.
Timings are reported, never asserted; the exit status is 1 when an invariant is broken.
"""

from __future__ import annotations

import sys

if "--gevent" in sys.argv:  # before anything imports threading, as gunicorn's worker does
    from gevent import monkey

    monkey.patch_all()

import argparse
import contextlib
import heapq
import itertools
import os
import random
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ comes first on sys.path, where bench/http.py would shadow the
# standard library's `http`: the checkout takes its place.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from magic_cube.app import open_app_store  # noqa: E402
from magic_cube.catalog import Catalog  # noqa: E402
from magic_cube.concurrency import cooperative  # noqa: E402
from magic_cube.engine import Accepted, Engine, EngineError, Merchant, Participant  # noqa: E402
from magic_cube.engine.invariants import invariants  # noqa: E402
from magic_cube.hammer.floor import Floor, sql_floor  # noqa: E402
from magic_cube.hammer.statements import Profile, count_statements  # noqa: E402
from magic_cube.hammer.stores import fresh_postgres  # noqa: E402
from magic_cube.settings import Settings  # noqa: E402

START = 1_794_362_400  # 2026-11-11 10:00 Asia/Shanghai
FESTIVAL_PARTICIPATIONS = 50_000_000
TEMPLATES = ("lottery", "group_buy", "bargain", "gift")  # by rank, cyclically: the hot one first
ACTIVITIES = 12
ZIPF_S = 1.1
FIRST_TIME = 1 / 36  # 1.4 M first-time participants in 50 M participations
VISIT_SECONDS = 8  # 7 M minutes of interaction over 50 M participations
POOL_SHARE = 1 / 6  # known participants before the run, per action: ~5 visits each
REVISIT = 3 * 3600  # mean simulated seconds between two visits of one participant
NEWEST_ROOMS = 8  # friends arrive at the newest open rooms of an activity
KEPT_ROOMS = 64  # older rooms are left to expire with the slots nobody came for
BUY_SHARE = 0.8  # initiators of a completed bargain who come back to buy it
BUY_DELAY = 30
TOKEN_TTL = 90 * 86400
PAGE = os.sysconf("SC_PAGE_SIZE")
CALLER = "greenlet" if cooperative() else "thread"  # what a concurrent caller is, in reports

# The share of visits that are a friend arriving in a room, where a room is open: one opener
# brings as many friends as the room holds.
FRIEND_SHARE = {"group_buy": 2 / 3, "bargain": 4 / 5, "gift": 3.5 / 4.5}
FRIEND_ACTION = {"group_buy": "join", "bargain": "help", "gift": "claim"}
OPEN_ACTION = {"group_buy": "start", "bargain": "start", "gift": "send"}


def zipf_shares(n: int = ACTIVITIES, s: float = ZIPF_S) -> list[float]:
    weights = [1 / k ** s for k in range(1, n + 1)]
    return [w / sum(weights) for w in weights]


def festival_configs(actions: int) -> list[tuple[str, dict[str, Any]]]:
    """(template, config) of each activity by rank, stocked for its expected visits."""
    out = []
    for rank, share in enumerate(zipf_shares()):
        template = TEMPLATES[rank % len(TEMPLATES)]
        visits = max(int(actions * share), 20)
        out.append((template, _config(template, visits)))
    return out


def _config(template: str, visits: int) -> dict[str, Any]:
    if template == "lottery":
        return {"prizes": [
            {"name": "Grand prize", "type": "physical", "stock": max(visits // 2000, 2),
             "odds": 20},
            {"name": "Coupon", "type": "coupon", "stock": visits // 4, "odds": 2500},
            {"name": "Points", "type": "points", "stock": visits, "odds": 4000}],
            "draws_per_day": 3, "draws_total": 10}
    if template == "group_buy":  # every start and join holds a unit; failed groups return it
        return {"product_name": "Tea set", "original_price": 19900, "group_price": 9900,
                "group_size": 3, "stock": visits, "groups_per_participant": 3}
    if template == "bargain":  # a unit goes at each buy
        return {"product_name": "Kettle", "original_price": 29900, "floor_price": 9900,
                "helpers_needed": 4, "cut_min": 100, "cut_max": 8000,
                "stock": max(visits // 6, 5), "launches_per_participant": 2}
    return {"gift_name": "Coffee", "mode": "units", "max_shares": 5, "sends_per_day": 2,
            "receive_per_day": 5}


class SimClock(threading.local):
    """The engine's clock: each caller thread sets the simulated time of the call it makes."""

    now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Call:
    at: int
    rank: int  # the activity's
    participant: str
    action: str | None  # None: a heartbeat
    room: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    initiator: str | None = None  # of the room a friend arrives in


@dataclass(eq=False)  # compared by identity: `list.remove` stays cheap
class OpenRoom:
    id: str
    initiator: str
    slots: int  # friends still expected


class Planner:
    """Hands out the festival's calls in simulated-time order, to one thread or many, and
    learns from the answers which rooms are open (`done`)."""

    def __init__(self, engine: Engine, merchant: Merchant, activities: list[tuple[str, str]],
                 configs: list[dict[str, Any]], pool: list[str], actions: int,
                 seed: int) -> None:
        self.engine, self.merchant = engine, merchant
        self.activities, self.configs = activities, configs  # (id, template) by rank
        self.rng = random.Random(seed)
        self.cum = list(itertools.accumulate(zipf_shares(len(activities))))
        self.lock = threading.Lock()
        self.tokens: dict[str, str] = {}
        for pid in pool:  # minted up front: the merchant's backend holds them already
            self._mint(pid)
        self.pool = list(pool)
        self.target, self.issued = actions, 0
        self.t = float(START)
        self.gap = REVISIT / len(pool)  # mean simulated seconds between visits
        self.pending: list[tuple[int, int, Call]] = []  # heartbeats and buys, by time
        self.order = itertools.count()
        self.rooms: list[list[OpenRoom]] = [[] for _ in activities]
        self.mix: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.stopped = False

    def _mint(self, pid: str) -> None:
        self.tokens[pid] = self.engine.participant_token(
            self.merchant, pid, f"Shopper {pid[1:].lstrip('0')}", TOKEN_TTL)[0]

    def token(self, pid: str) -> str:
        with self.lock:
            return self.tokens[pid]

    def _participant(self) -> str:
        if self.rng.random() < FIRST_TIME:
            pid = f"n{len(self.tokens):07d}"
            self._mint(pid)
            self.pool.append(pid)
            return pid
        return self.rng.choice(self.pool)

    def next(self) -> Call | None:
        """The next call in simulated time, or None when the run is over."""
        with self.lock:
            while self.pending and (self.pending[0][0] <= self.t or self.issued >= self.target):
                call = heapq.heappop(self.pending)[2]
                if call.action is None:
                    return call
                if self.issued < self.target:  # a buy
                    return self._issue(call)
            if self.issued >= self.target or self.stopped:
                return None
            call = self._visit(int(self.t))
            self.t += self.rng.expovariate(1 / self.gap)
            return self._issue(call)

    def _issue(self, call: Call) -> Call:
        self.issued += 1
        call.key = f"festival-{self.issued}"
        self.mix[call.action or ""] += 1
        return call

    def _later(self, call: Call) -> None:
        heapq.heappush(self.pending, (call.at, next(self.order), call))

    def _visit(self, at: int) -> Call:
        rng = self.rng
        rank = rng.choices(range(len(self.activities)), cum_weights=self.cum)[0]
        template = self.activities[rank][1]
        pid = self._participant()
        if template == "lottery":
            return Call(at, rank, pid, "draw")
        rooms = self.rooms[rank]
        if rooms and rng.random() < FRIEND_SHARE[template]:
            room = rng.choice(rooms[-NEWEST_ROOMS:])
            if pid == room.initiator:  # the share went to a friend: ask someone else
                pid = self._participant()
            room.slots -= 1
            if room.slots <= 0:
                rooms.remove(room)
            return Call(at, rank, pid, FRIEND_ACTION[template], room.id,
                        initiator=room.initiator)
        params = {"shares": rng.randint(2, 5)} if template == "gift" else {}
        return Call(at, rank, pid, OPEN_ACTION[template], params=params)

    def done(self, call: Call, outcome: Accepted | None, code: str) -> None:
        """Learn from an answered action: the rooms it opened, the bargain it completed.
        The visit's heartbeat is due from now on: a client sends it after the answer."""
        with self.lock:
            self.outcomes[code] += 1
            self._later(Call(call.at + VISIT_SECONDS, call.rank, call.participant, None))
            if outcome is None:
                return
            template = self.activities[call.rank][1]
            if call.action in OPEN_ACTION.values() and outcome.room:
                slots = {"group_buy": self.configs[call.rank].get("group_size", 3) - 1,
                         "bargain": self.configs[call.rank].get("helpers_needed", 1),
                         "gift": call.params.get("shares", 1)}[template]
                rooms = self.rooms[call.rank]
                rooms.append(OpenRoom(outcome.room, call.participant, slots))
                del rooms[:-KEPT_ROOMS]
            elif call.action == "help" and outcome.result.get("completed") \
                    and call.initiator and self.rng.random() < BUY_SHARE:
                self._later(Call(call.at + BUY_DELAY, call.rank, call.initiator, "buy",
                                 call.room))

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.pending.clear()


class Caller:
    """One thread's loop: authenticate, then act or heartbeat, as the API would."""

    def __init__(self, engine: Engine, clock: SimClock, planner: Planner) -> None:
        self.engine, self.clock, self.planner = engine, clock, planner
        self.latencies = array("d")
        self.heartbeat_latencies = array("d")
        self.heartbeat_errors: Counter[str] = Counter()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            while (call := self.planner.next()) is not None:
                self.call(call)
        except BaseException as exc:  # stop the others; raised by `drive`
            self.failure = exc
            self.planner.stop()

    def call(self, call: Call) -> None:
        engine, planner = self.engine, self.planner
        activity_id = planner.activities[call.rank][0]
        token = planner.token(call.participant)
        self.clock.now = call.at
        began = time.perf_counter()
        try:
            participant = engine.authenticate_participant(activity_id, token)
            if call.action is None:
                engine.heartbeat(activity_id, participant)
            else:
                outcome = engine.act(activity_id, call.action, participant, call.params,
                                     call.room, call.key)
        except EngineError as exc:
            if call.action is None:
                self.heartbeat_errors[exc.code] += 1
            else:
                self.latencies.append(time.perf_counter() - began)
                planner.done(call, None, f"error {exc.code}")
            return
        if call.action is None:
            self.heartbeat_latencies.append(time.perf_counter() - began)
            return
        self.latencies.append(time.perf_counter() - began)
        if isinstance(outcome, Accepted):
            planner.done(call, outcome, "accepted")
        else:
            planner.done(call, None, outcome.code)


def drive(engine: Engine, clock: SimClock, planner: Planner, threads: int) -> list[Caller]:
    """Run the planner's calls to the end on `threads` threads."""
    callers = [Caller(engine, clock, planner) for _ in range(threads)]
    if threads == 1:
        callers[0].run()
    else:
        workers = [threading.Thread(target=c.run, daemon=True) for c in callers]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    for c in callers:
        if c.failure is not None:
            raise c.failure
    return callers


@dataclass
class Result:
    store: str
    threads: int
    actions: int
    heartbeats: int
    seconds: float
    latencies: list[float]  # per action, seconds
    heartbeat_latencies: list[float]
    rss_growth_mb: float
    outcomes: Counter[str]
    mix: Counter[str]
    shape: dict[str, float] = field(default_factory=dict)
    engine_profile: Profile | None = None  # per action, heartbeat included
    floor: Floor | None = None
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    heartbeat_errors: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.actions / self.seconds

    def summary(self) -> str:
        """The line a run ends with."""
        return (f"festival: {self.actions} actions, {self.rate:.0f} actions/s, "
                f"p99 {percentile(self.latencies, 0.99) * 1000:.1f} ms, "
                f"RSS growth {self.rss_growth_mb:.1f} MB, projected "
                f"{FESTIVAL_PARTICIPATIONS / self.rate / 3600:.1f} h for 50 M")


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    """An empty database of `kind`: a SQLite file in a temporary folder, or a fresh schema
    on the PostgreSQL server at MAGIC_CUBE_TEST_POSTGRES_URL (or the default test server)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="mc-festival-") as tmp:
            yield f"sqlite:///{tmp}/festival.db"
    elif kind == "postgresql":
        with fresh_postgres() as url:
            yield url
    else:
        raise ValueError(f"unknown store {kind!r}")


def build_engine(url: str, clock: SimClock) -> Engine:
    """An engine on `url` built as the app builds it, with default settings (the environment's
    MAGIC_CUBE_* variables are ignored: synchronous=FULL on SQLite)."""
    settings = Settings.load({"database_url": url}, environ={})
    store = open_app_store(settings, tempfile.gettempdir())
    store.migrate()
    return Engine(store, Catalog.discover(), settings, clock)


def set_up(engine: Engine, clock: SimClock, actions: int, seed: int) -> Planner:
    """The merchant, its known participants (one draw each on last season's lottery, so that
    the deployment has seen them) and the festival's 12 live activities."""
    merchant, _ = engine.create_merchant("Festival platform")
    pool = [f"k{i:07d}" for i in range(max(int(actions * POOL_SHARE), 40))]
    clock.now = START - 86400
    earlier = engine.create_activity(merchant, "lottery", {
        "prizes": [{"name": "Sticker", "type": "virtual", "stock": len(pool), "odds": 100}],
        "draws_per_day": 1, "draws_total": 1}, title="Last season")
    engine.publish(merchant, earlier["id"])
    for pid in pool:
        engine.act(earlier["id"], "draw", Participant(pid))
    engine.end(merchant, earlier["id"])
    clock.now = START - 600
    configs = festival_configs(actions)
    activities = []
    for rank, (template, config) in enumerate(configs):
        created = engine.create_activity(merchant, template, config,
                                         title=f"Festival {rank + 1}: {template}")
        activities.append((engine.publish(merchant, created["id"])["id"], template))
    planner = Planner(engine, merchant, activities, [c for _, c in configs], pool, actions,
                      seed)
    clock.now = START
    return planner


def festival_shape(engine: Engine, planner: Planner) -> dict[str, float]:
    """What the run looked like, from the engine's own stats: the hot activity's share of
    participations, participations per first-time participant, interaction per
    participation."""
    totals = [engine.stats(planner.merchant, aid)["totals"] for aid, _ in planner.activities]
    participations = sum(t["participations"] for t in totals) or 1
    return {
        "hot_share": totals[0]["participations"] / participations,
        "per_first_time": participations / max(sum(t["first_time_participants"]
                                                   for t in totals), 1),
        "interaction": sum(t["interaction_seconds"] for t in totals) / participations,
        "participations": participations,
    }


def engine_profile(engine: Engine, clock: SimClock, planner: Planner, actions: int) -> Profile:
    """Transactions and statements per action (its heartbeat included), counted on `actions`
    more festival actions after the measured run, on one thread."""
    record = count_statements(engine.store)
    planner.target += actions
    drive(engine, clock, planner, 1)
    reads = [n for write, n in record if not write]
    writes = [n for write, n in record if write]
    return Profile(len(reads) / actions, sum(reads) / max(len(reads), 1),
                   len(writes) / actions, sum(writes) / max(len(writes), 1), actions)


def check(engine: Engine, planner: Planner) -> tuple[int, list[str]]:
    """(activities checked, problems) of every festival activity, replay included."""
    problems = []
    for aid, template in planner.activities:
        problems += [f"{template} {aid}: {p}" for p in invariants(engine, aid)]
    return len(planner.activities), problems


def run(kind: str, threads: int, actions: int, seed: int = 1, floor_seconds: float = 3.0,
        sample: int = 100) -> Result:
    """One festival of `actions` actions on a fresh `kind` store with `threads` callers, its
    floor and its invariants."""
    with database(kind) as url:
        clock = SimClock()
        engine = build_engine(url, clock)
        try:
            planner = set_up(engine, clock, actions, seed)
            rss = rss_bytes()
            began = time.perf_counter()
            callers = drive(engine, clock, planner, threads)
            seconds = time.perf_counter() - began
            growth = (rss_bytes() - rss) / 2**20
            result = Result(
                kind, threads, planner.issued, sum(len(c.heartbeat_latencies) for c in callers),
                seconds, [x for c in callers for x in c.latencies],
                [x for c in callers for x in c.heartbeat_latencies], growth,
                planner.outcomes.copy(), planner.mix.copy(),
                heartbeat_errors=sum((c.heartbeat_errors for c in callers), Counter()))
            result.shape = festival_shape(engine, planner)
            profile = engine_profile(engine, clock, planner, sample)
            result.engine_profile = profile
            # The floor: one fsync'd transaction per action, as many statements as the
            # engine ran for it (its heartbeat's included).
            per_action = (profile.read_transactions * profile.read_statements
                          + profile.write_transactions * profile.write_statements)
            loops = 1 if cooperative() and kind == "sqlite" else threads  # (see above)
            result.floor = sql_floor(url, Profile(0, 0, 1, per_action, profile.samples),
                                     loops, floor_seconds)
            result.checked, result.problems = check(engine, planner)
        finally:
            engine.close()
    return result


def report(r: Result) -> list[str]:
    ms = 1000
    refused = sum(n for code, n in r.outcomes.items() if code != "accepted")
    lines = [
        f"{r.store}, {r.threads} {CALLER}{'s' if r.threads > 1 else ''}: {r.actions} actions + "
        f"{r.heartbeats} heartbeats in {r.seconds:.1f} s",
        f"  actions     {r.rate:8.0f} /s   p50 {percentile(r.latencies, 0.5) * ms:6.2f} ms"
        f"   p99 {percentile(r.latencies, 0.99) * ms:6.2f} ms",
        f"  heartbeats  {'':8}      p50 {percentile(r.heartbeat_latencies, 0.5) * ms:6.2f} ms"
        f"   p99 {percentile(r.heartbeat_latencies, 0.99) * ms:6.2f} ms",
    ]
    if r.floor is not None and r.engine_profile is not None:
        p = r.engine_profile
        lines += [
            f"  engine per action (heartbeat included): {p.read_transactions:.1f} read txn × "
            f"{p.read_statements:.1f} + {p.write_transactions:.1f} write txn × "
            f"{p.write_statements:.1f} statements",
            f"  floor       {r.floor.ops_per_second:8.0f} /s   ({r.floor.description})",
            f"  ratio       {r.rate / r.floor.ops_per_second:8.2f}×",
        ]
    top = ", ".join(f"{code} {n}" for code, n in r.outcomes.most_common() if code != "accepted")
    mix = ", ".join(f"{a} {n / r.actions:.0%}" for a, n in r.mix.most_common())
    s = r.shape
    lines += [
        f"  outcomes: {r.outcomes['accepted']} accepted, {refused} refused"
        f"{f' ({top})' if top else ''}"
        f"{f'; heartbeat errors {dict(r.heartbeat_errors)}' if r.heartbeat_errors else ''}",
        f"  mix: {mix}",
        f"  shape: hot activity {s['hot_share']:.0%} of participations, 1 first-time "
        f"participant in {s['per_first_time']:.1f}, {s['interaction']:.1f} s of interaction "
        f"per participation",
        f"  RSS growth {r.rss_growth_mb:.1f} MB",
        f"  invariants: {r.checked} activities checked, {len(r.problems)} problems",
    ]
    lines += [f"    {p}" for p in r.problems[:10]]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=None,
                        help="actions per run (default 20000; 200 with --quick)")
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--threads", default=None,
                        help="concurrent callers, one run per comma-separated value "
                             "(default 1,8; 1,32 with --gevent)")
    parser.add_argument("--gevent", action="store_true",
                        help="greenlets instead of threads, as under gunicorn's gevent workers")
    parser.add_argument("--quick", action="store_true", help="a short run, for CI")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    actions = args.actions or (200 if args.quick else 20000)
    stores = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    threads = [int(t) for t in (args.threads or ("1,32" if args.gevent else "1,8")).split(",")]
    print(f"magic-cube festival: {ACTIVITIES} activities, Zipf s={ZIPF_S}, 1 first-time "
          f"participant in {1 / FIRST_TIME:.0f}, {VISIT_SECONDS} s per visit, Python "
          f"{sys.version.split()[0]}, in process, callers are {CALLER}s, seed {args.seed}\n")
    results = []
    for kind in stores:
        for k in threads:
            result = run(kind, k, actions, args.seed, 0.5 if args.quick else 5.0,
                         20 if args.quick else 200)
            print("\n".join(report(result)) + "\n")
            results.append(result)
    # A festival is served concurrently: its figure is the first store's best thread count.
    first = [r for r in results if r.store == stores[0]]
    print(max(first, key=lambda r: r.rate).summary())
    return 1 if any(r.problems for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
