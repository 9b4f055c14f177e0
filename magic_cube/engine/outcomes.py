"""What performing an action answers: `Accepted` or `Refused`.

Both are plain data; the API turns them into HTTP in one place (`api/participants.py`,
`action_response`). `body` is the JSON shape the client is sent and the idempotency record
keeps, so that a retried key answers exactly what the first request did. A refusal's `status`
is the one its code is declared with (the template's `errors` table, else the built-in codes):
a template author chooses it, as they choose the code and the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACCEPTED_STATUS = 200


@dataclass(frozen=True)
class Accepted:
    action: str
    seq: int  # the action's position in the activity's log
    result: dict[str, Any]  # the template's `result`
    events: list[str]  # types of the events it emitted
    room: str | None  # the room acted on or opened
    replayed: bool = False  # answered from the idempotency record

    ok = True
    status = ACCEPTED_STATUS

    @property
    def body(self) -> dict[str, Any]:
        return {"ok": True, "action": self.action, "seq": self.seq, "result": self.result,
                "events": self.events, "room": self.room}


@dataclass(frozen=True)
class Refused:
    code: str  # stable: clients switch on it
    message: str  # in the request's language where the template words it
    status: int  # declared with the code
    errors: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # by field path
    replayed: bool = False

    ok = False

    @property
    def body(self) -> dict[str, Any]:
        """The one error body of the API."""
        out: dict[str, Any] = {"error": self.code, "message": self.message,
                               "status": self.status}
        if self.errors:
            out["errors"] = self.errors
        return out


ActionOutcome = Accepted | Refused


def from_record(status: int, body: dict[str, Any]) -> ActionOutcome:
    """The outcome an idempotency record kept, answered again."""
    if status == ACCEPTED_STATUS:
        return Accepted(body["action"], body["seq"], body["result"], body["events"],
                        body["room"], replayed=True)
    return Refused(body["error"], body["message"], status, body.get("errors") or {},
                   replayed=True)
