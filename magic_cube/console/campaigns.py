"""Campaigns in the console: the list and the create form, a campaign's dashboard (tiles, a
row per activity, hourly and daily charts, the CSV), adding and removing activities, and, for
an operator, invitations that another merchant accepts on the join page.

The numbers are the engine's campaign stats (engine/campaigns.py): the API shows the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.console import campaign_forecast
from magic_cube.console.auth import login_required
from magic_cube.console.charts import bar_chart, line_chart
from magic_cube.console.context import (
    COMMON_TIMEZONES,
    FieldErrors,
    add_error,
    current_merchant,
    get_engine,
    i18n,
    merchant_timezone,
    tz_or_utc,
    zone_name,
)
from magic_cube.console.dashboard import hourly_series
from magic_cube.console.exports import campaign_csv, csv_response
from magic_cube.console.present import event_name
from magic_cube.engine import EngineError
from magic_cube.engine.errors import (
    ActivityNotFound,
    CampaignNotFound,
    InvalidCampaign,
    InviteNotFound,
)

bp = Blueprint("campaigns", __name__)


def field_message(field: str, code: str) -> str:
    """The engine's field error, in the page's language."""
    messages = {
        "name": _("A name is 1 to 100 characters."),
        "timezone": _("Choose a time zone from the list."),
        "starts_on": _("Enter a date."),
        "ends_on": _("Enter a date.") if code == "date"
        else _("The last day is on or after the first, at most 366 days later."),
    }
    return messages.get(field, _("Check this value."))


def _campaign(campaign_id: str) -> dict[str, Any]:
    try:
        return get_engine().get_campaign(current_merchant(), campaign_id)
    except CampaignNotFound:
        abort(404)


def _form_page(form: dict[str, str], errors: FieldErrors, status: int = 200) -> Any:
    campaigns = get_engine().list_campaigns(current_merchant())
    return render_template("console/campaigns.html", campaigns=campaigns, form=form,
                           errors=errors, zones=COMMON_TIMEZONES,
                           operator=bool(current_merchant().operator)), status


@bp.route("/campaigns")
@login_required
def index() -> Any:
    # The merchant's zone when the form offers it, and today's date there (not in UTC, which
    # is still yesterday in Beijing until 08:00).
    zone = merchant_timezone()
    zone = zone if zone in COMMON_TIMEZONES else COMMON_TIMEZONES[0]
    today = datetime.fromtimestamp(get_engine().now(), tz=tz_or_utc(zone)).date().isoformat()
    return _form_page({"name": "", "timezone": zone, "starts_on": today, "ends_on": today}, {})


@bp.route("/campaigns", methods=["POST"])
@login_required
def create() -> Any:
    form = {k: request.form.get(k, "").strip() for k in ("name", "timezone", "starts_on",
                                                         "ends_on")}
    try:
        campaign = get_engine().create_campaign(current_merchant(), form["name"],
                                                form["timezone"], form["starts_on"],
                                                form["ends_on"])
    except InvalidCampaign as exc:
        errors: FieldErrors = {}
        for field, entries in exc.errors.items():
            for entry in entries:
                add_error(errors, field, entry["code"], field_message(field, entry["code"]))
        return _form_page(form, errors, 422)
    flash(_("The campaign is created. Add your activities to it."), "success")
    return redirect(url_for("console.campaigns.show", campaign_id=campaign["id"]))


def _labels(hours: list[int], tz: str, fmt: str) -> list[str]:
    zone = tz_or_utc(tz)
    return [datetime.fromtimestamp(h, tz=UTC).astimezone(zone).strftime(fmt) for h in hours]


def _summary(what: str) -> Callable[[float, str, float], str]:
    def describe(total: float, at: str, peak: float) -> str:
        return _("%(what)s: %(total)s in total, at most %(peak)s (at %(at)s)", what=what,
                 total=format(total, ",.0f"), peak=format(peak, ",.0f"), at=at)
    return describe


def campaign_charts(hourly: list[dict[str, Any]], daily: list[dict[str, Any]],
                    tz: str) -> list[dict[str, Any]]:
    out = []
    if hourly:
        labels = _labels([h["hour"] for h in hourly], tz, "%H:00")
        tips = _labels([h["hour"] for h in hourly], tz, "%m-%d %H:00")
        x_title = _("Hour (%(tz)s)", tz=zone_name(tz))
        title = _("Participations per hour")
        out.append({"title": title, "svg": bar_chart(
            "chart-campaign-hourly", labels, [h["participations"] for h in hourly],
            title=title, x_title=x_title, y_title=_("Participations"), tooltips=tips,
            describe=_summary(title))})
        title = _("Interaction minutes per hour")
        out.append({"title": title, "svg": line_chart(
            "chart-campaign-minutes", labels,
            [round(h["interaction_seconds"] / 60, 1) for h in hourly], title=title,
            x_title=x_title, y_title=_("Minutes"), tooltips=tips, describe=_summary(title))})
    if daily:
        labels = [date.fromisoformat(d["date"]).strftime("%m-%d") for d in daily]
        x_title = _("Day (%(tz)s)", tz=zone_name(tz))
        title = _("Participations per day")
        out.append({"title": title, "svg": bar_chart(
            "chart-campaign-daily", labels, [d["participations"] for d in daily], title=title,
            x_title=x_title, y_title=_("Participations"), describe=_summary(title))})
        title = _("New participants per day")
        out.append({"title": title, "svg": bar_chart(
            "chart-campaign-new", labels, [d["new_participants"] for d in daily], title=title,
            x_title=x_title, y_title=_("Participants"), describe=_summary(title))})
    return out


def tiles(totals: dict[str, Any]) -> list[dict[str, Any]]:
    out = [
        {"label": _("Participations"), "value": totals["participations"]},
        {"label": _("Unique participants"), "value": totals["unique_participants"]},
        {"label": _("First-time participants"), "value": totals["first_ever_participants"]},
        {"label": _("Interaction minutes"), "value": totals["interaction_minutes"]},
        {"label": _("Completions"), "value": totals["completions"]},
        {"label": _("Invited participants"), "value": totals["invited_participants"]},
        {"label": _("K-factor"), "value": f"{totals['k_factor']:.2f}"},
        {"label": _("Activities"), "value": totals["activities"]},
    ]
    return out


@bp.route("/campaigns/<campaign_id>")
@login_required
def show(campaign_id: str) -> Any:
    engine, merchant = get_engine(), current_merchant()
    campaign = _campaign(campaign_id)
    stats = engine.campaign_stats(merchant, campaign_id)
    now = engine.now()
    running = campaign["starts_at"] <= now < campaign["ends_at"]
    series = hourly_series(stats["hourly"], now, running)
    counted = {a["id"] for a in campaign["activities"]}
    mine, _cursor = engine.list_activities(merchant, limit=200)
    addable = [a for a in mine if a["id"] not in counted and a["status"] != "archived"]
    invites = []
    operator = bool(merchant.operator) and campaign["role"] == "owner"
    if operator:
        invites = engine.campaign_invites(merchant, campaign_id)
    kinds = stats["totals"]["completions_by_kind"]
    titles = {e.id: i18n(e.title) for e in engine.catalog.entries()}
    return render_template(
        "console/campaign.html", campaign=campaign, stats=stats, tiles=tiles(stats["totals"]),
        template_titles=titles,
        charts=campaign_charts(series, stats["daily"], campaign["timezone"]), series=series,
        addable=addable, invites=invites, operator=operator,
        kinds=[{"label": event_label(k), "value": n} for k, n in kinds.items()])


def event_label(kind: str) -> str:
    """A completion event type as the template that emits it names it."""
    for entry in get_engine().catalog.entries():
        name = event_name(entry, kind)
        if name != kind:
            return name
    return kind


@bp.route("/campaigns/<campaign_id>/forecast")
@login_required
def forecast(campaign_id: str) -> Any:
    return campaign_forecast.page(_campaign(campaign_id))


@bp.route("/campaigns/<campaign_id>/activities", methods=["POST"])
@login_required
def add_activity(campaign_id: str) -> Any:
    activity_id = request.form.get("activity_id", "")
    try:
        get_engine().add_campaign_activity(current_merchant(), campaign_id, activity_id)
    except CampaignNotFound:
        abort(404)
    except ActivityNotFound:
        flash(_("Choose one of your activities."), "error")
    else:
        flash(_("The activity is added: it counts from now on."), "success")
    return redirect(url_for("console.campaigns.show", campaign_id=campaign_id))


@bp.route("/campaigns/<campaign_id>/activities/<activity_id>/remove", methods=["POST"])
@login_required
def remove_activity(campaign_id: str, activity_id: str) -> Any:
    try:
        get_engine().remove_campaign_activity(current_merchant(), campaign_id, activity_id)
    except (CampaignNotFound, ActivityNotFound):
        abort(404)
    flash(_("The activity no longer counts; what it counted stays."), "success")
    return redirect(url_for("console.campaigns.show", campaign_id=campaign_id))


@bp.route("/campaigns/<campaign_id>/invites", methods=["POST"])
@login_required
def invite(campaign_id: str) -> Any:
    try:
        get_engine().invite_to_campaign(current_merchant(), campaign_id)
    except CampaignNotFound:
        abort(404)
    except EngineError:  # not the owner, or not an operator
        abort(403)
    flash(_("A new invitation link is ready: send it to one merchant."), "success")
    return redirect(url_for("console.campaigns.show", campaign_id=campaign_id) + "#invites")


@bp.route("/campaigns/join/<code>")
@login_required
def join(code: str) -> Any:
    try:
        invitation = get_engine().campaign_invitation(code)
    except InviteNotFound:
        abort(404)
    return render_template("console/campaign_join.html", invitation=invitation)


@bp.route("/campaigns/join/<code>", methods=["POST"])
@login_required
def accept(code: str) -> Any:
    engine = get_engine()
    try:
        campaign = engine.accept_campaign_invite(current_merchant(), code)
    except InviteNotFound:
        abort(404)
    except EngineError as exc:
        flash(_("You are in this campaign already.") if exc.code == "already_member"
              else _("This invitation has been used already."), "error")
        return redirect(url_for("console.campaigns.join", code=code))
    flash(_("You joined the campaign. Add your activities to it."), "success")
    return redirect(url_for("console.campaigns.show", campaign_id=campaign["id"]))


@bp.route("/campaigns/<campaign_id>/stats.csv")
@login_required
def export(campaign_id: str) -> Any:
    campaign = _campaign(campaign_id)
    stats = get_engine().campaign_stats(current_merchant(), campaign_id)
    return csv_response(campaign_csv(stats, campaign["timezone"]), f"{campaign_id}-hourly.csv")
