"""What the clients know of the rooms: the open ones to join, the bargains to buy."""

from __future__ import annotations

import random
import threading
from typing import Any

from magic_cube.hammer.workload import HOT_ROOMS, TEMPLATES

# Refusals that say a room takes no one else: the clients stop sending people to it.
ROOM_GONE = ("group_full", "room_full", "room_closed", "pack_empty")


class Rooms:
    """Rooms seen by the clients of one run, shared between their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, list[tuple[str, str]]] = {t: [] for t in TEMPLATES}  # (room, who)
        self.to_buy: list[tuple[str, str]] = []
        self.all: dict[str, list[str]] = {t: [] for t in TEMPLATES}
        self.initiators: dict[str, str] = {}

    def add(self, template: str, room: str, initiator: str) -> None:
        with self.lock:
            self.open[template].append((room, initiator))
            self.all[template].append(room)
            self.initiators[room] = initiator

    def close(self, template: str, room: str) -> None:
        with self.lock:
            self.open[template] = [r for r in self.open[template] if r[0] != room]

    def hot(self, template: str, rng: random.Random) -> tuple[str, str] | None:
        with self.lock:
            rooms = self.open[template][-HOT_ROOMS:]
            return rng.choice(rooms) if rooms else None

    def count(self, template: str) -> int:
        with self.lock:
            return len(self.open[template])

    def any(self, template: str, rng: random.Random) -> str | None:
        with self.lock:
            rooms = self.all[template]
            return rng.choice(rooms) if rooms else None

    def buyable(self) -> list[tuple[str, str]]:
        """The newest few completed bargains not bought yet: (room, initiator)."""
        with self.lock:
            return self.to_buy[-HOT_ROOMS:]

    def bought(self, room: str) -> None:
        with self.lock:
            self.to_buy = [r for r in self.to_buy if r[0] != room]

    def acknowledged(self, template: str, action: str, room: str | None, who: str,
                     answer: dict[str, Any]) -> None:
        """Follow an action answered 2xx: a new room to join, a full one to leave, a completed
        bargain to buy."""
        result = answer.get("result") or {}
        if action in ("start", "send"):
            self.add(template, answer["room"], who)
        elif room is None:
            return
        elif (action == "join" and result.get("succeeded")) \
                or (action == "claim" and result.get("shares_left") == 0):
            self.close(template, room)
        elif action == "help" and result.get("completed"):
            self.close(template, room)
            with self.lock:
                self.to_buy.append((room, self.initiators.get(room, who)))
        elif action == "buy":
            self.bought(room)

    def refused(self, template: str, action: str, room: str | None, code: str) -> None:
        """Follow a refusal: a room that takes no one else, a bargain that cannot be bought."""
        if room is None:
            return
        if code in ROOM_GONE:
            self.close(template, room)
        if action == "buy":
            self.bought(room)
