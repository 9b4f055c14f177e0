"""Blocklists and voids: a merchant's answers to abuse in one activity.

A block names a participant or a device (the `Magic-Cube-Device` id) with an outcome:
`refused` (every action of theirs answers 403 `participant_blocked` and writes nothing) or
`never_wins` (they act as usual, but a `draw` always misses and a `split` gives them the least
part; `actor.never_wins` tells the rules). `screen` applies them inside each participant
action's transaction; each logged action records whether it ran never-winning, so replay
agrees whatever the blocks are later. Adding or lifting a block is a merchant entry in the
log (`$block`, `$unblock`).

Voiding a participant runs the template's `"by": "void"` actions as them (a lottery returns
their prizes to stock), voids their unredeemed codes, blocks them (`refused`), logs `$void`
and sends the `participant.voided` webhook — all in one transaction.
"""

from __future__ import annotations

from typing import Any

from magic_cube.engine.core import Core
from magic_cube.engine.errors import (
    AlreadyVoided,
    BlockNotFound,
    InvalidTransition,
    ParticipantNotFound,
    VoidRefused,
)
from magic_cube.engine.lifecycle import Lifecycle
from magic_cube.engine.performer import Performer
from magic_cube.engine.requests import ActionRequest
from magic_cube.rules.model import Rejection
from magic_cube.store import Tx
from magic_cube.store.records import ActionRecord, ActivityRecord, Merchant

KINDS = ("participant", "device")
OUTCOMES = ("refused", "never_wins")
VOID_REASON = "void"  # the reason of the block a void leaves
# A block, a void: only once the activity has its published state (replay starts there).
OPEN_STATUSES = ("scheduled", "live", "paused", "ended")


def screen(tx: Tx, activity: ActivityRecord, request: ActionRequest) -> Rejection | None:
    """A participant action's check against the activity's blocks: a rejection when refused;
    else marks the request never-winning when so blocked."""
    if request.kind != "participant" or not activity.blocks:
        return None  # the merchant's and timers' actions are never blocked
    outcome = tx.find_block(activity.id, request.participant, request.device)
    if outcome == "refused":
        return Rejection("participant_blocked")
    request.never_wins = outcome == "never_wins"
    return None


def _log(tx: Tx, activity: ActivityRecord, action: str, params: dict[str, Any],
         now: int) -> None:
    """A merchant entry in the action log; replay numbers it in place."""
    activity.seq += 1
    tx.insert_action(ActionRecord(
        activity_id=activity.id, seq=activity.seq, at=now, actor_kind="merchant",
        participant_id="", action=action, params=params,
        room_id=None, new_room_id=None, result={}, events=[], random=[]))
    tx.update_activity(activity.id, bump=False, seq=activity.seq)


def voided_event(participant: str, codes: int, actions: list[str]) -> dict[str, Any]:
    """The `participant.voided` webhook."""
    return {"type": "participant.voided",
            "data": {"participant": participant, "codes_voided": codes, "actions": actions}}


class Blocks:
    """List, add and lift blocks; void a participant's results."""

    def __init__(self, core: Core, lifecycle: Lifecycle, performer: Performer) -> None:
        self.core = core
        self.lifecycle = lifecycle
        self.performer = performer

    def _open(self, tx: Tx, merchant: Merchant, activity_id: str) -> ActivityRecord:
        activity = self.core.activity(tx, activity_id, merchant)
        self.lifecycle.advance(tx, activity, self.core.now())
        if activity.status not in OPEN_STATUSES:
            raise InvalidTransition(f"Cannot block or void in an activity that is "
                                    f"{activity.status}")
        return activity

    def list(self, merchant: Merchant, activity_id: str) -> list[dict[str, Any]]:
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            return tx.list_blocks(activity_id)

    def block(self, merchant: Merchant, activity_id: str, kind: str, value: str,
              outcome: str) -> dict[str, Any]:
        """Block a participant or a device (again: the outcome changes); the block."""
        assert kind in KINDS and outcome in OUTCOMES  # the API's schema checked both
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self._open(tx, merchant, activity_id)
            tx.put_block(activity.id, kind, value, outcome, "", now)
            _log(tx, activity, "$block", {"kind": kind, "value": value, "outcome": outcome},
                 now)
        return {"kind": kind, "value": value, "outcome": outcome, "reason": "",
                "created_at": now}

    def unblock(self, merchant: Merchant, activity_id: str, kind: str, value: str) -> None:
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self._open(tx, merchant, activity_id)
            if not tx.delete_block(activity.id, kind, value):
                raise BlockNotFound()
            _log(tx, activity, "$unblock", {"kind": kind, "value": value}, now)

    def void(self, merchant: Merchant, activity_id: str, participant: str) -> dict[str, Any]:
        """Void a participant's results: the template's void actions, their codes, a block."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self._open(tx, merchant, activity_id)
            if tx.get_participant(activity.id, participant) is None:
                raise ParticipantNotFound()
            if any(b["kind"] == "participant" and b["value"] == participant
                   and b["reason"] == VOID_REASON for b in tx.list_blocks(activity.id)):
                raise AlreadyVoided()
            template = self.core.template(activity)
            ran = []
            for name in sorted(n for n, spec in template.actions.items() if spec.by == "void"):
                request = ActionRequest(name, participant, "void", {}, None)
                outcome = self.performer.perform(tx, activity, template, request, now)
                if isinstance(outcome, Rejection):
                    raise VoidRefused(errors={name: [{"code": outcome.error,
                                                      "message": outcome.detail}]})
                ran.append(name)
            codes = tx.void_redemptions(activity.id, participant, now)
            tx.put_block(activity.id, "participant", participant, "refused", VOID_REASON, now)
            _log(tx, activity, "$void", {"participant": participant, "codes_voided": codes,
                                         "actions": ran}, now)
            tx.insert_outbox(activity.id, activity.seq, [voided_event(participant, codes, ran)],
                             now)
        self.core.notify(activity_id)
        return {"participant": participant, "codes_voided": codes, "actions": ran,
                "seq": activity.seq}
