"""Blocks and review in the console: an activity's anomaly flags, the review list of flagged
participants (block them, or void their results), and its blocklist (add, lift)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.api.blocks import DEVICE_ID, MAX_VALUE
from magic_cube.console.auth import login_required
from magic_cube.console.context import current_merchant, get_engine, load_activity
from magic_cube.console.labels import STATUS_LABELS
from magic_cube.engine.accounts import participant_text_error
from magic_cube.engine.blocks import KINDS, OPEN_STATUSES, OUTCOMES
from magic_cube.engine.errors import EngineError
from magic_cube.engine.flags import BURST_WINDOW

bp = Blueprint("abuse", __name__)


def outcome_labels() -> dict[str, str]:
    return {"refused": _("Refused: every action is turned away"),
            "never_wins": _("Never wins: may take part, but every draw misses")}


def kind_labels() -> dict[str, str]:
    return {"participant": _("Participant"), "device": _("Device")}


def flag_labels() -> dict[str, str]:
    return {"invite_burst": _("Burst of new invitees"),
            "shared_device": _("Many participants on one device"),
            "shared_address": _("Many participants from one address"),
            "helper_only": _("Only helps others")}


def flag_help(flag: dict[str, Any]) -> str:
    """One line saying what the flag saw."""
    count = flag["count"]
    if flag["kind"] == "invite_burst":
        return _("%(n)d first-time participants through their links within %(m)d minutes",
                 n=count, m=BURST_WINDOW // 60)
    if flag["kind"] == "helper_only":
        return _("Helped in %(n)d rooms of others and did nothing else", n=count)
    return _("%(n)d participants", n=count)


def why(exc: EngineError) -> str:
    """An engine refusal in the merchant's language."""
    return {"already_voided": _("their results are void already"),
            "participant_not_found": _("that participant has not taken part"),
            "void_refused": _("the template's void action refused"),
            "invalid_transition": _("the activity is not published"),
            "block_not_found": _("there is no such block")}.get(exc.code, exc.code)


def _page(activity_id: str, page: str) -> Any:
    return redirect(url_for(f"console.abuse.{page}", activity_id=activity_id))


@bp.route("/activities/<activity_id>/review")
@login_required
def review(activity_id: str):
    activity = load_activity(activity_id)
    found = get_engine().flags.flags(current_merchant(), activity_id)
    for flag in found["flags"]:
        flag["help"] = flag_help(flag)
    return render_template("console/review.html", activity=activity, found=found,
                           flag_labels=flag_labels(), status_labels=STATUS_LABELS,
                           open=activity["status"] in OPEN_STATUSES)


@bp.route("/activities/<activity_id>/blocks")
@login_required
def blocks(activity_id: str):
    activity = load_activity(activity_id)
    items = get_engine().blocks.list(current_merchant(), activity_id)
    return render_template("console/blocks.html", activity=activity, items=items,
                           kinds=kind_labels(), outcomes=outcome_labels(),
                           status_labels=STATUS_LABELS,
                           open=activity["status"] in OPEN_STATUSES,
                           form={"kind": request.args.get("kind", "participant"),
                                 "value": request.args.get("value", "")})


def _valid(kind: str, value: str, outcome: str | None) -> str | None:
    """What is wrong with a block from the form, or None."""
    if kind not in KINDS or (outcome is not None and outcome not in OUTCOMES):
        return _("Choose what to block and how.")
    if participant_text_error(value, MAX_VALUE) is not None:  # the API's rule, the engine's
        return _("Enter a participant ID or a device ID.")
    if kind == "device" and not DEVICE_ID.match(value):
        return _("A device ID is 8 to 64 letters, digits, - or _.")
    return None


@bp.route("/activities/<activity_id>/blocks", methods=["POST"])
@login_required
def add_block(activity_id: str):
    load_activity(activity_id)
    kind, outcome = request.form.get("kind", ""), request.form.get("outcome", "")
    value = request.form.get("value", "").strip()
    problem = _valid(kind, value, outcome)
    if problem:
        flash(problem, "error")
        return _page(activity_id, "blocks")
    try:
        get_engine().blocks.block(current_merchant(), activity_id, kind, value, outcome)
    except EngineError as exc:
        flash(_("Not blocked: %(why)s", why=why(exc)), "error")
    else:
        flash(_("Blocked %(value)s.", value=value), "success")
    return _page(activity_id, "review" if request.form.get("back") == "review" else "blocks")


@bp.route("/activities/<activity_id>/blocks/remove", methods=["POST"])
@login_required
def remove_block(activity_id: str):
    load_activity(activity_id)
    kind, value = request.form.get("kind", ""), request.form.get("value", "")
    if _valid(kind, value, None) is None:
        try:
            get_engine().blocks.unblock(current_merchant(), activity_id, kind, value)
        except EngineError as exc:
            flash(_("Not lifted: %(why)s", why=why(exc)), "error")
        else:
            flash(_("Block lifted: %(value)s.", value=value), "success")
    return _page(activity_id, "blocks")


@bp.route("/activities/<activity_id>/voids", methods=["POST"])
@login_required
def void(activity_id: str):
    load_activity(activity_id)
    participant = request.form.get("participant", "")
    if _valid("participant", participant, None) is not None:
        flash(_("Enter a participant ID."), "error")
        return _page(activity_id, "review")
    if request.form.get("confirm") != "yes":  # it cannot be undone: say what it does first
        return render_template("console/confirm_void.html", activity=load_activity(activity_id),
                               participant=participant)
    try:
        done = get_engine().blocks.void(current_merchant(), activity_id, participant)
    except EngineError as exc:
        flash(_("Not voided: %(why)s", why=why(exc)), "error")
    else:
        flash(_("Voided the results of %(who)s: %(n)d codes voided, prizes back in stock.",
                who=participant, n=done["codes_voided"]), "success")
    return _page(activity_id, "review")
