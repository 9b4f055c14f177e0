"""A small valid template for tests to copy and break one mistake at a time.

It touches every part of the format: an activity counter, a participant counter reset daily,
a room opened by `start` and joined by `join`, a timer, a config check, views and metrics.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any


def i18n(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


_MINIMAL: dict[str, Any] = {
    "id": "mini",
    "version": "1.0.0",
    "title": i18n("迷你组队", "Mini team"),
    "description": i18n("两人成团", "Teams of two"),
    "kind": "group_buy",
    "currency": "CNY",
    "config": {
        "schema": {
            "type": "object",
            "required": ["team_size"],
            "properties": {
                "team_size": {"type": "integer", "minimum": 2, "maximum": 10,
                              "x-ui": {"label": i18n("成团人数", "Team size"), "widget": "number"}},
                "joins_per_day": {"type": "integer", "minimum": 1, "default": 3},
                "hours": {"type": "integer", "minimum": 1, "default": 24},
            },
            "x-ui": {"order": ["team_size", "joins_per_day", "hours"]},
        },
        "checks": [
            {"rule": {"<=": [{"var": "config.joins_per_day"}, 100]}, "field": "joins_per_day",
             "error": "too_many_joins_per_day",
             "message": i18n("每日参团次数不能超过 100", "At most 100 joins a day")},
        ],
        "live_editable": ["joins_per_day"],
    },
    "state": {
        "activity": {"teams": {"type": "integer", "initial": 0}},
        "room": {"joined": {"type": "integer", "initial": 1}},
        "participant": {"joins_today": {"type": "integer", "initial": 0, "reset": "daily"}},
    },
    "actions": {
        "start": {
            "title": i18n("开团", "Start a team"),
            "by": "participant",
            "params": {"type": "object", "properties": {}, "additionalProperties": False},
            "effects": [
                {"create_room": {"capacity": {"var": "config.team_size"}}},
                {"add": {"path": "activity.teams", "value": 1}},
            ],
            "result": {"room": {"var": "room_info.id"}},
        },
        "join": {
            "title": i18n("参团", "Join a team"),
            "by": "participant",
            "room": "target",
            "guards": [
                {"rule": {"!": {"var": "room_info.is_member"}}, "error": "already_joined"},
            ],
            "effects": [
                {"add": {"path": "me.joins_today", "value": 1,
                         "max": {"var": "config.joins_per_day"}, "error": "joins_used_up"}},
                {"join": {}},
                {"add": {"path": "room.joined", "value": 1}},
                {"let": {"name": "size", "value": {"var": "room_info.size"}}},
                {"if": {"rule": {">=": [{"var": "local.size"}, {"var": "room_info.capacity"}]},
                        "then": [
                            {"close": {"status": "succeeded"}},
                            {"emit": {"event": "team.completed",
                                      "data": {"room": {"var": "room_info.id"}}}},
                        ]}},
            ],
            "result": {"size": {"var": "local.size"}},
        },
        "expire": {
            "title": i18n("过期", "Expire"),
            "by": "timer",
            "room": "target",
            "effects": [{"close": {"status": "expired"}}],
        },
    },
    "timers": {
        "expire": {"after": {"*": [{"var": "config.hours"}, 3600]}, "action": "expire"},
    },
    "errors": {
        "joins_used_up": {
            "status": 409, "message": i18n("今天的参团次数已用完", "No joins left today"),
        },
        "too_many_joins_per_day": {
            "status": 422, "message": i18n("每日参团次数过多", "Too many joins a day"),
        },
    },
    "views": {
        "activity": {"teams": {"var": "activity.teams"}},
        "room": {"joined": {"var": "room.joined"}, "members": {"var": "room_info.members"}},
        "me": {"joins_left": {"-": [{"var": "config.joins_per_day"}, {"var": "me.joins_today"}]}},
    },
    "metrics": {"participation": ["start", "join"], "completion": ["team.completed"]},
}


def minimal_template(**changes: Any) -> dict[str, Any]:
    """A fresh deep copy of the minimal template, with top-level `changes` applied."""
    doc = copy.deepcopy(_MINIMAL)
    doc.update(copy.deepcopy(changes))
    return doc


def write_template(root: Path, doc: dict[str, Any], name: str | None = None) -> Path:
    """Write `doc` as `root/<name or id>/template.json` and return that file."""
    directory = root / (name or str(doc.get("id", "template")))
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / "template.json"
    file.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    return file
