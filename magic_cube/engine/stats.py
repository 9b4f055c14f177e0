"""Participation, first-time participants, interaction time and completions.

Counters move in the same transaction as the action they count (no nightly batch), in hourly
buckets; totals are sums of the buckets, so totals and the hourly chart always agree, and both
agree with the action log (a test recomputes them from it).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from magic_cube.engine.identity import Participant
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.model import Outcome
from magic_cube.store.records import ActivityRecord, Merchant, ParticipantRecord

COUNTERS = ("participations", "participants", "new_participants", "first_time",
            "interaction_seconds", "completions", "actions")


def hour_of(ts: int) -> int:
    return ts - ts % 3600


class StatsMixin:
    """Counting (part of `Engine`)."""

    def credit_interaction(self, record: ParticipantRecord, now: int) -> int:
        """Seconds to credit for activity at `now` after the participant was last seen.

        A gap up to the cap counts in full; a longer gap within the session timeout counts
        the cap (the participant was probably still there); past the timeout a new session
        starts and nothing is credited.
        """
        credit = 0
        if record.last_seen_at is not None:
            gap = max(0, now - record.last_seen_at)
            if gap <= self.settings.interaction_gap_cap:
                credit = gap
            elif gap <= self.settings.session_timeout:
                credit = int(self.settings.interaction_gap_cap)
        record.last_seen_at = max(now, record.last_seen_at or now)
        record.interaction_seconds += credit
        return credit

    def count(self, tx, activity: ActivityRecord, template: CompiledTemplate, req: Any,
              outcome: Outcome, now: int, credited: int, new_to_activity: bool,
              first_time: bool, hour_marked: bool = False) -> None:
        hour = hour_of(now)
        deltas = {"actions": 1, "interaction_seconds": credited}
        if req.kind == "participant":
            if req.action in template.participation:
                deltas["participations"] = 1
            if not hour_marked and tx.mark_participant_hour(activity.id, req.participant, hour):
                deltas["participants"] = 1
            deltas["new_participants"] = int(new_to_activity)
            deltas["first_time"] = int(first_time)
        deltas["completions"] = sum(1 for e in outcome.events if e.type in template.completion)
        tx.add_stats(activity.id, hour, deltas)
        if outcome.events:
            tx.add_event_stats(activity.id, hour, Counter(e.type for e in outcome.events))

    def heartbeat(self, activity_id: str, participant: Participant) -> dict[str, Any]:
        """Credit interaction time on the server clock; returns the participant's total."""
        now = self.now()
        # A plain read of the activity: heartbeats must not queue behind its actions.
        with self.store.transaction(write=False) as tx:
            live = self._activity(tx, activity_id).status == "live"
        with self.store.transaction() as tx:
            record = tx.get_participant(activity_id, participant.id)
            expected = record.version if record else None
            if record is None:
                record = ParticipantRecord(activity_id, participant.id, participant.display_name)
            credited = self.credit_interaction(record, now) if live else 0
            tx.save_participant(record, expected)
            if credited:
                tx.add_stats(activity_id, hour_of(now), {"interaction_seconds": credited})
        return {"credited": credited, "interaction_seconds": record.interaction_seconds,
                "next_heartbeat": self.settings.heartbeat_interval}

    def stats(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """Totals, hourly buckets and counts per event type of one activity."""
        with self.store.transaction(write=False) as tx:
            activity = self._activity(tx, activity_id, merchant)
            hourly = tx.hourly_stats(activity_id)
            events = tx.event_totals(activity_id)
        template = self._entry(activity).compiled
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
        with self.store.transaction(write=False) as tx:
            self._activity(tx, activity_id, merchant)
            rows = tx.list_actions(activity_id, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        items = [{"seq": r.seq, "at": r.at, "actor": r.actor_kind, "participant": r.participant_id,
                  "action": r.action, "room": r.room_id or r.new_room_id, "params": r.params,
                  "result": r.result, "events": r.events, "random": r.random,
                  "first_time": r.first_time} for r in rows]
        return items, (rows[-1].seq if more and rows else None)
