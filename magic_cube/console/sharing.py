"""Sharing an activity from the console: its shopper page's address, a QR code (SVG and PNG),
a printable share poster, the page itself in a phone frame (an inert preview), and who brought
whom — share links, opens, invited participants by generation, the K-factor, top sharers."""

from __future__ import annotations

import io
from typing import Any

import segno
from flask import Blueprint, Response, render_template
from flask_babel import gettext as _
from markupsafe import Markup

from magic_cube.console.auth import login_required
from magic_cube.console.context import current_merchant, get_engine, lang, load_activity
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.shopper.urls import shopper_url

bp = Blueprint("sharing", __name__)


def qr(activity_id: str) -> segno.QRCode:
    # Error correction M: a poster may be printed small or photographed at an angle.
    return segno.make(shopper_url(activity_id), error="m", micro=False)


def qr_svg(activity_id: str, scale: int = 6, scalable: bool = False) -> str:
    """The QR code as SVG; `scalable` gives a viewBox instead of a fixed width and height, so
    that the page's style can size it without cutting the symbol off."""
    out = io.BytesIO()
    qr(activity_id).save(out, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True,
                         title=shopper_url(activity_id), omitsize=scalable)
    return out.getvalue().decode("utf-8")


def download(body: bytes | str, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/activities/<activity_id>/share")
@login_required
def show(activity_id: str) -> Any:
    activity = load_activity(activity_id)  # 404 for another merchant's activity
    engine, merchant = get_engine(), current_merchant()
    stats = engine.stats(merchant, activity_id)["sharing"]
    preview = engine.preview_token(merchant, activity_id)
    return render_template(
        "console/share.html", activity=activity, sharing=stats, url=shopper_url(activity_id),
        status_labels=STATUS_LABELS,
        qr=Markup(qr_svg(activity_id, scalable=True)), shop=merchant.name,
        preview_url=shopper_url(activity_id) + f"?preview={preview}&lang={lang()}",
        most=max((g["participants"] for g in stats["by_generation"]), default=0))


@bp.route("/activities/<activity_id>/qr.svg")
@login_required
def qr_svg_file(activity_id: str) -> Response:
    load_activity(activity_id)
    return download(qr_svg(activity_id, scale=10), "image/svg+xml", f"{activity_id}-qr.svg")


@bp.route("/activities/<activity_id>/qr.png")
@login_required
def qr_png_file(activity_id: str) -> Response:
    load_activity(activity_id)
    out = io.BytesIO()
    qr(activity_id).save(out, kind="png", scale=12, border=2)
    return download(out.getvalue(), "image/png", f"{activity_id}-qr.png")


@bp.route("/activities/<activity_id>/poster.svg")
@login_required
def poster(activity_id: str) -> Response:
    """A share poster: the activity's title, the QR code and the shop's name (A5 proportions)."""
    activity = load_activity(activity_id)
    code = qr(activity_id)
    size = code.symbol_size(scale=1, border=2)[0]
    modules = "".join(f"M{x} {y}h1v1h-1z"
                      for y, row in enumerate(code.matrix_iter(scale=1, border=2))
                      for x, dark in enumerate(row) if dark)
    svg = render_template("console/poster.svg", activity=activity, shop=current_merchant().name,
                          modules=modules, size=size, url=shopper_url(activity_id),
                          scan=_("Scan to take part"))
    return download(svg, "image/svg+xml", f"{activity_id}-poster.svg")
