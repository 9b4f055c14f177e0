"""The built-in error codes every template may use without declaring them.

Exactly the table in docs/templates.md. Codes are stable: clients switch on them. A template may
still declare one of these in its `errors` to word the message its own way.
"""

from __future__ import annotations

from magic_cube.i18n import N_, in_every_language

# (status, message in English); the other languages come from the gettext catalog.
_BUILTIN: dict[str, tuple[int, str]] = {
    "invalid_params": (422, N_("The parameters are invalid")),
    "not_allowed": (403, N_("You may not perform this action")),
    "room_required": (422, N_("This action needs a room")),
    "room_not_found": (404, N_("The room does not exist")),
    "room_closed": (409, N_("The room is closed")),
    "room_full": (409, N_("The room is full")),
    "already_joined": (409, N_("You have already joined")),
    "limit_reached": (409, N_("The limit has been reached")),
    "rule_error": (422, N_("A rule could not be evaluated")),
    "participant_not_found": (404, N_("That participant has not joined this activity")),
    # Answered by the engine, never by rules: the merchant blocked the participant or device.
    "participant_blocked": (403, N_("You cannot take part in this activity")),
}
# Worded like a template's own `errors` (`{"en": …, "zh": …}`), so both are answered alike.
BUILTIN_ERRORS: dict[str, tuple[int, dict[str, str]]] = {
    code: (status, in_every_language(message)) for code, (status, message) in _BUILTIN.items()}


def error_info(
    code: str, declared: dict[str, dict] | None = None
) -> tuple[int, dict[str, str]] | None:
    """(status, message) of `code`: the template's own declaration wins over the built-in."""
    if declared and code in declared:
        entry = declared[code]
        return entry["status"], entry["message"]
    return BUILTIN_ERRORS.get(code)
