"""The built-in error codes every template may use without declaring them.

Exactly the table in docs/templates.md. Codes are stable: clients switch on them. A template may
still declare one of these in its `errors` to word the message its own way.
"""

from __future__ import annotations

BUILTIN_ERRORS: dict[str, tuple[int, dict[str, str]]] = {
    "invalid_params": (422, {"zh": "参数不正确", "en": "The parameters are invalid"}),
    "not_allowed": (403, {"zh": "无权执行此操作", "en": "You may not perform this action"}),
    "room_required": (422, {"zh": "需要指定房间", "en": "This action needs a room"}),
    "room_not_found": (404, {"zh": "房间不存在", "en": "The room does not exist"}),
    "room_closed": (409, {"zh": "房间已结束", "en": "The room is closed"}),
    "room_full": (409, {"zh": "房间已满", "en": "The room is full"}),
    "already_joined": (409, {"zh": "你已经加入了", "en": "You have already joined"}),
    "limit_reached": (409, {"zh": "已达到上限", "en": "The limit has been reached"}),
    "rule_error": (422, {"zh": "规则计算出错", "en": "A rule could not be evaluated"}),
}


def error_info(
    code: str, declared: dict[str, dict] | None = None
) -> tuple[int, dict[str, str]] | None:
    """(status, message) of `code`: the template's own declaration wins over the built-in."""
    if declared and code in declared:
        entry = declared[code]
        return entry["status"], entry["message"]
    return BUILTIN_ERRORS.get(code)
