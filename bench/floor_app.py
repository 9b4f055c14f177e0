"""The WSGI floor of bench/http.py: a bare Flask app with no project code, served by the same
gunicorn command and settings (gunicorn.conf.py: gevent workers, as many) as the app.

    GET /json   {"ok": true}
    GET /etag   304 when If-None-Match is its ETag, else {"ok": true} with the ETag
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

ETAG = '"floor"'

app = Flask(__name__)


@app.get("/json")
def json_answer() -> Response:
    return jsonify({"ok": True})


@app.get("/etag")
def etag_answer() -> Response:
    if request.headers.get("If-None-Match") == ETAG:
        return Response(status=304, headers={"ETag": ETAG})
    response = jsonify({"ok": True})
    response.headers["ETag"] = ETAG
    return response
