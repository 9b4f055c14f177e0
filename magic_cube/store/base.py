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
from typing import Any, Protocol, TypedDict

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


class OutboxEvent(TypedDict):
    """An outbox row with its delivery state (times are epoch seconds; `data` is decoded).
    Its status is `delivered` when `delivered_at` is set, else `dead` when `dead_at` is set,
    else `pending`."""

    id: int
    activity_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: int
    attempts: int
    next_attempt_at: int | None
    delivered_at: int | None
    dead_at: int | None
    last_error: str | None


class ClaimedEvent(OutboxEvent):
    """An event claimed for delivery, with where to send it (`attempts` counts this one)."""

    webhook_url: str
    webhook_secret: str | None


class Tx(Protocol):
    """One open transaction."""

    broken: bool  # a savepoint could not be rolled back: the transaction must be

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested part of the transaction that an exception inside rolls back alone (the
        exception still propagates). Group commit runs each action of a batch in one."""
        ...

    def flush(self) -> None:
        """Write deferred counter moves now (the store does it before committing)."""
        ...

    def insert_merchant(self, m: Merchant) -> None:
        """Add a merchant; `Conflict` if its id or email is taken."""
        ...

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        """The merchant with this id, or None."""
        ...

    def get_merchant_by_email(self, email: str) -> Merchant | None:
        """The merchant with this console login email, or None."""
        ...

    def update_merchant(self, merchant_id: str, **fields: Any) -> None:
        """Write the given columns of a merchant."""
        ...

    def insert_api_key(self, key_id: str, merchant_id: str, key_hash: str, prefix: str,
                       now: int) -> None:
        """Store a new API key by its SHA-256 hash (the key itself is never stored)."""
        ...

    def merchant_for_key_hash(self, key_hash: str) -> Merchant | None:
        """The merchant owning an unrevoked key with this hash, or None."""
        ...

    def list_api_keys(self, merchant_id: str) -> list[dict[str, Any]]:
        """A merchant's keys (id, prefix, created_at, revoked_at), oldest first."""
        ...

    def revoke_api_key(self, merchant_id: str, key_id: str, now: int) -> bool:
        """Revoke one of the merchant's keys; False if unknown or already revoked."""
        ...

    def get_activity(self, activity_id: str) -> ActivityRecord | None:
        """The activity, or None. In a write transaction the store also locks its row
        until the transaction ends (PostgreSQL: `SELECT … FOR NO KEY UPDATE`): the engine
        reads the activity first in every write transaction, so one activity's writes
        serialise, and rows are locked in the order activity → room → participant."""
        ...

    def get_activity_version(self, activity_id: str
                             ) -> tuple[int, str, int | None, int | None, int | None] | None:
        """(version, status, starts_at, ends_at, next_due): what a poll's ETag needs; never
        locks."""
        ...

    def insert_activity(self, a: ActivityRecord) -> None:
        """Add an activity; `Conflict` if its id is taken."""
        ...

    def update_activity(self, activity_id: str, bump: bool = True, **fields: Any) -> None:
        """Write the given columns; `bump` moves the version a participant's ETag depends on."""
        ...

    def list_activities(self, merchant_id: str, status: str | None = None,
                        search: str | None = None, before: str | None = None,
                        limit: int = 50) -> list[ActivityRecord]:
        """A merchant's activities, newest id first, optionally by status, by a
        case-insensitive (ASCII) substring of title or template id, and before id `before`
        (the keyset cursor)."""
        ...

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        """A room with its members (in join order) and the version read. In a write
        transaction the room's row is locked too (after its activity's)."""
        ...

    def get_room_state_version(self, activity_id: str, room_id: str
                               ) -> tuple[int, int | None] | None:
        """(version, next timer due) of a room: enough to answer a poll with 304."""
        ...

    def insert_room(self, activity_id: str, room: Room) -> None:
        """Add a room (version 1); `Conflict` if its id is taken in the activity."""
        ...

    def update_room(self, activity_id: str, room: Room, expected_version: int) -> None:
        """Conditional on the version read: a lost update is refused, never written."""
        ...

    def insert_member(self, activity_id: str, room_id: str, member: Member, position: int) -> None:
        """Add a member at `position`; `Conflict` if the participant is already a
        member or the position is taken (the primary key refuses a second join)."""
        ...

    def due_rooms(self, activity_id: str, now: int, limit: int = 100) -> list[str]:
        """Ids of the activity's rooms with a timer due at `now`, earliest first (then by id)."""
        ...

    def open_room_ids(self, activity_id: str) -> list[str]:
        """Ids of the activity's open rooms, by opening time then id."""
        ...

    def list_rooms(self, activity_id: str) -> list[StoredRoom]:
        """Every room of the activity, by opening time then id (never locks)."""
        ...

    def rooms_of(self, activity_id: str, participant_id: str, limit: int = 20) -> list[str]:
        """Ids of the rooms a participant is a member of, most recently joined first."""
        ...

    def room_page(self, activity_id: str, status: str | None = None,
                  before: tuple[int, str] | None = None, limit: int = 50) -> list[StoredRoom]:
        """A page of the activity's rooms with their members, newest first (opening time,
        then id, both descending), optionally of one status, strictly before the keyset
        cursor `before` = (opened_at, id) (never locks)."""
        ...

    def room_actions(self, activity_id: str, room_id: str, limit: int = 100) -> list[ActionRecord]:
        """The logged actions on a room (acted on it, or opened it), newest first."""
        ...

    def get_participant(self, activity_id: str, participant_id: str,
                        merchant_id: str | None = None) -> ParticipantRecord | None:
        """The participant's row in the activity, or None. In a write transaction
        the row is locked too (last in the order activity → room → participant). With
        `merchant_id`, whether that merchant knows the participant is found out at the same
        time, and `known_participant` answers from it."""
        ...

    def get_participant_version(self, activity_id: str, participant_id: str) -> int | None:
        """The version of the participant's row (for ETags), or None."""
        ...

    def save_participant(self, p: ParticipantRecord, expected_version: int | None) -> None:
        """Insert (`expected_version` None) or update conditionally on the version read."""
        ...

    def list_participants(self, activity_id: str, after: str | None = None,
                          limit: int = 1000) -> list[ParticipantRecord]:
        """The activity's participants by id, after id `after` (the keyset cursor)."""
        ...

    def remember_participant(self, merchant_id: str, participant_id: str, activity_id: str,
                             now: int) -> bool:
        """Record a participant's first accepted action on this deployment; True if it is."""
        ...

    def known_participant(self, merchant_id: str, participant_id: str) -> bool:
        """Whether the merchant has seen this participant act before (in any
        activity). A write transaction that finds it unknown stays consistent with a
        concurrent `remember_participant` of the same shopper (PostgreSQL: an advisory lock)."""
        ...

    def insert_action(self, a: ActionRecord) -> None:
        """Append to the action log; `Conflict` if the sequence number is taken."""
        ...

    def list_actions(self, activity_id: str, after_seq: int = 0,
                     limit: int = 100) -> list[ActionRecord]:
        """Logged actions with `seq > after_seq`, in order."""
        ...

    def insert_outbox(self, activity_id: str, seq: int, events: list[dict[str, Any]],
                      now: int) -> None:
        """Queue an action's events for webhook delivery (due now)."""
        ...

    def list_outbox(self, activity_id: str, after_id: int = 0,
                    limit: int = 100) -> list[OutboxRecord]:
        """Outbox rows of the activity with `id > after_id`, in order."""
        ...

    # the worker: due work across activities, webhook delivery from the outbox ---------------

    def due_activity_ids(self, now: int, limit: int) -> list[str]:
        """Activities with work due at `now`: live ones with a due room timer, scheduled ones
        whose `starts_at` has come, live or paused ones whose `ends_at` has come."""
        ...

    def claim_outbox(self, now: int, lease: int, limit: int) -> list[ClaimedEvent]:
        """Claim up to `limit` events for delivery, each the oldest undelivered, not-dead event
        of its activity (so at most one per activity is ever in flight), only for merchants with
        a `webhook_url`, and only when due (`next_attempt_at <= now`). Claiming counts the
        attempt and leases the event (`next_attempt_at = now + lease`), so no other worker takes
        it until the lease ends; a worker that dies mid-delivery loses it to the next claim after
        that. Must not block on or double-claim another transaction's claim: SQLite claims in
        its `BEGIN IMMEDIATE` transaction, PostgreSQL with `FOR UPDATE SKIP LOCKED`. Commit
        before making the HTTP call."""
        ...

    def mark_delivered(self, event_id: int, now: int) -> bool:
        """The receiver answered 2xx: delivered (and no longer dead, if it was). True if the
        event exists."""
        ...

    def mark_failed(self, event_id: int, now: int, next_attempt_at: int, error: str,
                    dead: bool) -> bool:
        """A failed attempt: keep `error`, retry at `next_attempt_at`, or dead-letter it when
        `dead`. Only touches an event still pending (one another worker delivered meanwhile
        stays delivered). True if it changed."""
        ...

    def count_pending_webhooks(self) -> int:
        """Events neither delivered nor dead of merchants with a `webhook_url`: the worker's
        queue."""
        ...

    def get_event(self, activity_id: str, event_id: int) -> OutboxEvent | None:
        """One outbox event of the activity with its delivery state, or None."""
        ...

    def list_events(self, activity_id: str, status: str | None = None, after: int = 0,
                    limit: int = 100) -> list[OutboxEvent]:
        """An activity's events in order, after id `after`; `status` is `pending`,
        `delivered` or `dead` (None: all)."""
        ...

    def redeliver(self, activity_id: str, event_id: int, now: int) -> bool:
        """Make a delivered or dead event pending again, due now, with no attempts counted.
        False (nothing changed) if it does not exist or is still pending."""
        ...

    def add_stats(self, activity_id: str, hour: int, deltas: dict[str, int]) -> None:
        """Add `deltas` (counter -> amount) to the activity's bucket for `hour`. Deferred to
        `flush`: the moves of every action in the transaction become one upsert."""
        ...

    def add_event_stats(self, activity_id: str, hour: int, counts: dict[str, int]) -> None:
        """Add `counts` (event type -> number) to the activity's per-type counters of `hour`
        (deferred, like `add_stats`)."""
        ...

    def count_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> None:
        """Add 1 to the bucket's `participants` if the participant is not yet marked in that
        hour, and mark them (deferred, like `add_stats`)."""
        ...

    def event_totals(self, activity_id: str) -> dict[str, int]:
        """Event type -> count over all hours, by type."""
        ...

    def mark_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> bool:
        """Note that the participant acted in this hour; True the first time."""
        ...

    def hourly_stats(self, activity_id: str) -> list[dict[str, Any]]:
        """The activity's hourly buckets, oldest first."""
        ...

    def get_idempotency(self, activity_id: str, participant_id: str,
                        key: str) -> IdempotencyRecord | None:
        """The record of an idempotency key, or None."""
        ...

    def owner_gone(self, owner: str | None) -> bool:
        """Whether the process behind a claim's `owner` is known to be gone (store/owners.py);
        False when the store cannot tell."""
        ...

    def claim_idempotency(self, rec: IdempotencyRecord, stale_before: int) -> bool:
        """Take the key for a new request (`rec.owner` holds it): insert it, or take over a
        pending one that is abandoned — created before `stale_before`, or whose owner is gone."""
        ...

    def complete_idempotency(self, activity_id: str, participant_id: str, key: str, status: int,
                             response: dict[str, Any], owner: str | None = None) -> None:
        """Store the response of a claimed key (in the action's own transaction). With `owner`,
        `Conflict` unless that claim still holds the key."""
        ...

    def release_idempotency(self, activity_id: str, participant_id: str, key: str,
                            owner: str | None = None) -> None:
        """Forget a key still pending (its request failed before completing); with `owner`,
        only if that claim holds it."""
        ...

    def delete_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        """Forget a key whatever its state (an expired one, before it is used afresh)."""
        ...

    def purge_idempotency(self, before: int) -> int:
        """Delete keys created before `before`; returns how many."""
        ...

    # the console ------------------------------------------------------------------------------

    def count_participants(self, activity_id: str) -> int:
        """Participants with a row in the activity: everyone who acted or sent a heartbeat."""
        ...

    def get_login_failures(self, email: str,
                           address: str = "") -> tuple[int, int, int | None] | None:
        """(failures, last failure time, locked until) for a console login email from one
        client address (`""`: the email's count over every address), if any."""
        ...

    def add_login_failure(self, email: str, now: int, reset_before: int, limit: int,
                          lock_until: int, address: str = "") -> tuple[int, int | None]:
        """Count a failed login of an email from an address (`""`: over every address) in one
        statement (no read-then-write race): the count starts again when the previous failure
        is older than `reset_before`; reaching `limit` locks it until `lock_until`. Returns
        (failures, locked until)."""
        ...

    def clear_login_failures(self, email: str, address: str = "") -> None:
        """Forget a login email's failures from an address (after a successful login)."""
        ...

    def purge_login_failures(self, before: int, now: int) -> int:
        """Forget the counts whose last failure is older than `before` and that lock nothing
        at `now`; returns how many."""
        ...

    # the schema -------------------------------------------------------------------------------

    def applied_migrations(self) -> list[int]:
        """Versions of the migrations applied to this database, in order."""
        ...

    # the console: fulfilment and analytics ----------------------------------------------------

    def insert_redemptions(self, rows: list[dict[str, Any]]) -> None:
        """Add redemption codes (columns of `redemptions`); `Conflict` on a taken code."""
        ...

    def list_redemptions(self, activity_id: str, after: str | None = None, limit: int = 100,
                         search: str | None = None) -> list[dict[str, Any]]:
        """An activity's codes in the order won, after code `after`; `search` matches the
        code or the participant id exactly."""
        ...

    def get_redemption(self, merchant_id: str, code: str,
                       lock: bool = False) -> dict[str, Any] | None:
        """One of the merchant's codes, or None (another merchant's code looks missing);
        `lock` keeps a concurrent writer of it waiting until this transaction ends."""
        ...

    def redeem(self, merchant_id: str, code: str, now: int, by: str) -> bool:
        """Mark a code redeemed if it is not yet: True for exactly one of concurrent calls."""
        ...

    def set_shipping(self, merchant_id: str, code: str, shipping: dict[str, Any] | None,
                     shipped_at: int | None) -> bool:
        """Write a code's shipping details (and when it shipped); False if unknown."""
        ...

    def void_redemptions(self, activity_id: str, participant_id: str, now: int) -> int:
        """Mark the participant's unredeemed codes in the activity void (never redeemable
        after); how many were voided."""
        ...

    # blocks (engine/blocks.py) -------------------------------------------------------------

    def put_block(self, activity_id: str, kind: str, value: str, outcome: str, reason: str,
                  now: int) -> None:
        """Block a participant or a device (`kind`) in the activity, or change its outcome.
        This and `delete_block` keep the count on the activity's row (`ActivityRecord.blocks`)."""
        ...

    def delete_block(self, activity_id: str, kind: str, value: str) -> bool:
        """Lift a block; False if there was none."""
        ...

    def list_blocks(self, activity_id: str) -> list[dict[str, Any]]:
        """The activity's blocks, newest first: kind, value, outcome, reason, created_at."""
        ...

    def find_block(self, activity_id: str, participant_id: str, device: str) -> str | None:
        """The outcome of the blocks on this participant or device (`refused` over
        `never_wins`), or None."""
        ...

    def invited_first_timers(self, activity_id: str) -> list[tuple[str, str, int]]:
        """(inviter, participant, at) of every first-time participant an inviter brought,
        in the order they came."""
        ...

    def room_only_helpers(self, activity_id: str, min_rooms: int) -> list[tuple[str, int]]:
        """(participant, rooms) of those whose every action was on rooms others opened, in at
        least `min_rooms` such rooms."""
        ...

    def keep_template_docs(self, docs: list[tuple[str, str, str, str]], now: int) -> None:
        """Keep template documents, each `(content_hash, template_id, version, doc JSON)`;
        one already kept stays as it is."""
        ...

    def template_doc(self, content_hash: str) -> str | None:
        """A kept template document's JSON, by its content hash."""
        ...

    def participant_codes(self, activity_id: str, participant_id: str) -> list[dict[str, Any]]:
        """The participant's redemption codes in the activity, oldest first."""
        ...

    def touch_participants(self, activity_id: str, participant_ids: list[str]) -> None:
        """Bump the participants' versions: something they see changed outside their state
        (a code issued to them, redeemed or shipped), so their `me` ETag must change."""
        ...

    def display_names(self, activity_id: str, participant_ids: list[str]) -> dict[str, str]:
        """The names the participants last acted under in the activity, by id (read without
        locking their rows; a participant with no row is left out)."""
        ...

    def participants_by(self, activity_id: str, column: str,
                        min_participants: int) -> list[tuple[str, list[str]]]:
        """(value, participants) for each `device` or `address` of the action log that at
        least `min_participants` participants acted from."""
        ...

    def funnel_counts(self, activity_id: str, actions: list[str], events: list[str],
                      since: int, until: int) -> dict[str, int]:
        """Distinct participants per step in [since, until): `action:NAME` who performed it;
        `event:TYPE` whose action emitted it, or who were members of the room it names."""
        ...

    def count_actors(self, activity_id: str, since: int, until: int) -> int:
        """Distinct participants with an accepted action in [since, until)."""
        ...


    # share links

    def insert_share(self, code: str, activity_id: str, room_id: str | None, sharer: str,
                     now: int) -> tuple[str, bool]:
        """The sharer's code for this activity and room (`code` if new) and whether it is new."""
        ...

    def get_share(self, code: str) -> dict[str, Any] | None:
        """code, activity_id, room_id (None for the activity), sharer, created_at, opens."""
        ...

    def count_share_open(self, code: str) -> None:
        """One more open of a share link."""
        ...

    def sharing_summary(self, activity_id: str, top: int = 10) -> dict[str, Any]:
        """links, sharers, opens, generations [(generation, participants)], top_inviters
        [(participant, invited, display name)]."""
        ...

    # limits per device and address (engine/action_limits.py) ----------------------------

    def take_limit(self, activity_id: str, limit_id: str, subject: str, period: str,
                   most: int) -> bool:
        """Count one more action of `subject` in `period` under the limit, unless `most`
        are counted already (one conditional upsert); whether it was counted."""
        ...

    def limit_count(self, activity_id: str, limit_id: str, subject: str, period: str) -> int:
        """How many actions of `subject` in `period` the limit has counted."""
        ...

    def limit_counts(self, activity_id: str) -> list[tuple[str, str, str, int]]:
        """Every count of the activity's limits: (limit, subject, period, count), sorted."""
        ...

    def note_device(self, activity_id: str, participant_id: str, device: str, now: int) -> None:
        """Remember that the participant acted or shared from `device` in the activity."""
        ...

    def used_device(self, activity_id: str, participant_id: str, device: str) -> bool:
        """Whether the participant acted or shared from `device` in the activity."""
        ...

    # campaigns: activities reported as one (engine/campaigns.py) ----------------------------

    def insert_campaign(self, row: dict[str, Any]) -> None:
        """A new campaign row (id, owner_id, name, timezone, starts_on, ends_on, starts_at,
        ends_at, created_at)."""
        ...

    def get_campaign(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign row, or None."""
        ...

    def list_campaigns(self, merchant_id: str) -> list[dict[str, Any]]:
        """The campaigns the merchant owns or joined, newest first, each with its `role`."""
        ...

    def add_campaign_member(self, campaign_id: str, merchant_id: str, role: str,
                            now: int) -> bool:
        """`owner` or `member`; False if the merchant is in the campaign already."""
        ...

    def campaign_role(self, campaign_id: str, merchant_id: str) -> str | None:
        """`owner`, `member`, or None for a merchant not in the campaign."""
        ...

    def list_campaign_members(self, campaign_id: str) -> list[dict[str, Any]]:
        """merchant_id, name, role, joined_at, in the order they joined."""
        ...

    def insert_campaign_invite(self, code: str, campaign_id: str, now: int) -> None:
        """A new single-use invitation code, not accepted yet."""
        ...

    def get_campaign_invite(self, code: str) -> dict[str, Any] | None:
        """code, campaign_id, created_at, accepted_by, accepted_at; None if unknown."""
        ...

    def accept_campaign_invite(self, code: str, merchant_id: str, now: int) -> bool:
        """Mark a code used by `merchant_id`: one conditional UPDATE, so of two merchants
        accepting one code, one wins."""
        ...

    def list_campaign_invites(self, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's invitations (as `get_campaign_invite`), oldest first."""
        ...

    def add_campaign_activity(self, campaign_id: str, activity_id: str, merchant_id: str,
                              now: int) -> bool:
        """Count the activity in the campaign from `now` (again, if it was removed); False if
        it is counted already."""
        ...

    def remove_campaign_activity(self, campaign_id: str, activity_id: str, now: int) -> bool:
        """Stop counting it from `now` (what it counted stays); False if it was not counted."""
        ...

    def list_campaign_activities(self, campaign_id: str) -> list[dict[str, Any]]:
        """activity_id, merchant_id, added_at, removed_at, title, template_id, status,
        timezone, merchant_name — removed ones included."""
        ...

    def campaigns_of(self, activity_id: str) -> list[list[Any]]:
        """[campaign, since, until] of each campaign the activity is in (`since`: the later of
        when it was added and when the campaign starts). Adding and removing an activity keep
        this list on its row (`ActivityRecord.campaigns`), where actions read it."""
        ...

    def join_campaign(self, campaign_id: str, participant_id: str, activity_id: str, now: int,
                      first_ever: bool, inviter: str | None) -> bool:
        """Note the participant in the campaign; True the first time."""
        ...

    def add_campaign_stats(self, campaign_id: str, activity_id: str, hour: int,
                           deltas: dict[str, int]) -> None:
        """Add to the (campaign, activity, hour) bucket, written at once (within the action's
        savepoint)."""
        ...

    def add_campaign_completions(self, campaign_id: str, activity_id: str, hour: int,
                                 counts: dict[str, int]) -> None:
        """Add completions by event type to the (campaign, activity, hour) bucket."""
        ...

    def campaign_buckets(self, campaign_id: str) -> list[dict[str, Any]]:
        """Every (activity, hour) bucket of the campaign, by hour."""
        ...

    def campaign_completion_counts(self, campaign_id: str) -> list[tuple[str, str, int]]:
        """(activity, completion event type, count)."""
        ...

    def campaign_people(self, campaign_id: str) -> dict[str, int]:
        """participants, first_ever, invited, inviters (distinct) over the whole campaign."""
        ...


class Store(ABC):
    dialect: str

    def owner(self) -> str:
        """This process's owner id for the Idempotency-Keys it claims (store/owners.py)."""
        return ""

    def lane(self, activity_id: str) -> str:
        """Writes that may share one transaction (group commit) have the same lane. SQLite has
        one writer per database: one lane. PostgreSQL locks rows: one lane per activity, so a
        batch takes its activity's row lock once and other activities never wait for it."""
        return ""

    @abstractmethod
    def transaction(self, write: bool = True) -> AbstractContextManager[Tx]:
        """A transaction: committed when the block ends, rolled back if it raises."""

    def activity_version(self, activity_id: str
                         ) -> tuple[int, str, int | None, int | None, int | None] | None:
        """`Tx.get_activity_version` read on its own — all a poll answered 304 reads. In a read
        transaction here; a store where one statement is its own snapshot skips the wrapping."""
        with self.transaction(write=False) as tx:
            return tx.get_activity_version(activity_id)

    @abstractmethod
    def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied (none when up to date)."""

    @abstractmethod
    def integrity_check(self) -> str:
        """"ok" when the database is consistent."""

    @abstractmethod
    def close(self) -> None:
        ...
