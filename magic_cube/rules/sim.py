"""An in-memory activity: the interpreter plus just enough bookkeeping to run a scenario.

Used by scenario files, property tests and offline forecasts. It follows the same rules as
the engine (lazy timers before each action, sequence-numbered randomness) without storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.interpreter import due_timers, initial_activity_state, render_view, run
from magic_cube.rules.model import Actor, Event, Outcome, Rejection, Room, Snapshot
from magic_cube.rules.rng import Rng, action_label


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
                 activity_id: str = "sim") -> None:
        self.template = template
        self.config = config
        self.seed = seed
        self.timezone = timezone
        self.activity_id = activity_id
        self.now = start
        self.activity = initial_activity_state(template, config, start, timezone)
        self.participants: dict[str, dict[str, Any]] = {}
        self.rooms: dict[str, Room] = {}
        self.seen: set[str] = set()  # participants with an accepted action
        self.seq = 0
        self.log: list[LogEntry] = []

    def advance(self, now: int) -> None:
        if now < self.now:
            raise ValueError("time never goes back")
        self.now = now
        self.fire_timers()

    def fire_timers(self) -> None:
        """Run every due room timer, earliest first, as the engine does lazily."""
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
            display_name: str = "") -> Outcome | Rejection:
        self.fire_timers()
        who = Actor(actor, kind=kind, display_name=display_name,
                    first_time=(actor not in self.seen) if first_time is None else first_time,
                    new_to_activity=actor not in self.seen)
        return self._perform(who, action, params or {}, room)

    def _perform(self, actor: Actor, action: str, params: dict[str, Any],
                 room_id: str | None) -> Outcome | Rejection:
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
        entry = LogEntry(self.seq, self.now, actor.id, actor.kind, action, params, room_id,
                         outcome.ok, error=None, result=None)
        self.log.append(entry)
        if isinstance(outcome, Rejection):
            entry.error = outcome.error
        else:
            entry.result = outcome.result
            self.activity = outcome.activity
            self.participants[actor.id] = outcome.participant
            self.participants.update(outcome.others)
            if outcome.room is not None:
                self.rooms[outcome.room.room.id] = outcome.room.room
            entry.events = outcome.events
            if actor.kind != "timer":
                self.seen.add(actor.id)
        return outcome

    def view(self, scope: str, viewer: str, room: str | None = None) -> dict[str, Any]:
        snapshot = Snapshot(self.activity_id, self.config, self.activity,
                            self.participants.get(viewer), self.rooms.get(room) if room else None,
                            self.timezone)
        return render_view(self.template, scope, snapshot, Actor(viewer), self.now)

    def events(self) -> list[Event]:
        return [e for entry in self.log for e in entry.events]
