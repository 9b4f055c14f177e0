"""Share links and attribution: who brought whom.

A participant asks for a share link to an activity or one of its rooms and gets a short code
that the server maps to sharer, activity and room (random, stored, never decoded: it cannot be
forged, and at 12 characters it fits a mini-program code's 32-character `scene`). Opening the
link counts an open. A client keeps the first code that brought it to an activity and sends it
(`via`) with its actions; a participant's first accepted action in the activity then records
the sharer as their inviter — first touch wins, self-invites are ignored (the sharer's own
code, or an invitee acting from a device the sharer acted or shared from:
engine/action_limits.py), and loops cannot form because only a participant new to the
activity can be invited. An invitee's generation is
their inviter's plus one. Attribution is measurement, never reward: nothing here changes what
an action does, and templates may only read the facts (`actor.inviter`, `actor.generation`).
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

from magic_cube.engine.accounts import Participant
from magic_cube.engine.core import Core
from magic_cube.engine.errors import (
    ActivityNotFound,
    ActivityNotLive,
    ParticipantBlocked,
    RoomNotFound,
    ShareNotFound,
)
from magic_cube.engine.stats import hour_of
from magic_cube.rules.interpreter import mask_name
from magic_cube.store import Tx
from magic_cube.store.records import ActivityRecord, Merchant, ParticipantRecord

CODE_ALPHABET = string.ascii_letters + string.digits
CODE_LENGTH = 12  # 62^12 ≈ 3·10^21: unguessable, and short enough for any QR code or scene
CODE = re.compile(r"^[A-Za-z0-9]{1,32}$")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def over(activity: ActivityRecord, now: int) -> bool:
    """Whether the activity has ended (or is past its end, not yet applied lazily)."""
    return activity.status in ("ended", "archived") or (
        activity.ends_at is not None and activity.ends_at <= now)


def sharer_of(tx: Tx, activity: ActivityRecord, via: str | None) -> str | None:
    """Who made the share code `via`, if it is a code of this activity."""
    if not via or not CODE.match(via):
        return None
    share = tx.get_share(via)
    return share["sharer"] if share is not None and share["activity_id"] == activity.id else None


def attribution(tx: Tx, activity: ActivityRecord, participant_id: str,
                record: ParticipantRecord | None, sharer: str | None) -> tuple[str | None, int]:
    """(inviter, generation) of a participant about to act: kept from their row once they
    have acted; for a participant new to the activity, `sharer` unless it is themselves."""
    if record is not None and record.first_action_at is not None:
        return record.inviter, record.generation
    if sharer is None or sharer == participant_id:
        return None, 0
    row = tx.get_participant(activity.id, sharer)
    return sharer, (row.generation if row else 0) + 1


def invited_event(participant_id: str, inviter: str, generation: int,
                  first_time: bool) -> dict[str, Any]:
    """The `participant.invited` webhook: sent once, with the invitee's first action."""
    return {"type": "participant.invited",
            "data": {"participant": participant_id, "inviter": inviter,
                     "generation": generation, "first_time": first_time}}


class Sharing:
    """Share links, their opens, and the sharing figures of an activity."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def share(self, activity_id: str, participant: Participant,
              room_id: str | None = None) -> dict[str, Any]:
        """The participant's share link code for the activity (or one of its rooms); asking
        again gives the same code."""
        now = self.core.now()
        with self.core.store.transaction() as tx:
            activity = self.core.activity(tx, activity_id)
            if activity.unpublished:
                raise ActivityNotFound()
            if over(activity, now):
                # Nothing left to bring a friend to (a scheduled one may be shared ahead).
                said = ActivityNotLive.by_status["ended"]
                raise ActivityNotLive(said, errors={"status": [{"code": "ended",
                                                                 "message": said}]})
            if room_id is not None and tx.get_room(activity_id, room_id) is None:
                raise RoomNotFound()
            if activity.blocks and tx.find_block(activity_id, participant.id,
                                                 participant.device) == "refused":
                raise ParticipantBlocked()  # a blocked account recruits nobody
            code, new = tx.insert_share(new_code(), activity_id, room_id, participant.id, now)
            if participant.device:  # an invitee on this device is the sharer again
                tx.note_device(activity_id, participant.id, participant.device, now)
            if new:
                tx.add_stats(activity_id, hour_of(now), {"shares": 1})
        return {"code": code, "activity_id": activity_id, "room": room_id}

    def open_share(self, code: str) -> dict[str, Any]:
        """Where a share link leads (activity, room, the sharer's masked name); counts an open
        while the activity has not ended (its final figures stay final)."""
        if not CODE.match(code or ""):
            raise ShareNotFound()
        now = self.core.now()
        with self.core.store.transaction() as tx:
            share = tx.get_share(code)
            if share is None:
                raise ShareNotFound()
            activity = tx.get_activity(share["activity_id"])
            if activity is not None and not over(activity, now):
                tx.count_share_open(code)
                tx.add_stats(share["activity_id"], hour_of(now), {"share_opens": 1})
            sharer = tx.get_participant(share["activity_id"], share["sharer"])
        name = (sharer.display_name if sharer and sharer.display_name else share["sharer"])
        return {"code": code, "activity_id": share["activity_id"], "room": share["room_id"],
                "sharer": mask_name(name)}

    def summary(self, merchant: Merchant | None, activity_id: str,
                hourly: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The `sharing` figures of an activity's stats (docs/api.md)."""
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            found = tx.sharing_summary(activity_id)
            if hourly is None:
                hourly = tx.hourly_stats(activity_id)
        invited = sum(h.get("invited", 0) for h in hourly)
        generations = found["generations"]
        return {
            "links": found["links"],
            "link_opens": found["opens"],
            "sharers": found["sharers"],
            "invited": invited,
            "invited_first_time": sum(h.get("invited_first_time", 0) for h in hourly),
            # invited participants per participant who shared: the viral coefficient
            "k_factor": round(invited / found["sharers"], 3) if found["sharers"] else 0.0,
            "deepest_generation": max((g for g, _ in generations), default=0),
            "by_generation": [{"generation": g, "participants": n} for g, n in generations],
            "top_sharers": [{"name": mask_name(name or who), "invited": n}
                            for who, n, name in found["top_inviters"]],
        }
