"""Rows as the engine sees them, independent of the database behind the store.

Plain data: the store imports nothing of the engine, the catalog or the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ActivityRecord", "ActionRecord", "Merchant", "ParticipantRecord", "IdempotencyRecord",
           "OutboxRecord", "Member", "Room", "StoredRoom"]


@dataclass
class Merchant:
    id: str
    name: str
    participant_secret: str
    created_at: int
    email: str | None = None
    password_hash: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    operator: bool = False  # an operator runs campaigns across merchants (migration 8)


@dataclass
class ActivityRecord:
    id: str
    merchant_id: str
    template_id: str
    template_version: str
    template_hash: str
    title: str
    status: str
    config: dict[str, Any]
    timezone: str
    starts_at: int | None
    ends_at: int | None
    created_at: int
    updated_at: int
    state: dict[str, Any] = field(default_factory=dict)
    initial_state: dict[str, Any] | None = None
    seq: int = 0  # last action-log sequence number
    version: int = 1  # bumps on every change a participant could see (ETag)
    published_at: int | None = None
    ended_at: int | None = None
    seed: str | None = None
    seed_commitment: str | None = None
    next_due: int | None = None  # earliest activity timer (rules/timers.py), for the worker
    guests: bool = False  # the shopper page may mint guest tokens for nicknames
    blocks: int = 0  # how many blocks the activity has (kept by the store)
    # [campaign, since, until] of each campaign counting it, kept by the store; None: not
    # worked out yet (an activity from before they were kept), so looked up
    campaigns: list[list[Any]] | None = field(default_factory=list)

    @property
    def unpublished(self) -> bool:
        """A draft, or a draft archived without ever being published: the merchant's
        business, which to participants does not exist."""
        return self.status == "draft" or (self.status == "archived" and self.published_at is None)


@dataclass
class Member:
    """A row of `room_members`: who joined a room, when, as what, with what data."""

    participant: str
    role: str
    joined_at: int
    data: dict[str, Any] = field(default_factory=dict)
    display_name: str = ""


@dataclass
class Room:
    """A room as stored: its row and its members in join order. The engine turns it into the
    rules' own `Room` (and back), so that the store never depends on the rules."""

    id: str
    status: str
    initiator: str
    capacity: int | None
    opened_at: int
    state: dict[str, Any]
    members: list[Member]
    timers: dict[str, int]  # timer name -> due (epoch seconds); fired timers are removed
    closed_at: int | None = None


@dataclass
class StoredRoom:
    room: Room
    version: int


@dataclass
class ParticipantRecord:
    """A participant's row in one activity."""

    activity_id: str
    participant_id: str
    display_name: str = ""
    state: dict[str, Any] | None = None  # None until the first accepted action
    version: int = 0
    first_action_at: int | None = None
    last_action_at: int | None = None
    actions: int = 0
    last_seen_at: int | None = None
    interaction_seconds: int = 0
    inviter: str | None = None  # who shared the link this participant came through
    generation: int = 0  # 0: came by themselves; n: invited by someone of generation n - 1


@dataclass
class ActionRecord:
    activity_id: str
    seq: int
    at: int
    actor_kind: str
    participant_id: str
    action: str
    params: dict[str, Any]
    room_id: str | None
    new_room_id: str | None
    result: dict[str, Any]
    events: list[dict[str, Any]]
    random: list[list[int]]
    first_time: bool = False
    new_to_activity: bool = False
    display_name: str = ""
    timer: str | None = None  # for timer actions: which room timer fired
    inviter: str | None = None  # the inviter this action recorded (a participant's first)
    device: str = ""  # the client's device id the action came with (migration 9), "" if none
    address: str = ""  # the client's address, "" for merchant and timer actions
    never_wins: bool = False  # run for a participant blocked as `never_wins` (engine/blocks.py)


@dataclass
class IdempotencyRecord:
    activity_id: str
    participant_id: str
    key: str
    request_hash: str
    state: str  # "pending" or "done"
    status: int | None
    response: dict[str, Any] | None
    created_at: int
    owner: str | None = None  # the claim holding a pending key (store/owners.py)


@dataclass
class OutboxRecord:
    id: int
    activity_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: int
    attempts: int = 0
    delivered_at: int | None = None
