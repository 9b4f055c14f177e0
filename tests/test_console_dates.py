# ruff: noqa: F811  (fixtures imported from a shared module are named as arguments)
"""Times beyond the calendar in the console and on shopper pages: what a merchant types is kept
to the years 2000 to 2099, a date in a page's address beyond them is ignored, and a time stored
before it was checked (near year 1 or 9999) shows as nothing rather than failing the page."""

from __future__ import annotations

from typing import Any

import pytest
from activity_configs import CONFIGS
from console_values import FORM_VALUES
from test_console import (
    config_values,
    read_form,
    signed_in,  # noqa: F401  (a fixture, like web and web_app)
    text_of,
    web,  # noqa: F401
    web_app,  # noqa: F401
    with_values,
)

# 9999-12-31T23:59:59Z: a valid instant, but year 10000 in any zone east of UTC.
LAST_SECOND = 253402300799
TOO_LATE = "9999-12-31T23:59:59-14:00"


def store(engine: Any, activity_id: str, **fields: Any) -> None:
    """Fields written as a row from before they were checked may hold them."""
    with engine.store.transaction() as tx:
        tx.update_activity(activity_id, **fields)


def live(web: Any, template: str, config: dict[str, Any] | None = None) -> str:
    created = web.engine.create_activity(web.merchant, template, config or CONFIGS[template])
    web.engine.publish(web.merchant, created["id"])
    return created["id"]


@pytest.mark.parametrize(("lang", "words"), [("en", "Choose a time in the years 2000 to 2099"),
                                             ("zh", "请选择 2000 年到 2099 年之间的时间")])
def test_a_new_activity_ending_after_2099_is_refused_on_the_form(signed_in, lang, words):
    fields = read_form(signed_in.new_form("gift")).fields
    data = with_values(fields, {**config_values(FORM_VALUES["gift"]),
                                "timezone": "America/New_York", "ends_at": "9999-12-31T23:59"})
    r = signed_in.post("/console/activities/new/gift", data, headers={"Accept-Language": lang})
    assert r.status_code == 422
    page = read_form(r.get_data(as_text=True))
    assert page.by_id["field-ends_at"]["aria-invalid"] == "true"
    assert words in text_of(r.get_data(as_text=True))
    assert signed_in.engine.list_activities(signed_in.merchant)[0] == []


def test_moving_the_end_past_2099_is_refused_and_changes_nothing(signed_in):
    activity_id = live(signed_in, "gift")
    r = signed_in.post(f"/console/activities/{activity_id}/ends_at",
                       {"ends_at": "9999-12-31T23:59"}, follow_redirects=True)
    assert r.status_code == 422  # the page again, the message at the field
    assert "Choose a time in the years 2000 to 2099" in text_of(r.get_data(as_text=True))
    assert signed_in.engine.get_activity(signed_in.merchant, activity_id)["ends_at"] is None


@pytest.mark.parametrize("url", ["/console/activities/{id}", "/console/activities",
                                 "/console/activities/{id}/dashboard", "/console/calendar",
                                 "/console/activities/{id}/export/actions.csv", "/s/{id}"])
def test_a_stored_end_beyond_the_calendar_still_shows(signed_in, url):
    activity_id = live(signed_in, "gift")
    store(signed_in.engine, activity_id, ends_at=LAST_SECOND)
    r = signed_in.get(url.format(id=activity_id))
    assert r.status_code == 200


def test_a_stored_config_time_beyond_the_calendar_still_shows(signed_in):
    activity_id = live(signed_in, "checkin_pool")
    store(signed_in.engine, activity_id,
          config={**signed_in.engine.get_activity(signed_in.merchant, activity_id)["config"],
                  "settle_at": TOO_LATE})
    for url in (f"/s/{activity_id}", f"/console/activities/{activity_id}",
                f"/console/activities/{activity_id}/edit"):
        assert signed_in.get(url).status_code == 200, url


def test_a_draft_with_a_stored_start_beyond_the_calendar_can_be_edited(signed_in):
    created = signed_in.engine.create_activity(signed_in.merchant, "checkin_pool",
                                               CONFIGS["checkin_pool"])
    store(signed_in.engine, created["id"], starts_at=LAST_SECOND,
          config={**created["config"], "settle_at": TOO_LATE})
    r = signed_in.get(f"/console/activities/{created['id']}/edit")
    assert r.status_code == 200
    assert read_form(r.get_data(as_text=True)).by_id["field-starts_at"].get("value", "") == ""


@pytest.mark.parametrize("query", ["from=9999-12-25&to=9999-12-31", "to=0001-01-03",
                                   "from=0001-01-01&to=0001-01-01"])
def test_a_dashboard_range_beyond_the_years_is_ignored(signed_in, query):
    activity_id = live(signed_in, "gift")
    r = signed_in.get(f"/console/activities/{activity_id}/dashboard?{query}")
    assert r.status_code == 200


@pytest.mark.parametrize("month", ["9999-12", "0001-01", "2100-01"])
def test_a_calendar_month_beyond_the_years_shows_this_month(signed_in, month):
    r = signed_in.get(f"/console/calendar?month={month}&lang=en")
    assert r.status_code == 200
    assert "Calendar: November 2026" in text_of(r.get_data(as_text=True))


@pytest.mark.parametrize(("lang", "beijing"), [("en", "Beijing time"), ("zh", "北京时间")])
def test_the_time_zone_is_picked_by_the_name_the_merchant_knows_it_by(signed_in, lang,
                                                                      beijing):
    r = signed_in.get("/console/activities/new/gift", headers={"Accept-Language": lang})
    form = read_form(r.get_data(as_text=True))
    assert form.by_id["field-timezone"]["tag"] == "select"
    assert ["timezone", "Asia/Shanghai"] in form.fields  # the merchant's zone, chosen
    assert f'<option value="Asia/Shanghai" selected>{beijing}</option>' in r.get_data(
        as_text=True)
    # the campaign form offers the same zones by the same names
    campaigns = signed_in.get("/console/campaigns", headers={"Accept-Language": lang})
    assert f'<option value="Asia/Shanghai" selected>{beijing}</option>' in campaigns.get_data(
        as_text=True)


def test_a_zone_set_through_the_api_stays_chosen_on_the_form(signed_in):
    created = signed_in.engine.create_activity(signed_in.merchant, "gift", CONFIGS["gift"],
                                               timezone="America/Chicago")
    html = signed_in.get(f"/console/activities/{created['id']}/edit").get_data(as_text=True)
    assert '<option value="America/Chicago" selected>America/Chicago</option>' in html
    assert ["timezone", "America/Chicago"] in read_form(html).fields
    signed_in.engine.publish(signed_in.merchant, created["id"])
    live = signed_in.get(f"/console/activities/{created['id']}/edit").get_data(as_text=True)
    form = read_form(live)
    assert "disabled" in form.by_id["field-timezone"]  # read-only once live, still sent
    assert ["timezone", "America/Chicago"] in form.fields
