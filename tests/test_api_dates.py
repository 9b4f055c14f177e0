"""Date-times a client sends lie in the years 2000 to 2099 (UTC): an activity's start and end
on create, edit and publish, and the date-times of a template's config. Anything else is a 422
with the field's `out_of_range` error and changes nothing; a row stored before the check is
refused where it would break (publish, forecast), never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from activity_configs import CONFIGS

ACTIVITIES = "/v1/merchant/activities"
# Each leaves the calendar once shifted to a time zone, or lies just outside the years.
OUTSIDE = ["9999-12-31T20:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00",
           "0001-01-01T00:00:00+14:00", "1999-12-31T23:59:59Z", "2100-01-01T00:00:00Z",
           "2099-12-31T23:59:59-00:01", "2000-01-01T00:00:00+00:01"]


def errors_of(r: Any) -> dict[str, list[str]]:
    return {path: [e["code"] for e in found] for path, found in r.get_json()["errors"].items()}


def stored_times(shop, activity_id: str, **times: int) -> None:
    """Times written as a row from before they were checked may hold them."""
    with shop.engine.store.transaction() as tx:
        tx.update_activity(activity_id, **times)


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
@pytest.mark.parametrize("value", OUTSIDE)
def test_a_new_activity_out_of_the_years_is_refused_and_not_made(client, shop, field, value):
    r = client.post(ACTIVITIES, headers=shop.headers, json={
        "template_id": "lottery", "config": CONFIGS["lottery"], field: value})
    assert r.status_code == 422
    assert r.get_json()["error"] == "invalid_activity"  # the engine's rule, like ends_before_start
    assert errors_of(r) == {field: ["out_of_range"]}
    assert "2000 to 2099" in r.get_json()["errors"][field][0]["message"]
    assert client.get(ACTIVITIES, headers=shop.headers).get_json()["items"] == []


def test_the_first_and_last_second_of_the_years_are_accepted(client, shop):
    activity = shop.create("lottery", starts_at="2000-01-01T08:00:00+08:00",
                           ends_at="2099-12-31T23:59:59Z")
    assert activity["starts_at"] == "2000-01-01T00:00:00Z"
    assert activity["ends_at"] == "2099-12-31T23:59:59Z"


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_edit_out_of_the_years_is_refused_and_changes_nothing(client, shop, value):
    activity = shop.create("lottery", ends_at="2026-11-20T00:00:00Z")
    url = f"{ACTIVITIES}/{activity['id']}"
    r = client.patch(url, headers=shop.headers, json={"title": "New", "ends_at": value})
    assert r.status_code == 422
    assert errors_of(r) == {"ends_at": ["out_of_range"]}
    after = client.get(url, headers=shop.headers).get_json()
    assert (after["title"], after["ends_at"]) == (activity["title"], "2026-11-20T00:00:00Z")


def test_publishing_for_a_start_out_of_the_years_is_refused(client, shop):
    activity = shop.create("lottery")
    r = client.post(f"{ACTIVITIES}/{activity['id']}/publish", headers=shop.headers,
                    json={"starts_at": "9999-12-31T20:00:00Z"})
    assert r.status_code == 422
    assert errors_of(r) == {"starts_at": ["out_of_range"]}
    assert client.get(f"{ACTIVITIES}/{activity['id']}",
                      headers=shop.headers).get_json()["status"] == "draft"


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-14:00", "2100-01-01T00:00:00Z",
                                   "1999-12-31T23:59:59Z"])
def test_a_config_date_time_out_of_the_years_is_refused(client, shop, value):
    config = {**CONFIGS["checkin_pool"], "settle_at": value}
    r = client.post(ACTIVITIES, headers={**shop.headers, "Accept-Language": "zh"},
                    json={"template_id": "checkin_pool", "config": config})
    assert r.status_code == 422
    assert r.get_json()["error"] == "invalid_config"
    assert errors_of(r) == {"settle_at": ["out_of_range"]}
    assert "2000" in r.get_json()["errors"]["settle_at"][0]["message"]
    assert client.get(ACTIVITIES, headers=shop.headers).get_json()["items"] == []


def test_a_config_edit_out_of_the_years_changes_nothing(client, shop):
    activity = shop.create("checkin_pool")
    url = f"{ACTIVITIES}/{activity['id']}"
    config = {**CONFIGS["checkin_pool"], "settle_at": "9999-12-31T23:59:59-14:00"}
    r = client.patch(url, headers=shop.headers, json={"config": config})
    assert r.status_code == 422
    assert errors_of(r) == {"settle_at": ["out_of_range"]}
    assert client.get(url, headers=shop.headers).get_json()["config"] == activity["config"]


@pytest.mark.parametrize(("field", "value"), [("starts_at", 253402300000),
                                              ("ends_at", 253402351199),
                                              ("ends_at", -62135647200)])
def test_a_stored_time_out_of_the_years_is_refused_at_publish_and_forecast(client, shop, field,
                                                                           value):
    activity = shop.create("lottery")
    stored_times(shop, activity["id"], **{field: value})
    r = client.post(f"{ACTIVITIES}/{activity['id']}/publish", headers=shop.headers)
    assert r.status_code == 422
    assert r.get_json()["error"] == "invalid_activity"
    assert errors_of(r) == {field: ["out_of_range"]}
    r = client.post(f"{ACTIVITIES}/{activity['id']}/forecast", headers=shop.headers,
                    json={"runs": 1})
    assert r.status_code == 422
    assert errors_of(r) == {field: ["out_of_range"]}
    assert client.get(f"{ACTIVITIES}/{activity['id']}",
                      headers=shop.headers).get_json()["status"] == "draft"


@pytest.mark.parametrize("ends_at", [253402300799, 253402351199])
def test_a_live_activity_with_a_stored_end_beyond_the_calendar_still_shows(client, shop, ends_at):
    activity = shop.live("checkin_pool")
    stored_times(shop, activity["id"], ends_at=ends_at)
    with shop.engine.store.transaction() as tx:
        tx.update_activity(activity["id"], config={**activity["config"],
                                                   "settle_at": "9999-12-31T23:59:59-14:00"})
    for url in (f"/s/{activity['id']}", f"/v1/activities/{activity['id']}",
                f"{ACTIVITIES}/{activity['id']}"):
        r = client.get(url, headers=shop.headers)
        assert r.status_code == 200, url
