"""What the clients saw: every answer counted, every acknowledged action kept."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ack:
    """An action the server acknowledged with a 2xx."""

    template: str
    activity: str
    action: str
    participant: str
    params: dict[str, Any]
    room: str | None
    body: dict[str, Any]


@dataclass
class Tally:
    """Everything the clients saw (thread-safe through `lock`)."""

    statuses: Counter = field(default_factory=Counter)  # (kind, status) -> n
    codes: Counter = field(default_factory=Counter)  # (template.action, error code) -> n
    acks: list[Ack] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # samples of 5xx answers
    transport_errors: int = 0
    unknown: int = 0  # actions sent whose answer never came (the connection broke)
    bad_polls: list[str] = field(default_factory=list)  # polls that broke the ETag rules
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, kind: str, status: int | str) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1

    @property
    def actions(self) -> int:
        """Actions sent (answered, or lost in flight); not those refused while down."""
        return sum(n for (k, s), n in self.statuses.items() if k == "action" and s != "refused")

    @property
    def polls(self) -> int:
        return sum(n for (k, _), n in self.statuses.items() if k == "poll")

    @property
    def five_xx(self) -> int:
        return sum(n for (_, s), n in self.statuses.items() if isinstance(s, int) and s >= 500)

    def by_status(self) -> dict[str, int]:
        out: Counter = Counter()
        for (kind, status), n in self.statuses.items():
            out[f"{kind} {status}"] += n
        return dict(sorted(out.items()))
