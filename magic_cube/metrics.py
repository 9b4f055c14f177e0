"""Prometheus metrics: the metric objects and the small functions that record them.

`GET /metrics` (magic_cube/api/ops.py) renders them in the Prometheus text format. Under
gunicorn several worker processes serve one port, so `gunicorn.conf.py` sets
`PROMETHEUS_MULTIPROC_DIR` before any worker imports this module: each process then writes its
values to files there and a scrape, answered by any worker, adds up every process's (gauges as
the sum over live processes). Without that variable (one process: `flask run`, tests) the
metrics live in the default registry, with the process and GC metrics it brings.

Request-level metrics are recorded by the app's WSGI middleware (magic_cube/app.py); actions,
refusals, webhooks and the database pool by the code that knows them, through the functions
below. What every request and action records is added up in the process and written to the
metrics about once a second (see `flush`). Label values are bounded: endpoint names (never raw
paths), template ids and error codes from the catalog, a few results.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

# `*_created` series say when a label set was first seen: noise here, and multiprocess mode
# has none, so that both modes expose the same series.
disable_created_metrics()

log = logging.getLogger(__name__)

PREFIX = "magic_cube"
# Requests take milliseconds; long polls hold up to 25 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 26.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The participant views a mini-program polls (endpoint -> view), see api/participants.py.
POLL_ENDPOINTS = {"participants.ActivityView": "activity", "participants.RoomView": "room",
                  "participants.MeView": "me"}

REQUEST_SECONDS = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer a request, by route (endpoint name) and method; long polls included",
    ["endpoint", "method"], buckets=LATENCY_BUCKETS)
REQUESTS = Counter(
    f"{PREFIX}_http_requests_total", "Requests answered, by route, method and HTTP status",
    ["endpoint", "method", "status"])
POLLS = Counter(
    f"{PREFIX}_polls_total",
    "Polls of a participant view (activity, room, me) by status: 304 = nothing changed",
    ["view", "status"])
LONG_POLLS = Gauge(
    f"{PREFIX}_long_polls_in_flight", "Polls with ?wait>0 being held or answered right now",
    multiprocess_mode="livesum")
ACTIONS = Counter(
    f"{PREFIX}_actions_total",
    "Actions performed, by template, action and result (accepted, refused, replayed)",
    ["template", "action", "result"])
REFUSALS = Counter(
    f"{PREFIX}_refusals_total",
    "Error answers by error code: the API's, the engine's and the templates' refusals",
    ["code"])
WEBHOOK_QUEUE = Gauge(
    f"{PREFIX}_webhook_queue_depth", "Webhook events waiting to be delivered (pending)",
    multiprocess_mode="mostrecent")
WEBHOOK_DELIVERIES = Counter(
    f"{PREFIX}_webhook_deliveries_total",
    "Webhook delivery attempts by result (delivered, failed, dead)", ["result"])
WRITE_BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
WRITE_BATCHES = Histogram(
    f"{PREFIX}_write_batch_actions",
    "Actions (and heartbeats) per write transaction: how many concurrent actions each group "
    "commit shared one commit between", buckets=WRITE_BATCH_BUCKETS)
DB_POOL = Gauge(
    f"{PREFIX}_db_pool_connections",
    "Database connections of the processes' pools, by state (in_use, idle, waiting = requests "
    "waiting for a connection)", ["state"], multiprocess_mode="livesum")


def multiprocess() -> bool:
    """Whether values are shared through files (gunicorn) rather than kept in this process."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: every process's metrics in multiprocess mode."""
    flush()  # this process's; the other workers' are at most FLUSH_SECONDS old
    if multiprocess():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# batched recording -----------------------------------------------------------------------------

# Under gunicorn every increment is a locked write to a memory-mapped file, and a request makes
# three or four: more than the rest of a 304 poll's own work. So what every request and every
# action records is added up here, in plain dicts of this process, and written to the metrics
# together every FLUSH_SECONDS by a background thread (a greenlet under gevent), before this
# process answers a scrape, and when it exits (atexit; gunicorn.conf.py's `worker_exit`). A
# scrape answered by one worker may therefore miss up to the last second of the others.
FLUSH_SECONDS = 1.0

_lock = threading.Lock()
# Emptied by each flush, never replaced: a recorder holds them only under `_lock`.
# (endpoint, method, status) -> [sum of the seconds, count in each latency bucket (+Inf last)]
_requests: dict[Any, list[float]] = {}
_counts: dict[tuple[Any, tuple[str, ...]], float] = {}  # (counter, labels) -> increments
_observed: dict[Any, list[float]] = {}  # (histogram, labels) -> as `_requests`
_flusher: int | None = None  # the process whose flush thread runs


def record_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request; `endpoint` is the route's name (None: no route matched)."""
    key = (endpoint, method if method in METHODS else "OTHER", status)  # a client may send any
    _tally(_requests, key, LATENCY_BUCKETS, seconds)


def _count(counter: Any, labels: tuple[str, ...] = ()) -> None:
    key = (counter, labels)
    with _lock:
        n = _counts.get(key)
        _counts[key] = (n or 0) + 1
    if n is None:  # the first since the last flush: checked once per key and second
        _start_flusher()


def _tally(tallies: dict[Any, list[float]], key: Any, bounds: tuple[float, ...],
           amount: float) -> None:
    """Add `amount` to a histogram's tally: its sum, and one in its bucket (prometheus_client
    counts an amount in the first bucket whose bound is >= it, and makes the buckets
    cumulative when exposed; past the last bound, in +Inf)."""
    with _lock:
        tally = tallies.get(key)
        new = tally is None
        if tally is None:
            tally = tallies[key] = [0.0] * (len(bounds) + 2)
        tally[0] += amount
        tally[1 + bisect_left(bounds, amount)] += 1
    if new:
        _start_flusher()


def flush() -> None:
    """Write what this process has recorded since the last flush to the metrics."""
    with _lock:
        if not _requests and not _counts and not _observed:
            return
        requests, counts, observed = dict(_requests), dict(_counts), dict(_observed)
        _requests.clear()
        _counts.clear()
        _observed.clear()
    for (endpoint, verb, status), tally in requests.items():
        name, code = endpoint or "unmatched", str(status)
        _write(REQUEST_SECONDS.labels(name, verb), tally)
        n = sum(tally[1:])
        REQUESTS.labels(name, verb, code).inc(n)
        view = POLL_ENDPOINTS.get(name)
        if view is not None and verb == "GET":
            POLLS.labels(view, code).inc(n)
    for (counter, labels), n in counts.items():
        (counter.labels(*labels) if labels else counter).inc(n)
    for (histogram, labels), tally in observed.items():
        _write(histogram.labels(*labels) if labels else histogram, tally)


def _write(histogram: Any, tally: list[float]) -> None:
    # The histogram's own values (prometheus_client has kept `_sum` and one value per bucket
    # since its first multiprocess release): `observe` adds one amount at a time.
    histogram._sum.inc(tally[0])
    for bucket, n in zip(histogram._buckets, tally[1:], strict=True):
        if n:
            bucket.inc(n)


def _start_flusher() -> None:
    global _flusher
    with _lock:
        if _flusher == os.getpid():
            return
        _flusher = os.getpid()  # a forked child starts its own
    threading.Thread(target=_flush_forever, name="magic-cube-metrics", daemon=True).start()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # a metric file that cannot be written: keep flushing the next ones
            log.exception("metrics not written")


def _forget_in_child() -> None:
    # A forked process starts with nothing recorded (its parent writes its own) and a lock
    # nobody holds.
    global _lock
    _lock = threading.Lock()
    _requests.clear()
    _counts.clear()
    _observed.clear()


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(flush)


def long_poll_started() -> None:
    LONG_POLLS.inc()


def long_poll_ended() -> None:
    LONG_POLLS.dec()


# actions and refusals --------------------------------------------------------------------------

def record_action(template: str, action: str, result: str) -> None:
    """An action's outcome: `accepted`, `refused` (then also `record_refusal`) or `replayed`."""
    _count(ACTIONS, (template, action, result))


def record_refusal(code: str) -> None:
    """An error body answered with this code (a template's refusal or any other error)."""
    _count(REFUSALS, (code,))


# webhooks and the database pool ----------------------------------------------------------------

def set_webhook_queue_depth(pending: int) -> None:
    WEBHOOK_QUEUE.set(pending)


def record_webhook_delivery(result: str) -> None:
    """One delivery attempt: `delivered`, `failed` (to be retried) or `dead` (given up)."""
    WEBHOOK_DELIVERIES.labels(result).inc()


def record_write_batch(jobs: int) -> None:
    """One write transaction of the group commit, shared by `jobs` callers."""
    _tally(_observed, (WRITE_BATCHES, ()), WRITE_BATCH_BUCKETS, jobs)


def set_db_pool(in_use: int, idle: int, waiting: int = 0) -> None:
    """This process's pool now (psycopg_pool's `get_stats()`: pool_size - pool_available,
    pool_available, requests_waiting)."""
    DB_POOL.labels("in_use").set(in_use)
    DB_POOL.labels("idle").set(idle)
    DB_POOL.labels("waiting").set(waiting)

