"""A real server for tests about the server itself: the production command
(`gunicorn -c gunicorn.conf.py wsgi:app`) in its own process group, its output in a file.

    with Gunicorn(database_url, workers=2, env={...}) as server:
        requests.get(server.url + "/healthz")
        server.raw(b"GET / HTTP/1.1\\r\\n…")     # bytes the way no HTTP client would send them
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, database_url: str, log_path: Path, workers: int = 2,
                 env: dict[str, str | None] | None = None) -> None:
        """`env` adds to this process's environment; a None value removes the variable."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        merged: dict[str, str | None] = {
            **os.environ, "MAGIC_CUBE_DATABASE_URL": database_url,
            "MAGIC_CUBE_BIND": f"127.0.0.1:{self.port}", "MAGIC_CUBE_WORKERS": str(workers),
            "MAGIC_CUBE_ACCESS_LOG": None, **(env or {})}
        self.env = {name: value for name, value in merged.items() if value is not None}
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Gunicorn:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                 "wsgi:app"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not come up:\n{self.log()}")

    def signal(self, sig: int) -> None:
        """`sig` to the whole process group, as a terminal's Ctrl-C sends SIGINT."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float = 40) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def raw(self, data: bytes, timeout: float = 5) -> bytes:
        """Send `data` on a new connection and read the answer until the server closes it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as conn:
            conn.sendall(data)
            out = b""
            with contextlib.suppress(socket.timeout):
                while chunk := conn.recv(65536):
                    out += chunk
        return out

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
