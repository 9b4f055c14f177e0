"""The shopper's pages: one per activity (`/s/<activity>`) and one per room
(`/s/<activity>/r/<room>`, the link a friend opens).

A page is server-rendered HTML that works at first paint; its script (the same JavaScript client
a mini-program uses) then finds the shopper's token, re-renders the play part with their own
views (`/s/<activity>/part`), keeps it current by polling the JSON API with ETags and `wait`,
sends heartbeats and sends each action with an Idempotency-Key.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import Domain, force_locale
from markupsafe import Markup

from magic_cube.engine import Engine, EngineError, Participant
from magic_cube.i18n import negotiate
from magic_cube.shopper import assets
from magic_cube.shopper import context as ctx
from magic_cube.shopper.partials import Formatter, render_partial

LANGUAGES = ("zh", "en")
# The shopper's own words have their own catalog (shopper/translations), apart from the console's.
TRANSLATIONS = Domain(translation_directories=[str(Path(__file__).parent / "translations")])
_ = TRANSLATIONS.gettext
ANONYMOUS = Participant("")
DEVICE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # a `Magic-Cube-Device` id, as the API takes it

bp = Blueprint("shopper", __name__, template_folder="templates")
bp.add_url_rule("/s/static/<path:filename>", "static", assets.serve)


def engine() -> Engine:
    return current_app.extensions["magic_cube"]


def page_lang() -> str:
    """`?lang=`, then the `mc_lang` cookie the switch leaves, then Accept-Language."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    if request.cookies.get("mc_lang") in LANGUAGES:
        return request.cookies["mc_lang"]
    return negotiate(request.headers.get("Accept-Language"))


def _participant(activity_id: str) -> Participant | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    try:
        found = engine().authenticate_participant(activity_id, header.removeprefix("Bearer "))
    except EngineError:
        return None
    # The phone and address its actions come from: a limit per device or address is foreseen
    # for the page as the action would meet it.
    device = request.headers.get("Magic-Cube-Device", "")
    return replace(found, device=device if DEVICE.match(device) else "",
                   address=request.remote_addr or "")


def play(activity_id: str, room_id: str | None, participant: Participant | None,
         lang: str, preview: str | None = None) -> tuple[dict[str, Any], Markup, Formatter]:
    """The public view, the rendered play part of one page, and its formatter. With a
    `preview` token from the console, the merchant's own activity (a draft too), inert."""
    eng = engine()
    try:
        public = (eng.preview_public_view(activity_id, preview, lang) if preview
                  else eng.public_view(activity_id, lang=lang).body or {})
    except EngineError:
        abort(404)
    if public.get("status") == "draft" and not preview:
        abort(404)
    entry = eng.activity_entry(activity_id)
    room = me = None
    if room_id is not None:
        try:
            room = eng.room_view(activity_id, room_id, participant or ANONYMOUS).body
        except EngineError:
            abort(404)
    refused: dict[str, dict[str, str]] = {}
    if participant is not None:
        me = eng.me_view(activity_id, participant).body
        # Each action the engine would refuse now, and why: its button is off, saying so.
        try:
            refused = eng.refused_actions(activity_id, participant, room_id, lang)
        except EngineError:  # gone meanwhile: the buttons stay as the partial draws them
            refused = {}
    fmt = Formatter(lang, public["timezone"], entry.doc.get("currency", "CNY"))
    facts = ctx.template_facts(entry, lang)
    actions = facts.actions
    context = {
        "activity": public, "room": room, "me": me, "now": eng.now(),
        "template": {"id": entry.id, "kind": entry.kind, "title": fmt.pick(entry.title),
                     "description": fmt.pick(entry.description)},
        "actions": actions, "actions_by_name": {a["name"]: a for a in actions},
        "labels": facts.labels, "money_keys": facts.money_keys,
        "value_labels": facts.value_labels, "image_keys": facts.image_keys,
        "row_names": eng.row_names(activity_id),
        "room_status": ctx.status_label(room["status"] if room else None, lang),
        "room_url": lambda rid: url_for("shopper.room_page", activity_id=activity_id,
                                        room_id=str(rid)),
        "signed_in": participant is not None, "preview": bool(preview), "refused": refused,
    }
    part = render_partial((entry.id, entry.content_hash), entry.directory, context, fmt)
    if me and me.get("codes"):
        part += Markup(render_template("shopper/codes.html", codes=me["codes"], _=_,
                                       money=fmt.money, datetime=fmt.datetime))
    return public, part, fmt


def _strings() -> dict[str, str]:
    """The page script's own words, in the page's language."""
    return {
        "retrying": _("Network trouble, trying again…"),
        "checking": _("Checking your device…"),
        "failed": _("Something went wrong. Please try again."),
        # No answer: the shopper taps again once online (an action is not done twice).
        "offline": _("No connection. Check your network and tap again: nothing is done twice."),
        "copied": _("Link copied: send it to a friend"),
        "share_title": _("Share this link"),
        "link": _("Link to this page"),
        "sign_in": _("Open this page from the shop's app to take part."),
        "guest_title": _("Take part as a guest"),
        "nickname": _("Your nickname"),
        "join": _("Continue"),
        "done": _("Done"),
        "days": _("d"),
        "close": _("Close"),
    }


def _banners() -> dict[str, str]:
    """What the page says above the play part while the activity is not live."""
    return {"scheduled": _("Starts soon"), "paused": _("Paused for a moment"),
            "ended": _("This activity has ended"), "archived": _("This activity has ended")}


def _switch_url(other: str) -> str:
    """The language switch's link: this page with the other language, keeping its query (a
    preview's token above all: without it a draft is no page at all)."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return "?" + urlencode([*kept, ("lang", other)])


def _page(activity_id: str, room_id: str | None) -> Response:
    lang = page_lang()
    preview = request.args.get("preview") or None
    with force_locale(lang):
        public, part, fmt = play(activity_id, room_id, None, lang, preview)
        config = {"activity": activity_id, "room": room_id, "lang": lang,
                  "preview": bool(preview),
                  "now": engine().now(), "strings": _strings(), "banners": _banners(),
                  "heartbeat": public.get("heartbeat_interval", 15),
                  "guests": bool(public.get("guests")), "status": public.get("status"),
                  "part": url_for("shopper.part", activity_id=activity_id),
                  "api": request.host_url.rstrip("/")}
        # "</" escaped: the JSON sits inside a <script> element.
        data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
        html = render_template("shopper/page.html", activity=public, part=part, lang=lang,
                               room_id=room_id, config=data, ends=fmt.datetime(public["ends_at"]),
                               preview=bool(preview), banners=config["banners"],
                               _=_, other_lang="en" if lang == "zh" else "zh",
                               switch=_switch_url("en" if lang == "zh" else "zh"))
    response = Response(html, mimetype="text/html")
    if preview:  # shown in the console's phone frame (same origin), never cached
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    if request.args.get("lang") in LANGUAGES:
        response.set_cookie("mc_lang", lang, max_age=365 * 86400, samesite="Lax")
    return response


@bp.get("/s/<activity_id>")
def activity_page(activity_id: str) -> Response:
    return _page(activity_id, None)


@bp.get("/s/<activity_id>/r/<room_id>")
def room_page(activity_id: str, room_id: str) -> Response:
    return _page(activity_id, room_id)


@bp.get("/s/<activity_id>/part")
def part(activity_id: str) -> Response:
    """The play part for the shopper holding the token (anonymous without one)."""
    lang = page_lang()
    room_id = request.args.get("room") or None
    with force_locale(lang):
        public, html, _fmt = play(activity_id, room_id, _participant(activity_id), lang)
    response = Response(html, mimetype="text/html")
    response.headers["X-Server-Time"] = str(engine().now())
    # The activity may have started, paused or ended since the page was opened.
    response.headers["X-Activity-Status"] = str(public.get("status", ""))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "Authorization, Accept-Language, Cookie"
    return response


@bp.get("/j/<code>")
def join(code: str) -> Any:
    """A share link: counts the open and leads to the page, carrying the code as `via` (the
    page keeps the first code that brought this device to the activity)."""
    try:
        shared = engine().open_share(code)
    except EngineError:
        abort(404)
    target = (url_for("shopper.room_page", activity_id=shared["activity_id"],
                      room_id=shared["room"]) if shared["room"]
              else url_for("shopper.activity_page", activity_id=shared["activity_id"]))
    return redirect(f"{target}?via={code}", 302)


@bp.errorhandler(404)
def missing(error: Exception) -> Response:
    """A shopper who follows a bad or stale link gets a page in their language, not JSON."""
    lang = page_lang()
    with force_locale(lang):
        html = render_template("shopper/missing.html", lang=lang, _=_,
                               other_lang="en" if lang == "zh" else "zh")
    response = Response(html, status=404, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return response
