"""Forecasts of collect_cards and checkin_pool, checked where the answer is known analytically."""

from __future__ import annotations

import math
from statistics import fmean

import pytest
from activity_configs import START

from magic_cube.catalog import Catalog
from magic_cube.forecast import Assumptions, forecast

DAY = 86400
# Every step taken for sure, except those a test turns down.
SURE = {"act": 1.0, "again": 1.0, "return": 1.0, "share": 0.0, "friend": 1.0, "buy": 1.0}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.discover()


def test_two_even_cards_drawn_twice_make_a_set_half_the_time(catalog):
    # Two draws between two cards of equal weight: a full set with probability 1/2, and
    # each set is exchanged at once. Nobody comes back, so each visitor has one chance.
    visitors, days, runs = 30, 2, 30
    config = {"cards": [{"name": "plum", "odds": 50}, {"name": "orchid", "odds": 50}],
              "prize_name": "tea set", "prize_stock": 100_000, "draws_per_day": 2}
    assumptions = Assumptions(visitors_per_day=visitors, days=days,
                              conversion={**SURE, "return": 0.0}, costs={"tea set": 3000})
    result = forecast(catalog.get("collect_cards"), config, assumptions, runs=runs, seed="cards",
                      start=START)
    people = visitors * days
    for run in result.runs:
        assert run.participations == 2 * people + run.completions  # draws, then exchanges
        assert run.awarded.get("tea set", 0) == run.completions
        assert run.prize_cost == 3000 * run.completions
    error = math.sqrt(people * 0.25 / runs)
    assert abs(fmean(r.completions for r in result.runs) - people / 2) < 4 * error


@pytest.mark.parametrize("boost", [0, 1000])
def test_the_pool_is_split_among_those_who_checked_in_often_enough(catalog, boost):
    # Everyone checks in every day until the split three days after the start, 2 days
    # qualify: the first two days' visitors qualify (3 and 2 days), the third day's do not
    # (1 day), and later visitors find check-ins over. The qualified all come back and
    # collect: the whole pool, with the top-ups at 20:00 on each of the three days.
    visitors, pool = 10, 100_000
    config = {"pool_amount": pool, "days_required": 2, "daily_boost": boost,
              "boost_time": "20:00", "settle_at": "2026-11-14T10:00:00+08:00"}
    assert START + 3 * DAY == 1_794_621_600  # 2026-11-14T10:00:00+08:00
    assumptions = Assumptions(visitors_per_day=visitors, days=6, conversion=SURE)
    result = forecast(catalog.get("checkin_pool"), config, assumptions, runs=3, seed="pool",
                      start=START)
    qualified = 2 * visitors
    share = (pool + 3 * boost) // qualified
    for run in result.runs:
        assert run.participations == visitors * (3 + 2 + 1) + qualified  # check-ins, claims
        assert run.completions == qualified
        assert run.given_away == qualified * share
    assert result.runs[0].given_away == pool + 3 * boost


def test_a_paced_lottery_hands_out_one_part_a_day_and_lasts_to_the_last_day(catalog):
    # A sure prize, 30 in stock released in three daily parts, and far more visitors than
    # prizes: each day's part goes that day, no more, and the pool is out on the last day.
    config = {"prizes": [{"name": "tea set", "type": "physical", "stock": 30, "odds": 10000}],
              "draws_per_day": 1, "draws_total": 10, "release": "daily", "release_parts": 3}
    assumptions = Assumptions(visitors_per_day=100, days=3, conversion={**SURE, "again": 0.0})
    midnight = START - 10 * 3600  # 2026-11-11 00:00 in Shanghai: a part each forecast day
    result = forecast(catalog.get("lottery"), config, assumptions, runs=3, seed="paced",
                      start=midnight)
    for run in result.runs:
        assert run.awarded == {"tea set": 30}
        assert run.daily_stock["tea set"] == [20, 10, 0]  # left at the end of each day
        assert run.stock_out["tea set"] is not None and run.stock_out["tea set"] > 2 * 24


def test_a_friend_gives_the_card_asked_for(catalog):
    # One card each is all a visitor draws; asked-for cards come from friends who hold them.
    config = {"cards": [{"name": "plum", "odds": 50}, {"name": "orchid", "odds": 50}],
              "prize_name": "tea set", "prize_stock": 100_000, "draws_per_day": 1}
    assumptions = Assumptions(visitors_per_day=40, days=1,
                              conversion={**SURE, "again": 0.0, "return": 0.0, "share": 1.0},
                              friends=2)
    result = forecast(catalog.get("collect_cards"), config, assumptions, runs=2, seed="give",
                      start=START)
    assert all(run.completions > 0 for run in result.runs)  # only a gift can complete a set
