"""`magic-cube worker`: run the background worker (timers, webhooks).

Added to the CLI group with `cli.add_command(worker)`. The engine is built by
`create_app()`, exactly as the web app builds it (settings, database, migrations, catalog).
SIGTERM and SIGINT stop it gracefully: the pass under way ends at its next safe point.
`--metrics-port` serves the worker's own metrics (webhook deliveries and queue depth): they
live in this process, which the web app's `/metrics` does not see.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from typing import Any
from wsgiref.simple_server import WSGIServer

import click
from prometheus_client import start_http_server

from magic_cube.worker import Worker


@click.command("worker")
@click.option("--once", is_flag=True, help="Do one pass, print what it did as JSON, and exit")
@click.option("--interval", type=click.FloatRange(min=0), default=None,
              help="Seconds between passes when idle (default: the worker_interval setting)")
@click.option("--database", "-d", envvar="MAGIC_CUBE_DATABASE_URL",
              help="Database URL (default: the database_url setting)")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve this worker's Prometheus metrics at http://HOST:PORT/metrics")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="The address --metrics-port listens on")
def worker(once: bool, interval: float | None, database: str | None, log_level: str,
           metrics_port: int | None, metrics_host: str) -> None:
    """Fire timers at their time and deliver webhooks (several may run at once)."""
    from magic_cube.app import create_app

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app({"SETTINGS": {"database_url": database}} if database else None)
    engine = app.extensions["magic_cube"]
    runner = Worker(engine, interval=interval)
    try:
        if once:
            counts = runner.run_once()
            runner.close()
            click.echo(json.dumps(counts))
            return
        stop = threading.Event()

        def handle(signum: int, _frame: Any) -> None:
            logging.getLogger(__name__).info("%s: stopping after the current pass",
                                             signal.Signals(signum).name)
            stop.set()

        server = None if metrics_port is None else serve_metrics(metrics_host, metrics_port)
        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            runner.run_forever(stop)
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            if server is not None:
                server.shutdown()
                server.server_close()
    finally:
        engine.close()


def serve_metrics(host: str, port: int) -> WSGIServer:
    """This process's metrics in the Prometheus text format, from a thread of its own."""
    server, _thread = start_http_server(port, addr=host)
    logging.getLogger(__name__).info("metrics at http://%s:%d/metrics", host,
                                     server.server_address[1])
    return server
