"""The values the interpreter takes and returns.

The engine builds a `Snapshot` from storage, the interpreter returns an `Outcome` (what to
write) or a `Rejection` (nothing to write). The scenario simulator builds them from memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ROOM_STATUSES = ("open", "succeeded", "failed", "expired")
ACTOR_KINDS = ("participant", "merchant", "timer", "void")


_SCALARS = frozenset({str, int, float, bool, type(None)})


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times faster than
    `copy.deepcopy`, which matters because every action copies the state it writes."""
    if type(value) is dict:  # a shallow copy (in C), then its containers copied in turn
        out = value.copy()
        for k, v in out.items():
            if type(v) not in _SCALARS:
                out[k] = clone(v)
        return out
    if type(value) is list:
        items = value.copy()
        for i, v in enumerate(items):
            if type(v) not in _SCALARS:
                items[i] = clone(v)
        return items
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


@dataclass
class Member:
    participant: str
    role: str
    joined_at: int
    data: dict[str, Any] = field(default_factory=dict)
    display_name: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"participant": self.participant, "role": self.role,
                "joined_at": self.joined_at, "data": self.data}


@dataclass
class Room:
    id: str
    status: str
    initiator: str
    capacity: int | None
    opened_at: int
    state: dict[str, Any]
    members: list[Member]
    timers: dict[str, int]  # timer name -> due (epoch seconds); fired timers are removed
    closed_at: int | None = None

    def clone(self) -> Room:
        return Room(self.id, self.status, self.initiator, self.capacity, self.opened_at,
                    clone(self.state),
                    [Member(m.participant, m.role, m.joined_at, clone(m.data), m.display_name)
                     for m in self.members],
                    dict(self.timers), self.closed_at)

    def member(self, participant: str) -> Member | None:
        for m in self.members:
            if m.participant == participant:
                return m
        return None


@dataclass
class Actor:
    id: str  # participant id; for merchant actions, the participant acted for
    kind: str = "participant"
    first_time: bool = False  # no accepted action anywhere on this deployment before
    new_to_activity: bool = False
    display_name: str = ""
    inviter: str | None = None  # who shared the link the participant came through
    generation: int = 0  # 0: came by themselves; else their inviter's generation + 1
    # Blocked by the merchant as `never_wins`: every `draw` misses, every `split` part is the
    # least the rest allows (engine/blocks.py).
    never_wins: bool = False


@dataclass
class Snapshot:
    """Everything one action may read."""

    activity_id: str
    config: dict[str, Any]
    activity: dict[str, Any]
    participant: dict[str, Any] | None  # the actor's state in this activity; None if new
    room: Room | None = None
    timezone: str = "Asia/Shanghai"
    # Another participant's stored state in this activity (None if they have none), for the
    # `with` effect. The engine reads (and locks) the row; the simulator reads its memory.
    participants: Callable[[str], dict[str, Any] | None] | None = None


@dataclass
class Event:
    type: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


@dataclass
class RoomChange:
    """A room to insert (`created`) or update, with the members who joined in this action."""

    room: Room
    created: bool
    joined: list[Member]
    status_changed: bool = False


@dataclass
class Outcome:
    """An accepted action: the new state of every scope it touched, its events and result."""

    activity: dict[str, Any]
    participant: dict[str, Any]
    room: RoomChange | None
    events: list[Event]
    result: dict[str, Any]
    random: list[list[int]]
    activity_changed: bool = True
    participant_changed: bool = True
    # Other participants whose state a `with` effect changed: id -> new state.
    others: dict[str, dict[str, Any]] = field(default_factory=dict)

    ok = True


@dataclass
class Rejection:
    """A refused action. Nothing is written."""

    error: str
    where: str = ""  # e.g. "guards[2]" or "effects[3].add"
    detail: str = ""

    ok = False
