"""Engine errors. Each has a stable `code` and HTTP `status`; the API turns any of them into
the one error body `{"error", "message", "status", "errors"}`."""

from __future__ import annotations

from typing import Any

from magic_cube.errors import MagicCubeError


class EngineError(MagicCubeError):
    code = "error"
    status = 400
    message = "The request failed"

    def __init__(self, message: str | None = None, errors: dict[str, Any] | None = None,
                 code: str | None = None, status: int | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.errors = errors or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message, "status": self.status}
        if self.errors:
            out["errors"] = self.errors
        return out


class NotFound(EngineError):
    code, status, message = "not_found", 404, "Not found"


class ActivityNotFound(NotFound):
    code, message = "activity_not_found", "No such activity"


class RoomNotFound(NotFound):
    code, message = "room_not_found", "No such room in this activity"


class UnknownAction(NotFound):
    code, message = "unknown_action", "This activity has no such action"


class ActivityNotLive(EngineError):
    code, status, message = "activity_not_live", 409, "The activity is not live"


class InvalidTransition(EngineError):
    code, status, message = "invalid_transition", 409, "The activity cannot make that change now"


class NotEditable(EngineError):
    code, status = "not_editable", 409
    message = "These fields cannot change in the activity's status"


class InvalidConfig(EngineError):
    code, status, message = "invalid_config", 422, "The configuration is not valid"


class InvalidActivity(EngineError):
    code, status, message = "invalid_activity", 422, "The activity settings are not valid"


class Unauthorized(EngineError):
    code, status, message = "unauthorized", 401, "A valid API key is required"


class InvalidToken(EngineError):
    code, status = "invalid_token", 401
    message = "The participant token is missing, malformed or forged"


class TokenExpired(EngineError):
    code, status, message = "token_expired", 401, "The participant token has expired"


class IdempotencyKeyReused(EngineError):
    code, status = "idempotency_key_reused", 422
    message = "This Idempotency-Key was used with a different request"


class IdempotencyInFlight(EngineError):
    code, status = "idempotency_in_flight", 409
    message = "A request with this Idempotency-Key is still being processed"


class InvalidIdempotencyKey(EngineError):
    code, status = "invalid_idempotency_key", 400
    message = "An Idempotency-Key is 1 to 255 visible ASCII characters"


class ConcurrentUpdate(EngineError):
    code, status, message = "conflict", 409, "Another request changed the same data; try again"


class EventNotFound(NotFound):
    code, message = "event_not_found", "No such event in this activity"


class EventPending(EngineError):
    code, status = "event_pending", 409
    message = "The event is still pending delivery; only a delivered or dead event is sent again"


class InvalidEventStatus(EngineError):
    code, status = "validation_error", 422
    message = "status must be pending, delivered or dead"


class ShareNotFound(NotFound):
    code, message = "share_not_found", "No such share link"


class GuestsNotAllowed(EngineError):
    code, status = "guests_not_allowed", 403
    message = "This activity does not take guests: open it from the shop's app"


class InvalidNickname(EngineError):
    code, status = "validation_error", 422
    message = "A nickname is 1 to 20 characters, with no control characters"


class CodeNotFound(NotFound):
    """A redemption code the merchant never issued (another merchant's looks the same)."""

    code, message = "code_not_found", "No such redemption code"


class AlreadyRedeemed(EngineError):
    """A redemption code redeemed before: a code is good for one redemption."""

    code, status, message = "already_redeemed", 409, "This code has already been redeemed"

    def __init__(self, redeemed_at: int | None = None) -> None:
        super().__init__()
        self.redeemed_at = redeemed_at
        if redeemed_at is not None:
            self.errors = {"redeemed_at": redeemed_at}
