"""The storage contract. The engine speaks only to these methods; each store (SQLite, the
embedded default; PostgreSQL for a fleet) implements them, and no SQL lives anywhere else.

Every write happens inside `Store.transaction()`, which the engine opens once per action, so
an action's state changes, log entry, outbox events, counters and idempotency record commit
together or not at all. Writes of rows read earlier in the transaction are conditional on the
version read (`update_room`, `save_participant`): a store never silently overwrites a change it
did not see, and raises `Conflict` instead, as it does for any violated UNIQUE or CHECK rule.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, Protocol

from magic_cube.errors import MagicCubeError
from magic_cube.store.records import (
    ActionRecord,
    ActivityRecord,
    IdempotencyRecord,
    Member,
    Merchant,
    OutboxRecord,
    ParticipantRecord,
    Room,
    StoredRoom,
)


class Conflict(MagicCubeError):
    """A constraint or a version check refused a write; the transaction is rolled back."""

    code = "conflict"
    status = 409


class Tx(Protocol):
    """One open transaction."""

    def insert_merchant(self, m: Merchant) -> None:
        ...

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        ...

    def get_merchant_by_email(self, email: str) -> Merchant | None:
        ...

    def update_merchant(self, merchant_id: str, **fields: Any) -> None:
        ...

    def insert_api_key(self, key_id: str, merchant_id: str, key_hash: str, prefix: str,
                       now: int) -> None:
        ...

    def merchant_for_key_hash(self, key_hash: str) -> Merchant | None:
        ...

    def list_api_keys(self, merchant_id: str) -> list[dict[str, Any]]:
        ...

    def revoke_api_key(self, merchant_id: str, key_id: str, now: int) -> bool:
        ...

    def get_activity(self, activity_id: str) -> ActivityRecord | None:
        ...

    def get_activity_version(self, activity_id: str) -> tuple[int, str, int | None, int | None] | None:
        ...

    def insert_activity(self, a: ActivityRecord) -> None:
        ...

    def update_activity(self, activity_id: str, bump: bool = True, **fields: Any) -> None:
        """Write the given columns; `bump` moves the version a participant's ETag depends on."""
        ...

    def list_activities(self, merchant_id: str, status: str | None = None,
                        search: str | None = None, before: str | None = None,
                        limit: int = 50) -> list[ActivityRecord]:
        ...

    def due_activities(self, now: int, limit: int) -> list[str]:
        ...

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        ...

    def get_room_version(self, activity_id: str, room_id: str) -> int | None:
        ...

    def insert_room(self, activity_id: str, room: Room) -> None:
        ...

    def update_room(self, activity_id: str, room: Room, expected_version: int) -> None:
        """Conditional on the version read: a lost update is refused, never written."""
        ...

    def insert_member(self, activity_id: str, room_id: str, member: Member, position: int) -> None:
        ...

    def due_rooms(self, activity_id: str, now: int, limit: int = 100) -> list[str]:
        ...

    def next_room_due(self, activity_id: str) -> int | None:
        ...

    def list_rooms(self, activity_id: str) -> list[StoredRoom]:
        ...

    def rooms_of(self, activity_id: str, participant_id: str, limit: int = 20) -> list[str]:
        ...

    def get_participant(self, activity_id: str, participant_id: str) -> ParticipantRecord | None:
        ...

    def get_participant_version(self, activity_id: str, participant_id: str) -> int | None:
        ...

    def save_participant(self, p: ParticipantRecord, expected_version: int | None) -> None:
        """Insert (`expected_version` None) or update conditionally on the version read."""
        ...

    def list_participants(self, activity_id: str, after: str | None = None,
                          limit: int = 1000) -> list[ParticipantRecord]:
        ...

    def remember_participant(self, merchant_id: str, participant_id: str, activity_id: str,
                             now: int) -> bool:
        """Record a participant's first accepted action on this deployment; True if it is."""
        ...

    def known_participant(self, merchant_id: str, participant_id: str) -> bool:
        ...

    def insert_action(self, a: ActionRecord) -> None:
        ...

    def list_actions(self, activity_id: str, after_seq: int = 0, limit: int = 100) -> list[ActionRecord]:
        ...

    def insert_outbox(self, activity_id: str, seq: int, events: list[dict[str, Any]],
                      now: int) -> None:
        ...

    def list_outbox(self, activity_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxRecord]:
        ...

    def add_stats(self, activity_id: str, hour: int, deltas: dict[str, int]) -> None:
        ...

    def mark_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> bool:
        ...

    def hourly_stats(self, activity_id: str) -> list[dict[str, Any]]:
        ...

    def get_idempotency(self, activity_id: str, participant_id: str, key: str) -> IdempotencyRecord | None:
        ...

    def claim_idempotency(self, rec: IdempotencyRecord, stale_before: int) -> bool:
        """Take the key for a new request: insert it, or take over an abandoned pending one."""
        ...

    def complete_idempotency(self, activity_id: str, participant_id: str, key: str, status: int,
                             response: dict[str, Any]) -> None:
        ...

    def release_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        ...

    def purge_idempotency(self, before: int) -> int:
        ...


class Store(ABC):
    dialect: str

    @abstractmethod
    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises."""

    @abstractmethod
    def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied (none when up to date)."""

    @abstractmethod
    def integrity_check(self) -> str:
        """"ok" when the database is consistent."""

    @abstractmethod
    def close(self) -> None:
        ...
