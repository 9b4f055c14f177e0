"""An in-memory activity: the interpreter plus just enough bookkeeping to run a scenario.

Used by scenario files, property tests and offline forecasts. It follows the same rules as
the engine (lazy timers before each action, sequence-numbered randomness) without storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.interpreter import due_timers, initial_activity_state, render_view, run
from magic_cube.rules.limits import Key, counted, reached
from magic_cube.rules.model import Actor, Event, Outcome, Rejection, Room, Snapshot
from magic_cube.rules.rng import Rng, action_label
from magic_cube.rules.timers import MAX_CATCH_UP, Window, mark_fired, occurrence
from magic_cube.rules.timers import due_timers as due_activity_timers


@dataclass
class LogEntry:
    seq: int
    at: int
    actor: str
    kind: str
    action: str
    params: dict[str, Any]
    room: str | None
    ok: bool
    error: str | None
    result: dict[str, Any] | None
    events: list[Event] = field(default_factory=list)


class Simulation:
    def __init__(self, template: CompiledTemplate, config: dict[str, Any], start: int,
                 seed: str = "sim", timezone: str = "Asia/Shanghai",
                 activity_id: str = "sim", ends_at: int | None = None) -> None:
        self.template = template
        self.config = config
        self.seed = seed
        self.timezone = timezone
        self.activity_id = activity_id
        self.now = start
        self.start = start
        self.ends_at = ends_at
        self.ended = False
        self.activity = initial_activity_state(template, config, start, timezone)
        self.participants: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, Room] = {}
        self.seen: set[str] = set()  # participants with an accepted action
        # (inviter, generation) of each participant, fixed by their first accepted action
        self.attribution: dict[str, tuple[str | None, int]] = {}
        self.devices: dict[str, set[str]] = {}  # the devices each participant acted from
        self.blocked: set[str] = set()  # voided participants
        self.seq = 0
        self.log: list[LogEntry] = []
        self.limit_counts: dict[Key, int] = {}  # what the actions' limits have counted

    def advance(self, now: int) -> None:
        if now < self.now:
            raise ValueError("time never goes back")
        self.now = now
        self.fire_timers()

    def fire_timers(self) -> None:
        """Run every due timer as the engine does: when the end has come, the rooms still open
        come due at the end and fire first, then the activity's own timers (`at: "end"`
        among them); otherwise the activity's due timers, then the rooms' earliest first."""
        if self.ends_at is not None and self.now >= self.ends_at and not self.ended:
            self.ended = True
            for room in self.rooms.values():
                if room.status == "open":
                    room.timers = {name: min(due, self.ends_at)
                                   for name, due in room.timers.items()}
            self._fire_room_timers()
        self._fire_activity_timers()
        self._fire_room_timers()

    def _fire_activity_timers(self) -> None:
        timers = self.template.activity_timers
        window = Window(self.start, self.ends_at, self.ended)
        for _ in range(MAX_CATCH_UP):
            due = due_activity_timers(timers, self.config, self.activity, window, self.now,
                                      self.timezone)
            if not due:
                return
            name = due[0][1]
            when = occurrence(timers[name], self.config, self.activity, window, self.now,
                              self.timezone)
            self.activity = mark_fired(self.activity, name, when)
            self._perform(Actor("", kind="timer"), timers[name].action, {}, None)

    def _fire_room_timers(self) -> None:
        while True:
            due = sorted((d, name, room.id) for room in self.rooms.values()
                         for d, name in due_timers(room, self.now))
            if not due:
                return
            _, name, room_id = due[0]
            room = self.rooms[room_id]
            del room.timers[name]
            timer = self.template.timers[name]
            self._perform(Actor(room.initiator, kind="timer"), timer.action, {}, room_id)

    def act(self, actor: str, action: str, params: dict[str, Any] | None = None,
            room: str | None = None, kind: str = "participant", first_time: bool | None = None,
            display_name: str = "", device: str = "", address: str = "",
            via: str | None = None) -> Outcome | Rejection:
        """Perform `action` as `actor`; `via` names the participant whose share link brought
        them, which makes that sharer their inviter from their first accepted action on, as
        the engine does (not themselves, nor from a device the sharer acted from)."""
        self.fire_timers()
        if self.ended:  # as the engine refuses any action on an ended activity
            return Rejection("activity_not_live")
        if kind == "participant" and actor in self.blocked:
            return Rejection("participant_blocked")
        inviter, generation = None, 0
        if kind == "participant":
            inviter, generation = self._attribution(actor, via, device)
        who = Actor(actor, kind=kind, display_name=display_name,
                    first_time=(actor not in self.seen) if first_time is None else first_time,
                    new_to_activity=actor not in self.seen, inviter=inviter,
                    generation=generation)
        return self._perform(who, action, params or {}, room, (device, address))

    def _attribution(self, actor: str, via: str | None, device: str) -> tuple[str | None, int]:
        if actor in self.attribution:
            return self.attribution[actor]
        if via is None or via == actor or (device and device in self.devices.get(via, ())):
            return None, 0
        return via, self.attribution.get(via, (None, 0))[1] + 1

    def void(self, participant: str) -> list[tuple[str, Outcome | Rejection]]:
        """The merchant's void of a participant: each `by: void` action, in name order, as
        them. A refusal undoes them all, as the engine's void transaction does; else the
        participant is blocked from then on."""
        self.fire_timers()
        if participant not in self.participants:  # never acted: nothing to void
            return [("", Rejection("participant_not_found"))]
        before = self.activity, dict(self.participants)
        done: list[tuple[str, Outcome | Rejection]] = []
        for name in sorted(n for n, spec in self.template.actions.items() if spec.by == "void"):
            outcome = self._perform(Actor(participant, kind="void"), name, {}, None)
            done.append((name, outcome))
            if isinstance(outcome, Rejection):
                self.activity, self.participants = before
                return done
        self.blocked.add(participant)  # as the engine blocks whom it voided
        return done

    def _perform(self, actor: Actor, action: str, params: dict[str, Any],
                 room_id: str | None, origin: tuple[str, str] = ("", "")
                 ) -> Outcome | Rejection:
        if room_id is not None and room_id not in self.rooms:
            return Rejection("room_not_found")
        self.seq += 1
        snapshot = Snapshot(self.activity_id, self.config, self.activity,
                            self.participants.get(actor.id),
                            self.rooms.get(room_id) if room_id else None, self.timezone,
                            participants=self.participants.get)
        rng = Rng(self.seed, action_label(self.activity_id, actor.id, self.seq))
        outcome = run(self.template, action, snapshot, actor, params, self.now, rng,
                      new_room_id=f"r{self.seq}")
        if actor.kind == "participant" and not isinstance(outcome, Rejection):
            outcome = self._count(action, actor.id, origin, room_id) or outcome
        entry = LogEntry(self.seq, self.now, actor.id, actor.kind, action, params, room_id,
                         outcome.ok, error=None, result=None)
        self.log.append(entry)
        if isinstance(outcome, Rejection):
            entry.error = outcome.error
        else:
            entry.result = outcome.result
            self.activity = outcome.activity
            if actor.id:  # an activity timer acts for nobody
                self.participants[actor.id] = outcome.participant
            self.participants.update(outcome.others)
            if outcome.room is not None:
                self.rooms[outcome.room.room.id] = outcome.room.room
            entry.events = outcome.events
            if actor.kind == "participant":
                self.attribution.setdefault(actor.id, (actor.inviter, actor.generation))
                if origin[0]:
                    self.devices.setdefault(actor.id, set()).add(origin[0])
            if actor.kind not in ("timer", "void"):
                self.seen.add(actor.id)
        return outcome

    def _count(self, action: str, participant: str, origin: tuple[str, str],
               room_id: str | None) -> Rejection | None:
        """Count an accepted action under its limits, as the engine does, or refuse it."""
        limits = self.template.actions[action].limits
        if not limits:
            return None
        found = counted(limits, self.config, participant, *origin, room_id, self.now,
                        self.timezone)
        if isinstance(found, Rejection):
            return found
        for limit, key, cap in found:
            if self.limit_counts.get(key, 0) >= cap:
                return reached(limit)
        for _, key, _ in found:
            self.limit_counts[key] = self.limit_counts.get(key, 0) + 1
        return None

    def view(self, scope: str, viewer: str, room: str | None = None) -> dict[str, Any]:
        snapshot = Snapshot(self.activity_id, self.config, self.activity,
                            self.participants.get(viewer), self.rooms.get(room) if room else None,
                            self.timezone)
        return render_view(self.template, scope, snapshot, Actor(viewer), self.now)

    def events(self) -> list[Event]:
        return [e for entry in self.log for e in entry.events]
