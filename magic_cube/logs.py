"""Log lines: the request they belong to, and JSON lines as an option (`log_format = json`).

Every request has an id: the client's (or the proxy's) `X-Request-Id` when it is a sane token,
else a new one. The app echoes it in the `X-Request-Id` response header and keeps it in
`REQUEST_ID` while the request runs (a context variable: one per greenlet under gevent), so
that every line logged for the request carries it. `JsonFormatter` writes one JSON object per
line; gunicorn.conf.py gives it to gunicorn's own loggers too, whose access lines then carry
the id from the response header.

Only the standard library here: gunicorn's master process imports this module.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

LOG_FORMATS = ("text", "json")
REQUEST_ID: ContextVar[str | None] = ContextVar("magic_cube_request_id", default=None)
# What a proxy or a client may send: UUIDs, hex, base64, trace ids. Anything else (too long,
# spaces, control characters) could forge log lines or headers: a fresh id replaces it.
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def request_id_for(header: str | None) -> str:
    """The id of a request whose `X-Request-Id` header is `header` (None when absent)."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return os.urandom(16).hex()  # 128 random bits, like a UUID4's hex, at a quarter of its cost


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, request_id when there is
    one, the traceback as `exc_info`; for gunicorn's access lines, the request's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            out.update(_access_fields(record.args))
        else:
            out["message"] = record.getMessage()
            request_id = REQUEST_ID.get()
            if request_id:
                out["request_id"] = request_id
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc_info"] = record.exc_text
        return json.dumps(out, ensure_ascii=False, default=str)


def _access_fields(atoms: Mapping[str, Any]) -> dict[str, Any]:
    """gunicorn's access-log atoms as named fields (they are logged after the app has
    answered, so the request id comes from the response header)."""
    status = str(atoms.get("s") or "").split(" ")[0]
    out: dict[str, Any] = {
        "message": f"{atoms.get('m')} {atoms.get('U')} {status}",
        "remote": atoms.get("h"), "method": atoms.get("m"), "path": atoms.get("U"),
        "query": atoms.get("q") or "", "status": int(status) if status.isdigit() else status,
        "bytes": atoms.get("B"), "duration_ms": round((atoms.get("D") or 0) / 1000, 3),
        "user_agent": atoms.get("a"),
    }
    request_id = atoms.get("{x-request-id}o")
    if request_id:
        out["request_id"] = request_id
    return out


def use_json(*loggers: logging.Logger) -> None:
    """JSON lines from the root logger (everything that propagates to it: the app's and the
    engine's lines) and from `loggers`; the root gets a stderr handler if it has none."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    formatter = JsonFormatter()
    for logger in (root, *loggers):
        for handler in logger.handlers:
            handler.setFormatter(formatter)
