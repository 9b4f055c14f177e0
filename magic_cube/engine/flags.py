"""Anomaly flags: patterns in an activity's action log that wool-pullers (薅羊毛) leave.

Each flag names the participants it is about; a merchant reviews them (the console's review
list) and blocks or voids. Flags are read from the log on request, never stored: what the log
says now is what they show.

- `invite_burst`: an inviter who brought at least `BURST_INVITEES` first-time participants
  within `BURST_WINDOW` seconds (fresh accounts made for the purpose come in bursts).
- `shared_device`: at least `SHARED_DEVICE` participants acted from one device id.
- `shared_address`: at least `SHARED_ADDRESS` participants acted from one client address (an
  office or a campus shares one, hence the higher threshold).
- `helper_only`: a participant whose every action was on rooms other people opened, in at
  least `HELPER_ROOMS` rooms, and who never did anything for themselves.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from magic_cube.engine.core import Core
from magic_cube.store import Tx
from magic_cube.store.records import Merchant

BURST_INVITEES = 5
BURST_WINDOW = 3600
SHARED_DEVICE = 3
SHARED_ADDRESS = 10
HELPER_ROOMS = 3
THRESHOLDS = {"burst_invitees": BURST_INVITEES, "burst_window": BURST_WINDOW,
              "shared_device": SHARED_DEVICE, "shared_address": SHARED_ADDRESS,
              "helper_rooms": HELPER_ROOMS}
KINDS = ("invite_burst", "shared_device", "shared_address", "helper_only")


def _flag(kind: str, subject: str, participants: list[str], count: int,
          started_at: int | None = None) -> dict[str, Any]:
    return {"kind": kind, "subject": subject, "participants": participants, "count": count,
            "started_at": started_at}


def invite_bursts(tx: Tx, activity_id: str) -> list[dict[str, Any]]:
    """Inviters with a burst of first-time invitees: the first window that holds one, and
    everyone the inviter brought in it."""
    by_inviter: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for inviter, participant, at in tx.invited_first_timers(activity_id):
        by_inviter[inviter].append((at, participant))
    out = []
    for inviter, came in sorted(by_inviter.items()):
        start = 0
        for end in range(len(came)):  # the log is in time order: a sliding window
            while came[end][0] - came[start][0] >= BURST_WINDOW:
                start += 1
            if end - start + 1 >= BURST_INVITEES:
                stop = end
                while stop + 1 < len(came) and came[stop + 1][0] - came[start][0] < BURST_WINDOW:
                    stop += 1
                window = came[start:stop + 1]
                out.append(_flag("invite_burst", inviter, [inviter, *[p for _, p in window]],
                                 len(window), came[start][0]))
                break
    return sorted(out, key=lambda f: (-f["count"], f["subject"]))


def flags(tx: Tx, activity_id: str) -> list[dict[str, Any]]:
    """Every flag of the activity, of each kind in `KINDS` order."""
    out = invite_bursts(tx, activity_id)
    for column, kind, least in (("device", "shared_device", SHARED_DEVICE),
                                ("address", "shared_address", SHARED_ADDRESS)):
        out += [_flag(kind, value, people, len(people))
                for value, people in tx.participants_by(activity_id, column, least)]
    out += [_flag("helper_only", participant, [participant], rooms)
            for participant, rooms in tx.room_only_helpers(activity_id, HELPER_ROOMS)]
    return out


def review(found: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The review list: each flagged participant once, with the kinds of flags naming them and
    how the merchant has dealt with them (`blocked`: the outcome, `voided`)."""
    kinds: dict[str, list[str]] = defaultdict(list)
    for flag in found:
        for participant in flag["participants"]:
            if flag["kind"] not in kinds[participant]:
                kinds[participant].append(flag["kind"])
    blocked = {b["value"]: b for b in blocks if b["kind"] == "participant"}
    return [{"participant": p, "flags": k,
             "blocked": blocked[p]["outcome"] if p in blocked else None,
             "voided": p in blocked and blocked[p]["reason"] == "void"}
            for p, k in sorted(kinds.items(), key=lambda item: (-len(item[1]), item[0]))]


class Flags:
    def __init__(self, core: Core) -> None:
        self.core = core

    def flags(self, merchant: Merchant, activity_id: str) -> dict[str, Any]:
        """The activity's flags, its review list and the thresholds they use."""
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            found = flags(tx, activity_id)
            blocks = tx.list_blocks(activity_id)
        return {"flags": found, "review": review(found, blocks), "thresholds": THRESHOLDS}
