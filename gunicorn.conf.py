"""Production server settings (`gunicorn -c gunicorn.conf.py wsgi:app`).

gevent workers: a long poll (`?wait=25`) holds a cheap greenlet, not a thread or a process, so
thousands of waiting clients never starve the ones acting. Each worker handles up to
`worker_connections` at once; run about two workers per core. SQLite and PostgreSQL calls are
short and never yield inside a transaction.
"""

import multiprocessing
import os

bind = os.environ.get("MAGIC_CUBE_BIND", "127.0.0.1:8000")
worker_class = "gevent"
workers = int(os.environ.get("MAGIC_CUBE_WORKERS", multiprocessing.cpu_count() * 2))
worker_connections = int(os.environ.get("MAGIC_CUBE_WORKER_CONNECTIONS", 1000))
timeout = 60  # above the longest poll (25 s) with room to spare
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("MAGIC_CUBE_ACCESS_LOG")  # "-" for stdout
# One control socket per user would be shared (and deleted) by every instance on the machine.
control_socket_disable = True


def worker_exit(server, worker):
    """Close the worker's database pool before it goes, instead of at interpreter teardown."""
    app = getattr(worker, "wsgi", None)
    engine = getattr(app, "extensions", {}).get("magic_cube") if app else None
    if engine is not None:
        engine.store.close()
