"""Launch forecasts: deterministic, and right where the answer is known analytically."""

from __future__ import annotations

import json
import math
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from statistics import fmean
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from magic_cube.catalog import Catalog
from magic_cube.cli import _engine as cli_engine
from magic_cube.cli import cli
from magic_cube.forecast import AssumptionError, Assumptions, forecast, parse_pairs

# Every step taken for sure, except those a test turns down.
SURE = {"act": 1.0, "again": 0.0, "return": 0.0, "share": 0.0, "friend": 1.0, "buy": 1.0}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.discover()


def lottery_config(odds: int, stock: int) -> dict:
    return {"prizes": [{"name": "tea set", "type": "physical", "stock": stock, "odds": odds}],
            "draws_per_day": 1, "draws_total": 1}


def one_draw_each(visitors: int) -> Assumptions:
    return Assumptions(visitors_per_day=visitors, days=1, conversion=SURE)


def test_the_same_seed_gives_the_same_forecast(catalog):
    entry = catalog.get("lottery")
    config = lottery_config(odds=500, stock=3)
    assumptions = Assumptions(visitors_per_day=40, days=2)
    first = forecast(entry, config, assumptions, runs=4, seed=7)
    again = forecast(entry, config, assumptions, runs=4, seed=7)
    other = forecast(entry, config, assumptions, runs=4, seed=8)
    assert first.summary() == again.summary()
    assert first.runs == again.runs
    assert other.runs != first.runs


def test_a_lottery_awards_its_odds_times_its_draws(catalog):
    # 100 draws at 10% from a stock that never runs out: Binomial(100, 0.1) prizes a run.
    runs, draws, p = 40, 100, 0.1
    result = forecast(catalog.get("lottery"), lottery_config(odds=1000, stock=100_000),
                      one_draw_each(draws), runs=runs, seed="odds")
    assert {r.participations for r in result.runs} == {draws}
    awarded = [r.awarded.get("tea set", 0) for r in result.runs]
    error = math.sqrt(draws * p * (1 - p) / runs)
    assert abs(fmean(awarded) - draws * p) < 4 * error
    assert result.summary()["stock_out"]["tea set"]["p90"] == "never"


def test_a_lottery_stock_runs_out_at_the_expected_draw(catalog):
    # Stock 10 at 20%: the draw that takes the last prize is negative-binomial,
    # mean 10 / 0.2 = 50 draws, standard deviation sqrt(10 * 0.8) / 0.2.
    runs, stock, p = 40, 10, 0.2
    assumptions = one_draw_each(200).updated(costs={"tea set": 8800})
    result = forecast(catalog.get("lottery"), lottery_config(odds=2000, stock=stock),
                      assumptions, runs=runs, seed="stock")
    out_at = [r.stock_out_after["tea set"] for r in result.runs]
    assert None not in out_at
    error = math.sqrt(stock * (1 - p)) / p / math.sqrt(runs)
    assert abs(fmean(out_at) - stock / p) < 4 * error  # type: ignore[arg-type]
    assert {r.awarded["tea set"] for r in result.runs} == {stock}
    assert {r.cost for r in result.runs} == {stock * 8800}
    # 200 visitors spread over a day: the 50th draw comes about a quarter of the way in.
    assert 3 < result.summary()["stock_out"]["tea set"]["p50"] < 10


def test_a_bargain_whose_friends_always_help_always_completes(catalog):
    config = {"product_name": "kettle", "original_price": 10_000, "floor_price": 1_000,
              "stock": 1_000, "helpers_needed": 3, "cut_min": 100, "cut_max": 9_000}
    assumptions = Assumptions(visitors_per_day=20, days=2, friends=3, friend_delay_hours=0,
                              conversion={**SURE, "share": 1.0})
    result = forecast(catalog.get("bargain"), config, assumptions, runs=5, seed=1)
    for run in result.runs:
        assert run.rooms_started == 40
        assert run.completion_share == 1.0
        assert run.given_away == 40 * 9_000  # every buyer pays the floor price
    assert result.summary()["rooms"]["completion_share"] == 1.0


def test_a_group_buy_fills_when_enough_friends_join(catalog):
    config = {"product_name": "pot", "original_price": 5_000, "group_price": 3_000,
              "stock": 10_000, "group_size": 3}
    assumptions = Assumptions(visitors_per_day=10, days=1, friends=2, friend_delay_hours=0,
                              conversion={**SURE, "share": 1.0})
    result = forecast(catalog.get("group_buy"), config, assumptions, runs=3, seed=1)
    for run in result.runs:
        assert run.rooms_completed == run.rooms_started == 10
        assert run.given_away == 10 * 3 * 2_000
        assert run.awarded == {"pot": 30}


def test_gift_claims_hand_out_the_amount_sent(catalog):
    config = {"gift_name": "red packet", "mode": "amount", "max_shares": 5,
              "max_amount": 1_000}
    assumptions = Assumptions(visitors_per_day=10, days=1, friends=4, friend_delay_hours=0,
                              conversion={**SURE, "share": 1.0})
    result = forecast(catalog.get("gift"), config, assumptions, runs=2, seed=1)
    for run in result.runs:
        assert run.rooms_started == 10
        assert run.given_away == 10 * 1_000


def test_warnings_say_when_a_prize_is_gone_early(catalog):
    result = forecast(catalog.get("lottery"), lottery_config(odds=5000, stock=2),
                      Assumptions(visitors_per_day=2_000, days=1, conversion=SURE),
                      runs=2, seed=1)
    assert any("tea set is gone within the first hour" in w for w in result.warnings)


@pytest.mark.parametrize(("template", "config", "code"), [
    ("group_buy", {"product_name": "pot", "original_price": 5_000, "group_price": 3_000,
                   "stock": 100, "group_size": 3}, "no_friend_joins"),
    ("bargain", {"product_name": "kettle", "original_price": 10_000, "floor_price": 1_000,
                 "helpers_needed": 3, "cut_min": 1_000, "cut_max": 5_000, "stock": 5},
     "no_friend_helps")])
@pytest.mark.parametrize("crowd", [{"friends": 0}, {"conversion": {"share": 0.0}},
                                   {"conversion": {"friend": 0.0}}])
def test_a_crowd_that_brings_no_friend_is_named_as_the_cause(catalog, template, config, code,
                                                             crowd):
    result = forecast(catalog.get(template), config,
                      Assumptions(visitors_per_day=20, days=1, **crowd), runs=2, seed=1)
    codes = [n.code for n in result.notes]
    assert code in codes and not any(c.startswith("few_") for c in codes), codes
    assert all(run.rooms_completed == 0 for run in result.runs)
    zh = next(n for n in result.notes if n.code == code).words("zh")
    assert zh.startswith("按这些假设没有好友参与"), zh
    friends = forecast(catalog.get(template), config,
                       Assumptions(visitors_per_day=20, days=1), runs=2, seed=1)
    assert code not in [n.code for n in friends.notes]


def test_a_stock_along_any_config_table_is_named_by_its_rows(tmp_path):
    # A streak's rewards are not a lottery's `prizes`: its stock per reward was 'stock[0]'.
    folder = tmp_path / "streak_checkin"
    shutil.copytree(Path(__file__).parent / "templates" / "streak_checkin", folder)
    doc = json.loads((folder / "template.json").read_text("utf-8"))
    doc["kind"] = "checkin_pool"
    (folder / "template.json").write_text(json.dumps(doc), "utf-8")
    entry = Catalog.discover([folder], entry_points=False).get("streak_checkin")
    config = {"rewards": [{"name": "Coffee coupon", "days": 1, "stock": 1},
                          {"name": "Mug", "days": 5, "stock": 5}]}
    result = forecast(entry, config, Assumptions(visitors_per_day=50, days=1, conversion=SURE),
                      runs=2, seed=1)
    assert set(result.runs[0].stock_out) == {"Coffee coupon", "Mug"}
    assert any(w.startswith("The Coffee coupon ") for w in result.warnings), result.warnings


def test_bad_assumptions_are_refused():
    with pytest.raises(AssumptionError):
        Assumptions(conversion={"act": 1.5})
    with pytest.raises(AssumptionError):
        Assumptions(conversion={"dance": 0.5})
    with pytest.raises(AssumptionError):
        parse_pairs(("act",))
    assert parse_pairs(("act=0.4,share=0.6", "buy=1")) == {"act": 0.4, "share": 0.6,
                                                             "buy": 1.0}


def test_the_command_prints_json(tmp_path):
    file = tmp_path / "lottery.json"
    file.write_text(json.dumps({"config": lottery_config(odds=1000, stock=5),
                                "assumptions": {"costs": {"tea set": 100}}}))
    args = ["forecast", "lottery", "--config", str(file), "--visitors-per-day", "30",
            "--days", "1", "--runs", "3", "--seed", "9", "--conversion", "act=1,again=0",
            "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("participations", "cost"):
        assert set(data[key]) >= {"p10", "p50", "p90"}
    assert set(data["stock_out"]["tea set"]) >= {"p10", "p50", "p90"}
    assert data["assumptions"]["conversion"]["act"] == 1.0
    assert data == json.loads(CliRunner().invoke(cli, args).stdout)


def test_the_command_prints_a_report_and_refuses_bad_input(tmp_path):
    file = tmp_path / "config.json"
    file.write_text(json.dumps(lottery_config(odds=1000, stock=5)))
    base = ["forecast", "lottery", "--config", str(file), "--runs", "2", "--days", "1",
            "--visitors-per-day", "20"]
    result = CliRunner().invoke(cli, base)
    assert result.exit_code == 0, result.output
    assert "participations" in result.stdout and "P50" in result.stdout
    bad = CliRunner().invoke(cli, [*base, "--conversion", "act=2"])
    assert bad.exit_code != 0 and "between 0 and 1" in bad.output
    file.write_text(json.dumps({"prizes": []}))
    assert CliRunner().invoke(cli, base).exit_code != 0
    # with --json, what went wrong is JSON too, on stdout
    refused = CliRunner().invoke(cli, [*base, "--json"])
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"] == "invalid_forecast"
    file.write_text(json.dumps(lottery_config(odds=1000, stock=5)))
    bad = CliRunner().invoke(cli, [*base, "--json", "--conversion", "act=2"])
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["errors"]["conversion.act"][0]["code"] == "maximum"
    unknown = CliRunner().invoke(cli, ["forecast", "nope", "--config", str(file), "--json"])
    assert json.loads(unknown.stdout)["error"] == "template_not_found"


def test_the_report_is_in_the_language_asked_with_money_in_yuan(tmp_path):
    config = lottery_config(odds=10_000, stock=3)
    config["prizes"].append({"name": "coupon", "type": "coupon", "stock": 3, "odds": 0})
    file = tmp_path / "lottery.json"
    file.write_text(json.dumps(config))
    base = ["forecast", "--lang", "zh", "lottery", "--config", str(file), "--runs", "2",
            "--days", "1", "--visitors-per-day", "20", "--conversion", "act=1",
            "--cost", "tea set=8850"]
    zh = CliRunner().invoke(cli, base)
    assert zh.exit_code == 0, zh.output
    lines = zh.stdout.splitlines()
    # every prize is won at 100 % odds: three tea sets at ¥88.50 each, in yuan with two decimals
    cost = next(line for line in lines if line.strip().startswith("成本"))
    assert cost.split()[1:] == ["¥265.50"] * 3
    assert any(line.strip().startswith("参与次数") for line in lines)
    assert "participations" not in zh.stdout
    # the coupon is never won (odds 0): it never runs out, said in Chinese
    assert any("未发生" in line for line in lines) and "never" not in zh.stdout
    # the columns line up: each figure ends where its heading P10/P50/P90 ends, whatever the
    # width of the characters before it
    heading = next(line for line in lines if "P50" in line)
    width = sum(2 if "\u4e00" <= c <= "\u9fff" or c in "（）：" else 1 for c in cost)
    assert width == len(heading)
    en = CliRunner().invoke(cli, [a for a in base if a not in ("--lang", "zh")])
    assert "participations" in en.stdout and "¥265.50" in en.stdout
    # items without a cost are listed as a list is in each language
    config["prizes"][0]["odds"] = config["prizes"][1]["odds"] = 5000
    file.write_text(json.dumps(config))
    free = [a for a in base if a not in ("--cost", "tea set=8850")]
    assert "提醒：未填写coupon、tea set的成本" in CliRunner().invoke(cli, free).stdout
    english = [a for a in free if a not in ("--lang", "zh")]
    assert "No cost given for coupon, tea set" in CliRunner().invoke(cli, english).stdout


def test_a_stored_activity_is_forecast_from_the_command_line_in_its_time_zone(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = cli_engine(url)
    try:
        merchant, _key = engine.create_merchant("Tea")
        activity = engine.create_activity(merchant, "lottery", lottery_config(odds=1000,
                                                                              stock=5))
        engine.publish(merchant, activity["id"])
    finally:
        engine.store.close()
    args = ["forecast", "--lang", "zh", "--activity", activity["id"], "-d", url, "--runs", "2",
            "--days", "1", "--visitors-per-day", "20"]
    before = datetime.now(ZoneInfo("Asia/Shanghai")).replace(second=0, microsecond=0)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    found = re.fullmatch(rf"活动 {activity['id']}（进行中），从现在、按活动当前状态模拟，"
                         r"起于 (\d{4}-\d\d-\d\d \d\d:\d\d) Asia/Shanghai", first)
    assert found, first
    starts = datetime.strptime(found[1], "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo("Asia/Shanghai"))
    assert before <= starts <= before + timedelta(minutes=2)  # now, in Beijing time
    data = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    assert data["activity_id"] == activity["id"] and data["status"] == "live"
    assert data["starts_at"].endswith("Z")  # the JSON speaks UTC, as the API does
