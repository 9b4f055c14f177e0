"""An activity's life: draft → scheduled → live ⇄ paused → ended → archived.

Scheduled starts and ends happen lazily, on the next read or write after their time (and by
the worker when there is one), so an activity is never live past `ends_at` just because
nobody ran a job.
"""

from __future__ import annotations

import secrets
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from magic_cube.catalog import TemplateNotFound
from magic_cube.engine.errors import (
    ActivityNotFound,
    InvalidActivity,
    InvalidConfig,
    InvalidTransition,
    NotEditable,
)
from magic_cube.engine.identity import new_id
from magic_cube.rules.days import zone
from magic_cube.rules.interpreter import initial_activity_state
from magic_cube.rules.rng import commitment
from magic_cube.store.records import ActionRecord, ActivityRecord, Merchant

STATUSES = ("draft", "scheduled", "live", "paused", "ended", "archived")
# status -> the statuses a merchant may move it to
TRANSITIONS = {
    "publish": ("draft",),
    "pause": ("live",),
    "resume": ("paused",),
    "end": ("scheduled", "live", "paused"),
    "archive": ("draft", "ended"),
}
# Room timers are consequences of earlier actions: they fire whether or not new actions are
# accepted, and at the end every open room comes due (`close_at_end`).
TIMER_STATUSES = ("live", "paused", "ended")
DRAFT_FIELDS = {"title", "config", "timezone", "starts_at", "ends_at"}


def follow_config(doc: dict[str, Any], state: dict[str, Any], before: dict[str, Any],
                  after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply a live config edit to the activity's state: a numeric variable whose initial value
    is exactly `{"var": "config.X"}` moves by the same amount as X (raising stock from 5 to 9
    puts 4 more on sale). A move below zero is refused — more is already gone than the new
    value allows. Returns (new state, errors keyed by field)."""
    state = dict(state)
    errors: dict[str, list[dict[str, str]]] = {}
    for name, decl in doc.get("state", {}).get("activity", {}).items():
        initial = decl.get("initial")
        if decl.get("type") not in ("integer", "number") or not isinstance(initial, dict):
            continue
        field = initial.get("var")
        if not isinstance(field, str) or not field.startswith("config."):
            continue
        key = field.removeprefix("config.")
        old, new = before.get(key), after.get(key)
        if key not in before or not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
            continue
        moved = state.get(name, 0) + (new - old)
        if moved < 0:
            errors[key] = [{"code": "below_used", "message":
                            f"At least {old - state.get(name, 0)} are already used"}]
        state[name] = moved
    return state, errors


def bring_timers_forward(tx, activity_id: str, at: int) -> None:
    """Every open room's timers due later than `at` become due at `at`."""
    for room_id in tx.open_room_ids(activity_id):
        stored = tx.get_room(activity_id, room_id)
        if any(due > at for due in stored.room.timers.values()):
            stored.room.timers = {k: min(v, at) for k, v in stored.room.timers.items()}
            tx.update_room(activity_id, stored.room, stored.version)


def due_change(status: str, starts_at: int | None, ends_at: int | None, now: int) -> bool:
    """A scheduled start or end is due, so the activity must be advanced before it is shown."""
    return ((status == "scheduled" and starts_at is not None and starts_at <= now)
            or (status in ("live", "paused") and ends_at is not None and ends_at <= now))


class LifecycleMixin:
    """Creating, editing and moving activities through their statuses (part of `Engine`)."""

    def _activity(self, tx, activity_id: str, merchant: Merchant | None = None) -> ActivityRecord:
        activity = tx.get_activity(activity_id)
        # Another merchant's activity answers exactly like a missing one.
        if activity is None or (merchant is not None and activity.merchant_id != merchant.id):
            raise ActivityNotFound()
        return activity

    def _entry(self, activity: ActivityRecord):
        return self.catalog.get_pinned(activity.template_id, activity.template_version,
                                       activity.template_hash)

    def advance(self, tx, activity: ActivityRecord, now: int) -> bool:
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
            if activity.status == "ended":
                self.close_at_end(tx, activity, activity.ended_at, now)
        return changed

    def close_at_end(self, tx, activity: ActivityRecord, ended_at: int, now: int) -> None:
        """Rooms still open when the activity ends come due at its end: a group that can no
        longer fill is refunded then, not a day later. Logged (`$end`) so replay agrees."""
        template = self._entry(activity).compiled
        if not template.timers:
            return
        activity.seq += 1
        tx.insert_action(ActionRecord(
            activity_id=activity.id, seq=activity.seq, at=now, actor_kind="merchant",
            participant_id="", action="$end", params={"at": ended_at}, room_id=None,
            new_room_id=None, result={}, events=[], random=[]))
        tx.update_activity(activity.id, bump=False, seq=activity.seq)
        bring_timers_forward(tx, activity.id, ended_at)
        self.fire_due_timers(tx, activity, template, now)

    def _check_settings(self, fields: dict[str, Any]) -> None:
        errors: dict[str, list[dict[str, str]]] = {}
        tz = fields.get("timezone")
        if tz is not None:
            try:
                zone(tz)
            except (ZoneInfoNotFoundError, ValueError):
                errors["timezone"] = [{"code": "invalid_timezone",
                                       "message": f"Unknown time zone {tz!r} (use an IANA name)"}]
        starts, ends = fields.get("starts_at"), fields.get("ends_at")
        if starts is not None and ends is not None and ends <= starts:
            errors["ends_at"] = [{"code": "ends_before_start",
                                  "message": "The end must be after the start"}]
        if errors:
            raise InvalidActivity(errors=errors)

    def _validated_config(self, entry, config: Any, lang: str = "en") -> dict[str, Any]:
        filled, errors = entry.config_validator.validate(config, lang=lang)
        if errors:
            raise InvalidConfig(errors=errors)
        return filled

    def create_activity(self, merchant: Merchant, template_id: str, config: Any,
                        title: str | None = None, template_version: str | None = None,
                        timezone: str | None = None, starts_at: int | None = None,
                        ends_at: int | None = None, lang: str = "en") -> dict[str, Any]:
        try:
            entry = self.catalog.get(template_id, template_version)
        except TemplateNotFound as exc:
            raise InvalidActivity(str(exc), errors={"template_id": [
                {"code": "template_not_found", "message": str(exc)}]}) from exc
        timezone = timezone or self.settings.default_timezone
        self._check_settings({"timezone": timezone, "starts_at": starts_at, "ends_at": ends_at})
        config = self._validated_config(entry, config, lang)
        now = self.now()
        activity = ActivityRecord(
            id=new_id("act"), merchant_id=merchant.id, template_id=entry.id,
            template_version=entry.version, template_hash=entry.content_hash,
            title=title or entry.title.get(lang) or entry.id, status="draft", config=config,
            timezone=timezone, starts_at=starts_at, ends_at=ends_at, created_at=now,
            updated_at=now)
        with self.store.transaction() as tx:
            tx.insert_activity(activity)
        return self.describe(activity)

    def get_activity(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        with self.store.transaction() as tx:
            activity = self._activity(tx, activity_id, merchant)
            self.advance(tx, activity, self.now())
        return self.describe(activity)

    def list_activities(self, merchant: Merchant, status: str | None = None,
                        search: str | None = None, cursor: str | None = None,
                        limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        now = self.now()
        with self.store.transaction(write=False) as tx:
            rows = tx.list_activities(merchant.id, status, search, cursor, limit + 1)
        if any(due_change(a.status, a.starts_at, a.ends_at, now) for a in rows):
            with self.store.transaction() as tx:  # show due starts and ends as they are
                for activity in rows:
                    self.advance(tx, activity, now)
        more = len(rows) > limit
        rows = rows[:limit]
        return [self.describe(a) for a in rows], (rows[-1].id if more else None)

    def update_activity(self, merchant: Merchant, activity_id: str, changes: dict[str, Any],
                        lang: str = "en") -> dict[str, Any]:
        """Drafts change freely; afterwards only the template's live-editable config fields."""
        if not changes:
            return self.get_activity(merchant, activity_id)
        now = self.now()
        with self.store.transaction() as tx:
            activity = self._activity(tx, activity_id, merchant)
            self.advance(tx, activity, now)
            entry = self._entry(activity)
            unknown = set(changes) - DRAFT_FIELDS
            if unknown:
                raise InvalidActivity(errors={k: [{"code": "unknown_field",
                                                   "message": "Not a field of an activity"}]
                                              for k in sorted(unknown)})
            if activity.status == "draft":
                merged = {**vars(activity), **changes}
                self._check_settings(merged)
                if "config" in changes:
                    changes["config"] = self._validated_config(entry, changes["config"], lang)
                for key, value in changes.items():
                    setattr(activity, key, value)
                self._timezones.pop(activity.id, None)
                activity.updated_at = now
                tx.update_activity(activity.id, updated_at=now, **changes)
                return self.describe(activity)
            if activity.status in ("ended", "archived") or set(changes) - {"config"}:
                raise NotEditable(errors={k: [{"code": "not_editable",
                                               "message": f"Cannot change while {activity.status}"}]
                                          for k in sorted(set(changes) - {"config"}) or ["config"]})
            new = changes["config"]
            if not isinstance(new, dict):
                raise InvalidConfig(errors={"": [{"code": "type", "message": "must be an object"}]})
            # The stored config has its defaults filled in: compare like with like, so that
            # resending the config as first written (defaults omitted) changes nothing frozen.
            new = entry.config_validator.fill_defaults(new)
            frozen = sorted(k for k in set(new) | set(activity.config)
                            if new.get(k) != activity.config.get(k) and k not in entry.compiled.live_editable)
            if frozen:
                raise NotEditable(errors={k: [{"code": "not_editable",
                                               "message": "Cannot change once published"}]
                                          for k in frozen})
            config = self._validated_config(entry, new, lang)
            before = {k: activity.config.get(k) for k in config if config.get(k) != activity.config.get(k)}
            if before:
                after = {k: config.get(k) for k in before}
                state, errors = follow_config(entry.doc, activity.state, before, after)
                if errors:
                    raise NotEditable(errors=errors)
                # Logged, so that replay applies the change where it happened.
                activity.seq += 1
                tx.insert_action(ActionRecord(
                    activity_id=activity.id, seq=activity.seq, at=now, actor_kind="merchant",
                    participant_id="", action="$config", params={"before": before,
                    "after": after}, room_id=None, new_room_id=None,
                    result={}, events=[], random=[]))
                activity.config = config
                activity.state = state
                activity.updated_at = now
                tx.update_activity(activity.id, config=config, state=state, seq=activity.seq,
                                   updated_at=now)
                activity.version += 1
        self.notify(activity.id)
        return self.describe(activity)

    def _transition(self, merchant: Merchant, activity_id: str, verb: str,
                    starts_at: int | None = None) -> dict[str, Any]:
        now = self.now()
        with self.store.transaction() as tx:
            activity = self._activity(tx, activity_id, merchant)
            self.advance(tx, activity, now)
            if activity.status not in TRANSITIONS[verb]:
                raise InvalidTransition(f"Cannot {verb} an activity that is {activity.status}")
            fields: dict[str, Any] = {}
            if verb == "publish":
                entry = self._entry(activity)
                if starts_at is not None:
                    self._check_settings({"starts_at": starts_at, "ends_at": activity.ends_at})
                    fields["starts_at"] = starts_at
                start = fields.get("starts_at", activity.starts_at)
                if activity.ends_at is not None and activity.ends_at <= now:
                    raise InvalidTransition("The activity's end time has already passed")
                seed = secrets.token_hex(32)
                state = initial_activity_state(entry.compiled, activity.config,
                                               max(now, start or now), activity.timezone)
                fields.update(status="scheduled" if start is not None and start > now else "live",
                              published_at=now, seed=seed, seed_commitment=commitment(seed),
                              state=state, initial_state=state)
                if fields["status"] == "live" and start is None:
                    fields["starts_at"] = now
            elif verb == "pause":
                fields["status"] = "paused"
            elif verb == "resume":
                fields["status"] = "live"
            elif verb == "end":
                fields.update(status="ended", ended_at=now)
            elif verb == "archive":
                fields["status"] = "archived"
            fields["updated_at"] = now
            tx.update_activity(activity.id, **fields)
            for key, value in fields.items():
                setattr(activity, key, value)
            activity.version += 1
            if verb == "end":
                self.close_at_end(tx, activity, now, now)
        self.notify(activity.id)
        return self.describe(activity)

    def publish(self, merchant: Merchant, activity_id: str,
                starts_at: int | None = None) -> dict[str, Any]:
        """Go live now, or at `starts_at` when that is in the future."""
        return self._transition(merchant, activity_id, "publish", starts_at)

    def pause(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self._transition(merchant, activity_id, "pause")

    def resume(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self._transition(merchant, activity_id, "resume")

    def end(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self._transition(merchant, activity_id, "end")

    def archive(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        return self._transition(merchant, activity_id, "archive")

    def duplicate(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """A new draft with the same template version, config and settings."""
        with self.store.transaction(write=False) as tx:
            source = self._activity(tx, activity_id, merchant)
        now = self.now()
        copy = ActivityRecord(
            id=new_id("act"), merchant_id=merchant.id, template_id=source.template_id,
            template_version=source.template_version, template_hash=source.template_hash,
            title=source.title, status="draft", config=source.config, timezone=source.timezone,
            starts_at=None, ends_at=None, created_at=now, updated_at=now)
        with self.store.transaction() as tx:
            tx.insert_activity(copy)
        return self.describe(copy)

    def describe(self, a: ActivityRecord) -> dict[str, Any]:
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
        }
