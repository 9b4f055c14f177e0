"""Operational endpoints: `/healthz`, and `/docs`, an offline page rendered from the spec.

`/docs` deliberately loads nothing from a CDN (Swagger UI would): the page is plain HTML built
from the same `/openapi.json` document, so it works on an isolated network and never drifts.
"""

from __future__ import annotations

from typing import Any

import flask
from flask import current_app, render_template
from flask.views import MethodView

from magic_cube.api.codes import all_codes
from magic_cube.api.context import get_engine
from magic_cube.api.errors import Unavailable
from magic_cube.api.parsing import Blueprint
from magic_cube.api.responses import documents_errors
from magic_cube.api.schemas import HealthSchema

blp = Blueprint("health", __name__, description="For operators and load balancers.")
docs = flask.Blueprint("docs", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @documents_errors(blp, "unavailable")
    def get(self) -> Any:
        """`ok` when the database answers a read transaction"""
        try:
            get_engine().check_database()
        except Exception as exc:
            current_app.logger.error("health check failed: %s", exc)
            raise Unavailable() from exc
        return {"status": "ok"}, 200, {"Cache-Control": "no-store"}


def spec_dict() -> dict[str, Any]:
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return api.spec.to_dict()


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_of(schema: dict[str, Any] | None) -> str:
    """A short human description of a schema fragment (`array of Activity`, `string, nullable`)."""
    if not schema:
        return ""
    if "$ref" in schema:
        text = _ref_name(schema["$ref"])
    elif "allOf" in schema and len(schema["allOf"]) == 1:
        text = type_of(schema["allOf"][0])
    elif schema.get("type") == "array":
        text = f"array of {type_of(schema.get('items')) or 'any'}"
    else:
        text = schema.get("type", "any")
        if schema.get("format"):
            text += f" ({schema['format']})"
        if schema.get("enum"):
            text += ": " + " | ".join(str(v) for v in schema["enum"])
    if schema.get("nullable"):
        text += ", nullable"
    return text


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        section, name = item["$ref"].split("/")[-2:]
        item = spec["components"][section][name]
    return item


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, item in spec.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = [_resolve(spec, p) for p in (*shared, *op.get("parameters", []))]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            responses = []
            for status, resp in sorted(op.get("responses", {}).items()):
                resp = _resolve(spec, resp)
                schema = resp.get("content", {}).get("application/json", {}).get("schema")
                responses.append({"status": status, "description": resp.get("description", ""),
                                  "type": type_of(schema)})
            security = op.get("security", spec.get("security", []))
            out.append({
                "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                "method": method.upper(), "path": path, "tag": (op.get("tags") or [""])[0],
                "summary": op.get("summary", ""), "description": op.get("description", ""),
                "auth": ", ".join(name for entry in security for name in entry) or "none",
                "parameters": [{"name": p.get("name"), "in": p.get("in"),
                                "required": p.get("required", False),
                                "type": type_of(p.get("schema")),
                                "description": p.get("description", "")} for p in params],
                "body": type_of(body.get("schema")) if body else "",
                "responses": responses,
            })
    return out


def schemas(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        out.append({"name": name, "description": schema.get("description", ""), "fields": [
            {"name": field, "type": type_of(sub), "required": field in required,
             "description": sub.get("description", "")}
            for field, sub in schema.get("properties", {}).items()]})
    return out


@docs.get("/docs")
def docs_page() -> Any:
    spec = spec_dict()
    codes = sorted(all_codes(get_engine().catalog).values(), key=lambda c: (c.status, c.code))
    return render_template("api_docs.html", spec=spec, operations=operations(spec),
                           schemas=schemas(spec), codes=codes,
                           security=spec.get("components", {}).get("securitySchemes", {}))
