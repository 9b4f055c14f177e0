"""Campaigns over HTTP, on both stores: the totals equal what the action logs of the campaign's
activities say (replayed and counted here), an activity counts from the moment it is added, an
operator invites merchants and sees aggregates but never their activities, and a member sees
the totals and only its own activities' rows."""

from __future__ import annotations

import csv
import io
import threading
import time
from typing import Any

import pytest

CAMPAIGN = {"name": "Double 11", "timezone": "Asia/Shanghai", "starts_on": "2026-11-01",
            "ends_on": "2026-11-30"}


def create_campaign(shop: Any, **body: Any) -> dict[str, Any]:
    r = shop.client.post("/v1/merchant/campaigns", json={**CAMPAIGN, **body}, headers=shop.headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def add(shop: Any, campaign_id: str, activity_id: str) -> Any:
    return shop.client.post(f"/v1/merchant/campaigns/{campaign_id}/activities",
                            json={"activity_id": activity_id}, headers=shop.headers)


def stats(shop: Any, campaign_id: str) -> dict[str, Any]:
    r = shop.client.get(f"/v1/merchant/campaigns/{campaign_id}/stats", headers=shop.headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def act(shop: Any, activity_id: str, action: str, who: str, **body: Any) -> dict[str, Any]:
    """`who` acts from their own phone (limits per device count it)."""
    r = shop.client.post(f"/v1/activities/{activity_id}/actions/{action}", json=body,
                         headers=shop.as_(who, extra={"Magic-Cube-Device": f"phone-of-{who}"}))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def operator(shop: Any, name: str = "Mall") -> Any:
    """Another shop of the same kind, whose merchant is an operator."""
    merchant, key = shop.engine.create_merchant(name)
    return type(shop)(shop.client, shop.engine, shop.engine.set_operator(merchant.id), key)


def from_the_logs(engine: Any, counted: dict[str, int]) -> dict[str, Any]:
    """The campaign's numbers recomputed from the action logs: `counted` maps each activity to
    the moment it was added; a participant counts once across activities."""
    seen: dict[str, bool] = {}  # participant -> first ever
    firsts: set[str] = set()
    participations = completions = 0
    invited: set[str] = set()
    inviters: set[str] = set()
    kinds: dict[str, int] = {}
    logs = []
    with engine.store.transaction(write=False) as tx:
        for activity_id, since in counted.items():
            template = engine.core.template(tx.get_activity(activity_id))
            logs += [(r, template) for r in tx.list_actions(activity_id, 0, 10_000)
                     if r.at >= since]
    for record, template in sorted(logs, key=lambda lt: (lt[0].at, lt[0].activity_id,
                                                         lt[0].seq)):
        for event in record.events:
            if event["type"] in template.completion:
                completions += 1
                kinds[event["type"]] = kinds.get(event["type"], 0) + 1
        if record.actor_kind != "participant":
            continue
        participations += record.action in template.participation
        # first ever: the merchant's first action of this participant (one at most)
        seen[record.participant_id] = seen.get(record.participant_id, False) or \
            record.first_time
        if record.participant_id not in firsts:
            firsts.add(record.participant_id)
            if record.inviter:
                invited.add(record.participant_id)
                inviters.add(record.inviter)
    return {"participations": participations, "unique_participants": len(seen),
            "first_ever_participants": sum(seen.values()), "completions": completions,
            "completions_by_kind": kinds, "invited_participants": len(invited),
            "inviting_participants": len(inviters)}


def test_campaign_totals_equal_what_the_action_logs_say(shop, engine, clock):
    campaign = create_campaign(shop)
    cid = campaign["id"]
    lottery = shop.live("lottery")["id"]
    bargain = shop.live("bargain")["id"]
    act(shop, lottery, "draw", "early")  # before the activity is in the campaign
    clock.advance(60)
    added = {}
    for activity_id in (lottery, bargain):
        assert add(shop, cid, activity_id).status_code == 200
        added[activity_id] = clock.now
    clock.advance(60)
    act(shop, lottery, "draw", "early")  # known to the merchant: not first ever
    act(shop, lottery, "draw", "amy")  # first ever, and in two activities
    room = act(shop, bargain, "start", "amy")["room"]
    code = shop.client.post(f"/v1/activities/{bargain}/share", json={"room": room},
                            headers=shop.as_("amy")).get_json()["code"]
    clock.advance(3600)  # the next hour
    for helper in ("ben", "cat", "dan"):  # brought by amy's link, new to everything
        act(shop, bargain, "help", helper, room=room, via=code)
    act(shop, bargain, "buy", "amy", room=room)
    clock.advance(5)  # (the logs of two activities order their actions by the second)
    act(shop, lottery, "draw", "ben")  # ben again, in the other activity
    clock.advance(30)
    shop.client.post(f"/v1/activities/{lottery}/heartbeat", headers=shop.as_("ben"))

    got = stats(shop, cid)
    want = from_the_logs(engine, added)
    totals = got["totals"]
    for key, value in want.items():
        assert totals[key] == value, key
    assert totals["unique_participants"] == 5  # early, amy, ben, cat, dan: once each
    assert totals["first_ever_participants"] == 4  # not `early`, who acted before
    assert totals["invited_participants"] == 3 and totals["inviting_participants"] == 1
    assert totals["k_factor"] == 3.0
    assert totals["completions_by_kind"].get("bargain.completed") == 1
    # every second the activities credited since they were added (`early`'s first draw
    # credited none), heartbeats included
    own_seconds = [shop.client.get(f"/v1/merchant/activities/{a}/stats", headers=shop.headers)
                   .get_json()["totals"]["interaction_seconds"] for a in (lottery, bargain)]
    assert totals["interaction_seconds"] == sum(own_seconds) > 0
    assert totals["activities"] == 2 and totals["merchants"] == 1
    # the hours, the days and the activities add up to the totals
    for series in ("hourly", "daily", "per_activity"):
        for key in ("participations", "new_participants", "completions", "invited"):
            assert sum(row[key] for row in got[series]) == totals[key], (series, key)
    assert len(got["hourly"]) == 2 and len(got["daily"]) == 1
    assert got["daily"][0]["date"] == "2026-11-11"
    rows = {row["activity_id"]: row for row in got["per_activity"]}
    assert rows[lottery]["participations"] == 3 and rows[bargain]["new_participants"] == 3
    # ... and agree with each activity's own stats for what it did since it was added
    own = shop.client.get(f"/v1/merchant/activities/{bargain}/stats",
                          headers=shop.headers).get_json()["totals"]
    assert rows[bargain]["participations"] == own["participations"]
    assert rows[bargain]["completions"] == own["completions"]


def test_an_activity_counts_from_when_it_is_added_until_it_is_removed(shop, clock):
    cid = create_campaign(shop)["id"]
    lottery = shop.live("lottery")["id"]
    act(shop, lottery, "draw", "amy")
    assert stats(shop, cid)["totals"]["participations"] == 0  # not in the campaign yet
    add(shop, cid, lottery)
    assert add(shop, cid, lottery).status_code == 200  # adding twice changes nothing
    act(shop, lottery, "draw", "amy")
    totals = stats(shop, cid)["totals"]
    assert totals["participations"] == 1 and totals["unique_participants"] == 1
    assert totals["first_ever_participants"] == 0  # amy's first action was before
    r = shop.client.delete(f"/v1/merchant/campaigns/{cid}/activities/{lottery}",
                           headers=shop.headers)
    assert r.status_code == 200 and r.get_json()["activities"] == []
    act(shop, lottery, "draw", "bob")
    after = stats(shop, cid)
    assert after["totals"]["participations"] == 1  # what it counted stays, nothing more
    assert after["per_activity"][0]["removed_at"] is not None
    r = shop.client.delete(f"/v1/merchant/campaigns/{cid}/activities/{lottery}",
                           headers=shop.headers)
    assert r.status_code == 404 and r.get_json()["error"] == "activity_not_found"


def test_a_heartbeat_locks_the_activity_first_as_an_action_does(shop, engine, clock):
    """A heartbeat's write takes the activity's row before its participant's row and the
    campaign's counters, as every action does: on PostgreSQL, a heartbeat that took them first
    deadlocked with another process's batch of actions on the activity (500s)."""
    cid = create_campaign(shop)["id"]
    lottery = shop.live("lottery")["id"]
    add(shop, cid, lottery)
    act(shop, lottery, "draw", "amy")
    clock.advance(10)
    answers: list[Any] = []

    def heartbeat() -> None:
        answers.append(shop.client.post(f"/v1/activities/{lottery}/heartbeat",
                                        headers=shop.as_("amy")))

    with engine.store.transaction() as tx:  # another process's action on the activity
        tx.get_activity(lottery)  # its row, locked
        tx.add_campaign_stats(cid, lottery, clock.now - clock.now % 3600, {"actions": 1})
        beating = threading.Thread(target=heartbeat)
        beating.start()
        time.sleep(0.5)  # the heartbeat waits now
        assert tx.get_participant(lottery, "amy") is not None  # was: a deadlock
    beating.join(30)
    assert answers[0].status_code == 200, answers[0].get_json()
    assert answers[0].get_json()["credited"] == 10
    assert stats(shop, cid)["totals"]["interaction_seconds"] == 10


def test_hours_fall_in_the_day_they_start_in_a_half_hour_zone(shop, clock):
    # Kolkata (+05:30): 2026-11-12 runs from 2026-11-11T18:30Z to 2026-11-12T18:30Z
    cid = create_campaign(shop, timezone="Asia/Kolkata", starts_on="2026-11-12",
                          ends_on="2026-11-12")["id"]
    lottery = shop.live("lottery")["id"]
    add(shop, cid, lottery)
    clock.advance(16 * 3600 + 10 * 60)  # 18:10Z, 23:40 on the 11th there: not yet
    act(shop, lottery, "draw", "amy")
    clock.advance(30 * 60)  # 00:10 on the 12th, in the hour that starts 23:30 on the 11th
    act(shop, lottery, "draw", "bob")
    clock.advance(24 * 3600 - 20 * 60)  # 23:50 on the 12th
    act(shop, lottery, "draw", "cat")
    clock.advance(20 * 60)  # 00:10 on the 13th: over
    act(shop, lottery, "draw", "dan")
    got = stats(shop, cid)
    assert got["totals"]["participations"] == 2
    assert [(d["date"], d["participations"]) for d in got["daily"]] == [("2026-11-11", 1),
                                                                         ("2026-11-12", 1)]
    r = shop.client.get(f"/v1/merchant/campaigns/{cid}/stats.csv", headers=shop.headers)
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[0] for row in rows[1:]] == ["2026-11-11T23:30:00+05:30",
                                            "2026-11-12T23:30:00+05:30"]


def test_a_member_who_removes_its_activities_still_counted_what_they_did(shop, other_shop,
                                                                         clock):
    mall = operator(shop)
    cid = create_campaign(mall)["id"]
    code = mall.client.post(f"/v1/merchant/campaigns/{cid}/invites",
                            headers=mall.headers).get_json()["code"]
    shop.client.post(f"/v1/merchant/campaign-invites/{code}", headers=shop.headers)
    mine, theirs = shop.live("lottery")["id"], mall.live("lottery")["id"]
    add(shop, cid, mine)
    add(mall, cid, theirs)
    act(shop, mine, "draw", "amy")
    act(mall, theirs, "draw", "bob")
    r = shop.client.delete(f"/v1/merchant/campaigns/{cid}/activities/{mine}",
                           headers=shop.headers)
    assert r.status_code == 200 and r.get_json()["activities"] == []
    clock.advance(60)
    act(shop, mine, "draw", "cat")  # no longer counted
    totals = stats(mall, cid)["totals"]
    assert totals["participations"] == 2 and totals["unique_participants"] == 2
    assert totals["activities"] == 1 and totals["merchants"] == 2  # it took part
    got = stats(shop, cid)  # still a member: the totals, and its own row, removed
    assert got["totals"] == totals
    assert [(row["activity_id"], row["participations"], row["removed_at"] is not None)
            for row in got["per_activity"]] == [(mine, 1, True)]


def test_nothing_counts_outside_the_campaign_days(shop, clock):
    cid = create_campaign(shop, starts_on="2026-11-12", ends_on="2026-11-12")["id"]
    lottery = shop.live("lottery")["id"]
    add(shop, cid, lottery)
    act(shop, lottery, "draw", "amy")  # 11-11 10:00 in Shanghai: the day before
    assert stats(shop, cid)["totals"]["participations"] == 0
    clock.advance(86400)
    act(shop, lottery, "draw", "amy")
    totals = stats(shop, cid)["totals"]
    assert totals["participations"] == 1 and totals["unique_participants"] == 1


def test_an_operator_sees_aggregates_but_never_a_merchants_activity(shop, engine, client):
    mall = operator(shop)
    cid = create_campaign(mall)["id"]
    r = mall.client.post(f"/v1/merchant/campaigns/{cid}/invites", headers=mall.headers)
    assert r.status_code == 201, r.get_json()
    invite = r.get_json()
    assert invite["url"].endswith(f"/console/campaigns/join/{invite['code']}")
    info = shop.client.get(f"/v1/merchant/campaign-invites/{invite['code']}", headers=shop.headers)
    assert info.get_json()["name"] == "Double 11" and info.get_json()["operator"] == "Mall"
    r = shop.client.post(f"/v1/merchant/campaign-invites/{invite['code']}", headers=shop.headers)
    assert r.status_code == 200 and r.get_json()["role"] == "member"
    lottery = shop.live("lottery")["id"]
    assert add(shop, cid, lottery).status_code == 200
    act(shop, lottery, "draw", "amy")

    got = stats(mall, cid)
    assert got["totals"]["participations"] == 1 and got["totals"]["merchants"] == 1
    assert got["per_activity"] == []  # counted in the totals, never row by row
    listed = mall.client.get(f"/v1/merchant/campaigns/{cid}", headers=mall.headers).get_json()
    assert listed["activities"] == [] and listed["other_activities"] == 1
    assert {m["name"] for m in listed["members"]} == {"Mall", "Tea House"}
    for path in ("", "/stats", "/actions"):
        r = client.get(f"/v1/merchant/activities/{lottery}{path}", headers=mall.headers)
        assert r.status_code == 404 and r.get_json()["error"] == "activity_not_found"
    # the operator cannot add or remove someone else's activity
    assert add(mall, cid, lottery).status_code == 404
    assert invite["code"] in {i["code"] for i in mall.client.get(
        f"/v1/merchant/campaigns/{cid}/invites", headers=mall.headers).get_json()["items"]}


def test_a_member_sees_the_totals_and_only_its_own_activities(shop, other_shop, engine, client):
    mall = operator(shop)
    cid = create_campaign(mall)["id"]
    activities = {}
    for member in (shop, other_shop):
        code = mall.client.post(f"/v1/merchant/campaigns/{cid}/invites",
                                headers=mall.headers).get_json()["code"]
        assert member.client.post(f"/v1/merchant/campaign-invites/{code}",
                                  headers=member.headers).status_code == 200
        activities[member.merchant.id] = member.live("lottery")["id"]
        add(member, cid, activities[member.merchant.id])
        act(member, activities[member.merchant.id], "draw", "same-user-id")
    mine = stats(shop, cid)
    # one platform user id at two merchants: deduped by the id each merchant passed
    assert mine["totals"]["participations"] == 2 and mine["totals"]["unique_participants"] == 1
    assert [r["activity_id"] for r in mine["per_activity"]] == [activities[shop.merchant.id]]
    seen = shop.client.get(f"/v1/merchant/campaigns/{cid}", headers=shop.headers).get_json()
    assert [a["id"] for a in seen["activities"]] == [activities[shop.merchant.id]]
    assert "members" not in seen
    theirs = activities[other_shop.merchant.id]
    r = shop.client.delete(f"/v1/merchant/campaigns/{cid}/activities/{theirs}",
                           headers=shop.headers)
    assert r.status_code == 404
    assert add(shop, cid, theirs).status_code == 404
    r = shop.client.post(f"/v1/merchant/campaigns/{cid}/invites", headers=shop.headers)
    assert r.status_code == 403 and r.get_json()["error"] == "owner_only"
    assert stats(mall, cid)["per_activity"] == []


def test_invitations_are_single_use_and_for_operators_only(shop, other_shop, engine, client):
    cid = create_campaign(shop)["id"]
    r = shop.client.post(f"/v1/merchant/campaigns/{cid}/invites", headers=shop.headers)
    assert r.status_code == 403 and r.get_json()["error"] == "operator_only"
    mall = operator(shop)
    mcid = create_campaign(mall)["id"]
    code = mall.client.post(f"/v1/merchant/campaigns/{mcid}/invites",
                            headers=mall.headers).get_json()
    assert shop.client.post(f"/v1/merchant/campaign-invites/{code['code']}",
                            headers=shop.headers).status_code == 200
    r = other_shop.client.post(f"/v1/merchant/campaign-invites/{code['code']}",
                               headers=other_shop.headers)
    assert r.status_code == 409 and r.get_json()["error"] == "invite_used"
    r = mall.client.post(f"/v1/merchant/campaign-invites/{code['code']}", headers=mall.headers)
    assert r.status_code == 409 and r.get_json()["error"] == "already_member"
    r = shop.client.post("/v1/merchant/campaign-invites/nope-nope-nope", headers=shop.headers)
    assert r.status_code == 404 and r.get_json()["error"] == "invite_not_found"


def test_a_campaign_of_another_merchant_is_not_found(shop, other_shop):
    cid = create_campaign(shop)["id"]
    for path in ("", "/stats", "/stats.csv", "/invites"):
        r = other_shop.client.get(f"/v1/merchant/campaigns/{cid}{path}", headers=other_shop.headers)
        assert r.status_code == 404 and r.get_json()["error"] == "campaign_not_found", path
    assert other_shop.client.get("/v1/merchant/campaigns", headers=other_shop.headers
                                 ).get_json()["items"] == []
    assert add(other_shop, cid, other_shop.live("lottery")["id"]).status_code == 404
    r = other_shop.client.get("/v1/merchant/campaigns", headers={"Authorization": "Bearer mck_x"})
    assert r.status_code == 401


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"),
    ({"timezone": "Mars/Base"}, "timezone"),
    ({"starts_on": "2026-13-01"}, "starts_on"),
    ({"ends_on": "2026-10-01"}, "ends_on"),
    ({"ends_on": "2028-11-30"}, "ends_on"),
    ({"starts_on": "0017-01-01"}, "starts_on"),  # out of the years a timestamp can show
    ({"ends_on": "9999-12-31"}, "ends_on"),
])
def test_bad_campaign_settings_are_refused_field_by_field(shop, body, field):
    r = shop.client.post("/v1/merchant/campaigns", json={**CAMPAIGN, **body}, headers=shop.headers)
    assert r.status_code == 422
    error = r.get_json()
    assert error["error"] in ("invalid_campaign", "validation_error")
    assert field in error["errors"]


def test_the_csv_has_one_row_per_hour_in_the_campaign_zone(shop, clock):
    cid = create_campaign(shop)["id"]
    lottery = shop.live("lottery")["id"]
    add(shop, cid, lottery)
    act(shop, lottery, "draw", "amy")
    clock.advance(7200)
    act(shop, lottery, "draw", "bob")
    r = shop.client.get(f"/v1/merchant/campaigns/{cid}/stats.csv", headers=shop.headers)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:2] == ["hour", "participations"]
    assert [row[0] for row in rows[1:]] == ["2026-11-11T10:00:00+08:00",
                                            "2026-11-11T12:00:00+08:00"]
    assert [row[1] for row in rows[1:]] == ["1", "1"]


FORECAST = {"runs": 4, "days": 2, "visitors_per_day": 30, "seed": "7"}


def forecast(shop: Any, campaign_id: str, **body: Any) -> Any:
    return shop.client.post(f"/v1/merchant/campaigns/{campaign_id}/forecast",
                            json={**FORECAST, **body}, headers=shop.headers)


def test_the_campaign_forecast_adds_its_activities_forecasts_run_by_run(shop, engine):
    from magic_cube.engine.campaign_forecasts import part_seed
    from magic_cube.forecast.montecarlo import quantiles

    cid = create_campaign(shop)["id"]
    lottery, bargain = shop.live("lottery")["id"], shop.live("bargain")["id"]
    ended = shop.live("lottery")["id"]
    for activity_id in (lottery, bargain, ended):
        assert add(shop, cid, activity_id).status_code == 200
    assert shop.client.post(f"/v1/merchant/activities/{ended}/end",
                            headers=shop.headers).status_code == 200
    r = forecast(shop, cid)
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    assert [a["activity_id"] for a in got["activities"]] == [lottery, bargain]
    assert got["skipped"] == [{"activity_id": ended, "title": got["skipped"][0]["title"],
                               "reason": "ended"}]
    parts = [engine.forecast(None, a, {k: v for k, v in FORECAST.items()
                                       if k in ("days", "visitors_per_day")},
                             runs=4, seed=part_seed("7", a), time_budget=None).result
             for a in (lottery, bargain)]
    assert got["runs"] == 4
    for key in ("participations", "participants", "completions"):
        summed = [sum(getattr(p.runs[i], key) for p in parts) for i in range(4)]
        assert got[key] == quantiles(summed), key
    assert got["participations"]["p50"] > 0
    titles = tuple(f"{a['title']}: " for a in got["activities"])
    assert got["stock_out"] and all(name.startswith(titles) for name in got["stock_out"])
    # the same seed gives the same forecast
    assert forecast(shop, cid).get_json()["participations"] == got["participations"]


def test_a_member_forecasts_its_own_activities_and_bad_requests_are_422(shop, other_shop):
    mall = operator(shop)
    cid = create_campaign(mall)["id"]
    mine = {}
    for member in (shop, other_shop):
        code = mall.client.post(f"/v1/merchant/campaigns/{cid}/invites",
                                headers=mall.headers).get_json()["code"]
        member.client.post(f"/v1/merchant/campaign-invites/{code}", headers=member.headers)
        mine[member.merchant.id] = member.live("lottery")["id"]
        assert add(member, cid, mine[member.merchant.id]).status_code == 200
    got = forecast(shop, cid).get_json()
    assert [a["activity_id"] for a in got["activities"]] == [mine[shop.merchant.id]]
    owner = forecast(mall, cid).get_json()
    # the operator's figures hold both merchants' activities, none of them by name
    assert owner["activities"] == [] and owner["other_merchants"] == {"activities": 2,
                                                                      "skipped": 0}
    assert owner["participations"]["p50"] > got["participations"]["p50"]
    assert owner["stock_out"] == {} and owner["awarded"] == {}
    assert not any(a in str(owner) for a in mine.values())
    assert got["other_merchants"] == {"activities": 0, "skipped": 0}
    for body in ({"runs": 0}, {"visitors_per_day": -1}, {"conversion": {"nope": 1}}):
        r = forecast(shop, cid, **body)
        assert r.status_code == 422 and r.get_json()["error"] == "validation_error", body
    r = forecast(shop, "nope")
    assert r.status_code == 404 and r.get_json()["error"] == "campaign_not_found"
    empty = create_campaign(shop)["id"]
    r = forecast(shop, empty)
    assert r.status_code == 422 and r.get_json()["error"] == "nothing_to_forecast"
