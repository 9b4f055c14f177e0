"""Replay and audit: rebuild an activity from its action log and compare.

Replay copies the activity as it was published into a scratch in-memory store and runs every
logged action again through the same engine code (`Performer`), with the logged time, actor
and random inputs; the rebuilt state, rooms, members, participants and every action's result
and events must equal what is stored. Audit recomputes every random draw from the revealed
seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from magic_cube.engine.controls import apply_top_up, without_top_up
from magic_cube.engine.core import Core
from magic_cube.engine.lifecycle import bring_timers_forward, follow_config
from magic_cube.engine.performer import Performer
from magic_cube.engine.requests import ActionRequest
from magic_cube.engine.rooms import load_room
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.model import Rejection
from magic_cube.rules.rng import Rng, action_label, commitment
from magic_cube.store import Tx
from magic_cube.store.records import (
    ActionRecord,
    ActivityRecord,
    Merchant,
    ParticipantRecord,
    Room,
)
from magic_cube.store.sqlite import SQLiteStore

if TYPE_CHECKING:
    from magic_cube.engine import Engine

ROOM_FIELDS = ("status", "state", "timers", "capacity", "initiator", "closed_at")


@dataclass
class Stored:
    """An activity as stored: the row, its log, rooms and participants."""

    activity: ActivityRecord
    log: list[ActionRecord]
    rooms: dict[str, Room]
    participants: dict[str, ParticipantRecord]
    # (limit, subject, period, count) of the limits per device, address and participant
    limits: list[tuple[str, str, str, int]] = field(default_factory=list)


def _read(tx: Tx, activity: ActivityRecord) -> Stored:
    log: list[ActionRecord] = []
    while True:
        batch = tx.list_actions(activity.id, log[-1].seq if log else 0, 1000)
        if not batch:
            break
        log += batch
    rooms = {r.room.id: r.room for r in tx.list_rooms(activity.id)}
    participants = {p.participant_id: p
                    for p in tx.list_participants(activity.id, limit=10**9)}
    return Stored(activity, log, rooms, participants, tx.limit_counts(activity.id))


def replay(engine: Engine, activity_id: str) -> list[str]:
    """Differences between the stored activity and one rebuilt from its log (empty: none)."""
    core = engine.core
    with core.store.transaction(write=False) as tx:
        stored = _read(tx, core.activity(tx, activity_id))
        merchant = tx.get_merchant(stored.activity.merchant_id)
    if stored.activity.initial_state is None or merchant is None:
        return []  # never published: nothing happened
    template = core.template(stored.activity)
    scratch = SQLiteStore(":memory:")
    scratch.migrate()
    try:
        shadow = Core(scratch, core.catalog, core.settings)
        diffs = _rerun(shadow, merchant, stored, template)
        with scratch.transaction(write=False) as tx:
            rebuilt = _read(tx, shadow.activity(tx, activity_id))
    finally:
        scratch.close()
    return diffs + _compare(stored, rebuilt)


def _rerun(shadow: Core, merchant: Merchant, stored: Stored,
           template: CompiledTemplate) -> list[str]:
    """Run the log again into `shadow`'s empty store; the differences in results."""
    activity_id = stored.activity.id
    performer = Performer(shadow)
    config = dict(stored.activity.config)
    for entry in reversed([e for e in stored.log if e.action in ("$config", "$stock")]):
        if entry.action == "$stock":
            config = without_top_up(config, entry.params["field"], entry.params["add"])
        else:
            config.update(entry.params["before"])
    assert stored.activity.initial_state is not None
    # The shadow holds no blocks and is in no campaign: the log says how each action ran.
    start = replace(stored.activity, state=stored.activity.initial_state, config=config, seq=0,
                    version=1, status="live", blocks=0, campaigns=[])
    with shadow.store.transaction() as tx:
        tx.insert_merchant(merchant)
        tx.insert_activity(start)
    diffs: list[str] = []
    for entry in stored.log:
        with shadow.store.transaction() as tx:
            activity = shadow.activity(tx, activity_id)
            if _merchant_entry(tx, activity, template, entry):
                continue
            request = ActionRequest(entry.action, entry.participant_id, entry.actor_kind,
                                    entry.params, entry.room_id, entry.display_name,
                                    device=entry.device, address=entry.address,
                                    replayed_from=entry)
            preloaded = load_room(tx, activity_id, entry.room_id) \
                if entry.timer and entry.room_id else None
            outcome = performer.perform(tx, activity, template, request, entry.at,
                                        timer=entry.timer, preloaded=preloaded)
        if isinstance(outcome, Rejection):
            if entry.timer and entry.result == {"error": outcome.error}:
                continue  # a timer whose action refused, as logged
            diffs.append(f"seq {entry.seq}: logged as accepted, replay refused it "
                         f"({outcome.error} at {outcome.where})")
            break
        if activity.seq != entry.seq:
            diffs.append(f"seq {entry.seq}: replay numbered it {activity.seq}")
        if outcome.result != entry.result:
            diffs.append(f"seq {entry.seq}: result {outcome.result!r} != logged {entry.result!r}")
        if [e.as_dict() for e in outcome.events] != entry.events:
            diffs.append(f"seq {entry.seq}: events differ from the log")
    return diffs


def _merchant_entry(tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                    entry: ActionRecord) -> bool:
    """Apply a logged live config edit (`$config`), end (`$end`), top-up (`$stock`), early
    start (`$start`), moved end (`$schedule`), block or void; False for an action."""
    if entry.action == "$config":
        activity.config = {**activity.config, **entry.params["after"]}
        state, _ = follow_config(template.doc, activity.state, entry.params["before"],
                                 entry.params["after"])
        tx.update_activity(activity.id, config=activity.config, state=state, seq=entry.seq)
        return True
    if entry.action == "$stock":
        config, state = apply_top_up(template.doc, activity.config, activity.state,
                                     entry.params["field"], entry.params["add"])
        tx.update_activity(activity.id, config=config, state=state, seq=entry.seq)
        return True
    # Blocks and voids (engine/blocks.py) change no state: each action logged whether it ran
    # never-winning, and a void's own effects are the logged `void` actions before it.
    if entry.action in ("$start", "$schedule", "$block", "$unblock", "$void"):
        tx.update_activity(activity.id, bump=False, seq=entry.seq)
        return True
    if entry.action == "$end":
        bring_timers_forward(tx, activity.id, entry.params["at"])
        tx.update_activity(activity.id, bump=False, seq=entry.seq)
        return True
    return False


def _members(room: Room) -> list[tuple[str, str, int, dict[str, Any]]]:
    return [(m.participant, m.role, m.joined_at, m.data) for m in room.members]


def _compare(stored: Stored, rebuilt: Stored) -> list[str]:
    diffs: list[str] = []
    if rebuilt.activity.state != stored.activity.state:
        diffs.append(f"activity state: stored {stored.activity.state!r} != replayed "
                     f"{rebuilt.activity.state!r}")
    rooms, again = stored.rooms, rebuilt.rooms
    if set(rooms) != set(again):
        diffs.append(f"rooms: stored {sorted(rooms)} != replayed {sorted(again)}")
    for room_id in sorted(set(rooms) & set(again)):
        a, b = rooms[room_id], again[room_id]
        for attr in ROOM_FIELDS:
            if getattr(a, attr) != getattr(b, attr):
                diffs.append(f"room {room_id}.{attr}: stored {getattr(a, attr)!r} "
                             f"!= replayed {getattr(b, attr)!r}")
        if _members(a) != _members(b):
            diffs.append(f"room {room_id}: members differ")
    if rebuilt.limits != stored.limits:
        diffs.append(f"limit counts: stored {stored.limits[:5]!r}… != replayed "
                     f"{rebuilt.limits[:5]!r}…")
    for pid, record in sorted(stored.participants.items()):
        other = rebuilt.participants.get(pid)
        if record.state is None:
            continue  # only heartbeats: no state to rebuild
        if other is None or other.state != record.state:
            diffs.append(f"participant {pid}: stored {record.state!r} != replayed "
                         f"{other.state if other else None!r}")
    return diffs


def audit(engine: Engine, activity_id: str) -> dict[str, Any]:
    """Recompute every logged random draw from the revealed seed."""
    core = engine.core
    with core.store.transaction(write=False) as tx:
        activity = core.activity(tx, activity_id)
        log = tx.list_actions(activity_id, 0, 10**9)
    if activity.status not in ("ended", "archived") or not activity.seed:
        return {"activity_id": activity_id, "ok": False, "checked": 0,
                "problems": ["the seed is revealed only when the activity has ended"]}
    problems = []
    if commitment(activity.seed) != activity.seed_commitment:
        problems.append("the revealed seed does not match the published commitment")
    checked = 0
    for entry in log:
        if not entry.random:
            continue
        rng = Rng(activity.seed, action_label(activity_id, entry.participant_id, entry.seq))
        recomputed = [[n, rng.below(n)] for n, _ in entry.random]
        checked += len(recomputed)
        if recomputed != entry.random:
            problems.append(f"seq {entry.seq}: logged {entry.random} != recomputed {recomputed}")
    return {"activity_id": activity_id, "ok": not problems, "checked": checked,
            "seed": activity.seed, "seed_commitment": activity.seed_commitment,
            "problems": problems}
