"""The values the interpreter takes and returns.

The engine builds a `Snapshot` from storage, the interpreter returns an `Outcome` (what to
write) or a `Rejection` (nothing to write). The scenario simulator builds them from memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

ROOM_STATUSES = ("open", "succeeded", "failed", "expired")
ACTOR_KINDS = ("participant", "merchant", "timer", "void")


def _scalar(value: Any) -> bool:
    # (comparisons of the type, most common first: cheaper than a look in a set of types)
    t = type(value)
    return t is int or t is str or value is None or t is bool or t is float


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): several times faster than
    `copy.deepcopy`, which matters because every action copies the state it writes."""
    if type(value) is dict:  # a shallow copy (in C), then its containers copied in turn
        out = value.copy()
        for k, v in out.items():
            if not _scalar(v):
                out[k] = clone(v)
        return out
    if type(value) is list:
        items = value.copy()
        for i, v in enumerate(items):
            if not _scalar(v):
                items[i] = clone(v)
        return items
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


# The classes an action builds have their `__init__` written out (`init=False`): mypyc
# compiles a written one, while the one `dataclass` generates stays interpreted bytecode,
# several times slower, and each action builds several of these.


class Rebuilt:
    """A base for those classes: copy and pickle build them again through `__init__`, given
    their fields in order (compiled, a class has no bare `__new__` for them to call)."""

    def __reduce__(self) -> tuple[Any, ...]:
        values = tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]
        return type(self), values


@dataclass(init=False)
class Member(Rebuilt):
    participant: str
    role: str
    joined_at: int
    data: dict[str, Any] = field(default_factory=dict)
    display_name: str = ""

    def __init__(self, participant: str, role: str, joined_at: int,
                 data: dict[str, Any] | None = None, display_name: str = "") -> None:
        self.participant = participant
        self.role = role
        self.joined_at = joined_at
        self.data = {} if data is None else data
        self.display_name = display_name

    def as_dict(self) -> dict[str, Any]:
        return {"participant": self.participant, "role": self.role,
                "joined_at": self.joined_at, "data": self.data}


@dataclass(init=False)
class Room(Rebuilt):
    id: str
    status: str
    initiator: str
    capacity: int | None
    opened_at: int
    state: dict[str, Any]
    members: list[Member]
    timers: dict[str, int]  # timer name -> due (epoch seconds); fired timers are removed
    closed_at: int | None = None

    def __init__(self, id: str, status: str, initiator: str, capacity: int | None,
                 opened_at: int, state: dict[str, Any], members: list[Member],
                 timers: dict[str, int], closed_at: int | None = None) -> None:
        self.id = id
        self.status = status
        self.initiator = initiator
        self.capacity = capacity
        self.opened_at = opened_at
        self.state = state
        self.members = members
        self.timers = timers
        self.closed_at = closed_at

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


@dataclass(init=False)
class Actor(Rebuilt):
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

    def __init__(self, id: str, kind: str = "participant", first_time: bool = False,
                 new_to_activity: bool = False, display_name: str = "",
                 inviter: str | None = None, generation: int = 0,
                 never_wins: bool = False) -> None:
        self.id = id
        self.kind = kind
        self.first_time = first_time
        self.new_to_activity = new_to_activity
        self.display_name = display_name
        self.inviter = inviter
        self.generation = generation
        self.never_wins = never_wins


@dataclass(init=False)
class Snapshot(Rebuilt):
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

    def __init__(self, activity_id: str, config: dict[str, Any], activity: dict[str, Any],
                 participant: dict[str, Any] | None, room: Room | None = None,
                 timezone: str = "Asia/Shanghai",
                 participants: Callable[[str], dict[str, Any] | None] | None = None) -> None:
        self.activity_id = activity_id
        self.config = config
        self.activity = activity
        self.participant = participant
        self.room = room
        self.timezone = timezone
        self.participants = participants


@dataclass(init=False)
class Event(Rebuilt):
    type: str
    data: dict[str, Any]

    def __init__(self, type: str, data: dict[str, Any]) -> None:
        self.type = type
        self.data = data

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "data": self.data}


@dataclass(init=False)
class RoomChange(Rebuilt):
    """A room to insert (`created`) or update, with the members who joined in this action."""

    room: Room
    created: bool
    joined: list[Member]
    status_changed: bool = False

    def __init__(self, room: Room, created: bool, joined: list[Member],
                 status_changed: bool = False) -> None:
        self.room = room
        self.created = created
        self.joined = joined
        self.status_changed = status_changed


@dataclass(init=False)
class Outcome(Rebuilt):
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

    @property
    def ok(self) -> bool:  # (a property, not a class variable: compiled, that is a field)
        return True

    def __init__(self, activity: dict[str, Any], participant: dict[str, Any],
                 room: RoomChange | None, events: list[Event], result: dict[str, Any],
                 random: list[list[int]], activity_changed: bool = True,
                 participant_changed: bool = True,
                 others: dict[str, dict[str, Any]] | None = None) -> None:
        self.activity = activity
        self.participant = participant
        self.room = room
        self.events = events
        self.result = result
        self.random = random
        self.activity_changed = activity_changed
        self.participant_changed = participant_changed
        self.others = {} if others is None else others


@dataclass(init=False)
class Rejection(Rebuilt):
    """A refused action. Nothing is written."""

    error: str
    where: str = ""  # e.g. "guards[2]" or "effects[3].add"
    detail: str = ""

    def __init__(self, error: str, where: str = "", detail: str = "") -> None:
        self.error = error
        self.where = where
        self.detail = detail

    @property
    def ok(self) -> bool:
        return False
