"""Endpoints for operators: `/readyz` (may this process take traffic?) and `/metrics`.

`/healthz` (api/meta.py) only says that the process and its database answer, cheaply enough
for a load balancer to ask every second. `/readyz` also checks that the database holds every
migration this code needs, and answers 503 with the one error body, each failed check under
`errors`, otherwise. `/metrics` is the Prometheus text format (magic_cube/metrics.py); it is
not part of the JSON API and not in `/openapi.json`.
"""

from __future__ import annotations

from typing import Any

import flask
from flask.views import MethodView

from magic_cube import metrics
from magic_cube.api.context import get_engine
from magic_cube.api.errors import Unavailable
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import ReadySchema

blp = Blueprint("ops", __name__, description="For orchestrators: readiness.")
metrics_bp = flask.Blueprint("metrics", __name__)


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(security=[])
    @blp.response(200, ReadySchema)
    @documents_errors(blp, "unavailable")
    def get(self) -> Any:
        """`ok` when the database answers and every migration is applied"""
        checks = get_engine().ready()
        failed = {name: [{"code": "not_ready", "message": state}]
                  for name, state in checks.items() if state != "ok"}
        if failed:
            raise Unavailable("Not ready: " + "; ".join(
                f"{name} {checks[name]}" for name in failed), errors=failed)
        return {"status": "ok", "checks": checks}, 200, {"Cache-Control": "no-store"}


@metrics_bp.get("/metrics")
def scrape() -> flask.Response:
    body, content_type = metrics.exposition()
    return flask.Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})
