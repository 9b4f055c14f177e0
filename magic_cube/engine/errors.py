"""Engine errors. Each has a stable `code` and HTTP `status`; the API turns any of them into
the one error body `{"error", "message", "status", "errors"}`."""

from __future__ import annotations

from typing import Any

from magic_cube.errors import MagicCubeError
from magic_cube.i18n import N_

# An activity's statuses as an error message names them (`words={"status": …}`).
STATUS_WORDS = (N_("draft"), N_("scheduled"), N_("live"), N_("paused"), N_("ended"),
                N_("archived"))


class EngineError(MagicCubeError):
    code = "error"
    status = 400
    message = N_("The request failed")

    def __init__(self, message: str | None = None, errors: dict[str, Any] | None = None,
                 code: str | None = None, status: int | None = None,
                 values: dict[str, str] | None = None,
                 words: dict[str, str] | None = None) -> None:
        # `message` may hold `{name}` placeholders, filled from `values` (shown as they are:
        # a name the client sent) and `words` (ours, such as a status: translated with it).
        self.msgid = message or self.message
        self.values, self.words = values or {}, words or {}
        filled = self.msgid.format(**self.values, **self.words) if values or words \
            else self.msgid
        super().__init__(filled)
        self.message = filled
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
    code, status, message = "not_found", 404, N_("Not found")


class ActivityNotFound(NotFound):
    code, message = "activity_not_found", N_("No such activity")


class RoomNotFound(NotFound):
    code, message = "room_not_found", N_("No such room in this activity")


class UnknownAction(NotFound):
    code, message = "unknown_action", N_("This activity has no such action")


class ActivityNotLive(EngineError):
    code, status, message = "activity_not_live", 409, N_("The activity is not live")
    # What a refused action says for each status (in the request's language, like `message`).
    by_status = {"draft": N_("The activity is draft"),
                 "scheduled": N_("The activity is scheduled"),
                 "paused": N_("The activity is paused"), "ended": N_("The activity is ended"),
                 "archived": N_("The activity is archived")}


class InvalidTransition(EngineError):
    code, status = "invalid_transition", 409
    message = N_("The activity cannot make that change now")


class NotEditable(EngineError):
    code, status = "not_editable", 409
    message = N_("These fields cannot change in the activity's status")


class InvalidConfig(EngineError):
    code, status, message = "invalid_config", 422, N_("The configuration is not valid")


class InvalidActivity(EngineError):
    code, status, message = "invalid_activity", 422, N_("The activity settings are not valid")


class Unauthorized(EngineError):
    code, status, message = "unauthorized", 401, N_("A valid API key is required")


class InvalidToken(EngineError):
    code, status = "invalid_token", 401
    message = N_("The participant token is missing, malformed or forged")
    missing = N_("A participant token is required")


class TokenExpired(EngineError):
    code, status, message = "token_expired", 401, N_("The participant token has expired")


class IdempotencyKeyReused(EngineError):
    code, status = "idempotency_key_reused", 422
    message = N_("This Idempotency-Key was used with a different request")


class IdempotencyInFlight(EngineError):
    code, status = "idempotency_in_flight", 409
    message = N_("A request with this Idempotency-Key is still being processed")


class InvalidIdempotencyKey(EngineError):
    code, status = "invalid_idempotency_key", 400
    message = N_("An Idempotency-Key is 1 to 255 visible ASCII characters")


class ConcurrentUpdate(EngineError):
    code, status, message = "conflict", 409, N_("Another request changed the same data; try again")


class EventNotFound(NotFound):
    code, message = "event_not_found", N_("No such event in this activity")


class EventPending(EngineError):
    code, status = "event_pending", 409
    message = N_("The event is still pending delivery; only a delivered or dead event is sent "
                 "again")


class InvalidEventStatus(EngineError):
    code, status = "validation_error", 422
    message = N_("status must be pending, delivered or dead")


class ShareNotFound(NotFound):
    code, message = "share_not_found", N_("No such share link")


class GuestsNotAllowed(EngineError):
    code, status = "guests_not_allowed", 403
    message = N_("This activity does not take guests: open it from the shop's app")


class InvalidNickname(EngineError):
    code, status = "validation_error", 422
    message = N_("A nickname is 1 to 20 characters, with no control characters")


class CodeNotFound(NotFound):
    """A redemption code the merchant never issued (another merchant's looks the same)."""

    code, message = "code_not_found", N_("No such redemption code")


class AlreadyRedeemed(EngineError):
    """A redemption code redeemed before: a code is good for one redemption."""

    code, status, message = "already_redeemed", 409, N_("This code has already been redeemed")

    def __init__(self, redeemed_at: int | None = None) -> None:
        super().__init__()
        self.redeemed_at = redeemed_at
        if redeemed_at is not None:
            self.errors = {"redeemed_at": redeemed_at}


# campaigns (engine/campaigns.py) ----------------------------------------------------------

class CampaignNotFound(NotFound):
    """A campaign the merchant neither owns nor joined answers like a missing one."""

    code, message = "campaign_not_found", N_("No such campaign")


class InvalidCampaign(EngineError):
    code, status, message = "invalid_campaign", 422, N_("The campaign settings are not valid")


class OwnerOnly(EngineError):
    code, status = "owner_only", 403
    message = N_("Only the merchant who created the campaign can do this")


class OperatorOnly(EngineError):
    code, status = "operator_only", 403
    message = N_("Only an operator account can invite other merchants")


class InviteNotFound(NotFound):
    code, message = "invite_not_found", N_("No such campaign invitation")


class InviteUsed(EngineError):
    code, status, message = "invite_used", 409, N_("This invitation has been accepted already")


class AlreadyMember(EngineError):
    code, status, message = "already_member", 409, N_("You are in this campaign already")


class NothingToForecast(EngineError):
    code, status = "nothing_to_forecast", 422
    message = N_("None of the campaign's activities can be forecast")


# blocks and voids (engine/blocks.py) -----------------------------------------------------

class BlockNotFound(NotFound):
    code, message = "block_not_found", N_("No such block in this activity")


class ParticipantNotFound(NotFound):
    code, message = "participant_not_found", N_("That participant has not joined this activity")


class ParticipantBlocked(EngineError):
    """A blocked participant asks for a share link or reports interaction time (their actions
    are refused by the same name, as a template refusal)."""

    code, status, message = "participant_blocked", 403, N_("You cannot take part in this activity")


class AlreadyVoided(EngineError):
    code, status, message = "already_voided", 409, N_("The participant's results are void already")


class VoidRefused(EngineError):
    """The template's `void` action refused: nothing was voided."""

    code, status, message = "void_refused", 409, N_("The template's void action refused")


class CodeVoided(EngineError):
    """A code of a participant whose results the merchant voided."""

    code, status, message = "code_voided", 409, N_("This code was voided and cannot be redeemed")
