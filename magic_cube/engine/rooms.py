"""Rooms between the store and the rules.

The store keeps its own plain records (it imports nothing of the rules); the interpreter
works on `rules.model.Room`. The engine converts at the edge: a room read for an action or a
view becomes the rules' room, and a room an action changed becomes a record again. Lists and
dicts are shared, not copied: the interpreter copies whatever it may change.
"""

from __future__ import annotations

from dataclasses import dataclass

from magic_cube.rules.model import Member, Room
from magic_cube.store import Tx, records


def to_rules(room: records.Room) -> Room:
    return Room(room.id, room.status, room.initiator, room.capacity, room.opened_at, room.state,
                [Member(m.participant, m.role, m.joined_at, m.data, m.display_name)
                 for m in room.members],
                room.timers, room.closed_at)


def member_record(member: Member) -> records.Member:
    return records.Member(member.participant, member.role, member.joined_at, member.data,
                          member.display_name)


def to_record(room: Room) -> records.Room:
    return records.Room(room.id, room.status, room.initiator, room.capacity, room.opened_at,
                        room.state, [member_record(m) for m in room.members], room.timers,
                        room.closed_at)


@dataclass(slots=True)
class LoadedRoom:
    """A room read in a write transaction, as the rules see it, with the version read (its
    update is conditional on that version)."""

    room: Room
    version: int


def load_room(tx: Tx, activity_id: str, room_id: str) -> LoadedRoom | None:
    stored = tx.get_room(activity_id, room_id)
    return LoadedRoom(to_rules(stored.room), stored.version) if stored is not None else None


def update_room(tx: Tx, activity_id: str, loaded: LoadedRoom) -> None:
    tx.update_room(activity_id, to_record(loaded.room), loaded.version)
