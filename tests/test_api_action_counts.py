"""The action log and the two counts of actions (docs/api.md): an activity's `actions` counts
every log entry, the merchant's own `$` entries included; `stats.totals.actions` counts the
actions performed and accepted. Also: every `$` entry the engine writes is documented."""

from __future__ import annotations

import re
from pathlib import Path

from activity_configs import CONFIGS

ROOT = Path(__file__).resolve().parents[1]
API_MD = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
ACTIVITIES = "/v1/merchant/activities"


def performed(entry: dict) -> bool:
    """Counted in `stats.totals.actions` (the rule docs/api.md gives)."""
    refused_timer = entry["actor"] == "timer" and "error" in (entry["result"] or {})
    return not entry["action"].startswith("$") and not refused_timer


def whole_log(client, shop, activity_id: str) -> list[dict]:
    items, after = [], 0
    while True:
        page = client.get(f"{ACTIVITIES}/{activity_id}/actions?after={after}&limit=2",
                          headers=shop.headers).get_json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        after = page["next_cursor"]


def test_activity_actions_count_the_log_and_stats_count_actions_performed(client, shop):
    group = shop.live("group_buy")["id"]
    started = shop.act(group, "start", "amy")
    assert started.status_code == 200
    assert shop.act(group, "join", "bob", room=started.get_json()["room"]).status_code == 200
    config = {**CONFIGS["group_buy"], "stock": 12}
    r = client.patch(f"{ACTIVITIES}/{group}", json={"config": config}, headers=shop.headers)
    assert r.status_code == 200, r.get_json()
    assert shop.lifecycle(group, "end").status_code == 200  # the open group expires at the end

    log = whole_log(client, shop, group)
    assert [e["action"] for e in log] == ["start", "join", "$config", "$end", "expire"]
    assert [e["actor"] for e in log] == ["participant", "participant", "merchant", "merchant",
                                         "timer"]
    activity = client.get(f"{ACTIVITIES}/{group}", headers=shop.headers).get_json()
    stats = client.get(f"{ACTIVITIES}/{group}/stats", headers=shop.headers).get_json()
    assert activity["actions"] == len(log) == log[-1]["seq"] == 5
    assert stats["totals"]["actions"] == sum(map(performed, log)) == 3
    assert sum(h["actions"] for h in stats["hourly"]) == 3


def test_merchant_entries_carry_what_replay_needs(client, shop):
    group = shop.live("group_buy")["id"]
    config = {**CONFIGS["group_buy"], "stock": 12}
    client.patch(f"{ACTIVITIES}/{group}", json={"config": config}, headers=shop.headers)
    [entry] = whole_log(client, shop, group)
    assert entry["action"] == "$config" and entry["actor"] == "merchant"
    assert entry["participant"] == "" and entry["events"] == []
    assert entry["params"] == {"before": {"stock": 10}, "after": {"stock": 12}}


def test_every_dollar_entry_the_engine_logs_is_documented():
    logged = set()
    for path in (ROOT / "magic_cube" / "engine").glob("*.py"):
        logged |= set(re.findall(r'action="(\$[a-z_]+)"', path.read_text(encoding="utf-8")))
        logged |= set(re.findall(r'_log\(tx, activity, "(\$[a-z_]+)"',
                                 path.read_text(encoding="utf-8")))
    assert {"$config", "$end", "$start", "$schedule", "$stock"} <= logged
    section = API_MD.split("### `GET /v1/merchant/activities/{id}/actions`", 1)[1]
    section = section.split("\n### ", 1)[0]
    assert not [name for name in sorted(logged) if f"`{name}`" not in section]
