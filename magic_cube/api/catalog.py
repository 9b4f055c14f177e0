"""The template catalog as merchants see it: what they can create and how to configure it.

Each entry carries the config JSON Schema (to build a form or validate before sending), the
actions with their params schemas (merchant actions such as the lottery's `grant` included) and
the template's own error codes.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from magic_cube.api.auth import current_merchant
from magic_cube.api.context import get_engine
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import TemplateListSchema, TemplateQuerySchema, TemplateSchema
from magic_cube.catalog import TemplateEntry

blp = Blueprint("templates", __name__, url_prefix="/v1/merchant/templates",
                description="The activity templates merchants create activities from.")

MERCHANT: list[dict[str, list[str]]] = [{"apiKey": []}]


@blp.before_request
def require_merchant() -> None:
    current_merchant()


def describe_template(entry: TemplateEntry) -> dict[str, Any]:
    doc = entry.doc
    config = doc.get("config", {})
    return {
        "id": entry.id, "version": entry.version, "kind": entry.kind,
        "title": entry.title, "description": entry.description,
        "currency": doc.get("currency", "CNY"), "hash": entry.content_hash,
        "config": {"schema": config.get("schema", {"type": "object"}),
                   "checks": config.get("checks", []),
                   "live_editable": config.get("live_editable", [])},
        "actions": [{"name": name, "title": spec.get("title", {}),
                     "by": spec.get("by", "participant"), "room": spec.get("room", "none"),
                     "params": spec.get("params") or {"type": "object"}}
                    for name, spec in doc.get("actions", {}).items()],
        "errors": doc.get("errors", {}),
    }


@blp.route("")
class Templates(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.response(200, TemplateListSchema)
    @documents_errors(blp, "unauthorized")
    def get(self) -> Any:
        """Every template version available, by id then version"""
        return {"items": [describe_template(e) for e in get_engine().catalog.entries()]}


@blp.route("/<template_id>")
class Template(MethodView):
    @blp.doc(security=MERCHANT)
    @blp.arguments(TemplateQuerySchema(), location="query")
    @blp.response(200, TemplateSchema)
    @documents_errors(blp, "unauthorized", "template_not_found", "validation_error")
    def get(self, query: dict[str, Any], template_id: str) -> Any:
        """One template: the latest version, or `?version=`"""
        return describe_template(get_engine().catalog.get(template_id, query.get("version")))
