"""An activity's life: draft → scheduled → live ⇄ paused → ended → archived.

Scheduled starts and ends happen lazily, on the next read or write after their time (and on
time by the worker, through `tick`), so an activity is never live past `ends_at` just because
nobody ran a job.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from magic_cube.catalog import TemplateEntry, TemplateNotFound
from magic_cube.engine.core import Core, kept_doc, new_id
from magic_cube.engine.errors import (
    ActivityNotFound,
    InvalidActivity,
    InvalidConfig,
    InvalidTransition,
    NotEditable,
)
from magic_cube.engine.performer import Performer
from magic_cube.errors import shown
from magic_cube.i18n import N_
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.days import FIRST_YEAR, LAST_YEAR, is_iana_zone, supported_time
from magic_cube.rules.interpreter import initial_activity_state
from magic_cube.rules.rng import commitment
from magic_cube.store import Tx
from magic_cube.store.records import ActionRecord, ActivityRecord, Merchant

STATUSES = ("draft", "scheduled", "live", "paused", "ended", "archived")
# verb -> the statuses an activity may be in for a merchant to apply it
TRANSITIONS = {
    "publish": ("draft",),
    "pause": ("live",),
    "resume": ("paused",),
    "end": ("scheduled", "live", "paused"),
    "archive": ("draft", "ended"),
}
REFUSED = {  # verb -> what refusing it says (in the request's language, with the status's word)
    "publish": N_("Cannot publish an activity that is {status}"),
    "pause": N_("Cannot pause an activity that is {status}"),
    "resume": N_("Cannot resume an activity that is {status}"),
    "end": N_("Cannot end an activity that is {status}"),
    "archive": N_("Cannot archive an activity that is {status}"),
}
# verb -> the status it leads to (publishing: live, or scheduled for a later start)
STATUS_AFTER = {"publish": "live", "pause": "paused", "resume": "live", "end": "ended",
                "archive": "archived"}
# Room timers are consequences of earlier actions: they fire whether or not new actions are
# accepted, and at the end every open room comes due (`close_at_end`).
TIMER_STATUSES = ("live", "paused", "ended")
DRAFT_FIELDS = {"title", "config", "timezone", "starts_at", "ends_at", "guests"}
TIMES = ("starts_at", "ends_at")
OUT_OF_RANGE = f"Must be in the years {FIRST_YEAR} to {LAST_YEAR} (UTC)"
FieldErrors = dict[str, list[dict[str, str]]]


def known_timezone(name: str) -> bool:
    """Whether `name` is an IANA time zone this server knows (`is_iana_zone`)."""
    return is_iana_zone(name)


def _instant(value: Any) -> datetime | None:
    """A date-time string with an offset as the instant it names, else None."""
    if not isinstance(value, str) or len(value) < 20:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def same_setting(old: Any, new: Any) -> bool:
    """Whether a config value is unchanged: equal, or the same instants written with another
    offset — the API reads a config's `*_at` date-times back in UTC (`…Z`), so a config
    resent as read must not count as changing them."""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same_setting(old[k], new[k]) for k in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(same_setting, old, new))
    if old == new:
        return True
    instant = _instant(old)
    return instant is not None and instant == _instant(new)


def follow_config(doc: dict[str, Any], state: dict[str, Any], before: dict[str, Any],
                  after: dict[str, Any]) -> tuple[dict[str, Any], FieldErrors]:
    """Apply a live config edit to the activity's state: a numeric variable whose initial value
    is exactly `{"var": "config.X"}` moves by the same amount as X (raising stock from 5 to 9
    puts 4 more on sale). A move below zero is refused — more is already gone than the new
    value allows. Returns (new state, errors keyed by field)."""
    state = dict(state)
    errors: FieldErrors = {}
    for name, decl in doc.get("state", {}).get("activity", {}).items():
        initial = decl.get("initial")
        if decl.get("type") not in ("integer", "number") or not isinstance(initial, dict):
            continue
        field = initial.get("var")
        if not isinstance(field, str) or not field.startswith("config."):
            continue
        key = field.removeprefix("config.")
        old, new = before.get(key), after.get(key)
        if key not in before or not isinstance(old, int | float) \
                or not isinstance(new, int | float):
            continue
        moved = state.get(name, 0) + (new - old)
        if moved < 0:
            errors[key] = [{"code": "below_used", "message":
                            f"At least {old - state.get(name, 0)} are already used"}]
        state[name] = moved
    return state, errors


def bring_timers_forward(tx: Tx, activity_id: str, at: int) -> None:
    """Every open room's timers due later than `at` become due at `at`."""
    for room_id in tx.open_room_ids(activity_id):
        stored = tx.get_room(activity_id, room_id)
        if stored is not None and any(due > at for due in stored.room.timers.values()):
            stored.room.timers = {k: min(v, at) for k, v in stored.room.timers.items()}
            tx.update_room(activity_id, stored.room, stored.version)


def due_change(status: str, starts_at: int | None, ends_at: int | None, now: int,
               next_due: int | None = None) -> bool:
    """A scheduled start or end, or an activity timer (`next_due`), is due, so the activity
    must be advanced before it is shown."""
    return ((status == "scheduled" and starts_at is not None and starts_at <= now)
            or (status in ("live", "paused") and ends_at is not None and ends_at <= now)
            or (status in ("live", "paused", "ended") and next_due is not None
                and next_due <= now))


def time_error(ts: Any) -> dict[str, str] | None:
    """The error of an activity time (epoch seconds) outside the years we support, or None:
    the API, the console and the engine refuse such a time alike."""
    if isinstance(ts, int) and not supported_time(ts):
        return {"code": "out_of_range", "message": OUT_OF_RANGE}
    return None


def time_errors(fields: dict[str, Any]) -> FieldErrors:
    """`time_error` of each of the activity's times in `fields`, by field."""
    return {name: [error] for name in TIMES if (error := time_error(fields.get(name)))}


def check_settings(fields: dict[str, Any]) -> None:
    """An activity's own settings (time zone, start, end) make sense, or `InvalidActivity`."""
    errors = time_errors(fields)
    starts, ends = fields.get("starts_at"), fields.get("ends_at")
    if not errors and starts is not None and ends is not None and ends <= starts:
        errors["ends_at"] = [{"code": "ends_before_start",
                              "message": "The end must be after the start"}]
    tz = fields.get("timezone")
    if tz is not None and not known_timezone(tz):
        errors["timezone"] = [{"code": "invalid_timezone",
                               "message": f"Unknown time zone {shown(tz)}: use an IANA name "
                                          "such as Asia/Shanghai"}]
    if errors:
        raise InvalidActivity(errors=errors)


def validated_config(entry: TemplateEntry, config: Any, lang: str = "en") -> dict[str, Any]:
    """The merchant's config with its defaults filled in, or `InvalidConfig`."""
    filled, errors = entry.config_validator.validate(config, lang=lang)
    if errors:
        raise InvalidConfig(errors=errors)
    return filled


def describe(a: ActivityRecord) -> dict[str, Any]:
    """The merchant's view of an activity."""
    return {
        "id": a.id, "title": a.title, "status": a.status,
        "template": {"id": a.template_id, "version": a.template_version,
                     "hash": a.template_hash},
        "config": a.config, "timezone": a.timezone,
        "starts_at": a.starts_at, "ends_at": a.ends_at,
        "created_at": a.created_at, "updated_at": a.updated_at,
        "published_at": a.published_at, "ended_at": a.ended_at,
        "seed_commitment": a.seed_commitment,
        "seed": a.seed if a.status in ("ended", "archived") else None,
        "actions": a.seq,
        "guests": a.guests,
    }


def not_editable(fields: list[str], message: str) -> NotEditable:
    return NotEditable(errors={k: [{"code": "not_editable", "message": message}]
                               for k in fields})


@dataclass
class ActivityTick:
    """What applying an activity's due work did (for the worker's counts and logs)."""

    activity_id: str
    status_before: str
    status: str
    fired: int

    @property
    def changed(self) -> bool:
        return self.fired > 0 or self.status != self.status_before


class Lifecycle:
    """Creating, editing and moving activities through their statuses, and applying what
    comes due (scheduled starts and ends; room timers through the performer)."""

    def __init__(self, core: Core, performer: Performer) -> None:
        self.core = core
        self.performer = performer

    # due work ------------------------------------------------------------------------------

    def advance(self, tx: Tx, activity: ActivityRecord, now: int) -> bool:
        """Apply a due scheduled start or end; True if the activity changed."""
        changed = False
        if activity.status == "scheduled" and activity.starts_at is not None \
                and activity.starts_at <= now:
            activity.status = "live"
            changed = True
        if activity.status in ("live", "paused") and activity.ends_at is not None \
                and activity.ends_at <= now:
            activity.status = "ended"
            activity.ended_at = activity.ends_at
            changed = True
        if changed:
            activity.updated_at = now
            tx.update_activity(activity.id, status=activity.status, ended_at=activity.ended_at,
                               updated_at=now)
            activity.version += 1
            if activity.status == "ended" and activity.ended_at is not None:
                self.close_at_end(tx, activity, activity.ended_at, now)
            else:  # just started: its own timers count from now on
                self.timers_moved(tx, activity, now)
        return changed

    def close_at_end(self, tx: Tx, activity: ActivityRecord, ended_at: int, now: int) -> None:
        """Rooms still open when the activity ends come due at its end: a group that can no
        longer fill is refunded then, not a day later. Logged (`$end`) so replay agrees."""
        template = self.core.template(activity)
        if template.timers:
            self._close_rooms_at_end(tx, activity, template, ended_at, now)
        # Then the activity's own timers: those still due, and `at: "end"` (after the rooms,
        # so that a settlement at the end sees every room closed).
        self.performer.fire_activity_timers(tx, activity, template, now, force=True)

    def _close_rooms_at_end(self, tx: Tx, activity: ActivityRecord,
                            template: CompiledTemplate, ended_at: int, now: int) -> None:
        activity.seq += 1
        tx.insert_action(ActionRecord(
            activity_id=activity.id, seq=activity.seq, at=now, actor_kind="merchant",
            participant_id="", action="$end", params={"at": ended_at}, room_id=None,
            new_room_id=None, result={}, events=[], random=[]))
        tx.update_activity(activity.id, bump=False, seq=activity.seq)
        bring_timers_forward(tx, activity.id, ended_at)
        self.performer.fire_due_timers(tx, activity, template, now)

    def fresh(self, activity_id: str) -> ActivityRecord:
        """The activity with any due start or end applied (a write only when one is due).
        Drafts are the merchant's business: to participants they do not exist."""
        core = self.core
        now = core.now()
        with core.store.transaction(write=False) as tx:
            activity = core.activity(tx, activity_id)
        if activity.unpublished:
            raise ActivityNotFound()
        if due_change(activity.status, activity.starts_at, activity.ends_at, now,
                      activity.next_due):
            with core.store.transaction() as tx:
                activity = core.activity(tx, activity_id)
                changed = self.advance(tx, activity, now)
                if activity.status in TIMER_STATUSES:
                    changed = self.performer.fire_activity_timers(
                        tx, activity, core.template(activity), now) > 0 or changed
                if changed:
                    core.notify(activity_id)
        return activity

    def due_activities(self, now: int, limit: int) -> list[str]:
        """Activities with work due at `now` (starts, ends, room timers), for the worker."""
        with self.core.store.transaction(write=False) as tx:
            return tx.due_activity_ids(now, limit)

    def tick(self, activity_id: str, now: int) -> ActivityTick | None:
        """Apply whatever is due on one activity at `now`, in one write transaction, through
        the same code the lazy path takes; None if the activity does not exist."""
        core = self.core
        with core.store.transaction() as tx:
            activity = tx.get_activity(activity_id)
            if activity is None:
                return None
            before = activity.status
            self.advance(tx, activity, now)
            fired = 0
            if activity.status in TIMER_STATUSES:
                template = core.template(activity)
                fired = self.performer.fire_activity_timers(tx, activity, template, now)
                fired += self.performer.fire_due_timers(tx, activity, template, now,
                                                        limit=core.settings.timer_batch)
            tick = ActivityTick(activity_id, before, activity.status, fired)
        if tick.changed:
            core.notify(activity_id)
        return tick

    # the merchant's activities -------------------------------------------------------------

    def create_activity(self, merchant: Merchant, template_id: str, config: Any,
                        title: str | None = None, template_version: str | None = None,
                        timezone: str | None = None, starts_at: int | None = None,
                        ends_at: int | None = None, lang: str = "en",
                        guests: bool = False) -> dict[str, Any]:
        try:
            entry = self.core.catalog.get(template_id, template_version)
        except TemplateNotFound as exc:
            raise InvalidActivity(str(exc), errors={"template_id": [
                {"code": "template_not_found", "message": str(exc)}]}) from exc
        timezone = timezone or self.core.settings.default_timezone
        check_settings({"timezone": timezone, "starts_at": starts_at, "ends_at": ends_at})
        config = validated_config(entry, config, lang)
        now = self.core.now()
        activity = ActivityRecord(
            id=new_id("act"), merchant_id=merchant.id, template_id=entry.id,
            template_version=entry.version, template_hash=entry.content_hash,
            title=title or entry.title.get(lang) or entry.id, status="draft", config=config,
            timezone=timezone, starts_at=starts_at, ends_at=ends_at, created_at=now,
            updated_at=now, guests=bool(guests))
        with self.core.store.transaction() as tx:
            tx.keep_template_docs([kept_doc(entry)], now)  # its rules, should the file change
            tx.insert_activity(activity)
        return describe(activity)

    def get_activity(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        with self.core.store.transaction() as tx:
            activity = self.core.activity(tx, activity_id, merchant)
            self.advance(tx, activity, self.core.now())
        return describe(activity)

    def list_activities(self, merchant: Merchant, status: str | None = None,
                        search: str | None = None, cursor: str | None = None,
                        limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        now = self.core.now()
        with self.core.store.transaction(write=False) as tx:
            rows = tx.list_activities(merchant.id, status, search, cursor, limit + 1)
        if any(due_change(a.status, a.starts_at, a.ends_at, now) for a in rows):
            with self.core.store.transaction() as tx:  # show due starts and ends as they are
                for activity in rows:
                    self.advance(tx, activity, now)
        more = len(rows) > limit
        rows = rows[:limit]
        return [describe(a) for a in rows], (rows[-1].id if more else None)

    def update_activity(self, merchant: Merchant, activity_id: str, changes: dict[str, Any],
                        lang: str = "en") -> dict[str, Any]:
        """Drafts change freely; afterwards only the template's live-editable config fields."""
        if not changes:
            return self.get_activity(merchant, activity_id)
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self.core.activity(tx, activity_id, merchant)
            self.advance(tx, activity, now)
            unknown = set(changes) - DRAFT_FIELDS
            if unknown:
                raise InvalidActivity(errors={k: [{"code": "unknown_field",
                                                   "message": "Not a field of an activity"}]
                                              for k in sorted(unknown)})
            if "guests" in changes:  # a setting of the page, not of the rules: any time
                activity.guests = bool(changes.pop("guests"))
                tx.update_activity(activity.id, bump=False, guests=activity.guests)
            if activity.status == "draft":
                self._edit_draft(tx, activity, changes, now, lang)
                return describe(activity)
            if changes:
                self._edit_live(tx, activity, changes, now, lang)
        self.core.notify(activity.id)
        return describe(activity)

    def _edit_draft(self, tx: Tx, activity: ActivityRecord, changes: dict[str, Any], now: int,
                    lang: str) -> None:
        check_settings({**vars(activity), **changes})
        if "config" in changes:
            changes["config"] = validated_config(self.core.entry(activity), changes["config"],
                                                 lang)
        for key, value in changes.items():
            setattr(activity, key, value)
        self.core.timezones.pop(activity.id, None)
        activity.updated_at = now
        tx.update_activity(activity.id, updated_at=now, **changes)

    def _edit_live(self, tx: Tx, activity: ActivityRecord, changes: dict[str, Any], now: int,
                   lang: str) -> None:
        """A live config edit: only live-editable fields, and state that follows them."""
        if activity.status in ("ended", "archived") or set(changes) - {"config"}:
            raise not_editable(sorted(set(changes) - {"config"}) or ["config"],
                               f"Cannot change while {activity.status}")
        new = changes["config"]
        if not isinstance(new, dict):
            raise InvalidConfig(errors={"": [{"code": "type", "message": "must be an object"}]})
        entry = self.core.entry(activity)
        # The stored config has its defaults filled in: compare like with like, so that
        # resending the config as first written (defaults omitted) changes nothing frozen.
        new = entry.config_validator.fill_defaults(new)
        old = activity.config
        frozen = sorted(k for k in set(new) | set(old) if not same_setting(old.get(k), new.get(k))
                        and k not in entry.compiled.live_editable)
        if frozen:
            raise not_editable(frozen, "Cannot change once published")
        # A value resent in another form keeps its stored form: nothing to log or follow.
        new = {k: (old[k] if k in old and same_setting(old[k], v) else v) for k, v in new.items()}
        config = validated_config(entry, new, lang)
        before = {k: old.get(k) for k in config if config.get(k) != old.get(k)}
        if not before:
            return
        after = {k: config.get(k) for k in before}
        state, errors = follow_config(entry.doc, activity.state, before, after)
        if errors:
            raise NotEditable(errors=errors)
        # Logged, so that replay applies the change where it happened.
        activity.seq += 1
        tx.insert_action(ActionRecord(
            activity_id=activity.id, seq=activity.seq, at=now, actor_kind="merchant",
            participant_id="", action="$config", params={"before": before, "after": after},
            room_id=None, new_room_id=None, result={}, events=[], random=[]))
        activity.config = config
        activity.state = state
        activity.updated_at = now
        tx.update_activity(activity.id, config=config, state=state, seq=activity.seq,
                           updated_at=now)
        activity.version += 1
        self.timers_moved(tx, activity, now)  # a timer may read the config

    def timers_moved(self, tx: Tx, activity: ActivityRecord, now: int) -> None:
        """After a change that can move the activity's own timers (config, start, end)."""
        self.performer.fire_activity_timers(tx, activity, self.core.template(activity),
                                           now, force=True)

    def transition(self, merchant: Merchant, activity_id: str, verb: str,
                   starts_at: int | None = None) -> dict[str, Any]:
        """Apply a merchant's verb (`publish`, `pause`, `resume`, `end`, `archive`)."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self.core.activity(tx, activity_id, merchant)
            self.advance(tx, activity, now)
            if activity.status not in TRANSITIONS[verb]:
                raise InvalidTransition(REFUSED[verb], words={"status": activity.status})
            fields: dict[str, Any] = {"status": STATUS_AFTER[verb]}
            if verb == "publish":
                fields = self._publish_fields(activity, starts_at, now)
            elif verb == "end":
                fields["ended_at"] = now
            fields["updated_at"] = now
            tx.update_activity(activity.id, **fields)
            for key, value in fields.items():
                setattr(activity, key, value)
            activity.version += 1
            if verb == "end":
                self.close_at_end(tx, activity, now, now)
            elif activity.status in ("live", "paused"):  # when its own timers come due
                self.timers_moved(tx, activity, now)
        self.core.notify(activity.id)
        return describe(activity)

    def _publish_fields(self, activity: ActivityRecord, starts_at: int | None,
                        now: int) -> dict[str, Any]:
        """Going live now or at `starts_at`: the initial state, and the seed whose hash is
        published now and which is revealed at the end."""
        fields: dict[str, Any] = {}
        if starts_at is not None:
            fields["starts_at"] = starts_at
        start = fields.get("starts_at", activity.starts_at)
        # The draft's own times too: a row from before they were checked may hold any.
        check_settings({"starts_at": start, "ends_at": activity.ends_at})
        if activity.ends_at is not None and activity.ends_at <= now:
            raise InvalidTransition("The activity's end time has already passed")
        seed = secrets.token_hex(32)
        state = initial_activity_state(self.core.template(activity), activity.config,
                                       max(now, start or now), activity.timezone)
        fields.update(status="scheduled" if start is not None and start > now else "live",
                      published_at=now, seed=seed, seed_commitment=commitment(seed),
                      state=state, initial_state=state)
        if fields["status"] == "live" and start is None:
            fields["starts_at"] = now
        return fields

    def duplicate(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """A new draft with the same template version, config and settings."""
        with self.core.store.transaction(write=False) as tx:
            source = self.core.activity(tx, activity_id, merchant)
        now = self.core.now()
        copy = ActivityRecord(
            id=new_id("act"), merchant_id=merchant.id, template_id=source.template_id,
            template_version=source.template_version, template_hash=source.template_hash,
            title=source.title, status="draft", config=source.config, timezone=source.timezone,
            starts_at=None, ends_at=None, created_at=now, updated_at=now, guests=source.guests)
        with self.core.store.transaction() as tx:
            tx.insert_activity(copy)
        return describe(copy)
