"""The reliability hammer: real servers, concurrent HTTP clients, then every rule checked.

`magic-cube hammer` and `tests/reliability/` share this module. A run:

1. seeds a merchant, one *hot* activity of each bundled template whose stock runs out during
   the run, and a participant token per shopper, through the engine;
2. starts real servers with the production command (`python -m gunicorn -c gunicorn.conf.py
   wsgi:app`, configured by `MAGIC_CUBE_BIND`, `MAGIC_CUBE_WORKERS`,
   `MAGIC_CUBE_DATABASE_URL`), each in its own process group;
3. hammers them over HTTP from threads with `requests.Session`s: lottery draws, group-buy
   starts and joins on a few groups, bargain starts, helps and buys, gift sends and claims,
   mixed with polls (`If-None-Match`) and heartbeats, counting every answer by status, and
   recording every action acknowledged with a 2xx (with its `seq`);
4. checks afterwards, from the database alone: `invariants()` of `tests/engine_helpers.py`
   for each activity (stock ≥ 0, awards = initial − left, no group over its size, no helper
   twice, no gift unit claimed twice, stats equal the action log, outbox equals the events,
   replay equals state), every acknowledged action in the log under its `seq` with its
   participant, params, room and result, and the store's integrity check;
5. measures a bare-SQL floor on the same kind of store: a loop doing, per "action", the same
   transactions with the same number of statements as one action does through the engine
   (counted), with no HTTP, Flask or rules; the hot-activity actions/s is printed as a ratio to
   it. Timing is reported, never asserted.

Topologies: `postgresql` — two app servers on different ports sharing one PostgreSQL schema,
clients spread over both; `sqlite` — one gunicorn with several worker processes on one SQLite
file. `run_crash` kills a server's whole process group with SIGKILL under load, several times,
restarting it each time.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
TEMPLATES = ("lottery", "group_buy", "bargain", "gift")
HOT_ROOMS = 3  # joins, helps and claims go to the newest few open rooms: real contention


def long_mode() -> bool:
    return os.environ.get("MAGIC_CUBE_LONG") == "1"


@dataclass(frozen=True)
class Sizes:
    """How hard a run hammers."""

    clients: int  # concurrent HTTP clients (threads)
    actions: int  # participant actions per topology (polls and heartbeats come on top)
    crashes: int  # kill -9 rounds of the crash scenario
    participants: int  # shoppers with a token
    floor_seconds: float  # length of the bare-SQL floor measurement
    sqlite_workers: int  # gunicorn workers on the SQLite file
    postgres_workers: int  # gunicorn workers of each of the two PostgreSQL servers


SHORT = Sizes(clients=8, actions=600, crashes=3, participants=200, floor_seconds=2.0,
              sqlite_workers=3, postgres_workers=1)
LONG = Sizes(clients=24, actions=12000, crashes=8, participants=3000, floor_seconds=8.0,
             sqlite_workers=3, postgres_workers=2)


def sizes(long: bool | None = None) -> Sizes:
    return LONG if (long_mode() if long is None else long) else SHORT


def hot_configs(actions: int) -> dict[str, dict[str, Any]]:
    """One config per template whose stock runs out well within `actions` actions (a quarter
    of them go to each activity)."""
    per = max(actions // 4, 40)
    return {
        "lottery": {
            "prizes": [{"name": "Mug", "type": "physical", "stock": max(per // 20, 3),
                        "odds": 2500},
                       {"name": "Coupon", "type": "coupon", "stock": max(per // 12, 5),
                        "odds": 3500}],
            "draws_per_day": 5, "draws_total": 5, "extra_draws_max": 2,
        },
        "group_buy": {"product_name": "Tea", "original_price": 10000, "group_price": 6000,
                      "group_size": 3, "stock": max(per // 3, 9), "expiry_hours": 24},
        "bargain": {"product_name": "Kettle", "original_price": 10000, "floor_price": 1000,
                    "helpers_needed": 2, "cut_min": 1000, "cut_max": 8000,
                    "stock": max(per // 10, 3), "helps_per_day": 3},
        "gift": {"gift_name": "Coffee", "mode": "units", "max_shares": 5,
                 "sends_per_day": 3, "receive_per_day": 5},
    }


# servers --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One production server (gunicorn + gevent workers) in its own process group."""

    def __init__(self, database_url: str, workers: int = 2, port: int | None = None,
                 log_dir: str | Path | None = None, env: dict[str, str] | None = None,
                 rate_limits: bool = False) -> None:
        self.database_url = database_url
        self.workers = workers
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir or tempfile.gettempdir()) / f"gunicorn-{self.port}.log"
        # The hammer plays hundreds of shoppers from one IP address: the per-IP abuse limits
        # would answer most of it 429, so they are off unless asked for.
        self.extra_env = {"MAGIC_CUBE_RATE_LIMIT_ENABLED": "1" if rate_limits else "0",
                          **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def command(self) -> list[str]:
        # The production command. `--no-control-socket`: gunicorn ≥ 23 otherwise gives every
        # instance on the machine the same ~/.gunicorn/gunicorn.ctl, and one server stopping
        # would unlink another's (two run at once here, and others may run on the machine).
        return [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                "--no-control-socket", "wsgi:app"]

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_up`)."""
        env = {**os.environ, **self.extra_env,
               "MAGIC_CUBE_BIND": f"127.0.0.1:{self.port}",
               "MAGIC_CUBE_WORKERS": str(self.workers),
               "MAGIC_CUBE_DATABASE_URL": self.database_url}
        env.pop("MAGIC_CUBE_ACCESS_LOG", None)
        log = open(self.log_path, "ab")  # noqa: SIM115 (the child keeps it)
        try:
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        finally:
            log.close()
        self.starts += 1

    def wait_up(self, timeout: float = 90) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server on {self.port} exited with {self.proc.returncode}"
                                   f":\n{self.log_tail()}")
            try:
                if requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server on {self.port} not healthy after {timeout}s:\n"
                           f"{self.log_tail()}")

    def start(self, timeout: float = 90) -> Server:
        self.launch()
        self.wait_up(timeout)
        return self

    def kill(self) -> None:
        """SIGKILL to the whole process group (master and workers): a crash."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reap_group()

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the group), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            self._reap_group()
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap_group()

    def _reap_group(self) -> None:
        """Workers of a killed master may outlive it for a moment: wait until none is left."""
        if self.proc is None:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            time.sleep(0.05)

    def log_errors(self) -> tuple[list[str], int]:
        """(errors the server logged, tracebacks of psycopg_pool's ConnectionPool.__del__
        at worker exit — a pool never closed, finalised under gevent: noise, counted apart)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return [], 0
        lines = text.splitlines()
        pool = "Exception ignored in: <function ConnectionPool.__del__"
        noise = sum(1 for line in lines if line.startswith(pool))
        errors = [f"{self.log_path.name}:{i + 1}: {line}" for i, line in enumerate(lines)
                  if "[ERROR]" in line or "[CRITICAL]" in line or " ERROR " in line
                  or (line.startswith("Traceback") and not (i and lines[i - 1].startswith(pool)))]
        return errors, noise

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# stores ---------------------------------------------------------------------------------

def postgres_base_url() -> str:
    return os.environ.get("MAGIC_CUBE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@contextlib.contextmanager
def fresh_postgres(base_url: str | None = None) -> Iterator[str]:
    """The URL of a fresh schema on the server at `base_url`, dropped afterwards."""
    import psycopg
    from psycopg import sql

    base_url = base_url or postgres_base_url()
    schema = f"mc_hammer_{uuid.uuid4().hex[:12]}"
    try:
        yield with_schema(base_url, schema)
    finally:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def make_engine(database_url: str):
    """An engine built as the app builds it (settings, store options, migrations)."""
    from magic_cube.app import open_app_store
    from magic_cube.catalog import Catalog
    from magic_cube.engine import Engine
    from magic_cube.settings import Settings

    settings = Settings.load({"database_url": database_url})
    store = open_app_store(settings, str(ROOT / "instance"))
    store.migrate()
    return Engine(store, Catalog.discover(), settings)


# seed -----------------------------------------------------------------------------------

@dataclass
class Seed:
    database_url: str
    merchant_id: str
    api_key: str
    activities: dict[str, str]  # template -> activity id
    configs: dict[str, dict[str, Any]]
    tokens: dict[str, str]  # participant -> token

    @property
    def participants(self) -> list[str]:
        return list(self.tokens)


def seed(database_url: str, participants: int, configs: dict[str, dict[str, Any]],
         engine=None) -> Seed:
    """A merchant, one live activity per template with `configs`, and participant tokens."""
    own = engine is None
    engine = engine or make_engine(database_url)
    try:
        merchant, key = engine.create_merchant("Hammer shop")
        activities = {}
        for template in TEMPLATES:
            created = engine.create_activity(merchant, template, copy.deepcopy(configs[template]),
                                             title=f"hot {template}")
            activities[template] = engine.publish(merchant, created["id"])["id"]
        tokens = {f"u{i:05d}": engine.participant_token(merchant, f"u{i:05d}",
                                                         f"Shopper {i}")[0]
                  for i in range(participants)}
    finally:
        if own:
            engine.store.close()
    return Seed(database_url, merchant.id, key, activities, copy.deepcopy(configs), tokens)


# clients --------------------------------------------------------------------------------

@dataclass
class Ack:
    """An action the server acknowledged with a 2xx."""

    template: str
    activity: str
    action: str
    participant: str
    params: dict[str, Any]
    room: str | None
    body: dict[str, Any]


@dataclass
class Tally:
    """Everything the clients saw (thread-safe through `lock`)."""

    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> n
    codes: Counter = field(default_factory=Counter)  # (template.action, error code) -> n
    acks: list[Ack] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # samples of 5xx answers
    transport_errors: int = 0
    unknown: int = 0  # actions sent whose answer never came (the connection broke)
    bad_polls: list[str] = field(default_factory=list)  # polls that broke the ETag rules
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1

    @property
    def actions(self) -> int:
        """Actions sent (answered, or lost in flight); not those refused while down."""
        return sum(n for (k, s), n in self.statuses.items() if k == "action" and s != "refused")

    @property
    def polls(self) -> int:
        return sum(n for (k, _), n in self.statuses.items() if k == "poll")

    @property
    def five_xx(self) -> int:
        return sum(n for (_, s), n in self.statuses.items() if isinstance(s, int) and s >= 500)

    def by_status(self) -> dict[str, int]:
        out: Counter = Counter()
        for (kind, status), n in self.statuses.items():
            out[f"{kind} {status}"] += n
        return dict(sorted(out.items()))


class Rooms:
    """What the clients know of the rooms: the open ones to join, bargains to buy."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, list[tuple[str, str]]] = {t: [] for t in TEMPLATES}  # (room, who)
        self.to_buy: list[tuple[str, str]] = []
        self.all: dict[str, list[str]] = {t: [] for t in TEMPLATES}
        self.initiators: dict[str, str] = {}

    def add(self, template: str, room: str, initiator: str) -> None:
        with self.lock:
            self.open[template].append((room, initiator))
            self.all[template].append(room)
            self.initiators[room] = initiator

    def close(self, template: str, room: str) -> None:
        with self.lock:
            self.open[template] = [r for r in self.open[template] if r[0] != room]

    def hot(self, template: str, rng: random.Random) -> tuple[str, str] | None:
        with self.lock:
            rooms = self.open[template][-HOT_ROOMS:]
            return rng.choice(rooms) if rooms else None

    def count(self, template: str) -> int:
        with self.lock:
            return len(self.open[template])

    def any(self, template: str, rng: random.Random) -> str | None:
        with self.lock:
            rooms = self.all[template]
            return rng.choice(rooms) if rooms else None


class Hammer:
    """Concurrent HTTP clients on the hot activities of `seed`, spread over `urls`.

    With `actions`, the clients stop after that many participant actions in all; with
    `actions=None` they go on until `stop()` (the crash scenario), riding out lost connections.
    """

    def __init__(self, seed: Seed, urls: list[str], clients: int, actions: int | None,
                 poll_ratio: float = 0.45, heartbeat_ratio: float = 0.03,
                 tolerate_disconnects: bool = False, rng_seed: int | None = None) -> None:
        self.seed = seed
        self.urls = urls
        self.clients = clients
        self.budget = actions
        self.poll_ratio = poll_ratio
        self.heartbeat_ratio = heartbeat_ratio
        self.tolerate = tolerate_disconnects or actions is None
        self.rng_seed = random.randrange(2**32) if rng_seed is None else rng_seed
        self.tally = Tally()
        self.rooms = Rooms()
        self._started = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._crashed: list[BaseException] = []
        self.edits: Counter = Counter()  # activity -> live config edits acknowledged
        self.seen: dict[tuple[str, str | None], tuple[str, bytes]] = {}  # view -> last 200
        self.settled_checked = 0
        self.started_at = 0.0
        self.elapsed = 0.0

    # running --------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = time.monotonic()
        for i in range(self.clients + 1):  # the last one is the merchant's backend
            t = threading.Thread(target=self._client_guarded, args=(i,), daemon=True,
                                 name=f"hammer-{i}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> Tally:
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.elapsed = time.monotonic() - self.started_at
        if self._crashed:
            raise RuntimeError(f"a hammer client crashed: {self._crashed[0]!r}") \
                from self._crashed[0]
        return self.tally

    def run(self, timeout: float | None = None) -> Tally:
        self.start()
        try:
            return self.join(timeout)
        finally:
            self.stop()

    def _take(self) -> bool:
        """Claim one action of the budget; False when the run is over."""
        if self._stop.is_set():
            return False
        if self.budget is None:
            return True
        with self.tally.lock:
            if self._started >= self.budget:
                return False
            self._started += 1
            return True

    def _client_guarded(self, index: int) -> None:
        try:
            if index == self.clients:
                self._merchant()
            else:
                self._client(index)
        except BaseException as exc:  # reported by join()
            self._crashed.append(exc)
            self._stop.set()

    def _client(self, index: int) -> None:
        import requests

        rng = random.Random(self.rng_seed * 1000 + index)
        session = requests.Session()
        base = self.urls[index % len(self.urls)]
        etags: dict[str, str] = {}
        people = self.seed.participants
        while True:
            roll = rng.random()
            if roll < self.poll_ratio:
                if self._stop.is_set():
                    break
                self._poll(session, base, rng, people, etags)
                continue
            if roll < self.poll_ratio + self.heartbeat_ratio:
                if self._stop.is_set():
                    break
                template = rng.choice(TEMPLATES)
                self._send(session, "heartbeat", "POST",
                           f"{base}/v1/activities/{self.seed.activities[template]}/heartbeat",
                           rng.choice(people))
                continue
            if not self._take():
                break
            self._act(session, base, rng, rng.choice(TEMPLATES), people)
        session.close()

    def _merchant(self) -> None:
        """The merchant's backend, beside the shoppers: grants extra draws now and then, and
        puts more stock on sale (a live config edit) twice while buyers compete for it."""
        import requests

        rng = random.Random(self.rng_seed * 1000 - 1)
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.seed.api_key}"}
        span = self.budget or 600  # a continuous run tops up every 600 actions
        grant_every = max(span // 25, 10)
        next_grant, top_ups = grant_every, [span // 4, span // 2]
        done = 0
        while not self._stop.is_set() and (self.budget is None or self._started < self.budget):
            sent = self.tally.actions
            base = rng.choice(self.urls)
            if sent >= next_grant:
                next_grant += grant_every
                self._grant(session, base, rng, headers)
            if sent >= top_ups[0] + done * (span if self.budget is None else 0):
                if self.budget is not None:
                    top_ups = top_ups[1:] + [10**12]
                else:
                    done += 1
                for template in ("group_buy", "bargain"):
                    self._top_up(session, base, template, headers)
            time.sleep(0.01)
        session.close()

    def _grant(self, session, base: str, rng: random.Random, headers: dict[str, str]) -> None:
        who = rng.choice(self.seed.participants)
        params = {"count": 1}
        lottery = self.seed.activities["lottery"]
        response = self._send(session, "merchant", "POST",
                              f"{base}/v1/merchant/activities/{lottery}/actions/grant", None,
                              {"participant": who, "params": params}, headers)
        if response is None:
            return
        answer = response.json()
        if response.status_code == 200:
            with self.tally.lock:
                self.tally.acks.append(Ack("lottery", lottery, "grant", who, params, None,
                                           answer))
        else:
            with self.tally.lock:
                self.tally.codes[("lottery.grant", answer.get("error", "?"))] += 1

    def _top_up(self, session, base: str, template: str, headers: dict[str, str]) -> None:
        """GET the config, raise its stock, PATCH it back (the whole config, as documented)."""
        activity = self.seed.activities[template]
        url = f"{base}/v1/merchant/activities/{activity}"
        response = self._send(session, "merchant", "GET", url, None, headers=headers)
        if response is None or response.status_code != 200:
            return
        config = response.json()["config"]
        config["stock"] += 3 if template == "bargain" else 5
        response = self._send(session, "merchant", "PATCH", url, None, {"config": config},
                              headers)
        if response is None:
            return
        if response.status_code == 200:
            with self.tally.lock:
                self.edits[activity] += 1
        else:
            with self.tally.lock:
                self.tally.codes[(f"{template}.PATCH", response.json().get("error", "?"))] += 1

    # requests -------------------------------------------------------------------------

    def _send(self, session, kind: str, method: str, url: str, participant: str | None,
              body: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        import requests

        headers = dict(headers or {})
        if participant is not None:
            headers["Authorization"] = f"Bearer {self.seed.tokens[participant]}"
        try:
            response = session.request(method, url, json=body, headers=headers,
                                       timeout=(5, 90))
        except requests.RequestException as exc:
            # Refused: the request never reached a server (it is down). Otherwise the
            # connection broke with the request sent: its outcome is unknown.
            refused = "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc)
            with self.tally.lock:
                self.tally.transport_errors += 1
                if kind == "action" and not refused:
                    self.tally.unknown += 1
                self.tally.statuses[(kind, "refused" if refused else "error")] += 1
            if not self.tolerate:
                self.tally.server_errors.append(f"{method} {url}: {exc!r}")
            time.sleep(0.1)  # the server is restarting, or gone: do not spin
            return None
        self.tally.count(kind, response.status_code)
        if response.status_code >= 500:
            with self.tally.lock:
                if len(self.tally.server_errors) < 50:
                    self.tally.server_errors.append(
                        f"{method} {url} -> {response.status_code} {response.text[:300]}")
        return response

    def _poll(self, session, base: str, rng: random.Random, people: list[str],
              etags: dict[str, str]) -> None:
        template = rng.choice(TEMPLATES)
        activity = self.seed.activities[template]
        who = rng.choice(people)
        choice = rng.random()
        if choice < 0.05:  # a long poll: held until the next change (or 2 s)
            url, participant = f"{base}/v1/activities/{activity}?wait=2", None
        elif choice < 0.5:
            url, participant = f"{base}/v1/activities/{activity}", None
        elif choice < 0.75:
            url, participant = f"{base}/v1/activities/{activity}/me", who
        else:
            room = self.rooms.any(template, rng)
            if room is None:
                url, participant = f"{base}/v1/activities/{activity}", None
            else:
                url, participant = f"{base}/v1/activities/{activity}/rooms/{room}", who
        key = f"{url}|{participant}"
        headers = {"If-None-Match": etags[key]} if key in etags else {}
        response = self._send(session, "poll", "GET", url, participant, headers=headers)
        if response is None:
            return
        etag = response.headers.get("ETag")
        if response.status_code in (200, 304) and not etag:
            self.tally.bad_polls.append(f"GET {url} -> {response.status_code} without ETag")
        if response.status_code == 304:
            if response.content:
                self.tally.bad_polls.append(f"GET {url} -> 304 with a body")
            if etag != etags.get(key):
                self.tally.bad_polls.append(f"GET {url} -> 304 with ETag {etag} != sent "
                                            f"{etags.get(key)}")
        if response.status_code == 200 and etag:
            etags[key] = etag
            with self.tally.lock:
                self.seen[(url, participant)] = (etag, response.content)

    def check_settled_polls(self, limit: int = 300) -> int:
        """Once the clients have stopped: every view a client saw, polled again with its last
        ETag. A 304 says nothing changed since, so the body it stands for must be exactly
        what a fresh full read returns now — else an ETag failed to move with its view and a
        client would keep showing stale data. Returns how many views were checked."""
        import requests

        session = requests.Session()
        checked = 0
        for (url, participant), (etag, body) in list(self.seen.items())[-limit:]:
            headers = {"Authorization": f"Bearer {self.seed.tokens[participant]}"} \
                if participant else {}
            plain_url = url.split("?")[0]
            again = session.get(plain_url, headers={**headers, "If-None-Match": etag},
                                timeout=30)
            if again.status_code != 304:
                continue
            fresh = session.get(plain_url, headers=headers, timeout=30)
            checked += 1
            if fresh.headers.get("ETag") != etag or json.loads(fresh.content) != json.loads(body):
                self.tally.bad_polls.append(
                    f"GET {plain_url} ({participant}): 304 for ETag {etag}, but the view is "
                    f"now {fresh.headers.get('ETag')} {fresh.content[:200]!r}, was "
                    f"{body[:200]!r}")
        session.close()
        self.settled_checked = checked
        return checked

    def _act(self, session, base: str, rng: random.Random, template: str,
             people: list[str]) -> None:
        activity = self.seed.activities[template]
        who = rng.choice(people)
        room = None
        params: dict[str, Any] = {}
        rooms = self.rooms
        if template == "lottery":
            action = "draw"
        elif template == "group_buy":
            hot = rooms.hot(template, rng)
            if hot is None or (rooms.count(template) < HOT_ROOMS and rng.random() < 0.5) \
                    or rng.random() < 0.25:
                action = "start"
            else:
                action, room = "join", hot[0]
        elif template == "bargain":
            hot = rooms.hot(template, rng)
            with rooms.lock:
                buyable = rooms.to_buy[-HOT_ROOMS:]
            if buyable and rng.random() < 0.5:
                action, (room, who) = "buy", rng.choice(buyable)
            elif hot is None or (rooms.count(template) < HOT_ROOMS and rng.random() < 0.5) \
                    or rng.random() < 0.2:
                action = "start"
            else:
                action, room = "help", hot[0]
        else:
            hot = rooms.hot(template, rng)
            if hot is None or (rooms.count(template) < HOT_ROOMS and rng.random() < 0.5) \
                    or rng.random() < 0.25:
                action, params = "send", {"shares": rng.randint(1, 4)}
            else:
                action, room = "claim", hot[0]
        body: dict[str, Any] = {}
        if params:
            body["params"] = params
        if room is not None:
            body["room"] = room
        response = self._send(session, "action", "POST",
                              f"{base}/v1/activities/{activity}/actions/{action}", who, body)
        if response is None:
            return
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if 200 <= response.status_code < 300:
            with self.tally.lock:
                self.tally.acks.append(Ack(template, activity, action, who, params, room,
                                           answer))
            result = answer.get("result") or {}
            if action in ("start", "send"):
                rooms.add(template, answer["room"], who)
            elif action == "join" and result.get("succeeded"):
                rooms.close(template, room)
            elif action == "help" and result.get("completed"):
                rooms.close(template, room)
                with rooms.lock:
                    rooms.to_buy.append((room, rooms.initiators.get(room, who)))
            elif action == "claim" and result.get("shares_left") == 0:
                rooms.close(template, room)
            elif action == "buy":
                with rooms.lock:
                    rooms.to_buy = [r for r in rooms.to_buy if r[0] != room]
        else:
            code = answer.get("error", "?") if isinstance(answer, dict) else "?"
            with self.tally.lock:
                self.tally.codes[(f"{template}.{action}", code)] += 1
            if code in ("group_full", "room_full", "room_closed", "pack_empty"):
                rooms.close(template, room)
            if action == "buy":
                with rooms.lock:
                    rooms.to_buy = [r for r in rooms.to_buy if r[0] != room]


# verification ---------------------------------------------------------------------------

def load_invariants() -> Callable[..., list[str]] | None:
    """`invariants(engine, activity_id)` from tests/engine_helpers.py (the one checker of the
    design's rules), loaded from the checkout; None when the tests are not there."""
    module = sys.modules.get("engine_helpers")
    if module is None:
        path = ROOT / "tests" / "engine_helpers.py"
        if not path.exists():
            return None
        spec = importlib.util.spec_from_file_location("engine_helpers", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["engine_helpers"] = module
        spec.loader.exec_module(module)
    return module.invariants


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    activities_checked: int = 0  # invariants() + replay, per activity
    acks_matched: int = 0  # acknowledged actions found in the log as answered
    integrity_checks: int = 0
    logged_actions: int = 0
    left: dict[str, Any] = field(default_factory=dict)  # template -> stock left
    invariants_source: str = "tests/engine_helpers.invariants"

    @property
    def invariants_checked(self) -> int:
        return self.activities_checked + self.acks_matched + self.integrity_checks


def read_log(engine, activity_id: str) -> list:
    log: list = []
    with engine.store.transaction(write=False) as tx:
        while True:
            batch = tx.list_actions(activity_id, log[-1].seq if log else 0, 1000)
            if not batch:
                return log
            log += batch


def verify(seed: Seed, acks: list[Ack], exact: bool, engine=None,
           edits: Counter | None = None) -> Verification:
    """Check every rule from the database alone. `exact`: no answer was lost, so the log's
    participant and merchant actions (and live config edits, `edits` per activity) must be
    exactly the acknowledged ones; otherwise at least those."""
    from magic_cube.api.times import iso_times
    from magic_cube.engine.replay import replay

    out = Verification()
    invariants = load_invariants()
    own = engine is None
    engine = engine or make_engine(seed.database_url)
    try:
        for template, activity_id in seed.activities.items():
            if invariants is not None:
                problems = invariants(engine, activity_id)
            else:
                out.invariants_source = "replay only (tests/engine_helpers.py not found)"
                problems = [f"replay: {d}" for d in replay(engine, activity_id)]
            out.problems += [f"{template}: {p}" for p in problems]
            out.activities_checked += 1
            log = read_log(engine, activity_id)
            out.logged_actions += len(log)
            by_seq = {e.seq: e for e in log}
            mine = [a for a in acks if a.activity == activity_id]
            for ack in mine:
                problem = _match(ack, by_seq.get(ack.body.get("seq")), iso_times)
                if problem:
                    out.problems.append(f"{template}: acknowledged {ack.action} by "
                                        f"{ack.participant} (seq {ack.body.get('seq')}): "
                                        f"{problem}")
                else:
                    out.acks_matched += 1
            configs = sum(1 for e in log if e.action == "$config")
            wanted = (edits or Counter())[activity_id]
            if configs < wanted or (exact and configs != wanted):
                out.problems.append(f"{template}: {configs} config edits logged, {wanted} "
                                    f"acknowledged")
            if exact:
                logged = {e.seq for e in log if e.actor_kind in ("participant", "merchant")
                          and not e.action.startswith("$")}
                acked = {a.body.get("seq") for a in mine}
                if logged != acked:
                    out.problems.append(
                        f"{template}: logged actions without a 2xx answer: "
                        f"{sorted(logged - acked)[:10]}; answered but not logged: "
                        f"{sorted(acked - logged)[:10]}")
            with engine.store.transaction(write=False) as tx:
                state = tx.get_activity(activity_id).state
            out.left[template] = (state.get("stock") if template != "gift"
                                  else {"sent": state.get("sent"),
                                        "claimed": state.get("claimed")})
        verdict = engine.store.integrity_check()
        out.integrity_checks += 1
        if verdict != "ok":
            out.problems.append(f"integrity_check: {verdict}")
    finally:
        if own:
            engine.store.close()
    return out


def _match(ack: Ack, entry, iso_times) -> str | None:
    if entry is None:
        return "not in the action log"
    want_room = ack.body.get("room")
    got_room = entry.new_room_id or entry.room_id
    checks = [
        ("action", entry.action, ack.action),
        ("participant", entry.participant_id, ack.participant),
        ("params", entry.params, ack.params),
        ("room", got_room, want_room),
        ("room asked", entry.room_id, ack.room),
        ("result", iso_times(entry.result), ack.body.get("result")),
        ("events", [e["type"] for e in entry.events], ack.body.get("events")),
    ]
    wrong = [f"{name} logged {got!r} != answered {want!r}" for name, got, want in checks
             if got != want]
    return "; ".join(wrong) or None


# the bare-SQL floor -----------------------------------------------------------------------

@dataclass
class Profile:
    """Transactions and statements of one action as the app runs it (averaged)."""

    read_transactions: float
    read_statements: float
    write_transactions: float
    write_statements: float
    samples: int

    def describe(self) -> str:
        return (f"{self.read_transactions:.1f} read txn × {self.read_statements:.1f} stmts + "
                f"{self.write_transactions:.1f} write txn × {self.write_statements:.1f} stmts")


class _CountingCursor:
    def __init__(self, cursor, tally: list[int]) -> None:
        self._cursor = cursor
        self._tally = tally

    def execute(self, *args: Any, **kwargs: Any):
        self._tally[0] += 1
        self._cursor.execute(*args, **kwargs)
        return self._cursor

    def executemany(self, query: str, rows: Any, *args: Any, **kwargs: Any):
        rows = list(rows)
        self._tally[0] += len(rows)
        return self._cursor.executemany(query, rows, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _CountingConnection:
    """A DB-API connection (sqlite3 or psycopg) that counts the statements run through it."""

    def __init__(self, conn, tally: list[int]) -> None:
        self._conn = conn
        self._tally = tally

    def execute(self, *args: Any, **kwargs: Any):
        self._tally[0] += 1
        return self._conn.execute(*args, **kwargs)

    def executemany(self, query: str, rows: Any, *args: Any, **kwargs: Any):
        rows = list(rows)
        self._tally[0] += len(rows)
        return self._conn.executemany(query, rows, *args, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any):
        return _CountingCursor(self._conn.cursor(*args, **kwargs), self._tally)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def count_statements(store) -> list[tuple[bool, int]]:
    """Make `store` record (write?, statements) of every transaction it runs from now on."""
    record: list[tuple[bool, int]] = []
    original = store.transaction

    @contextlib.contextmanager
    def counted(write: bool = True):
        with original(write) as tx:
            tally = [0]
            tx.conn = _CountingConnection(tx.conn, tally)
            try:
                yield tx
            finally:
                record.append((write, tally[0]))

    store.transaction = counted
    return record


def statement_profile(database_url: str, configs: dict[str, dict[str, Any]],
                      actions: int = 60) -> Profile:
    """Run a sample of the hammer's actions through the engine, as the API does
    (authenticate, then act), on an empty database at `database_url`, counting statements."""
    from magic_cube.engine import EngineError

    engine = make_engine(database_url)
    try:
        data = seed(database_url, 40, configs, engine=engine)
        record = count_statements(engine.store)
        rng = random.Random(7)
        rooms: dict[str, list[tuple[str, str]]] = {t: [] for t in TEMPLATES}
        per_action: list[list[tuple[bool, int]]] = []
        people = data.participants
        for i in range(actions):
            template = TEMPLATES[i % 4]
            who = rng.choice(people)
            room, params, action = None, {}, None
            mine = rooms[template]
            if template == "lottery":
                action = "draw"
            elif not mine or rng.random() < 0.3:
                action = {"group_buy": "start", "bargain": "start", "gift": "send"}[template]
                params = {"shares": 3} if template == "gift" else {}
            else:
                action = {"group_buy": "join", "bargain": "help", "gift": "claim"}[template]
                room = mine[-1][0]
            start = len(record)
            try:
                participant = engine.authenticate_participant(data.activities[template],
                                                              data.tokens[who])
                answer = engine.act(data.activities[template], action, participant, params,
                                    room)
            except EngineError:
                continue
            per_action.append(record[start:])
            if answer.status == 200 and action in ("start", "send"):
                mine.append((answer.body["room"], who))
        reads = [sum(1 for w, _ in a if not w) for a in per_action]
        writes = [sum(1 for w, _ in a if w) for a in per_action]
        read_stmts = [n for a in per_action for w, n in a if not w]
        write_stmts = [n for a in per_action for w, n in a if w]

        def mean(xs: list[float]) -> float:
            return sum(xs) / len(xs) if xs else 0.0

        return Profile(mean(reads), mean(read_stmts), mean(writes), mean(write_stmts),
                       len(per_action))
    finally:
        engine.store.close()


FLOOR_DDL = [
    "CREATE TABLE floor_hot (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL)",
    "CREATE TABLE floor_part (hot INTEGER NOT NULL, pid TEXT NOT NULL, n INTEGER NOT NULL, "
    "state TEXT NOT NULL, PRIMARY KEY (hot, pid))",
    "CREATE TABLE floor_log (hot INTEGER NOT NULL, seq INTEGER NOT NULL, pid TEXT NOT NULL, "
    "data TEXT NOT NULL, PRIMARY KEY (hot, seq))",
]
_PAYLOAD = json.dumps({"stock": [3, 5], "draws": 120, "wins": 8, "note": "x" * 200})


class _FloorOps:
    """The statements of the floor loop, in one dialect (`?` or `%s` placeholders)."""

    def __init__(self, postgres: bool) -> None:
        p = "%s" if postgres else "?"
        lock = " FOR NO KEY UPDATE" if postgres else ""
        self.lock_hot = f"SELECT id, seq, state FROM floor_hot WHERE id = {p}{lock}"
        self.read_hot = f"SELECT id, seq, state FROM floor_hot WHERE id = {p}"
        self.read_part = f"SELECT n, state FROM floor_part WHERE hot = {p} AND pid = {p}"
        self.bump = f"UPDATE floor_hot SET seq = seq + 1, state = {p} WHERE id = {p}"
        self.log = (f"INSERT INTO floor_log (hot, seq, pid, data) VALUES ({p}, "
                    f"(SELECT seq FROM floor_hot WHERE id = {p}), {p}, {p})")
        self.part = (f"INSERT INTO floor_part (hot, pid, n, state) VALUES ({p}, {p}, 1, {p}) "
                     f"ON CONFLICT (hot, pid) DO UPDATE SET n = floor_part.n + 1, "
                     f"state = excluded.state")

    def write(self, hot: int, pid: str, n: int) -> list[tuple[str, tuple]]:
        """`n` statements: lock the hot row, then writes and reads like an action's."""
        cycle = [(self.read_part, (hot, pid)), (self.bump, (_PAYLOAD, hot)),
                 (self.log, (hot, hot, pid, _PAYLOAD)), (self.part, (hot, pid, _PAYLOAD)),
                 (self.read_hot, (hot,))]
        out = [(self.lock_hot, (hot,))]
        i = 0
        while len(out) < n:
            out.append(cycle[i % len(cycle)])
            i += 1
        # The log insert must come after a bump (its seq is new): keep it so.
        if not any(q is self.bump for q, _ in out):
            out = [(q, a) for q, a in out if q is not self.log]
            while len(out) < n:
                out.append((self.read_hot, (hot,)))
        return out[:max(n, 1)]

    def read(self, hot: int, pid: str, n: int) -> list[tuple[str, tuple]]:
        cycle = [(self.read_hot, (hot,)), (self.read_part, (hot, pid))]
        return [cycle[i % 2] for i in range(max(n, 1))]


@dataclass
class Floor:
    ops_per_second: float
    ops: int
    seconds: float
    threads: int
    profile: Profile
    description: str


def _rounded(x: float) -> int:
    return max(int(round(x)), 0)


def sql_floor(database_url: str, profile: Profile, threads: int, seconds: float) -> Floor:
    """The bare-SQL floor on the store at `database_url` (a SQLite file path URL, or a
    PostgreSQL URL): `threads` loops, each "action" = the profile's transactions with the same
    number of statements, on four hot rows, no HTTP, no Flask, no rules."""
    postgres = database_url.startswith(("postgresql://", "postgres://"))
    ops = _FloorOps(postgres)
    reads = _rounded(profile.read_transactions)
    read_n = _rounded(profile.read_statements)
    writes = max(_rounded(profile.write_transactions), 1)
    write_n = max(_rounded(profile.write_statements), 1)
    stop = threading.Event()
    counts = [0] * threads
    failures: list[BaseException] = []

    if postgres:
        import psycopg

        from magic_cube.store.postgres import split_url

        conninfo, options = split_url(database_url)
        schema = options.get("schema")

        def connect():
            conn = psycopg.connect(conninfo, autocommit=True)
            if schema:
                conn.execute(f'SET search_path TO "{schema}"')
            return conn

        def transaction(conn, write: bool, statements: list[tuple[str, tuple]]) -> None:
            level = (psycopg.IsolationLevel.READ_COMMITTED if write
                     else psycopg.IsolationLevel.REPEATABLE_READ)
            if conn.isolation_level != level:
                conn.isolation_level = level
            if conn.read_only != (not write):
                conn.read_only = not write
            with conn.transaction():
                for query, args in statements:
                    conn.execute(query, args).fetchall() if query.startswith("SELECT") \
                        else conn.execute(query, args)

        with connect() as conn:
            if schema:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                conn.execute(f'SET search_path TO "{schema}"')
            for ddl in FLOOR_DDL:
                conn.execute(ddl.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
            conn.execute("TRUNCATE floor_hot, floor_part, floor_log")
            for hot in range(4):
                conn.execute("INSERT INTO floor_hot VALUES (%s, 0, %s)", (hot, _PAYLOAD))
    else:
        path = database_url.removeprefix("sqlite:///").removeprefix("sqlite://")
        floor_path = str(Path(path).with_name(Path(path).stem + "-floor.db"))
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(floor_path + suffix)

        from magic_cube.settings import Settings

        settings = Settings.load({"database_url": database_url})

        def connect():
            conn = sqlite3.connect(floor_path, timeout=settings.sqlite_busy_timeout_ms / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(settings.sqlite_busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {settings.sqlite_synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn

        def transaction(conn, write: bool, statements: list[tuple[str, tuple]]) -> None:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                for query, args in statements:
                    conn.execute(query, args).fetchall()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        conn = connect()
        for ddl in FLOOR_DDL:
            conn.execute(ddl)
        for hot in range(4):
            conn.execute("INSERT INTO floor_hot VALUES (?, 0, ?)", (hot, _PAYLOAD))
        conn.close()

    def loop(index: int) -> None:
        rng = random.Random(index)
        try:
            conn = connect()
            try:
                while not stop.is_set():
                    hot = rng.randrange(4)
                    pid = f"u{rng.randrange(200):05d}"
                    for _ in range(reads):
                        transaction(conn, False, ops.read(hot, pid, read_n))
                    for _ in range(writes):
                        transaction(conn, True, ops.write(hot, pid, write_n))
                    counts[index] += 1
            finally:
                conn.close()
        except BaseException as exc:
            failures.append(exc)
            stop.set()

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    began = time.monotonic()
    for t in workers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in workers:
        t.join(60)
    elapsed = time.monotonic() - began
    if not postgres:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(floor_path + suffix)
    if failures:
        raise RuntimeError(f"the SQL floor loop failed: {failures[0]!r}") from failures[0]
    total = sum(counts)
    driver = "psycopg" if postgres else "sqlite3"
    return Floor(total / elapsed, total, elapsed, threads, profile,
                 f"{driver}, {threads} threads, per action {profile.describe()}")


# runs -----------------------------------------------------------------------------------

@dataclass
class Report:
    """What one hammered topology saw and what was checked afterwards."""

    store: str
    topology: str
    clients: int
    tally: Tally
    verification: Verification
    elapsed: float
    floor: Floor | None = None
    crashes: int = 0
    edits: Counter = field(default_factory=Counter)
    settled_checked: int = 0
    server_log_errors: list[str] = field(default_factory=list)
    pool_finaliser_noise: int = 0  # see Server.log_errors

    def read_logs(self, servers: list[Server]) -> Report:
        for server in servers:
            errors, noise = server.log_errors()
            self.server_log_errors += errors
            self.pool_finaliser_noise += noise
        return self

    @property
    def actions_per_second(self) -> float:
        answered = self.tally.actions - self.tally.statuses.get(("action", "error"), 0)
        return answered / self.elapsed if self.elapsed else 0.0

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor.ops_per_second:
            return None
        return self.actions_per_second / self.floor.ops_per_second

    def failures(self) -> list[str]:
        out = list(self.verification.problems)
        if self.tally.five_xx:
            out.append(f"{self.tally.five_xx} 5xx answers: {self.tally.server_errors[:5]}")
        if self.tally.bad_polls:
            out.append(f"{len(self.tally.bad_polls)} polls broke the ETag rules: "
                       f"{self.tally.bad_polls[:5]}")
        if self.server_log_errors:
            out.append(f"{len(self.server_log_errors)} errors in the server logs: "
                       f"{self.server_log_errors[:5]}")
        if not self.crashes and self.tally.transport_errors:
            out.append(f"{self.tally.transport_errors} requests lost: "
                       f"{self.tally.server_errors[:5]}")
        return out

    def lines(self) -> list[str]:
        t, v = self.tally, self.verification
        out = [f"{self.store} — {self.topology}",
               f"  actions hammered: {t.actions} ({len(t.acks)} acknowledged 2xx), "
               f"polls: {t.polls}, in {self.elapsed:.1f}s",
               f"  answers: {json.dumps(t.by_status())}",
               f"  merchant: {sum(1 for a in t.acks if a.action == 'grant')} grants, "
               f"{sum(self.edits.values())} live stock top-ups acknowledged",
               f"  refusals: {json.dumps(_top(t.codes))}",
               f"  invariants checked: {v.invariants_checked} ({v.activities_checked} "
               f"activities × invariants()+replay [{v.invariants_source}], "
               f"{v.acks_matched} acknowledged actions matched in the log of "
               f"{v.logged_actions}, {v.integrity_checks} integrity check)",
               f"  stock left: {json.dumps(v.left)}"]
        if not self.crashes:
            out.insert(5, f"  settled polls: {self.settled_checked} views answered 304 after "
                          f"the run, checked against a fresh read")
        if self.crashes:
            out.append(f"  crashes survived: {self.crashes} (kill -9 of the process group); "
                       f"{t.unknown} actions in flight lost their answer, "
                       f"{t.statuses.get(('action', 'refused'), 0)} refused while down")
        if self.floor is not None:
            out.append(f"  throughput: {self.actions_per_second:.0f} hot actions/s (with polls "
                       f"mixed in) vs "
                       f"bare-SQL floor {self.floor.ops_per_second:.0f}/s "
                       f"({self.floor.description}) = {self.ratio:.2f}×")
        if self.pool_finaliser_noise:
            out.append(f"  note: {self.pool_finaliser_noise} workers logged psycopg_pool's "
                       f"ConnectionPool.__del__ failing at exit (the pool is never closed)")
        problems = self.failures()
        out.append(f"  problems: {len(problems)}")
        out += [f"    - {p}" for p in problems[:20]]
        return out


def _top(counter: Counter, n: int = 12) -> dict[str, int]:
    return {f"{k[0]} {k[1]}": v for k, v in counter.most_common(n)}


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


# the command ----------------------------------------------------------------------------

@click.command("hammer")
@click.option("--store", type=click.Choice(["sqlite", "postgresql", "both"]), default="both",
              show_default=True, help="Which topology to hammer")
@click.option("--database-url", default=None,
              help="PostgreSQL server to use (a fresh schema is created and dropped); default "
                   "MAGIC_CUBE_TEST_POSTGRES_URL or " + DEFAULT_POSTGRES_URL)
@click.option("--clients", type=click.IntRange(min=1), default=None,
              help="Concurrent HTTP clients (default: 8, 24 with --long)")
@click.option("--actions", type=click.IntRange(min=40), default=None,
              help="Participant actions per topology (default: 600, 12000 with --long)")
@click.option("--crash", "crashes", type=click.IntRange(min=0), default=0,
              help="Also kill -9 a server N times under load and check nothing acknowledged "
                   "was lost")
@click.option("--long", "long_", is_flag=True, help="The long run (as MAGIC_CUBE_LONG=1)")
@click.option("--no-floor", is_flag=True, help="Skip the bare-SQL throughput floor")
def hammer(store: str, database_url: str | None, clients: int | None, actions: int | None,
           crashes: int, long_: bool, no_floor: bool) -> None:
    """Hammer real servers over HTTP, then check every correctness rule."""
    size = sizes(long_ or None)
    stores = ["sqlite", "postgresql"] if store == "both" else [store]
    if "postgresql" in stores:
        import psycopg

        try:
            psycopg.connect(database_url or postgres_base_url(), connect_timeout=5).close()
        except psycopg.Error as exc:
            raise click.ClickException(f"PostgreSQL at {database_url or postgres_base_url()} "
                                       f"is unreachable: {exc}") from exc
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="mc-hammer-") as tmp:
        for kind in stores:
            click.echo(f"hammering {kind} …", err=True)
            if kind == "sqlite":
                reports.append(run_sqlite(Path(tmp) / "sqlite", size, clients, actions,
                                          floor=not no_floor))
                if crashes:
                    reports.append(run_crash(f"sqlite:///{Path(tmp) / 'crash.db'}",
                                             Path(tmp) / "crash", crashes, size, clients))
            else:
                with fresh_postgres(database_url) as url, fresh_postgres(database_url) as prof:
                    reports.append(run_postgres(url, prof, Path(tmp) / "pg", size, clients,
                                                actions, floor=not no_floor))
                if crashes:
                    with fresh_postgres(database_url) as url:
                        reports.append(run_crash(url, Path(tmp) / "pg-crash", crashes, size,
                                                 clients))
    for report in reports:
        click.echo("\n".join(report.lines()))
    total_actions = sum(r.tally.actions for r in reports)
    total_checks = sum(r.verification.invariants_checked for r in reports)
    survived = sum(r.crashes for r in reports)
    failures = sum(len(r.failures()) for r in reports)
    click.echo(f"total: {total_actions} actions hammered, {total_checks} invariants checked, "
               f"{survived} crashes survived, {failures} problems")
    for r in reports:
        if r.ratio is not None:
            click.echo(f"throughput {r.store}: {r.ratio:.2f}× the bare-SQL floor "
                       f"({r.actions_per_second:.0f} vs {r.floor.ops_per_second:.0f} per s)")
    if failures:
        raise SystemExit(1)
