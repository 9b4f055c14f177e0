"""Activities in the console: the template catalog, the new-activity form, preview, publish or
schedule, the list, the detail page with its lifecycle buttons, and editing.

The config part of every form is generated from the template's config schema by
`console.forms`; this module adds the activity's own settings (title, time zone, start, end),
calls the engine and shows its field errors inline. Without JavaScript, a prize table's
add/remove/move buttons submit the form and come back with the table changed (`form_action`).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.catalog import TemplateEntry, TemplateNotFound
from magic_cube.console import forms
from magic_cube.console.auth import login_required
from magic_cube.console.context import (
    FieldErrors,
    add_error,
    current_merchant,
    get_engine,
    i18n,
    lang,
    load_activity,
    parse_local_time,
)
from magic_cube.console.labels import KIND_LABELS, STATUS_LABELS, VERB_DONE, VERB_LABELS
from magic_cube.engine import STATUSES, known_timezone
from magic_cube.engine.errors import (
    EngineError,
    InvalidActivity,
    InvalidConfig,
    InvalidTransition,
    NotEditable,
)

bp = Blueprint("activities", __name__)

SETTING_FIELDS = ("title", "timezone", "starts_at", "ends_at")
COMMON_TIMEZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore",
                    "Asia/Tokyo", "Asia/Seoul", "UTC", "Europe/London", "Europe/Berlin",
                    "America/New_York", "America/Los_Angeles", "Australia/Sydney")
LIFECYCLE = ("pause", "resume", "end", "archive")
# status -> the lifecycle buttons that make sense in it (the engine has the last word)
BUTTONS = {
    "draft": ("archive", "duplicate"),
    "scheduled": ("end", "duplicate"),
    "live": ("pause", "end", "duplicate"),
    "paused": ("resume", "end", "duplicate"),
    "ended": ("archive", "duplicate"),
    "archived": ("duplicate",),
}


# helpers ------------------------------------------------------------------------------------

def latest_templates() -> list[TemplateEntry]:
    """The newest version of each template, by title."""
    newest: dict[str, TemplateEntry] = {}
    for entry in get_engine().catalog.entries():  # oldest first: later versions win
        newest[entry.id] = entry
    return sorted(newest.values(), key=lambda e: i18n(e.title))


def pinned_entry(activity: dict[str, Any]) -> TemplateEntry:
    t = activity["template"]
    return get_engine().catalog.get_pinned(t["id"], t["version"], t["hash"])


def config_schema(entry: TemplateEntry) -> dict[str, Any]:
    return entry.doc.get("config", {}).get("schema", {"type": "object"})


def live_editable(entry: TemplateEntry) -> set[str]:
    return set(entry.doc.get("config", {}).get("live_editable", []))


def frozen_schema(entry: TemplateEntry) -> dict[str, Any]:
    """The config schema with every field that is not live-editable marked read-only."""
    schema = copy.deepcopy(config_schema(entry))
    editable = live_editable(entry)
    for name, prop in schema.get("properties", {}).items():
        if name not in editable and isinstance(prop, dict):
            prop.setdefault("x-ui", {})["readonly"] = True
    return schema


def read_settings(form, default_tz: str) -> tuple[dict[str, Any], FieldErrors]:
    """The activity's own fields from the form, checked, with translated messages."""
    errors: FieldErrors = {}
    title = form.get("title", "").strip()
    if len(title) > 200:
        add_error(errors, "title", "too_long", _("At most 200 characters"))
    tz = form.get("timezone", "").strip() or default_tz
    if not known_timezone(tz):
        add_error(errors, "timezone", "invalid_timezone",
                  _("Unknown time zone: use a name such as Asia/Shanghai"))
    fields: dict[str, Any] = {"title": title or None, "timezone": tz}
    for name in ("starts_at", "ends_at"):
        try:
            fields[name] = parse_local_time(form.get(name, ""), tz)
        except ValueError:
            fields[name] = None
            add_error(errors, name, "invalid_time", _("Enter a date and time"))
    if fields["starts_at"] is not None and fields["ends_at"] is not None \
            and fields["ends_at"] <= fields["starts_at"] and "ends_at" not in errors:
        add_error(errors, "ends_at", "ends_before_start", _("The end must be after the start"))
    return fields, errors


def engine_setting_errors(exc: EngineError) -> FieldErrors:
    """The engine's errors on activity fields, worded in the page's language."""
    words = {"invalid_timezone": _("Unknown time zone: use a name such as Asia/Shanghai"),
             "ends_before_start": _("The end must be after the start"),
             "not_editable": _("This cannot change once the activity is published")}
    out: FieldErrors = {}
    for path, entries in exc.errors.items():
        for e in entries:
            add_error(out, path, e.get("code", "invalid"),
                      words.get(e.get("code", ""), e.get("message", "")))
    return out


def merge_errors(*many: FieldErrors) -> FieldErrors:
    out: FieldErrors = {}
    for errors in many:
        for path, entries in errors.items():
            out.setdefault(path, []).extend(entries)
    return out


def check_config(entry: TemplateEntry, config: dict[str, Any],
                 coercion: FieldErrors) -> FieldErrors:
    """Schema and cross-field errors of `config`; a value the form could not even read
    (`coercion`, e.g. letters in a number field) speaks for its field instead. Only for a form
    that goes back with errors anyway: otherwise the engine validates the config, once."""
    _filled, errors = entry.config_validator.validate(config, lang=lang())
    errors = {k: v for k, v in errors.items() if k not in coercion}
    return merge_errors(coercion, errors)


def form_page(entry: TemplateEntry, *, activity: dict[str, Any] | None, settings: dict[str, Any],
              config: dict[str, Any] | None, setting_errors: FieldErrors,
              config_errors: FieldErrors, schema: dict[str, Any] | None = None,
              status: int = 200, mode: str = "new"):
    schema = schema if schema is not None else config_schema(entry)
    config_form = forms.render_form(schema, config, config_errors, lang=lang(), prefix="config",
                                    timezone=valid_tz(settings.get("timezone")),
                                    currency=entry.doc.get("currency", "CNY"))
    # One summary at the top: the activity's own fields first, then the config's in form order.
    labels = setting_labels()
    summary = [{"field_id": f"field-{name}", "label": labels.get(name, name),
                "message": e["message"]}
               for name, entries in setting_errors.items() for e in entries]
    summary += list(forms.error_summary(config_errors, schema, lang(), prefix="config"))
    return render_template(
        "console/activity_form.html", entry=entry, activity=activity, settings=settings,
        setting_errors=setting_errors, config_errors=config_errors, config_form=config_form,
        summary=summary, timezones=COMMON_TIMEZONES, mode=mode), status


def valid_tz(name: str | None) -> str:
    if name and known_timezone(name):
        return name
    return get_engine().settings.default_timezone


def setting_labels() -> dict[str, str]:
    return {"title": _("Title"), "timezone": _("Time zone"), "starts_at": _("Starts"),
            "ends_at": _("Ends"), "config": _("Settings")}


# pages --------------------------------------------------------------------------------------

@bp.route("/")
@login_required
def index():
    return redirect(url_for("console.activities.list_activities"))


@bp.route("/activities")
@login_required
def list_activities():
    status = request.args.get("status") or None
    if status not in STATUSES:
        status = None
    search = (request.args.get("q") or "").strip() or None
    cursor = request.args.get("cursor") or None
    engine = get_engine()
    items, next_cursor = engine.list_activities(current_merchant(), status=status, search=search,
                                                cursor=cursor, limit=50)
    items.sort(key=lambda a: a["created_at"], reverse=True)
    titles = {e.id: i18n(e.title) for e in engine.catalog.entries()}
    return render_template("console/activities.html", items=items, status=status,
                           search=search or "", next_cursor=next_cursor, statuses=STATUSES,
                           status_labels=STATUS_LABELS, template_titles=titles)


@bp.route("/activities/new")
@login_required
def choose_template():
    return render_template("console/templates.html", entries=latest_templates(),
                           kind_labels=KIND_LABELS)


@bp.route("/activities/new/<template_id>", methods=["GET", "POST"])
@login_required
def new(template_id: str):
    engine = get_engine()
    try:
        entry = engine.catalog.get(template_id)
    except TemplateNotFound:
        abort(404)
    default_tz = engine.settings.default_timezone
    schema = config_schema(entry)
    if request.method == "GET":
        settings = {"title": i18n(entry.title), "timezone": default_tz,
                    "starts_at": None, "ends_at": None}
        return form_page(entry, activity=None, settings=settings, config=None,
                         setting_errors={}, config_errors={})

    settings, setting_errors = read_settings(request.form, default_tz)
    config, coercion = forms.parse_form(schema, request.form, prefix="config", lang=lang(),
                                        timezone=valid_tz(settings["timezone"]))
    action = forms.form_action(request.form)
    if action is not None:  # add/remove/move a row without JavaScript: show the form again
        config = forms.apply_array_action(config, action, schema=schema, prefix="config")
        return form_page(entry, activity=None, settings=settings, config=config,
                         setting_errors={}, config_errors={})
    config_errors: FieldErrors = {}
    if setting_errors or coercion:  # the engine is not asked: show every error at once
        config_errors = check_config(entry, config, coercion)
    else:  # the engine validates the config (once) as it creates the draft
        try:
            activity = engine.create_activity(
                current_merchant(), entry.id, config, title=settings["title"],
                template_version=entry.version, timezone=settings["timezone"],
                starts_at=settings["starts_at"], ends_at=settings["ends_at"], lang=lang())
        except InvalidConfig as exc:
            config_errors = exc.errors
        except InvalidActivity as exc:
            setting_errors = engine_setting_errors(exc)
        else:
            flash(_("Draft saved. Check the preview, then publish it."), "success")
            return redirect(url_for("console.activities.preview", activity_id=activity["id"]))
    return form_page(entry, activity=None, settings=settings, config=config,
                     setting_errors=setting_errors, config_errors=config_errors, status=422)


@bp.route("/activities/<activity_id>")
@login_required
def detail(activity_id: str):
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    return render_template("console/activity.html", activity=activity, entry=entry,
                           buttons=BUTTONS.get(activity["status"], ()), verb_labels=VERB_LABELS,
                           status_labels=STATUS_LABELS, kind_labels=KIND_LABELS,
                           editable=activity["status"] not in ("ended", "archived"),
                           live_fields=sorted(live_editable(entry)))


def participant_view(activity: dict[str, Any]) -> dict[str, Any]:
    """What a participant's client shows: the engine's public view of a published activity;
    for a draft, the template's activity view rendered on its initial state."""
    return get_engine().preview(current_merchant(), activity["id"], lang=lang())


def odds_table(entry: TemplateEntry, config: dict[str, Any],
               view: dict[str, Any]) -> dict[str, Any] | None:
    """A lottery's published odds: each prize's probability and stock, and the no-prize slot."""
    prizes = config.get("prizes")
    if entry.kind != "lottery" or not isinstance(prizes, list):
        return None
    scale = view.get("odds_scale") or 10000
    left = view.get("stock_left") if isinstance(view.get("stock_left"), list) else None
    rows = []
    for i, prize in enumerate(prizes):
        odds = int(prize.get("odds", 0) or 0)
        rows.append({"name": prize.get("name", ""), "type": prize.get("type", ""),
                     "odds": odds, "percent": 100.0 * odds / scale,
                     "stock": prize.get("stock"),
                     "left": left[i] if left is not None and i < len(left) else prize.get("stock")})
    miss_odds = max(0, scale - sum(r["odds"] for r in rows))
    return {"rows": rows, "scale": scale,
            "miss": {"name": config.get("miss_name") or view.get("miss_name") or "",
                     "odds": miss_odds, "percent": 100.0 * miss_odds / scale}}


def display_value(value: Any) -> str:
    """A view value as a participant's screen might show it: lists of plain values joined,
    anything structured as compact JSON."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(display_value(v) for v in value) or "—"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


@bp.route("/activities/<activity_id>/preview")
@login_required
def preview(activity_id: str):
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    view = participant_view(activity)
    actions = [{"name": a.name, "title": i18n(a.title)} for a in entry.compiled.actions.values()
               if a.by == "participant"]
    view_rows = [(key.replace("_", " "), display_value(value)) for key, value in view.items()]
    return render_template("console/preview.html", activity=activity, entry=entry,
                           view_rows=view_rows,
                           odds=odds_table(entry, activity["config"], view), actions=actions,
                           status_labels=STATUS_LABELS)


@bp.route("/activities/<activity_id>/publish", methods=["POST"])
@login_required
def publish(activity_id: str):
    activity = load_activity(activity_id)
    engine = get_engine()
    starts_at = None
    if request.form.get("when") == "schedule":
        try:
            starts_at = parse_local_time(request.form.get("starts_at", ""), activity["timezone"])
        except ValueError:
            starts_at = None
        if starts_at is None:
            flash(_("Choose when the activity starts."), "error")
            return redirect(url_for("console.activities.preview", activity_id=activity_id))
        if starts_at <= engine.now():
            flash(_("The start must be in the future; to start now, publish it now."), "error")
            return redirect(url_for("console.activities.preview", activity_id=activity_id))
    try:
        done = engine.publish(current_merchant(), activity_id, starts_at=starts_at)
    except InvalidTransition:
        flash(_("This activity cannot be published now (it is not a draft, or its end has "
                "passed)."), "error")
    except InvalidActivity as exc:
        errors = engine_setting_errors(exc)
        flash("; ".join(e["message"] for entries in errors.values() for e in entries), "error")
    else:
        if done["status"] == "scheduled":
            flash(_("The activity is scheduled."), "success")
        else:
            flash(_("The activity is live."), "success")
    return redirect(url_for("console.activities.detail", activity_id=activity_id))


@bp.route("/activities/<activity_id>/<verb>", methods=["POST"])
@login_required
def lifecycle(activity_id: str, verb: str):
    if verb not in (*LIFECYCLE, "duplicate"):
        abort(404)
    load_activity(activity_id)
    engine = get_engine()
    if verb == "duplicate":
        copy_ = engine.duplicate(current_merchant(), activity_id)
        flash(_("A new draft was made from this activity."), "success")
        return redirect(url_for("console.activities.edit", activity_id=copy_["id"]))
    try:
        getattr(engine, verb)(current_merchant(), activity_id)
    except InvalidTransition:
        flash(_("The activity cannot make that change in its current status."), "error")
    else:
        flash(str(VERB_DONE[verb]), "success")
    return redirect(url_for("console.activities.detail", activity_id=activity_id))


@bp.route("/activities/<activity_id>/edit", methods=["GET", "POST"])
@login_required
def edit(activity_id: str):
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    engine = get_engine()
    draft = activity["status"] == "draft"
    if activity["status"] in ("ended", "archived"):
        flash(_("An activity that has ended cannot be edited."), "error")
        return redirect(url_for("console.activities.detail", activity_id=activity_id))
    schema = config_schema(entry) if draft else frozen_schema(entry)
    mode = "edit" if draft else "live"
    current = {"title": activity["title"], "timezone": activity["timezone"],
               "starts_at": activity["starts_at"], "ends_at": activity["ends_at"]}
    if request.method == "GET":
        return form_page(entry, activity=activity, settings=current, config=activity["config"],
                         setting_errors={}, config_errors={}, schema=schema, mode=mode)

    settings, setting_errors = (read_settings(request.form, activity["timezone"]) if draft
                                else (current, {}))
    config, coercion = forms.parse_form(schema, request.form, prefix="config", lang=lang(),
                                        timezone=valid_tz(settings["timezone"]))
    action = forms.form_action(request.form)
    if action is not None:
        config = forms.apply_array_action(config, action, schema=schema, prefix="config")
        return form_page(entry, activity=activity, settings=settings, config=config,
                         setting_errors={}, config_errors={}, schema=schema, mode=mode)
    if not draft:
        # Read-only inputs may not come back with the form: an untouched field keeps its value.
        for name, value in activity["config"].items():
            if name not in live_editable(entry) and name not in config:
                config[name] = value
        config = entry.config_validator.fill_defaults(config)
    config_errors: FieldErrors = {}
    if setting_errors or coercion:
        config_errors = check_config(entry, config, coercion)
    else:
        changes: dict[str, Any] = {"config": config}
        if draft:
            changes.update(settings)
            changes["title"] = settings["title"] or activity["title"]
        try:
            engine.update_activity(current_merchant(), activity_id, changes, lang=lang())
        except NotEditable as exc:
            frozen = engine_setting_errors(exc)
            config_errors = {k: v for k, v in frozen.items() if k not in SETTING_FIELDS}
            setting_errors = {k: v for k, v in frozen.items() if k in SETTING_FIELDS}
        except InvalidConfig as exc:
            config_errors = exc.errors
        except InvalidActivity as exc:
            setting_errors = engine_setting_errors(exc)
        else:
            flash(_("Changes saved."), "success")
            return redirect(url_for("console.activities.detail", activity_id=activity_id))
    return form_page(entry, activity=activity, settings=settings, config=config,
                     setting_errors=setting_errors, config_errors=config_errors, schema=schema,
                     status=422, mode=mode)
