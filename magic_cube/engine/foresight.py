"""Which actions the engine would refuse now for one participant, before they tap.

A shopper's page disables a button whose action would be refused (already helped, no draws
left, the room full, sold out, not live) and says why, in the page's language. The answer is
worked out with the same checks an action runs — the activity's status, the blocks, the
template's room status and guards, the counted limits — in a read transaction: nothing is
written, no limit is counted, no key is claimed.

What cannot be known before the tap is left out: an action with params (a form, even one whose
fields are all optional: its guards may read what the shopper has yet to fill in) is judged only
on the status and the blocks. Draws use a fresh
random label, never the one the next real action will use, so that a refusal which depended on
chance could not tell the shopper the outcome of their next draw in advance.
"""

from __future__ import annotations

import secrets
from typing import Any

from magic_cube.engine.accounts import Participant
from magic_cube.engine.actions import REQUEST_ERRORS, refusal
from magic_cube.engine.blocks import screen
from magic_cube.engine.core import Core
from magic_cube.engine.errors import ActivityNotLive
from magic_cube.engine.performer import participant_reader
from magic_cube.engine.requests import ActionRequest
from magic_cube.engine.rooms import load_room
from magic_cube.i18n import gettext
from magic_cube.rules.compiler import CompiledAction, CompiledTemplate
from magic_cube.rules.interpreter import run
from magic_cube.rules.limits import counted, reached
from magic_cube.rules.model import Actor, Rejection, Snapshot
from magic_cube.rules.rng import Rng
from magic_cube.store import Tx
from magic_cube.store.records import ActivityRecord, Merchant, ParticipantRecord

Refusals = dict[str, dict[str, str]]  # action -> {"code", "message"}


def effective_status(activity: ActivityRecord, now: int) -> str:
    """The status the next action would find, a due start or end applied (as `advance` does)."""
    status = activity.status
    if status == "scheduled" and activity.starts_at is not None and activity.starts_at <= now:
        status = "live"
    if status in ("live", "paused") and activity.ends_at is not None \
            and activity.ends_at <= now:
        status = "ended"
    return status


def refused_actions(core: Core, activity_id: str, participant: Participant,
                    room_id: str | None = None, lang: str = "en",
                    merchant: Merchant | None = None) -> Refusals:
    """{action: {code, message}} for each participant action the engine would refuse now,
    `message` in `lang`. An action on a room (`room: target`) is judged on `room_id`, and left
    out without one."""
    now = core.now()
    with core.store.transaction(write=False) as tx:
        activity = core.activity(tx, activity_id, merchant)
        template = core.template(activity)
        actions = {name: spec for name, spec in template.actions.items()
                   if spec.by == "participant"}
        status = effective_status(activity, now)
        if status != "live":
            said = gettext(lang, ActivityNotLive.by_status.get(status, ActivityNotLive.message))
            return {name: {"code": ActivityNotLive.code, "message": said} for name in actions}
        record = tx.get_participant(activity.id, participant.id) if participant.id else None
        loaded = load_room(tx, activity.id, room_id) if room_id else None
        out: Refusals = {}
        for name, spec in actions.items():
            if spec.room == "target" and loaded is None:
                continue  # no room to judge it on
            request = ActionRequest(name, participant.id, "participant", {},
                                    room_id if spec.room == "target" else None,
                                    participant.display_name, device=participant.device,
                                    address=participant.address)
            rejection = _judged(tx, activity, template, spec, request, record,
                                loaded.room if loaded and spec.room == "target" else None, now)
            if rejection is not None and rejection.error not in REQUEST_ERRORS:
                found = refusal(template, rejection, lang)
                out[name] = {"code": found.code, "message": found.message}
        return out


def _judged(tx: Tx, activity: ActivityRecord, template: CompiledTemplate, spec: CompiledAction,
            request: ActionRequest, record: ParticipantRecord | None, room: Any,
            now: int) -> Rejection | None:
    """The rejection the action would meet now, or None if it would pass (or cannot be told)."""
    if (blocked := screen(tx, activity, request)) is not None:
        return blocked
    schema = spec.params.schema
    if not spec.empty_params_ok or (isinstance(schema, dict) and schema.get("properties")):
        return None  # a form: its guards may read what the shopper has yet to fill in
    new = record is None or record.first_action_at is None
    first_time = new and bool(request.participant) \
        and not tx.known_participant(activity.merchant_id, request.participant)
    actor = Actor(request.participant, "participant", first_time, new,
                  request.display_name or (record.display_name if record else ""),
                  None, 0, never_wins=request.never_wins)
    snapshot = Snapshot(activity.id, activity.config, activity.state,
                        record.state if record else None, room, activity.timezone,
                        participants=participant_reader(tx, activity.id, {}))
    rng = Rng(activity.seed or "", f"foresight/{secrets.token_hex(8)}")
    outcome = run(template, request.action, snapshot, actor, {}, now, rng,
                  new_room_id=secrets.token_hex(6))
    if isinstance(outcome, Rejection):
        return outcome
    return _limit_reached(tx, activity, spec, request, now)


def _limit_reached(tx: Tx, activity: ActivityRecord, spec: CompiledAction,
                   request: ActionRequest, now: int) -> Rejection | None:
    """A counted limit already at its cap (read, not counted: see `action_limits.take`)."""
    if not spec.limits:
        return None
    found = counted(spec.limits, activity.config, request.participant, request.device,
                    request.address, request.room_id, now, activity.timezone)
    if isinstance(found, Rejection):
        return found
    for limit, key, cap in found:
        if tx.limit_count(activity.id, *key) >= cap:
            return reached(limit)
    return None
