"""The dashboard's numbers over a date range: the template's funnel and the participants who
acted, read from the action log (hourly counters cannot say who acted in several hours)."""

from __future__ import annotations

from typing import Any

from magic_cube.engine.core import Core
from magic_cube.store.records import Merchant


class Analytics:
    def __init__(self, core: Core) -> None:
        self.core = core

    def funnel(self, merchant: Merchant, activity_id: str, since: int,
               until: int) -> list[dict[str, Any]]:
        """The template's funnel steps (`label`, `action` or `event`) with `count`: distinct
        participants in [since, until). Empty when the template declares none."""
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id, merchant)
            steps = self.core.entry(activity).doc.get("funnel") or []
            counts = tx.funnel_counts(
                activity_id, [s["action"] for s in steps if "action" in s],
                [s["event"] for s in steps if "event" in s], since, until)
        return [{**s, "count": counts.get(f"action:{s['action']}" if "action" in s
                                          else f"event:{s['event']}", 0)} for s in steps]

    def actors(self, merchant: Merchant, activity_id: str, since: int, until: int) -> int:
        """Distinct participants who acted in [since, until)."""
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            return tx.count_actors(activity_id, since, until)
