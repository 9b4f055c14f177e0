"""Prometheus metrics: the metric objects and the small functions that record them.

`GET /metrics` (magic_cube/api/ops.py) renders them in the Prometheus text format. Under
gunicorn several worker processes serve one port, so `gunicorn.conf.py` sets
`PROMETHEUS_MULTIPROC_DIR` before any worker imports this module: each process then writes its
values to files there and a scrape, answered by any worker, adds up every process's (gauges as
the sum over live processes). Without that variable (one process: `flask run`, tests) the
metrics live in the default registry, with the process and GC metrics it brings.

Request-level metrics are recorded by the app's request hooks (magic_cube/app.py); actions,
refusals, webhooks and the database pool by the code that knows them, through the functions
below. Label values are bounded: endpoint names (never raw paths), template ids and error
codes from the catalog, a few results.
"""

from __future__ import annotations

import os
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
WRITE_BATCHES = Histogram(
    f"{PREFIX}_write_batch_actions",
    "Actions (and heartbeats) per write transaction: how many concurrent actions each group "
    "commit shared one commit between", buckets=(1, 2, 4, 8, 16, 32, 64, 128))
DB_POOL = Gauge(
    f"{PREFIX}_db_pool_connections",
    "Database connections of the processes' pools, by state (in_use, idle, waiting = requests "
    "waiting for a connection)", ["state"], multiprocess_mode="livesum")


def multiprocess() -> bool:
    """Whether values are shared through files (gunicorn) rather than kept in this process."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: every process's metrics in multiprocess mode."""
    if multiprocess():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# requests (the app's hooks) --------------------------------------------------------------------

# (endpoint, method, status) -> the labelled series one request touches. Looking a label set
# up costs more than recording into it, and a 304 poll should stay cheap.
_SERIES: dict[tuple[str | None, str, int], tuple[Any, ...]] = {}


def record_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request; `endpoint` is the route's name (None: no route matched)."""
    verb = method if method in METHODS else "OTHER"  # a client may send any token
    series = _SERIES.get((endpoint, verb, status))
    if series is None:
        series = _SERIES[(endpoint, verb, status)] = _series(endpoint, verb, status)
    series[0].observe(seconds)
    for counter in series[1:]:
        counter.inc()


def _series(endpoint: str | None, verb: str, status: int) -> tuple[Any, ...]:
    name = endpoint or "unmatched"
    out: tuple[Any, ...] = (REQUEST_SECONDS.labels(name, verb),
                            REQUESTS.labels(name, verb, str(status)))
    view = POLL_ENDPOINTS.get(name)
    if view is not None and verb == "GET":
        out += (POLLS.labels(view, str(status)),)
    return out


def long_poll_started() -> None:
    LONG_POLLS.inc()


def long_poll_ended() -> None:
    LONG_POLLS.dec()


# actions and refusals --------------------------------------------------------------------------

def record_action(template: str, action: str, result: str) -> None:
    """An action's outcome: `accepted`, `refused` (then also `record_refusal`) or `replayed`."""
    ACTIONS.labels(template, action, result).inc()


def record_refusal(code: str) -> None:
    """An error body answered with this code (a template's refusal or any other error)."""
    REFUSALS.labels(code).inc()


# webhooks and the database pool ----------------------------------------------------------------

def set_webhook_queue_depth(pending: int) -> None:
    WEBHOOK_QUEUE.set(pending)


def record_webhook_delivery(result: str) -> None:
    """One delivery attempt: `delivered`, `failed` (to be retried) or `dead` (given up)."""
    WEBHOOK_DELIVERIES.labels(result).inc()


def record_write_batch(jobs: int) -> None:
    """One write transaction of the group commit, shared by `jobs` callers."""
    WRITE_BATCHES.observe(jobs)


def set_db_pool(in_use: int, idle: int, waiting: int = 0) -> None:
    """This process's pool now (psycopg_pool's `get_stats()`: pool_size - pool_available,
    pool_available, requests_waiting)."""
    DB_POOL.labels("in_use").set(in_use)
    DB_POOL.labels("idle").set(idle)
    DB_POOL.labels("waiting").set(waiting)

