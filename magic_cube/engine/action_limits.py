"""Limits per device, address and participant (docs/templates.md, "Limits"), and self-invites.

An action's `limits` cap its accepted actions per subject — the client's device id, its
address, or the participant — within a room, a local day, a local week or the whole activity.
They are counted after the rules accept the action and before anything is written, in the
action's own transaction: a limit reached refuses the action with the limit's error and
nothing changes. Each count is one conditional upsert on a unique key, so two actions racing
for the last slot cannot both take it.

Only participants' actions are counted; merchant and timer actions never are. A request
without a device id is counted under its address, so leaving the header out dodges nothing;
without either (an action from inside the server) under the participant.

The device ids a participant acted or shared from are remembered: a participant whose first
action in the activity comes through a share link from one of the sharer's devices invited
themselves (a second account on one phone) and is not counted as invited.
"""

from __future__ import annotations

from magic_cube.engine.requests import ActionRequest
from magic_cube.rules.compiler import CompiledAction
from magic_cube.rules.limits import counted, reached
from magic_cube.rules.model import Rejection
from magic_cube.store import Conflict, Tx
from magic_cube.store.records import ActivityRecord


def take(tx: Tx, activity: ActivityRecord, spec: CompiledAction, request: ActionRequest,
         now: int) -> Rejection | None:
    """Count an accepted action under each of its limits, or refuse it (counting nothing)."""
    if not spec.limits or request.kind != "participant":
        return None
    found = counted(spec.limits, activity.config, request.participant, request.device,
                    request.address, request.room_id, now, activity.timezone)
    if isinstance(found, Rejection):
        return found
    if len(found) > 1:  # refuse before counting anything, so that a refusal writes nothing
        for limit, key, cap in found:
            if tx.limit_count(activity.id, *key) >= cap:
                return reached(limit)
    for i, (limit, key, cap) in enumerate(found):
        if not tx.take_limit(activity.id, *key, cap):
            if i:  # found free above: another transaction took it meanwhile
                raise Conflict(f"limit {limit.id} taken concurrently")
            return reached(limit)
    return None


def remember_device(tx: Tx, activity_id: str, participant_id: str, request: ActionRequest,
                    now: int) -> None:
    """Note the device a participant acts or shares from (for self-invites)."""
    if request.device:
        tx.note_device(activity_id, participant_id, request.device, now)


def self_invite(tx: Tx, activity_id: str, sharer: str, request: ActionRequest) -> bool:
    """Whether a new participant acts through `sharer`'s link from a device the sharer acted
    or shared from. Only device ids count here, never a shared address: friends on one home
    or office network are who invite each other most."""
    return bool(request.device) and tx.used_device(activity_id, sharer, request.device)
