"""What an action is asked to do: everything that decides its outcome, as the API, the
timers, the merchant's controls and replay hand it to the performer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from magic_cube.store.records import ActionRecord


@dataclass
class ActionRequest:
    """Everything that decides an action's outcome; a logged action replays from these."""

    action: str
    participant: str
    kind: str  # "participant", "merchant" or "timer"
    params: dict[str, Any]
    room_id: str | None
    display_name: str = ""
    via: str | None = None  # the share code that brought the participant here, if any
    device: str = ""  # the client's device id (`Magic-Cube-Device`), "" when it sent none
    address: str = ""  # the client's IP address, "" for merchant and timer actions
    never_wins: bool = False  # the merchant blocked the participant so (engine/blocks.py)
    # Set by replay: the log entry the action is run again from, whose first-time flags and
    # new room id are taken as logged instead of being worked out afresh.
    replayed_from: ActionRecord | None = None
