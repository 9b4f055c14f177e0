"""`magic-cube templates new NAME [--from ID]`: a template to start from.

Without `--from`, a small daily check-in that uses one of each common piece — config with UI
hints and a check, activity and participant state with a daily reset, a guard, effects, an
event, views, metrics — and ships a scenario that passes. With `--from`, a copy of another
template's folder (its scenarios and page too) under the new id, at version 0.1.0, so that an
author who wants "a bargain, but…" starts from the bargain. Either way it validates and its
scenarios pass before the first edit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from magic_cube.catalog.metaschema import SCENARIO_SCHEMA, TEMPLATE_SCHEMA

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def schema_ref(schema: Path, folder: Path) -> str:
    """`schema` as seen from `folder`: a relative path (editors resolve `$schema` against the
    file), or a file URI when no relative path exists (another drive)."""
    try:
        return Path(os.path.relpath(schema.resolve(), Path(folder).resolve())).as_posix()
    except ValueError:
        return schema.resolve().as_uri()


def scaffold_template(name: str, schema: str = "../../schemas/template.schema.json"
                      ) -> dict[str, Any]:
    return {
        "$schema": schema,
        "id": name,
        "version": "0.1.0",
        "title": {"zh": "每日签到", "en": "Daily check-in"},
        "description": {"zh": "每天签到一次，累计签到可获得奖励。",
                        "en": "Check in once a day; enough check-ins earn a reward."},
        "kind": "other",
        "config": {
            "schema": {
                "type": "object",
                "required": ["reward_name", "days_for_reward"],
                "additionalProperties": False,
                "properties": {
                    "reward_name": {"type": "string", "minLength": 1, "maxLength": 40,
                                    "x-ui": {"label": {"zh": "奖励", "en": "Reward"}}},
                    "days_for_reward": {"type": "integer", "minimum": 1, "maximum": 365,
                                        "default": 7,
                                        "x-ui": {"label": {"zh": "签到天数", "en": "Days needed"}}},
                    "rewards": {"type": "integer", "minimum": 0, "default": 100,
                                "x-ui": {"label": {"zh": "奖励数量", "en": "Rewards available"}}},
                },
            },
            "checks": [{"rule": {"<=": [{"var": "config.days_for_reward"}, 365]},
                        "field": "days_for_reward", "error": "too_many_days",
                        "message": {"zh": "最多 365 天", "en": "At most 365 days"}}],
            "live_editable": ["rewards"],
        },
        "state": {
            "activity": {"rewards_left": {"type": "integer", "initial": {"var": "config.rewards"}},
                         "check_ins": {"type": "integer", "initial": 0}},
            "participant": {"days": {"type": "integer", "initial": 0},
                            "today": {"type": "integer", "initial": 0, "reset": "daily"},
                            "rewarded": {"type": "boolean", "initial": False}},
        },
        "actions": {
            "check_in": {
                "title": {"zh": "签到", "en": "Check in"},
                "by": "participant",
                "params": {"type": "object", "additionalProperties": False},
                "guards": [{"rule": {"==": [{"var": "me.today"}, 0]},
                            "error": "already_checked_in"}],
                "effects": [
                    {"set": {"path": "me.today", "value": 1}},
                    {"add": {"path": "me.days", "value": 1}},
                    {"add": {"path": "activity.check_ins", "value": 1}},
                    {"if": {"rule": {"and": [
                        {">=": [{"var": "me.days"}, {"var": "config.days_for_reward"}]},
                        {"!": {"var": "me.rewarded"}},
                        {">": [{"var": "activity.rewards_left"}, 0]}]},
                        "then": [
                            {"add": {"path": "activity.rewards_left", "value": -1, "min": 0}},
                            {"set": {"path": "me.rewarded", "value": True}},
                            {"emit": {"event": "reward.earned",
                                      "data": {"participant": {"var": "actor.id"},
                                               "reward": {"var": "config.reward_name"}}}}]}},
                ],
                "result": {"days": {"var": "me.days"}, "rewarded": {"var": "me.rewarded"}},
            },
        },
        "errors": {
            "already_checked_in": {"status": 409, "message": {"zh": "今天已经签到过了",
                                                              "en": "Already checked in today"}},
            "too_many_days": {"status": 422, "message": {"zh": "天数过多", "en": "Too many days"}},
        },
        "views": {
            "activity": {"reward_name": {"var": "config.reward_name"},
                         "days_for_reward": {"var": "config.days_for_reward"},
                         "rewards_left": {"var": "activity.rewards_left"}},
            "me": {"days": {"var": "me.days"},
                   "checked_in_today": {"==": [{"var": "me.today"}, 1]},
                   "rewarded": {"var": "me.rewarded"}},
        },
        "view_labels": {
            "rewards_left": {"zh": "剩余奖励", "en": "Rewards left"},
            "days": {"zh": "已签到天数", "en": "Days checked in"},
            "checked_in_today": {"zh": "今天已签到", "en": "Checked in today"},
            "rewarded": {"zh": "已得奖励", "en": "Rewarded"},
        },
        "events": {"reward.earned": {"zh": "获得奖励", "en": "Reward earned"}},
        "metrics": {"participation": ["check_in"], "completion": ["reward.earned"]},
    }


def scaffold_scenario(schema: str = "../../../schemas/scenario.schema.json") -> dict[str, Any]:
    return {
        "$schema": schema,
        "title": "two days of check-ins earn the reward; twice a day is refused",
        "config": {"reward_name": "Coupon", "days_for_reward": 2},
        "timezone": "Asia/Shanghai",
        "start": "2026-11-11T09:00:00+08:00",
        "steps": [
            {"actor": "amy", "action": "check_in",
             "expect": {"result": {"days": 1, "rewarded": False}}},
            {"actor": "amy", "action": "check_in", "expect": {"error": "already_checked_in"}},
            {"actor": "amy", "action": "check_in", "at": "2026-11-12T00:00:00+08:00",
             "expect": {"result": {"days": 2, "rewarded": True}, "events": ["reward.earned"]},
             "expect_state": {"activity": {"rewards_left": 99, "check_ins": 2}}},
        ],
    }


def _target(name: str, root: Path) -> Path:
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r}: use lowercase letters, digits, - and _, starting with a letter")
    target = Path(root) / name
    if target.exists():
        raise ValueError(f"{target} already exists")
    return target


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def copy_template(name: str, root: Path, source: Path) -> Path:
    """Copy the template folder `source` (holding template.json) to `root/NAME`: the new id,
    version 0.1.0, every `$schema` pointing at the schemas from the new place. Refuses to
    overwrite."""
    target = _target(name, root)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    template = json.loads((target / "template.json").read_text(encoding="utf-8"))
    template = {"$schema": schema_ref(TEMPLATE_SCHEMA, target),
                **{k: v for k, v in template.items() if k != "$schema"},
                "id": name, "version": "0.1.0"}
    _write_json(target / "template.json", template)
    for file in sorted((target / "scenarios").glob("*.json")):
        scenario = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(scenario, dict) and "$schema" in scenario:
            scenario["$schema"] = schema_ref(SCENARIO_SCHEMA, file.parent)
            _write_json(file, scenario)
    return target


def scaffold(name: str, root: Path) -> Path:
    """Write `root/NAME/template.json` and one scenario; refuses to overwrite."""
    target = _target(name, root)
    (target / "scenarios").mkdir(parents=True)
    template = scaffold_template(name, schema_ref(TEMPLATE_SCHEMA, target))
    scenario = scaffold_scenario(schema_ref(SCENARIO_SCHEMA, target / "scenarios"))
    _write_json(target / "template.json", template)
    _write_json(target / "scenarios" / "01_check_in.json", scenario)
    return target
