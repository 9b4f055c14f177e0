"""`POST /v1/merchant/activities/{id}/forecast`: known answers, determinism, and every refusal
a clear 4xx with a stable code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# One draw per visitor and nothing else: the number of draws is the number of visitors.
ONE_DRAW = {"act": 1.0, "again": 0.0, "return": 0.0, "share": 0.0, "friend": 0.0}
MUGS = {"prizes": [{"name": "Mug", "type": "physical", "stock": 3, "odds": 10000}],
        "draws_per_day": 1, "draws_total": 1}


def url(activity_id: str) -> str:
    return f"/v1/merchant/activities/{activity_id}/forecast"


def post(shop, activity_id: str, body: dict[str, Any], **headers: str) -> Any:
    return shop.client.post(url(activity_id), json=body, headers={**shop.headers, **headers})


@pytest.fixture
def quick(app):
    app.config["FORECAST_TIME_BUDGET"] = 5.0
    return app


def test_a_sure_win_lottery_hands_out_its_stock_and_no_more(shop, quick):
    activity = shop.create("lottery", MUGS)
    r = post(shop, activity["id"], {"visitors_per_day": 40, "days": 1, "conversion": ONE_DRAW,
                                    "costs": {"Mug": 1250}, "runs": 4, "seed": "7"})
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    quantiles = {"p10", "p50", "p90"}
    assert set(data["participations"]) == set(data["cost"]) == quantiles
    # 40 draws, each a win until the 3 mugs are gone: 3 mugs at 12.50 yuan, every run.
    assert data["participations"] == {"p10": 40, "p50": 40, "p90": 40}
    assert data["awarded"]["Mug"] == {"p10": 3, "p50": 3, "p90": 3}
    assert data["cost"] == {"p10": 3750, "p50": 3750, "p90": 3750}
    assert data["stock_out"]["Mug"]["share_of_runs"] == 1.0
    assert data["runs"] == data["runs_asked"] == 4
    assert data["status"] == "draft" and data["from_state"] is False
    assert data["assumptions"]["conversion"]["act"] == 1.0
    assert data["assumptions"]["conversion"]["buy"] == 0.8  # a step left out: its default
    assert post(shop, activity["id"], {"visitors_per_day": 40, "days": 1,
                                       "conversion": ONE_DRAW, "costs": {"Mug": 1250},
                                       "runs": 4, "seed": "7"}).get_json() == data


def test_warnings_follow_the_request_language(shop, quick):
    activity = shop.create("lottery", MUGS)
    body = {"visitors_per_day": 400, "days": 2, "conversion": ONE_DRAW, "runs": 2}
    zh = post(shop, activity["id"], body, **{"Accept-Language": "zh"}).get_json()
    en = post(shop, activity["id"], body, **{"Accept-Language": "en"}).get_json()
    assert [n["code"] for n in zh["notes"]] == [n["code"] for n in en["notes"]]
    assert "stock_gone_first_hour" in [n["code"] for n in en["notes"]]
    assert any("Mug" in w and "hour" in w for w in en["warnings"])
    assert any("Mug" in w and "小时" in w for w in zh["warnings"])


@pytest.mark.parametrize("body, field", [
    ({"conversion": {"act": 0.4, "dance": 1.0}}, "conversion.dance"),
    ({"conversion": {"act": 1.5}}, "conversion.act"),
    ({"conversion": "fast"}, "conversion"),
    ({"visitors_per_day": -1}, "visitors_per_day"),
    ({"days": 0}, "days"),
    ({"friends": "many"}, "friends"),
    ({"costs": {"Mug": -5}}, "costs.Mug.value"),
    ({"runs": 0}, "runs"),
    ({"seed": "x" * 65}, "seed"),
    ({"visits": 3}, "visits"),
])
def test_bad_assumptions_are_a_422_validation_error(shop, body, field):
    activity = shop.create("lottery", MUGS)
    r = post(shop, activity["id"], body)
    assert r.status_code == 422
    assert r.get_json()["error"] == "validation_error"
    assert field in r.get_json()["errors"]


def test_an_integer_assumption_is_never_cut_nor_read_from_text(shop):
    activity = shop.create("lottery", MUGS)
    r = post(shop, activity["id"], {"visitors_per_day": 1.5, "days": 1.7, "runs": 1.9,
                                    "unit_cost": "100", "gift_amount": True,
                                    "costs": {"Mug": 2.5}, "friends": "2.5",
                                    "conversion": {"act": "1"}, "new_share": False})
    assert r.status_code == 422 and r.get_json()["error"] == "validation_error"
    errors = r.get_json()["errors"]
    assert {field: entries[0]["code"] for field, entries in errors.items()} == dict.fromkeys(
        ("visitors_per_day", "days", "runs", "unit_cost", "gift_amount", "costs.Mug.value",
         "friends", "conversion.act", "new_share"), "type")


def test_an_integer_assumption_may_be_written_with_a_zero_fraction(shop, quick):
    activity = shop.create("lottery", MUGS)
    r = post(shop, activity["id"], {"visitors_per_day": 40.0, "days": 1.0, "runs": 2.0,
                                    "conversion": ONE_DRAW, "friends": 2})
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert data["runs_asked"] == 2 and type(data["runs_asked"]) is int
    assert data["assumptions"]["visitors_per_day"] == 40


def test_a_crowd_too_big_for_the_time_limit_is_a_422_of_its_own(shop, app):
    app.config["FORECAST_TIME_BUDGET"] = 0.05
    activity = shop.create("lottery", MUGS)
    r = post(shop, activity["id"], {"visitors_per_day": 100_000, "days": 366, "runs": 1},
             **{"Accept-Language": "zh"})
    assert r.status_code == 422
    data = r.get_json()
    assert data["error"] == "forecast_too_large"
    assert "visitors_per_day" in data["errors"] and "访客" in data["message"]


def test_a_kind_without_a_behaviour_model_is_not_available(shop, quick, monkeypatch):
    activity = shop.create("lottery", MUGS)
    # (as for a template with no action a participant takes on their own, test_forecast_generic)
    monkeypatch.setattr("magic_cube.engine.forecasts.behaviour_for", lambda *args: None)
    r = post(shop, activity["id"], {"runs": 1})
    assert r.status_code == 422
    assert r.get_json()["error"] == "forecast_unavailable"
    zh = post(shop, activity["id"], {}, **{"Accept-Language": "zh"}).get_json()
    assert zh["error"] == "forecast_unavailable" and "无法预测" in zh["message"]


def test_only_the_owner_may_forecast(shop, other_shop):
    activity = shop.create("lottery", MUGS)
    assert post(other_shop, activity["id"], {}).status_code == 404
    assert post(shop, "act_missing", {}).get_json()["error"] == "activity_not_found"
    r = shop.client.post(url(activity["id"]), json={})
    assert r.status_code == 401


def test_a_live_activity_ending_years_away_is_forecast_over_its_first_year(shop, quick, clock):
    far = datetime.fromtimestamp(clock.now + 3 * 365 * 86400, UTC).isoformat()
    activity = shop.live("lottery", MUGS, ends_at=far)
    r = post(shop, activity["id"], {"visitors_per_day": 0, "runs": 1})
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert data["from_state"] is True and data["assumptions"]["days"] == 366
    assert data["participations"] == {"p10": 0, "p50": 0, "p90": 0}


BUSY = r"""
import json, sys, time
from gevent import monkey
monkey.patch_all()
import gevent
sys.path.insert(0, sys.argv[2])
from test_group_commit import engine_on
from engine_helpers import create_merchant, publish

engine = engine_on(sys.argv[1])
merchant = create_merchant(engine)
aid = publish(engine, merchant, "lottery")
gaps = []

def tick():
    last = time.monotonic()
    while True:
        gevent.sleep(0.01)
        now = time.monotonic()
        gaps.append(now - last)
        last = now

ticker = gevent.spawn(tick)
gevent.sleep(0.05)
started = time.monotonic()
result = engine.forecast(merchant, aid, {"visitors_per_day": 400, "days": 2}, runs=200,
                         time_budget=1.5)
took = time.monotonic() - started
gevent.sleep(0.05)  # the ticker notes the gap it was kept waiting for, if any
ticker.kill()
print(json.dumps({"took": took, "runs": len(result.result.runs), "max_gap": max(gaps)}))
engine.close()
"""


def test_a_forecast_leaves_the_other_greenlets_running(tmp_path):
    """Under gunicorn's gevent workers a forecast simulates for seconds: the worker's other
    requests (polls, actions, health checks) must keep being answered meanwhile."""
    script = tmp_path / "busy.py"
    script.write_text(BUSY)
    tests = str(Path(__file__).parent)
    out = subprocess.run([sys.executable, str(script), f"sqlite:///{tmp_path / 'db.sqlite'}",
                          tests], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["runs"] > 1 and result["took"] > 1.0, result
    assert result["max_gap"] < result["took"] / 4, result  # not held up for the whole run
