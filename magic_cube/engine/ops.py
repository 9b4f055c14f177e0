"""Readiness: whether this process can serve (`GET /readyz`).

`ready(engine)` checks more than `/healthz` does: the database answers a read transaction and
holds every migration this code knows, so a process started against an old or a replaced
database is taken out of a load balancer until `magic-cube migrate` has run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from magic_cube.store.schema import MIGRATIONS

if TYPE_CHECKING:
    from magic_cube.engine import Engine

log = logging.getLogger(__name__)


def ready(engine: Engine) -> dict[str, str]:
    """Each check (`database`, `migrations`) with `ok` or what is wrong."""
    try:
        with engine.store.transaction(write=False) as tx:
            applied = set(tx.applied_migrations())
    except Exception as exc:
        log.error("readiness check failed: %s", exc)
        return {"database": f"does not answer ({type(exc).__name__})", "migrations": "unknown"}
    pending = [str(version) for version, _, _ in MIGRATIONS if version not in applied]
    return {"database": "ok",
            "migrations": f"not applied: {', '.join(pending)}" if pending else "ok"}
