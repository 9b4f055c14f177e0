"""Real servers for the hammer: the production command, each in its own process group, so
that a crash (SIGKILL to the group) takes down the master and its workers together."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: gunicorn.conf.py, wsgi.py


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
