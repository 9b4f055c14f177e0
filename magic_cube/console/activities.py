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
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from magic_cube.catalog import TemplateEntry, TemplateNotFound
from magic_cube.console import forms
from magic_cube.console.auth import login_required
from magic_cube.console.context import (
    COMMON_TIMEZONES,
    FieldErrors,
    add_error,
    current_merchant,
    format_time,
    get_engine,
    i18n,
    joined,
    lang,
    load_activity,
    parse_local_time,
)
from magic_cube.console.labels import KIND_LABELS, STATUS_LABELS, VERB_DONE, VERB_LABELS
from magic_cube.console.present import (
    ODDS_KEYS,
    count_errors,
    epoch_of,
    field_name,
    field_node,
    is_money,
    money_errors,
    money_label,
    view_rows,
    yuan,
)
from magic_cube.engine import FIRST_YEAR, LAST_YEAR, STATUSES, known_timezone
from magic_cube.engine.controls import MAX_TOP_UP
from magic_cube.engine.errors import (
    EngineError,
    InvalidActivity,
    InvalidConfig,
    InvalidTransition,
    NotEditable,
)
from magic_cube.shopper.urls import shopper_url

bp = Blueprint("activities", __name__)

SETTING_FIELDS = ("title", "timezone", "starts_at", "ends_at")
LIFECYCLE = ("pause", "resume", "end", "archive")
# status -> the lifecycle buttons that make sense in it (the engine has the last word)
BUTTONS = {
    "draft": ("archive", "duplicate"),
    "scheduled": ("start", "end", "duplicate"),
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
    return get_engine().core.pinned(t["id"], t["version"], t["hash"])


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


def read_settings(form, default_tz: str, now: int | None = None
                  ) -> tuple[dict[str, Any], FieldErrors]:
    """The activity's own fields from the form, checked, with translated messages (`now`: an
    end that has already passed is refused here, not later when publishing fails)."""
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
    if now is not None and fields["ends_at"] is not None and fields["ends_at"] <= now \
            and "ends_at" not in errors:
        add_error(errors, "ends_at", "ends_in_past",
                  _("This time has already passed: choose an end in the future"))
    return fields, errors


def engine_setting_errors(exc: EngineError) -> FieldErrors:
    """The engine's errors on activity fields, worded in the page's language."""
    words = {"invalid_timezone": _("Unknown time zone: use a name such as Asia/Shanghai"),
             "ends_before_start": _("The end must be after the start"),
             "ends_in_past": _("The new end must be in the future and after the start."),
             "out_of_range": _("Choose a time in the years %(first)s to %(last)s",
                               first=FIRST_YEAR, last=LAST_YEAR),
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
    config_errors = count_errors(entry, money_errors(entry, config_errors))
    shown_errors = with_cell_errors(entry, config, config_errors)
    config_form = forms.render_form(schema, config, shown_errors, lang=lang(), prefix="config",
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
        summary=summary, timezones=COMMON_TIMEZONES, mode=mode,
        totals=running_totals(entry, config), warnings=stock_warnings(entry, config or {})), status


def table_totals(entry: TemplateEntry) -> list[dict[str, Any]]:
    """Checks that cap the sum of a column of a table (`{"<=": [{"reduce": [{"var":
    "config.prizes"}, {"+": [acc, {"var": "current.odds"}]}, 0]}, 10000]}`): the table, the
    column and the cap, so that the form can keep a running total and mark the column's cells."""
    out = []
    for check in entry.doc.get("config", {}).get("checks", []):
        rule = check.get("rule")
        if not isinstance(rule, dict) or set(rule) != {"<="} or len(rule["<="]) != 2:
            continue
        reduced, cap = rule["<="]
        body = reduced.get("reduce") if isinstance(reduced, dict) else None
        if not isinstance(body, list) or len(body) != 3 or not isinstance(cap, int | float):
            continue
        rows = body[0].get("var") if isinstance(body[0], dict) else None
        column = next((v for v in _vars(body[1]) if v.startswith("current.")), None)
        if isinstance(rows, str) and rows.startswith("config.") and column:
            out.append({"table": rows.removeprefix("config."),
                        "column": column.removeprefix("current."), "cap": cap,
                        "field": check.get("field"), "error": check.get("error")})
    return out


def _vars(rule: Any) -> list[str]:
    if isinstance(rule, dict):
        return [v for key, arg in rule.items()
                for v in ([arg] if key == "var" and isinstance(arg, str) else _vars(arg))]
    if isinstance(rule, list):
        return [v for item in rule for v in _vars(item)]
    return []


def with_cell_errors(entry: TemplateEntry, config: dict[str, Any] | None,
                     errors: FieldErrors) -> FieldErrors:
    """A table-level error about a column's total also marks each cell of that column, so the
    merchant sees which numbers to change (the summary still lists it once)."""
    rows_of = config or {}
    out = dict(errors)
    for total in table_totals(entry):
        if not any(e.get("code") == total["error"] for e in errors.get(total["field"], [])):
            continue
        rows = rows_of.get(total["table"])
        for i in range(len(rows) if isinstance(rows, list) else 0):
            key = f"{total['table']}.{i}.{total['column']}"
            out[key] = [*out.get(key, []), {"code": "in_total",
                                            "message": _("Counts toward the total above")}]
    return out


def running_totals(entry: TemplateEntry, config: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The running total of each capped column (the lottery's odds), as the form shows it."""
    out = []
    for total in table_totals(entry):
        rows = (config or {}).get(total["table"])
        rows = rows if isinstance(rows, list) else []
        value = sum(r.get(total["column"], 0) for r in rows if isinstance(r, dict)
                    and isinstance(r.get(total["column"]), int | float))
        out.append({**total, "value": value, "percent": 100.0 * value / total["cap"],
                    "left": max(0.0, 100.0 - 100.0 * value / total["cap"]),
                    "over": value > total["cap"],
                    "label": field_name(entry, f"{total['table']}.0.{total['column']}")})
    return out


WARN_DRAWS = 500  # a prize that runs out within this many draws is worth a warning


def first_part(stock: int, config: dict[str, Any]) -> int:
    """How much of a prize's stock a paced lottery releases at the start (the template's
    `release`: the first of `release_parts` equal parts, with the remainder)."""
    parts = config.get("release_parts")
    if config.get("release") not in ("daily", "hourly") or not isinstance(parts, int) \
            or parts < 2:
        return stock
    return stock - stock // parts * (parts - 1)


def stock_warnings(entry: TemplateEntry, config: dict[str, Any]) -> list[str]:
    """Prizes whose stock runs out almost at once at their odds (a 50 % prize with a stock of
    10 is gone after about 20 draws) — in a paced lottery, the part released first: saved
    anyway, but said."""
    if entry.kind != "lottery" or not isinstance(config.get("prizes"), list):
        return []
    scale = 10000
    out = []
    for prize in config["prizes"]:
        if not isinstance(prize, dict):
            continue
        odds, stock = prize.get("odds"), prize.get("stock")
        if not isinstance(odds, int) or not isinstance(stock, int) or odds <= 0:
            continue
        first = first_part(stock, config)
        draws = first * scale // odds
        if draws >= WARN_DRAWS:
            continue
        name, percent = prize.get("name") or "?", f"{100 * odds / scale:.2f}"
        if first < stock:
            out.append(_("%(prize)s: %(first)s of its stock of %(stock)s come out first; at "
                         "%(percent)s%% odds they run out after about %(draws)s draws.",
                         prize=name, first=first, stock=stock, percent=percent,
                         draws=max(1, draws)))
        else:
            out.append(_("%(prize)s: at %(percent)s%% odds its stock of %(stock)s runs out after "
                         "about %(draws)s draws.", prize=name, percent=percent, stock=stock,
                         draws=max(1, draws)))
    return out


def date_warnings(entry: TemplateEntry, activity: dict[str, Any], now: int) -> list[str]:
    """Date-time settings the activity relies on that cannot work as meant once it is published
    now (or at its planned start): already past, before the start or after the end (a check-in
    pool whose split time has passed splits at once). Said before publishing, never refused."""
    config = activity.get("config") or {}
    tz = activity.get("timezone")
    start = activity["starts_at"] if activity.get("starts_at") and activity["starts_at"] > now \
        else now
    end = activity.get("ends_at")
    out = []
    for name in config_schema(entry).get("properties", {}):
        node = field_node(entry, name)
        if not isinstance(node, dict) or node.get("format") != "date-time":
            continue
        moment = epoch_of(config.get(name))
        if moment is None:
            continue
        field, when = field_name(entry, name), format_time(moment, tz)
        if moment <= now:
            out.append(_("%(field)s (%(when)s) has already passed.", field=field, when=when))
        elif moment < start:
            out.append(_("%(field)s (%(when)s) comes before the activity starts (%(start)s).",
                         field=field, when=when, start=format_time(start, tz)))
        elif end is not None and moment > end:
            out.append(_("%(field)s (%(when)s) comes after the activity ends (%(end)s).",
                         field=field, when=when, end=format_time(end, tz)))
    if end is None:  # what the template does as the activity ends waits for the merchant
        compiled = entry.compiled
        for timer in compiled.activity_timers.values():
            if timer.end and timer.action in compiled.actions:
                out.append(_("“%(action)s” happens as the activity ends, and it has no end "
                             "time: set one, or it happens only when you end the activity.",
                             action=i18n(compiled.actions[timer.action].title)
                             or timer.action))
    return out


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

    settings, setting_errors = read_settings(request.form, default_tz, engine.now())
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
            for warning in stock_warnings(entry, activity["config"]):
                flash(warning, "warning")
            return redirect(url_for("console.activities.preview", activity_id=activity["id"]))
    return form_page(entry, activity=None, settings=settings, config=config,
                     setting_errors=setting_errors, config_errors=config_errors, status=422)


def draws_at_random(entry: TemplateEntry) -> bool:
    """Whether any action of the template draws or splits at random (only then is there a
    seed commitment worth showing)."""
    def walk(value: Any) -> bool:
        if isinstance(value, dict):
            return any(k in ("draw", "split") or walk(v) for k, v in value.items())
        if isinstance(value, list):
            return any(walk(v) for v in value)
        return False
    return walk(entry.doc.get("actions", {})) or walk(entry.doc.get("timers", {}))


@bp.route("/activities/<activity_id>")
@login_required
def detail(activity_id: str):
    return detail_page(activity_id)


def detail_page(activity_id: str, problem: dict[str, str] | None = None, status: int = 200):
    """The activity's page; `problem`: a live control's refused value (`field`: `ends_at` or
    `stock:<config field>`, `message`, the `value` as typed), shown at that control."""
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    published = activity["status"] in ("scheduled", "live", "paused")
    stock = get_engine().stock_lines(current_merchant(), activity_id) if published else []
    schedule = (get_engine().timer_schedule(current_merchant(), activity_id) if published
                else [])
    return render_template("console/activity.html", activity=activity, entry=entry,
                           buttons=BUTTONS.get(activity["status"], ()), verb_labels=VERB_LABELS,
                           status_labels=STATUS_LABELS, kind_labels=KIND_LABELS,
                           editable=activity["status"] not in ("ended", "archived"),
                           live_fields=[field_name(entry, f) for f in entry.doc.get(
                               "config", {}).get("live_editable", [])],
                           fair=draws_at_random(entry) and activity["seed_commitment"],
                           published=published, stock=stock_rows(entry, stock),
                           now=get_engine().now(), flagged=flagged_count(activity),
                           schedule=schedule, yuan=yuan, problem=problem), status


def flagged_count(activity: dict[str, Any]) -> int:
    """Participants the anomaly flags name and the merchant has not dealt with yet."""
    if activity["status"] == "draft":
        return 0
    review = get_engine().flags.flags(current_merchant(), activity["id"])["review"]
    return sum(1 for r in review if r["blocked"] is None)


def stock_rows(entry: TemplateEntry, lines: list[Any]) -> list[dict[str, Any]]:
    """Each stock that can be topped up, named as the merchant knows it; a stock of money (a
    check-in pool's pool) is shown and topped up in yuan."""
    out = []
    for line in lines:
        money = is_money(field_node(entry, line.field))
        name = field_name(entry, line.field)
        name = money_label(name) if money else name
        if line.row is not None and line.row.get("name"):
            name = f"{line.row['name']} · {name}"
        out.append({"field": line.field, "name": name, "left": line.left, "total": line.total,
                    "money": money})
    return out


def read_amount(text: str, money: bool) -> int | None:
    """A top-up as typed: a whole number, or for money an amount in yuan (`100`, `12.50`,
    `¥1,000`) as whole fen; None for anything else."""
    cleaned = (text or "").strip().replace(",", "").replace(" ", "")
    if money:
        cleaned = cleaned.lstrip("¥￥")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if money:
        number *= 100
    if number != number.to_integral_value():
        return None
    return int(number)


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
    held_view = view.get("stock_held")
    held: list[Any] = held_view if isinstance(held_view, list) else []
    rows = []
    for i, prize in enumerate(prizes):
        odds = int(prize.get("odds", 0) or 0)
        rows.append({"name": prize.get("name", ""), "type": prize.get("type", ""),
                     "odds": odds, "percent": 100.0 * odds / scale,
                     "stock": prize.get("stock"),
                     "left": left[i] if left is not None and i < len(left) else prize.get("stock"),
                     "held": held[i] if i < len(held) else 0})
    miss_odds = max(0, scale - sum(r["odds"] for r in rows))
    # Stock still to come (a lottery released in parts): a column only while some is held.
    return {"rows": rows, "scale": scale, "held": any(r["held"] for r in rows),
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
    return preview_page(activity_id)


def preview_page(activity_id: str, problem: dict[str, str] | None = None, status: int = 200):
    """The preview; `problem`: a refused start of the schedule form (`message`, `value`)."""
    activity = load_activity(activity_id)
    entry = pinned_entry(activity)
    view = participant_view(activity)
    actions = [{"name": a.name, "title": i18n(a.title)} for a in entry.compiled.actions.values()
               if a.by == "participant"]
    odds = odds_table(entry, activity["config"], view)
    now = get_engine().now()
    warnings = stock_warnings(entry, activity["config"])
    if activity["status"] == "draft":
        warnings += date_warnings(entry, activity, now)
    return render_template("console/preview.html", activity=activity, entry=entry,
                           view_rows=view_rows(entry, view, skip=ODDS_KEYS if odds else None,
                                               timezone=activity["timezone"],
                                               config=activity["config"]),
                           odds=odds, actions=actions, status_labels=STATUS_LABELS,
                           warnings=warnings, now=now, problem=problem,
                           shopper_preview=shopper_url(activity_id) + "?preview="
                           + get_engine().preview_token(current_merchant(), activity_id)
                           + f"&lang={lang()}"), status


@bp.route("/activities/<activity_id>/publish", methods=["POST"])
@login_required
def publish(activity_id: str):
    activity = load_activity(activity_id)
    engine = get_engine()
    starts_at = None
    typed = request.form.get("starts_at", "")

    def refused(message: str):  # at the schedule's field, with what was typed
        return preview_page(activity_id, {"message": message, "value": typed}, 422)

    if request.form.get("when") == "schedule":
        try:
            starts_at = parse_local_time(typed, activity["timezone"])
        except ValueError:
            starts_at = None
        if starts_at is None:
            return refused(_("Choose when the activity starts."))
        if starts_at <= engine.now():
            return refused(_("The start must be in the future; to start now, publish it now."))
    if activity["status"] == "draft" and activity["ends_at"] is not None \
            and activity["ends_at"] <= engine.now():
        flash(_("The end time of this draft has already passed. Edit the draft and choose an "
                "end in the future, then publish it."), "error")
        return redirect(url_for("console.activities.preview", activity_id=activity_id))
    if request.form.get("when") != "schedule" and activity["status"] == "draft" \
            and activity["starts_at"] is not None and activity["starts_at"] > engine.now():
        # "Publish now" means now: the draft's planned start gives way (Schedule keeps it).
        engine.update_activity(current_merchant(), activity_id, {"starts_at": None})
    draft = activity["status"] == "draft"
    warnings = date_warnings(pinned_entry(activity),
                             {**activity, "starts_at": starts_at}, engine.now()) if draft else []
    try:
        done = engine.publish(current_merchant(), activity_id, starts_at=starts_at)
    except InvalidTransition:
        flash(_("This activity cannot be published now: it is no longer a draft."), "error")
    except InvalidActivity as exc:
        errors = engine_setting_errors(exc)
        message = joined(e["message"] for entries in errors.values() for e in entries)
        if starts_at is not None:
            return refused(message)
        flash(message, "error")
    else:
        if done["status"] == "scheduled":
            flash(_("The activity is scheduled."), "success")
        else:
            flash(_("The activity is live."), "success")
        for warning in warnings:
            flash(warning, "warning")
    return redirect(url_for("console.activities.detail", activity_id=activity_id))


@bp.route("/activities/<activity_id>/<verb>", methods=["POST"])
@login_required
def lifecycle(activity_id: str, verb: str):
    if verb not in (*LIFECYCLE, "duplicate", "start"):
        abort(404)
    activity = load_activity(activity_id)
    engine = get_engine()
    if verb in ("end", "archive") and request.form.get("confirm") != "yes":
        # Neither can be undone: the button leads to a page that says so and asks again.
        return redirect(url_for(f"console.activities.confirm_{verb}", activity_id=activity_id))
    if verb == "start":
        try:
            engine.start_now(current_merchant(), activity_id)
        except InvalidTransition:
            flash(_("Only a scheduled activity can be started early."), "error")
        else:
            flash(_("The activity is live."), "success")
        return redirect(url_for("console.activities.detail", activity_id=activity["id"]))
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

    settings, setting_errors = (read_settings(request.form, activity["timezone"], engine.now())
                                if draft else (current, {}))
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


# live controls ------------------------------------------------------------------------------

@bp.route("/activities/<activity_id>/end")
@login_required
def confirm_end(activity_id: str):
    """Ending cannot be undone: say what it does and ask once more."""
    activity = load_activity(activity_id)
    if activity["status"] not in ("scheduled", "live", "paused"):
        return redirect(url_for("console.activities.detail", activity_id=activity_id))
    return render_template("console/confirm_end.html", activity=activity,
                           status_labels=STATUS_LABELS)


@bp.route("/activities/<activity_id>/archive")
@login_required
def confirm_archive(activity_id: str):
    """Archiving cannot be undone either: say what it does and ask once more."""
    activity = load_activity(activity_id)
    if activity["status"] not in ("draft", "ended"):
        if activity["status"] != "archived":
            flash(_("The activity cannot make that change in its current status."), "error")
        return redirect(url_for("console.activities.detail", activity_id=activity_id))
    return render_template("console/confirm_archive.html", activity=activity,
                           status_labels=STATUS_LABELS)


@bp.route("/activities/<activity_id>/ends_at", methods=["POST"])
@login_required
def set_end(activity_id: str):
    activity = load_activity(activity_id)
    typed = request.form.get("ends_at", "")

    def refused(message: str):  # at the end's field, with what was typed
        return detail_page(activity_id, {"field": "ends_at", "message": message,
                                         "value": typed}, 422)

    try:
        ends_at = parse_local_time(typed, activity["timezone"])
    except ValueError:
        ends_at = None
    if ends_at is None:
        return refused(_("Enter a date and time for the new end."))
    try:
        get_engine().set_end(current_merchant(), activity_id, ends_at)
    except InvalidTransition:
        flash(_("The end of this activity can no longer change."), "error")
    except InvalidActivity as exc:
        errors = engine_setting_errors(exc)
        return refused(joined(e["message"] for entries in errors.values() for e in entries))
    else:
        flash(_("The end time is changed."), "success")
    return redirect(url_for("console.activities.detail", activity_id=activity_id))


@bp.route("/activities/<activity_id>/stock", methods=["POST"])
@login_required
def top_up(activity_id: str):
    activity = load_activity(activity_id)
    field = request.form.get("field", "")
    entry = pinned_entry(activity)
    money = is_money(field_node(entry, field))
    add = read_amount(request.form.get("add", ""), money)
    refused = (_("Top up by an amount from %(least)s to %(most)s.", least=yuan(1),
                 most=yuan(MAX_TOP_UP)) if money
               else _("Top up by a whole number of at least 1."))
    problem = {"field": f"stock:{field}", "message": refused,
               "value": request.form.get("add", "")}
    if add is None or add < 1:
        return detail_page(activity_id, problem, 422)  # at its row, with what was typed
    try:
        get_engine().top_up(current_merchant(), activity_id, field, add)
    except InvalidTransition:
        flash(_("Stock can be topped up only while the activity is scheduled, live or paused."),
              "error")
    except InvalidConfig:
        return detail_page(activity_id, problem, 422)
    else:
        if money:
            flash(_("%(amount)s added to the pool.", amount=yuan(add)), "success")
        else:
            flash(_("%(count)s more on sale.", count=add), "success")
    return redirect(url_for("console.activities.detail", activity_id=activity_id))


# console errors are console pages ------------------------------------------------------------

@bp.route("/activities/<activity_id>/<verb>", methods=["GET"])
@bp.route("/activities/<activity_id>/publish", methods=["GET"], endpoint="publish_get")
@bp.route("/activities/<activity_id>/stock", methods=["GET"], endpoint="stock_get")
@bp.route("/activities/<activity_id>/ends_at", methods=["GET"], endpoint="ends_at_get")
@login_required
def action_by_get(activity_id: str, verb: str = ""):
    """A button's address opened as a page (a bookmark, a reload): say so, in a page."""
    if verb and verb not in (*LIFECYCLE, "duplicate", "start"):
        abort(404)
    load_activity(activity_id)
    abort(405)


@bp.route("/<path:anything>", methods=["GET", "POST"])
def not_found(anything: str):
    abort(404)
