"""Running one action inside an open write transaction: a participant's, a merchant's or a
room timer's, and replay's too.

`Performer.perform` reads what the action may read (its room, the actor's row), runs the pure
interpreter, and writes an accepted outcome: room and members, activity state, the actor's
row, the log entry, outbox events and counters. A refusal writes nothing — except for a
timer, which fires once whatever its action decides. The transaction itself belongs to the
caller (`Actions`, `Lifecycle`, `Views`, replay), so that lazy work and the action commit
together.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from magic_cube.engine.action_limits import remember_device, self_invite
from magic_cube.engine.action_limits import take as take_limits
from magic_cube.engine.core import Core
from magic_cube.engine.errors import RoomNotFound
from magic_cube.engine.fulfilment import issue as issue_codes
from magic_cube.engine.requests import ActionRequest
from magic_cube.engine.rooms import LoadedRoom, load_room, member_record, to_record, update_room
from magic_cube.engine.sharing import attribution, invited_event, sharer_of
from magic_cube.engine.stats import count, credit_interaction, hour_of
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.interpreter import due_timers, run
from magic_cube.rules.model import Actor, Outcome, Rejection, Snapshot
from magic_cube.rules.rng import action_rng
from magic_cube.rules.timers import MAX_CATCH_UP, Window, mark_fired, occurrence
from magic_cube.rules.timers import due_timers as due_activity_timers
from magic_cube.rules.timers import next_due as next_activity_timer
from magic_cube.store import Tx
from magic_cube.store.records import ActionRecord, ActivityRecord, ParticipantRecord


def timer_window(activity: ActivityRecord) -> Window:
    """From going live (its start, or its publication if later) to its end, actual or planned."""
    start = max(activity.published_at or 0, activity.starts_at or 0)
    ended = activity.status in ("ended", "archived")
    end = activity.ended_at if ended else activity.ends_at
    return Window(start, end, ended and end is not None)


def _same_timer_inputs(template: CompiledTemplate, before: dict[str, Any],
                       after: dict[str, Any]) -> bool:
    """Whether the activity's timers come due at the same times in state `after` as in
    `before`: their times read only the config (unchanged by an action) and activity variables
    that are equal in both — not the clock — so they are the same function of equal inputs."""
    names = template.timer_inputs
    return names is not None and all(before.get(n) == after.get(n) for n in names)


def participant_reader(tx: Tx, activity_id: str, others: dict[str, ParticipantRecord | None]
                       ) -> Callable[[str], dict[str, Any] | None]:
    """Another participant's state as the rules read it (`participants`), each read (and, in
    a write transaction, locked) once and kept in `others`: the activity's row, locked first
    by every action, already orders all of them, so no two can deadlock here."""

    def participant_state(pid: str) -> dict[str, Any] | None:
        if pid not in others:
            others[pid] = tx.get_participant(activity_id, pid)
        other = others[pid]
        return other.state if other else None
    return participant_state


class Performer:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.count = count  # moves the counters (an attribute, so that a test can fail it)

    def perform(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                request: ActionRequest, now: int, timer: str | None = None,
                preloaded: LoadedRoom | None = None,
                next_due_fresh: bool = False) -> Outcome | Rejection:
        """Run one action against the stored state and persist an accepted outcome.

        `next_due_fresh`: the activity's `next_due` was just worked out from the state this
        action starts from (`timers_before_action`)."""
        loaded = preloaded
        state_before = activity.state
        if request.room_id is not None and loaded is None:
            loaded = load_room(tx, activity.id, request.room_id)
            if loaded is None:
                raise RoomNotFound()
        if timer is not None:  # a timer fires once, whatever its action does
            if loaded is not None:
                loaded.room.timers.pop(timer, None)
            else:  # the activity's own timer: marked in its state, so replay marks it too
                when = occurrence(template.activity_timers[timer], activity.config,
                                  activity.state, timer_window(activity), now,
                                  activity.timezone)
                activity.state = mark_fired(activity.state, timer, when)
        # A participant's own action asks whether the merchant knows them too, in the same
        # statement (`_actor` needs it if they are new to the activity).
        asks = request.kind == "participant" and request.replayed_from is None
        record = (tx.get_participant(activity.id, request.participant,
                                     activity.merchant_id if asks else None)
                  if request.participant else None)
        actor = self._actor(tx, activity, request, record)
        seq = activity.seq + 1
        logged = request.replayed_from
        new_room_id = logged.new_room_id if logged else secrets.token_hex(6)
        others: dict[str, ParticipantRecord | None] = {}
        snapshot = Snapshot(activity.id, activity.config, activity.state,
                            record.state if record else None,
                            loaded.room if loaded else None, activity.timezone,
                            participants=participant_reader(tx, activity.id, others))
        rng = action_rng(activity.seed or "", activity.id, request.participant, seq)
        outcome = run(template, request.action, snapshot, actor, request.params, now, rng,
                      new_room_id=new_room_id)
        if isinstance(outcome, Rejection):
            if timer is not None:
                # A timer fires once even when its action refuses; logged so replay agrees.
                activity.seq = seq
                if loaded is not None:
                    update_room(tx, activity.id, loaded)
                    tx.update_activity(activity.id, bump=False, seq=seq)
                else:
                    tx.update_activity(activity.id, bump=False, seq=seq, state=activity.state)
                tx.insert_action(ActionRecord(
                    activity_id=activity.id, seq=seq, at=now, actor_kind="timer",
                    participant_id=request.participant, action=request.action, params={},
                    room_id=request.room_id, new_room_id=None,
                    result={"error": outcome.error}, events=[], random=rng.drawn, timer=timer))
            return outcome
        if timer is None:  # counted in the limits it is under, or refused by them
            limited = take_limits(tx, activity, template.actions[request.action], request, now)
            if limited is not None:
                return limited
        activity.seq = seq
        if timer is not None and loaded is None:
            outcome.activity_changed = True  # its fired mark, at least
        created = new_room_id if outcome.room and outcome.room.created else None
        self._persist(tx, activity, template, request, actor, outcome, loaded, record, now,
                      timer, created)
        for pid in sorted(outcome.others):  # written in one order, whatever the rules' order
            self._write_other(tx, activity, pid, outcome.others[pid], others.get(pid))
        if timer is None and outcome.activity_changed and template.activity_timers and not (
                next_due_fresh and _same_timer_inputs(template, state_before, activity.state)):
            # A timer's time may read the state this action wrote: the worker must know.
            self.track_next_due(tx, activity, template, now)
        return outcome

    def _actor(self, tx: Tx, activity: ActivityRecord, request: ActionRequest,
               record: ParticipantRecord | None) -> Actor:
        logged = request.replayed_from
        inviter, generation = None, 0
        if request.kind == "participant":
            sharer = logged.inviter if logged else sharer_of(tx, activity, request.via)
            if (logged is None and sharer is not None
                    and (record is None or record.first_action_at is None)
                    and self_invite(tx, activity.id, sharer, request)):
                sharer = None  # a second account on the sharer's own device
            inviter, generation = attribution(tx, activity, request.participant, record, sharer)
        if logged is not None:
            first_time, new_to_activity = logged.first_time, logged.new_to_activity
        elif request.kind == "participant":
            new_to_activity = record is None or record.first_action_at is None
            # Whoever already acted in this activity is known to the merchant: no query.
            first_time = new_to_activity and not tx.known_participant(activity.merchant_id,
                                                                      request.participant)
        else:
            first_time = new_to_activity = False
        return Actor(request.participant, request.kind, first_time, new_to_activity,
                     request.display_name or (record.display_name if record else ""),
                     inviter, generation,
                     never_wins=logged.never_wins if logged else request.never_wins)

    def _persist(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                 request: ActionRequest, actor: Actor, outcome: Outcome,
                 loaded: LoadedRoom | None, record: ParticipantRecord | None, now: int,
                 timer: str | None, new_room_id: str | None) -> None:
        self._write_room(tx, activity, outcome, loaded, timer)
        if outcome.activity_changed:
            activity.state = outcome.activity
            tx.update_activity(activity.id, state=activity.state, seq=activity.seq)
            activity.version += 1
        else:
            tx.update_activity(activity.id, bump=False, seq=activity.seq)

        by_participant = request.kind == "participant"
        previous_action_at = record.last_action_at if record else None
        # Invited now: the participant's first accepted action in the activity names a sharer.
        invited = by_participant and actor.new_to_activity and actor.inviter is not None
        # An activity timer acts for no participant: nobody's row to write.
        credited = (self._write_participant(tx, activity, request, actor, outcome, record, now)
                    if request.participant else 0)
        events = [e.as_dict() for e in outcome.events]
        tx.insert_action(ActionRecord(
            activity_id=activity.id, seq=activity.seq, at=now, actor_kind=request.kind,
            participant_id=request.participant, action=request.action, params=request.params,
            room_id=request.room_id, new_room_id=new_room_id, result=outcome.result,
            events=events, random=outcome.random, first_time=actor.first_time,
            new_to_activity=actor.new_to_activity and by_participant,
            display_name=actor.display_name, timer=timer,
            inviter=actor.inviter if invited else None, never_wins=actor.never_wins,
            device=request.device, address=request.address))
        webhooks = events + ([invited_event(request.participant, actor.inviter or "",
                                            actor.generation, actor.first_time)]
                             if invited else [])
        if webhooks:
            tx.insert_outbox(activity.id, activity.seq, webhooks, now)
        if events and "fulfilment" in template.doc:  # wins and orders get their codes now
            issue_codes(tx, activity, template.doc, activity.seq, events, now,
                        (request.participant, actor.display_name), outcome.others)
        if by_participant and actor.new_to_activity:  # the device they came with (self-invites)
            remember_device(tx, activity.id, request.participant, request, now)
        first_time = False
        if by_participant and actor.first_time:  # else known already: nothing to insert
            first_time = tx.remember_participant(activity.merchant_id, request.participant,
                                                 activity.id, now)
        self.count(tx, activity, template, request.action, request.participant, by_participant,
                   outcome, now, credited,
                   new_to_activity=actor.new_to_activity and by_participant,
                   first_time=first_time, invited=invited,
                   # an earlier action this hour has already marked the participant in it
                   hour_marked=previous_action_at is not None
                   and hour_of(previous_action_at) == hour_of(now))

    @staticmethod
    def _write_room(tx: Tx, activity: ActivityRecord, outcome: Outcome,
                    loaded: LoadedRoom | None, timer: str | None) -> None:
        change = outcome.room
        if change is not None:
            room = change.room
            if change.created:
                tx.insert_room(activity.id, to_record(room))
                start = 0
            else:
                assert loaded is not None  # a changed room was read first
                tx.update_room(activity.id, to_record(room), loaded.version)
                start = len(room.members) - len(change.joined)
            for i, member in enumerate(change.joined):
                tx.insert_member(activity.id, room.id, member_record(member), start + i)
        elif timer is not None and loaded is not None:  # the room's timer list changed
            update_room(tx, activity.id, loaded)

    def _write_participant(self, tx: Tx, activity: ActivityRecord, request: ActionRequest,
                           actor: Actor, outcome: Outcome, record: ParticipantRecord | None,
                           now: int) -> int:
        """Save the actor's row; returns the interaction seconds the action credits."""
        if record is None:
            record = ParticipantRecord(activity.id, request.participant, actor.display_name)
            expected = None
        else:
            expected = record.version
        record.state = outcome.participant
        record.version += 1
        if actor.display_name:
            record.display_name = actor.display_name
        credited = 0
        if request.kind == "participant":
            # Only the participant's own action names their inviter; one the merchant or a
            # timer performs for them (a lottery's `grant`) keeps who brought them.
            record.inviter, record.generation = actor.inviter, actor.generation
            if record.first_action_at is None:
                record.first_action_at = now
            record.last_action_at = now
            record.actions += 1
            credited = credit_interaction(record, now, self.core.settings)
        tx.save_participant(record, expected)
        return credited

    @staticmethod
    def _write_other(tx: Tx, activity: ActivityRecord, pid: str, state: dict[str, Any],
                     record: ParticipantRecord | None) -> None:
        """Save a participant a `with` changed: their state only; they did not act."""
        if record is None:
            tx.save_participant(ParticipantRecord(activity.id, pid, "", state=state, version=1),
                                None)
            return
        expected = record.version
        record.state = state
        record.version += 1
        tx.save_participant(record, expected)

    # the activity's own timers ------------------------------------------------------------

    def timers_before_action(self, tx: Tx, activity: ActivityRecord,
                             template: CompiledTemplate, now: int, room_id: str | None) -> bool:
        """Fire what is due before an action — the activity's timers, then the rooms' (see
        `fire_due_timers`) — and tell whether `next_due` now holds what the state the action
        starts from gives (worked out here, and no room timer changed that state since)."""
        _fired, fresh = self._fire_activity_timers(tx, activity, template, now, False)
        rooms_fired = self.fire_due_timers(tx, activity, template, now, room_id=room_id)
        return fresh and not rooms_fired

    def fire_activity_timers(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                             now: int, force: bool = False) -> int:
        """Run the activity's due timers (`at`, `daily`, `at: "end"`), earliest first, then
        store when the next one comes due (`next_due`, which the worker looks for). Returns
        how many fired.

        `next_due` is kept current by every firing and every action that changes the state
        (`track_next_due`), so before an action nothing is worked out while it is still
        ahead; `force` works everything out again, after a change of config, start or end
        (and at the end, whose timers `next_due` does not hold)."""
        return self._fire_activity_timers(tx, activity, template, now, force)[0]

    def _fire_activity_timers(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                              now: int, force: bool) -> tuple[int, bool]:
        """(how many fired, whether `next_due` was worked out from the state as it is now)."""
        timers = template.activity_timers
        if not timers or activity.status not in ("live", "paused", "ended"):
            return 0, False
        if not force and activity.next_due is not None and activity.next_due > now:
            return 0, False
        window = timer_window(activity)
        # The earliest next time is worked out once: when it is still ahead (or there is none),
        # nothing is due, and it is what `next_due` must hold — the usual case before an action.
        upcoming = next_activity_timer(timers, activity.config, activity.state, window, now,
                                       activity.timezone)
        if upcoming is None or upcoming > now:
            self._store_next_due(tx, activity, upcoming)
            return 0, True
        fired = 0
        for _ in range(MAX_CATCH_UP):  # each occurrence once, late ones in order
            due = due_activity_timers(timers, activity.config, activity.state, window, now,
                                      activity.timezone)
            if not due:
                break
            name = due[0][1]
            request = ActionRequest(timers[name].action, "", "timer", {}, None)
            self.perform(tx, activity, template, request, now, timer=name)
            fired += 1
        self.track_next_due(tx, activity, template, now)
        return fired, True

    @staticmethod
    def track_next_due(tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                       now: int) -> None:
        """Store when the activity's next timer comes due (`next_due`: the worker and a
        view's ETag check look for it), if that moved."""
        upcoming = next_activity_timer(template.activity_timers, activity.config,
                                       activity.state, timer_window(activity), now,
                                       activity.timezone)
        Performer._store_next_due(tx, activity, upcoming)

    @staticmethod
    def _store_next_due(tx: Tx, activity: ActivityRecord, upcoming: int | None) -> None:
        if upcoming != activity.next_due:
            activity.next_due = upcoming
            tx.update_activity(activity.id, bump=False, next_due=upcoming)

    # room timers ---------------------------------------------------------------------------

    def fire_due_timers(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                        now: int, limit: int | None = None, room_id: str | None = None) -> int:
        """Run the activity's due room timers, earliest first, up to `limit`; then whatever is
        still due on `room_id` (the room about to be acted on or shown), whatever the limit, so
        that a room is never acted on or shown as open past its expiry. Returns how many fired.
        """
        fired = 0
        if not template.timers:
            return fired  # no timers, so no room is ever due
        limit = limit or self.core.settings.timer_batch
        while fired < limit:
            room_ids = tx.due_rooms(activity.id, now, 1)
            if not room_ids:
                return fired  # nothing due anywhere, so not on `room_id` either
            if self._fire_next_timer(tx, activity, template, room_ids[0], now, clear=True):
                fired += 1
        for _ in range(limit if room_id is not None else 0):  # bounded: `schedule` may re-arm
            assert room_id is not None
            if not self._fire_next_timer(tx, activity, template, room_id, now, clear=False):
                break
            fired += 1
        return fired

    def _fire_next_timer(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                         room_id: str, now: int, clear: bool) -> bool:
        """Fire the room's earliest due timer; False if none is due."""
        loaded = load_room(tx, activity.id, room_id)
        if loaded is None:
            return False
        due = due_timers(loaded.room, now)
        if not due:
            if clear:  # listed as due but closed meanwhile: clear its schedule
                loaded.room.timers.clear()
                update_room(tx, activity.id, loaded)
            return False
        _, name = due[0]
        timer = template.timers[name]
        request = ActionRequest(timer.action, loaded.room.initiator, "timer", {}, loaded.room.id)
        self.perform(tx, activity, template, request, now, timer=name, preloaded=loaded)
        return True
