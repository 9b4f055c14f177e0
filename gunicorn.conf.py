"""Production server settings (`gunicorn -c gunicorn.conf.py wsgi:app`).

gevent workers: a long poll (`?wait=25`) holds a cheap greenlet, not a thread or a process, so
thousands of waiting clients never starve the ones acting. Each worker handles up to
`worker_connections` at once; run about two workers per core. SQLite and PostgreSQL calls are
short and never yield inside a transaction.

Metrics: every worker records into files in `PROMETHEUS_MULTIPROC_DIR`, which a scrape of
`/metrics` on any worker adds up (magic_cube/metrics.py). Unless the variable is set, the
server makes a directory of its own at start and removes it at exit; a given one is emptied at
start, so that a previous run's values never mix in.
"""

import gc
import glob
import json
import multiprocessing
import os
import shutil
import sys
import tempfile

from gunicorn import util

bind = os.environ.get("MAGIC_CUBE_BIND", "127.0.0.1:8000")
worker_class = "gevent"
workers = int(os.environ.get("MAGIC_CUBE_WORKERS", multiprocessing.cpu_count() * 2))
worker_connections = int(os.environ.get("MAGIC_CUBE_WORKER_CONNECTIONS", 1000))
timeout = 60  # above the longest poll (25 s) with room to spare
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("MAGIC_CUBE_ACCESS_LOG")  # "-" for stdout
# gunicorn's default access line, with the request id the app answered with.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" ' \
                    '%({x-request-id}o)s'
# One control socket per user would be shared (and deleted) by every instance on the machine.
control_socket_disable = True

METRICS_DIR_PREFIX = "magic-cube-metrics-"

if os.environ.get("MAGIC_CUBE_LOG_FORMAT", "text").lower() == "json":
    from gunicorn.glogging import Logger

    from magic_cube.logs import JsonFormatter

    class JsonLogger(Logger):
        """gunicorn's own lines (errors, and access lines when asked for) as JSON too."""

        def setup(self, cfg):
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonFormatter())

    logger_class = JsonLogger


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        _remove_orphaned_metrics_dirs()
        # Set before any worker is forked, hence before any imports prometheus_client.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
            prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")


def _remove_orphaned_metrics_dirs():
    """The directories of servers killed without `on_exit` (SIGKILL): their master is gone."""
    pattern = os.path.join(tempfile.gettempdir(), f"{METRICS_DIR_PREFIX}*-*")
    for path in glob.glob(pattern):
        pid = os.path.basename(path)[len(METRICS_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    return True


def on_exit(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(path).startswith(METRICS_DIR_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


def child_exit(server, worker):
    """A worker is gone (in the master): its live gauges (held polls, pool) stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """The app is loaded: what it built (templates, schemas, routes, some 120,000 objects)
    lives as long as the worker, so it is taken out of the garbage collector's sight. A full
    collection then walks only what requests made since, instead of pausing every greenlet
    of the worker for tens of milliseconds every few thousand requests."""
    gc.collect()
    gc.freeze()


def worker_exit(server, worker):
    """Write the worker's last recorded metrics, and close its database pool before it goes
    instead of at interpreter teardown."""
    metrics = sys.modules.get("magic_cube.metrics")
    if metrics is not None:
        metrics.flush()
    app = getattr(worker, "wsgi", None)
    engine = getattr(app, "extensions", {}).get("magic_cube") if app else None
    if engine is not None:
        engine.store.close()


def worker_int(worker):
    """Ctrl-C (SIGINT) or SIGQUIT: gunicorn's quick shutdown. The worker leaves here, pool
    closed, rather than through the SystemExit gunicorn raises next inside a gevent greenlet,
    which gevent reports with a traceback."""
    worker_exit(None, worker)
    os._exit(0)


def _json_error(sock, status_int, reason, mesg):
    """The one error body of the API for the requests gunicorn refuses itself, before the app
    sees them (a header value with a control character, a malformed request line, too many
    headers), instead of gunicorn's HTML page."""
    code = "internal_error" if status_int >= 500 else "bad_request"
    message = mesg
    if mesg == "Invalid HTTP Header: 'IDEMPOTENCY-KEY'":
        code, message = "invalid_idempotency_key", \
            "An Idempotency-Key is 1 to 255 visible ASCII characters"
    body = json.dumps({"error": code, "message": message, "status": status_int}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Cache-Control: no-store\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin-1") + body)


# gunicorn answers those through `util.write_error` (workers/base.py, handle_error).
util.write_error = _json_error
