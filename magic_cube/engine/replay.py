"""Replay and audit: rebuild an activity from its action log and compare.

Replay copies the activity as it was published into a scratch in-memory store and runs every
logged action again through the same engine code, with the logged time, actor and random
inputs; the rebuilt state, rooms, members, participants and every action's result and events
must equal what is stored. Audit recomputes every random draw from the revealed seed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from magic_cube.engine.actions import Request
from magic_cube.engine.lifecycle import bring_timers_forward, follow_config
from magic_cube.rules.rng import Rng, action_label, commitment
from magic_cube.store.records import ActivityRecord


def replay(engine: Any, activity_id: str) -> list[str]:
    """Differences between the stored activity and one rebuilt from its log (empty: none)."""
    from magic_cube.engine import Engine
    from magic_cube.store.sqlite import SQLiteStore

    with engine.store.transaction(write=False) as tx:
        stored = engine._activity(tx, activity_id)
        merchant = tx.get_merchant(stored.merchant_id)
        log = []
        while True:
            batch = tx.list_actions(activity_id, log[-1].seq if log else 0, 1000)
            if not batch:
                break
            log += batch
        rooms = {r.room.id: r.room for r in tx.list_rooms(activity_id)}
        participants = {p.participant_id: p for p in tx.list_participants(activity_id, limit=10**9)}
    if stored.initial_state is None:
        return []  # never published: nothing happened
    template = engine._entry(stored).compiled

    scratch = SQLiteStore(":memory:")
    scratch.migrate()
    shadow = Engine(scratch, engine.catalog, engine.settings)
    config = dict(stored.config)
    for entry in reversed([e for e in log if e.action == "$config"]):
        config.update(entry.params["before"])
    start = replace(stored, state=stored.initial_state, config=config, seq=0, version=1,
                    status="live")
    with scratch.transaction() as tx:
        tx.insert_merchant(merchant)
        tx.insert_activity(start)

    diffs: list[str] = []
    activity: ActivityRecord = start
    for entry in log:
        with scratch.transaction() as tx:
            activity = tx.get_activity(activity_id)
            if entry.action == "$config":
                activity.config = {**activity.config, **entry.params["after"]}
                state, _ = follow_config(template.doc, activity.state, entry.params["before"],
                                         entry.params["after"])
                tx.update_activity(activity_id, config=activity.config, state=state,
                                   seq=entry.seq)
                continue
            if entry.action == "$end":
                bring_timers_forward(tx, activity_id, entry.params["at"])
                tx.update_activity(activity_id, bump=False, seq=entry.seq)
                continue
            req = Request(entry.action, entry.participant_id, entry.actor_kind, entry.params,
                          entry.room_id, entry.display_name, forced=entry)
            preloaded = tx.get_room(activity_id, entry.room_id) if entry.timer else None
            outcome = shadow._perform(tx, activity, template, req, entry.at, timer=entry.timer,
                                      preloaded=preloaded)
        if not outcome.ok and entry.timer and entry.result == {"error": outcome.error}:
            continue  # a timer whose action refused, as logged
        if not outcome.ok:
            diffs.append(f"seq {entry.seq}: logged as accepted, replay refused it "
                         f"({outcome.error} at {outcome.where})")
            break
        if activity.seq != entry.seq:
            diffs.append(f"seq {entry.seq}: replay numbered it {activity.seq}")
        if outcome.result != entry.result:
            diffs.append(f"seq {entry.seq}: result {outcome.result!r} != logged {entry.result!r}")
        if [e.as_dict() for e in outcome.events] != entry.events:
            diffs.append(f"seq {entry.seq}: events differ from the log")

    with scratch.transaction(write=False) as tx:
        rebuilt = tx.get_activity(activity_id)
        rebuilt_rooms = {r.room.id: r.room for r in tx.list_rooms(activity_id)}
        rebuilt_participants = {p.participant_id: p
                                for p in tx.list_participants(activity_id, limit=10**9)}
    scratch.close()
    if rebuilt.state != stored.state:
        diffs.append(f"activity state: stored {stored.state!r} != replayed {rebuilt.state!r}")
    if set(rooms) != set(rebuilt_rooms):
        diffs.append(f"rooms: stored {sorted(rooms)} != replayed {sorted(rebuilt_rooms)}")
    for room_id in sorted(set(rooms) & set(rebuilt_rooms)):
        a, b = rooms[room_id], rebuilt_rooms[room_id]
        for attr in ("status", "state", "timers", "capacity", "initiator", "closed_at"):
            if getattr(a, attr) != getattr(b, attr):
                diffs.append(f"room {room_id}.{attr}: stored {getattr(a, attr)!r} "
                             f"!= replayed {getattr(b, attr)!r}")
        if [m.as_dict() for m in a.members] != [m.as_dict() for m in b.members]:
            diffs.append(f"room {room_id}: members differ")
    for pid, record in sorted(participants.items()):
        other = rebuilt_participants.get(pid)
        if record.state is None:
            continue  # only heartbeats: no state to rebuild
        if other is None or other.state != record.state:
            diffs.append(f"participant {pid}: stored {record.state!r} != replayed "
                         f"{other.state if other else None!r}")
    return diffs


def audit(engine: Any, activity_id: str) -> dict[str, Any]:
    """Recompute every logged random draw from the revealed seed."""
    with engine.store.transaction(write=False) as tx:
        activity = engine._activity(tx, activity_id)
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
