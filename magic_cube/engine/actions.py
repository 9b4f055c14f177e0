"""One action = one transaction.

Load the snapshot the action needs, fire the activity's due room timers first (lazily, so
correctness never waits for a worker), run the pure interpreter, then write state changes, the
action-log entry, outbox events, counters and the idempotency record together — or nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from magic_cube.catalog.errors import error_info
from magic_cube.engine.errors import (
    ActivityNotLive,
    ConcurrentUpdate,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    RoomNotFound,
    UnknownAction,
)
from magic_cube.engine.identity import Participant
from magic_cube.engine.stats import hour_of
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.interpreter import due_timers, run
from magic_cube.rules.model import Actor, Outcome, Rejection, Snapshot
from magic_cube.rules.rng import Rng, action_label
from magic_cube.store import Conflict
from magic_cube.store.records import (
    ActionRecord,
    ActivityRecord,
    IdempotencyRecord,
    Merchant,
    ParticipantRecord,
    StoredRoom,
)

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass
class ActionResponse:
    status: int
    body: dict[str, Any]
    replayed: bool = False  # answered from the idempotency record
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """Everything that decides an action's outcome; a logged action replays from these."""

    action: str
    participant: str
    kind: str
    params: dict[str, Any]
    room_id: str | None
    display_name: str = ""
    # Replay supplies these from the log instead of working them out.
    forced: ActionRecord | None = None


def request_hash(action: str, params: Any, room_id: str | None, kind: str) -> str:
    body = json.dumps([action, params, room_id, kind], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class ActionsMixin:
    """Performing actions (part of `Engine`)."""

    def act(self, activity_id: str, action: str, participant: Participant,
            params: dict[str, Any] | None = None, room_id: str | None = None,
            idempotency_key: str | None = None, lang: str = "en") -> ActionResponse:
        """A participant performs `action`. Refusals come back as a 4xx `ActionResponse`."""
        req = Request(action, participant.id, "participant", params or {}, room_id,
                      participant.display_name)
        return self._act_idempotent(activity_id, req, idempotency_key, None, lang)

    def merchant_act(self, merchant: Merchant, activity_id: str, action: str,
                     participant_id: str, params: dict[str, Any] | None = None,
                     room_id: str | None = None, idempotency_key: str | None = None,
                     lang: str = "en") -> ActionResponse:
        """The merchant's backend performs a `by: merchant` action for one participant."""
        req = Request(action, participant_id, "merchant", params or {}, room_id)
        return self._act_idempotent(activity_id, req, idempotency_key, merchant, lang)

    def _act_idempotent(self, activity_id: str, req: Request, key: str | None,
                        merchant: Merchant | None, lang: str) -> ActionResponse:
        if key is None:
            return self._act_once(activity_id, req, merchant, lang, None)
        if not _KEY.match(key):
            raise InvalidIdempotencyKey()
        digest = request_hash(req.action, req.params, req.room_id, req.kind)
        scope = req.participant if req.kind == "participant" else f"merchant:{req.participant}"
        now = self.now()
        with self.store.transaction() as tx:
            self._activity(tx, activity_id, merchant)
            record = tx.get_idempotency(activity_id, scope, key)
            if record is not None and record.created_at < now - self.settings.idempotency_ttl:
                tx.delete_idempotency(activity_id, scope, key)  # expired: usable afresh
                record = None
            if record is not None and record.state == "done":
                if record.request_hash != digest:
                    raise IdempotencyKeyReused()
                return ActionResponse(record.status, record.response, replayed=True)
            claimed = tx.claim_idempotency(
                IdempotencyRecord(activity_id, scope, key, digest, "pending", None, None, now),
                stale_before=now - self.settings.idempotency_pending_timeout)
            if not claimed:
                if record is not None and record.request_hash != digest:
                    raise IdempotencyKeyReused()
                raise IdempotencyInFlight()
        try:
            return self._act_once(activity_id, req, merchant, lang, (scope, key))
        except BaseException:
            with self.store.transaction() as tx:
                tx.release_idempotency(activity_id, scope, key)
            raise

    def _act_once(self, activity_id: str, req: Request, merchant: Merchant | None, lang: str,
                  idem: tuple[str, str] | None) -> ActionResponse:
        now = self.now()
        try:
            with self.store.transaction() as tx:
                activity = self._activity(tx, activity_id, merchant)
                self.advance(tx, activity, now)
                template = self._entry(activity).compiled
                response = self._checked(tx, activity, template, req, now, lang)
                if idem is not None:
                    tx.complete_idempotency(activity_id, idem[0], idem[1], response.status,
                                            response.body)
        except Conflict as exc:
            raise ConcurrentUpdate() from exc
        self.notify(activity_id)
        return response

    def _checked(self, tx, activity: ActivityRecord, template: CompiledTemplate, req: Request,
                 now: int, lang: str) -> ActionResponse:
        if activity.status != "live":
            raise ActivityNotLive(f"The activity is {activity.status}", errors={"status": [
                {"code": activity.status, "message": f"The activity is {activity.status}"}]})
        spec = template.actions.get(req.action)
        if spec is None or (spec.by == "timer"):
            raise UnknownAction(f"No action {req.action!r} in this activity")
        self.fire_due_timers(tx, activity, template, now, room_id=req.room_id)
        outcome = self._perform(tx, activity, template, req, now)
        if isinstance(outcome, Rejection):
            return self.refusal(template, outcome, lang)
        return ActionResponse(200, {
            "ok": True, "action": req.action, "seq": activity.seq, "result": outcome.result,
            "events": [e.type for e in outcome.events],
            "room": outcome.room.room.id if outcome.room else req.room_id,
        })

    def refusal(self, template: CompiledTemplate, rejection: Rejection,
                lang: str) -> ActionResponse:
        status, messages = error_info(rejection.error, template.errors) or (409, {})
        body = {"error": rejection.error, "status": status,
                "message": messages.get(lang) or messages.get("en") or rejection.error}
        if rejection.error == "invalid_params":
            # Like every validation error: keyed by field path, each with code and message.
            body["errors"] = {rejection.where or "params": [
                {"code": "invalid_params", "message": rejection.detail}]}
        return ActionResponse(status, body)

    def fire_due_timers(self, tx, activity: ActivityRecord, template: CompiledTemplate,
                        now: int, limit: int | None = None, room_id: str | None = None) -> int:
        """Run the activity's due room timers, earliest first, up to `limit`; then whatever is
        still due on `room_id` (the room about to be acted on or shown), whatever the limit, so
        that a room is never acted on or shown as open past its expiry. Returns how many fired.
        """
        fired = 0
        if not template.timers:
            return fired  # no timers, so no room is ever due
        limit = limit or self.settings.timer_batch
        while fired < limit:
            room_ids = tx.due_rooms(activity.id, now, 1)
            if not room_ids:
                return fired  # nothing due anywhere, so not on `room_id` either
            if self._fire_next_timer(tx, activity, template, room_ids[0], now, clear=True):
                fired += 1
        for _ in range(limit if room_id is not None else 0):  # bounded: `schedule` may re-arm
            if not self._fire_next_timer(tx, activity, template, room_id, now, clear=False):
                break
            fired += 1
        return fired

    def _fire_next_timer(self, tx, activity: ActivityRecord, template: CompiledTemplate,
                         room_id: str, now: int, clear: bool) -> bool:
        """Fire the room's earliest due timer; False if none is due."""
        stored = tx.get_room(activity.id, room_id)
        if stored is None:
            return False
        due = due_timers(stored.room, now)
        if not due:
            if clear:  # listed as due but closed meanwhile: clear its schedule
                stored.room.timers.clear()
                tx.update_room(activity.id, stored.room, stored.version)
            return False
        _, name = due[0]
        timer = template.timers[name]
        req = Request(timer.action, stored.room.initiator, "timer", {}, stored.room.id)
        self._perform(tx, activity, template, req, now, timer=name, preloaded=stored)
        return True

    def _perform(self, tx, activity: ActivityRecord, template: CompiledTemplate, req: Request,
                 now: int, timer: str | None = None,
                 preloaded: StoredRoom | None = None) -> Outcome | Rejection:
        """Run one action against the stored state and persist an accepted outcome."""
        stored = preloaded
        if req.room_id is not None and stored is None:
            stored = tx.get_room(activity.id, req.room_id)
            if stored is None:
                raise RoomNotFound()
        if timer is not None:
            # A timer fires once, whatever its action decides.
            stored.room.timers.pop(timer, None)
        record = tx.get_participant(activity.id, req.participant)
        forced = req.forced
        if forced is not None:
            first_time, new_to_activity = forced.first_time, forced.new_to_activity
        elif req.kind == "participant":
            new_to_activity = record is None or record.first_action_at is None
            # Whoever already acted in this activity is known to the merchant: no query.
            first_time = new_to_activity and not tx.known_participant(activity.merchant_id,
                                                                      req.participant)
        else:
            first_time = new_to_activity = False
        seq = activity.seq + 1
        new_room_id = forced.new_room_id if forced else secrets.token_hex(6)
        actor = Actor(req.participant, req.kind, first_time, new_to_activity,
                      req.display_name or (record.display_name if record else ""))
        snapshot = Snapshot(activity.id, activity.config, activity.state,
                            record.state if record else None,
                            stored.room if stored else None, activity.timezone)
        rng = Rng(activity.seed or "", action_label(activity.id, req.participant, seq))
        outcome = run(template, req.action, snapshot, actor, req.params, now, rng,
                      new_room_id=new_room_id)
        if isinstance(outcome, Rejection):
            if timer is not None:
                # A timer fires once even when its action refuses; logged so replay agrees.
                tx.update_room(activity.id, stored.room, stored.version)
                activity.seq = seq
                tx.update_activity(activity.id, bump=False, seq=seq)
                tx.insert_action(ActionRecord(
                    activity_id=activity.id, seq=seq, at=now, actor_kind="timer",
                    participant_id=req.participant, action=req.action, params={},
                    room_id=req.room_id, new_room_id=None, result={"error": outcome.error},
                    events=[], random=rng.drawn, timer=timer))
            return outcome
        activity.seq = seq
        self._persist(tx, activity, template, req, actor, outcome, stored, record, now, timer,
                      new_room_id if outcome.room and outcome.room.created else None)
        return outcome

    def _persist(self, tx, activity: ActivityRecord, template: CompiledTemplate, req: Request,
                 actor: Actor, outcome: Outcome, stored: StoredRoom | None,
                 record: ParticipantRecord | None, now: int, timer: str | None,
                 new_room_id: str | None) -> None:
        change = outcome.room
        if change is not None:
            room = change.room
            if change.created:
                tx.insert_room(activity.id, room)
                start = 0
            else:
                tx.update_room(activity.id, room, stored.version)
                start = len(room.members) - len(change.joined)
            for i, member in enumerate(change.joined):
                tx.insert_member(activity.id, room.id, member, start + i)
        elif timer is not None:
            tx.update_room(activity.id, stored.room, stored.version)

        if outcome.activity_changed:
            activity.state = outcome.activity
            tx.update_activity(activity.id, state=activity.state, seq=activity.seq)
            activity.version += 1
        else:
            tx.update_activity(activity.id, bump=False, seq=activity.seq)

        participant_action = req.kind == "participant"
        if record is None:
            record = ParticipantRecord(activity.id, req.participant, actor.display_name)
            expected = None
        else:
            expected = record.version
        record.state = outcome.participant
        record.version += 1
        if actor.display_name:
            record.display_name = actor.display_name
        credited = 0
        previous_action_at = record.last_action_at
        if participant_action:
            if record.first_action_at is None:
                record.first_action_at = now
            record.last_action_at = now
            record.actions += 1
            credited = self.credit_interaction(record, now)
        tx.save_participant(record, expected)

        events = [e.as_dict() for e in outcome.events]
        tx.insert_action(ActionRecord(
            activity_id=activity.id, seq=activity.seq, at=now, actor_kind=req.kind,
            participant_id=req.participant, action=req.action, params=req.params,
            room_id=req.room_id, new_room_id=new_room_id, result=outcome.result, events=events,
            random=outcome.random, first_time=actor.first_time,
            new_to_activity=actor.new_to_activity and participant_action,
            display_name=actor.display_name, timer=timer))
        if events:
            tx.insert_outbox(activity.id, activity.seq, events, now)
        first_time = False
        if participant_action and actor.first_time:  # else known already: nothing to insert
            first_time = tx.remember_participant(activity.merchant_id, req.participant,
                                                 activity.id, now)
        self.count(tx, activity, template, req, outcome, now, credited,
                   new_to_activity=actor.new_to_activity and participant_action,
                   first_time=first_time,
                   # an earlier action this hour has already marked the participant in it
                   hour_marked=previous_action_at is not None
                   and hour_of(previous_action_at) == hour_of(now))
