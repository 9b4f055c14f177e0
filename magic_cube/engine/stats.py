"""Participation, first-time participants, interaction time and completions.

Counters move in the same transaction as the action they count (no nightly batch), in hourly
buckets; totals are sums of the buckets, so totals and the hourly chart always agree, and both
agree with the action log (a test recomputes them from it). `count` and `credit_interaction`
run inside an action's transaction; `Results` takes heartbeats and reads what was counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from magic_cube.engine import campaigns
from magic_cube.engine.accounts import Participant
from magic_cube.engine.core import Core
from magic_cube.engine.errors import ParticipantBlocked
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.model import Outcome
from magic_cube.settings import Settings
from magic_cube.store import Tx
from magic_cube.store.records import ActionRecord, ActivityRecord, Merchant, ParticipantRecord

COUNTERS = ("participations", "participants", "new_participants", "first_time",
            "interaction_seconds", "completions", "actions")


def hour_of(ts: int) -> int:
    return ts - ts % 3600


def credit_interaction(record: ParticipantRecord, now: int, settings: Settings) -> int:
    """Seconds to credit for activity at `now` after the participant was last seen.

    A gap up to the cap counts in full; a longer gap within the session timeout counts the
    cap (the participant was probably still there); past the timeout a new session starts and
    nothing is credited.
    """
    credit = 0
    if record.last_seen_at is not None:
        gap = max(0, now - record.last_seen_at)
        if gap <= settings.interaction_gap_cap:
            credit = gap
        elif gap <= settings.session_timeout:
            credit = int(settings.interaction_gap_cap)
    record.last_seen_at = max(now, record.last_seen_at or now)
    record.interaction_seconds += credit
    return credit


def count(tx: Tx, activity: ActivityRecord, template: CompiledTemplate, action: str,
          participant: str, by_participant: bool, outcome: Outcome, now: int, credited: int,
          new_to_activity: bool, first_time: bool, hour_marked: bool = False,
          invited: bool = False) -> None:
    """Move the activity's counters for one accepted action (in the action's transaction)."""
    hour = hour_of(now)
    deltas = {"actions": 1, "interaction_seconds": credited}
    if by_participant:
        if action in template.participation:
            deltas["participations"] = 1
        if not hour_marked:  # counted once per hour, when the store writes the counters
            tx.count_participant_hour(activity.id, participant, hour)
        deltas["new_participants"] = int(new_to_activity)
        deltas["first_time"] = int(first_time)
        deltas["invited"] = int(invited)
        deltas["invited_first_time"] = int(invited and first_time)
    deltas["completions"] = sum(1 for e in outcome.events if e.type in template.completion)
    tx.add_stats(activity.id, hour, deltas)
    if outcome.events:
        tx.add_event_stats(activity.id, hour, Counter(e.type for e in outcome.events))
    campaigns.count_action(tx, activity, template, action, participant, by_participant, outcome,
                           now, credited, new_to_activity, first_time, hour_marked, invited)


def describe_action(r: ActionRecord) -> dict[str, Any]:
    """The merchant's view of one logged action."""
    return {"seq": r.seq, "at": r.at, "actor": r.actor_kind, "participant": r.participant_id,
            "action": r.action, "room": r.room_id or r.new_room_id, "params": r.params,
            "result": r.result, "events": r.events, "random": r.random,
            "first_time": r.first_time, "display_name": r.display_name}


class Results:
    """What an activity's participants did: heartbeats, counters, the log, the participants."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def heartbeat(self, activity_id: str, participant: Participant) -> dict[str, Any]:
        """Credit interaction time on the server clock; returns the participant's total."""
        core = self.core
        now = core.now()

        def credit(tx: Tx) -> tuple[ParticipantRecord, int]:
            # The activity's row first, locked as every action locks it (activity → room →
            # participant): a heartbeat that took a participant's row and a campaign's
            # counters before it would deadlock with another process's batch of actions.
            # Read here alone, not also in a read transaction before: an unknown activity
            # is refused by its job in the batch, having written nothing.
            current = core.activity(tx, activity_id)
            live = current.status == "live"
            if current.blocks and tx.find_block(activity_id, participant.id,
                                                participant.device) == "refused":
                raise ParticipantBlocked()  # no interaction time for a refused participant
            record = tx.get_participant(activity_id, participant.id)
            expected = record.version if record else None
            if record is None:
                record = ParticipantRecord(activity_id, participant.id, participant.display_name)
            credited = credit_interaction(record, now, core.settings) if live else 0
            tx.save_participant(record, expected)
            if credited:
                tx.add_stats(activity_id, hour_of(now), {"interaction_seconds": credited})
                campaigns.count_interaction(tx, current, now, credited)
            return record, credited

        # Through group commit, as actions go: concurrent heartbeats and actions share commits.
        record, credited = core.commits.run(core.store.lane(activity_id), credit)
        return {"credited": credited, "interaction_seconds": record.interaction_seconds,
                "next_heartbeat": int(core.settings.heartbeat_interval)}

    def stats(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """Totals, hourly buckets and counts per event type of one activity."""
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id, merchant)
            hourly = tx.hourly_stats(activity_id)
            events = tx.event_totals(activity_id)
        template = self.core.template(activity)
        totals = {c: sum(h[c] for h in hourly) for c in COUNTERS}
        return {
            "activity_id": activity_id,
            "totals": {
                "participations": totals["participations"],
                "unique_participants": totals["new_participants"],
                "first_time_participants": totals["first_time"],
                "interaction_seconds": totals["interaction_seconds"],
                "completions": totals["completions"],
                "actions": totals["actions"],
            },
            "completions": {t: events.get(t, 0) for t in sorted(template.completion)},
            "events": events,
            "hourly": [{"hour": h["hour"], **{c: h[c] for c in COUNTERS}} for h in hourly],
        }

    def action_log(self, merchant: Merchant, activity_id: str, after: int = 0,
                   limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
        """Accepted actions in order; the cursor is the last sequence number returned."""
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            rows = tx.list_actions(activity_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return [describe_action(r) for r in rows], (rows[-1].seq if more and rows else None)

    def participants(self, activity_id: str, after: str | None = None,
                     limit: int = 1000) -> list[ParticipantRecord]:
        """A page of the activity's participants by id, after id `after`, in its own short
        read transaction (an export of millions reads page by page)."""
        with self.core.store.transaction(write=False) as tx:
            return tx.list_participants(activity_id, after, limit)

    def count_participants(self, activity_id: str) -> int:
        """Participants with a row in the activity: everyone who acted or sent a heartbeat."""
        with self.core.store.transaction(write=False) as tx:
            return tx.count_participants(activity_id)
