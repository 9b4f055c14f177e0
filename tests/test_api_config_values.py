"""What a config holds once it validates: integer fields hold ints (a client's `1e2` or `3.0` is
stored, shown and counted as 100 and 3) on create, edit and the views that read them; the items
of a list with names (a lottery's prizes) each have their own."""

from __future__ import annotations

import json
import re
from typing import Any

from activity_configs import CONFIGS

ACTIVITIES = "/v1/merchant/activities"
FLOATS = {"prizes": [{"name": "a", "type": "coupon", "stock": 1e2, "odds": 5000.0}],
          "draws_per_day": 3.0, "draws_total": 10.0}


def raw(r: Any) -> str:
    """The body as sent, where 100 and 100.0 differ."""
    return r.get_data(as_text=True)


def test_integral_floats_of_integer_fields_are_stored_and_shown_as_ints(client, shop):
    r = client.post(ACTIVITIES, headers=shop.headers,
                    json={"template_id": "lottery", "config": FLOATS})
    assert r.status_code == 201
    config = r.get_json()["config"]
    assert config["draws_per_day"] == 3 and config["prizes"][0]["stock"] == 100
    assert all(type(v) is int for v in (config["draws_per_day"], config["draws_total"],
                                        config["prizes"][0]["stock"], config["prizes"][0]["odds"]))
    url = f"{ACTIVITIES}/{r.get_json()['id']}"
    assert ".0" not in json.dumps(client.get(url, headers=shop.headers).get_json()["config"])
    shop.publish(r.get_json()["id"])
    assert shop.act(r.get_json()["id"], "draw", "alice").status_code == 200
    me = client.get(f"/v1/activities/{r.get_json()['id']}/me", headers=shop.as_("alice"))
    assert re.search(r'"draws_left_today":2[,}]', raw(me).replace(" ", ""))
    assert ".0" not in json.dumps(me.get_json()["view"])
    public = client.get(f"/v1/activities/{r.get_json()['id']}").get_json()["view"]
    assert public["prize_stock"] == [100] and type(public["prize_stock"][0]) is int


def test_an_edit_with_integral_floats_stores_ints(client, shop):
    activity = shop.create("lottery")
    url = f"{ACTIVITIES}/{activity['id']}"
    r = client.patch(url, headers=shop.headers, json={"config": FLOATS})
    assert r.status_code == 200
    assert type(r.get_json()["config"]["prizes"][0]["stock"]) is int
    shop.publish(activity["id"])
    live = {**client.get(url, headers=shop.headers).get_json()["config"], "extra_draws_max": 7.0}
    r = client.patch(url, headers=shop.headers, json={"config": live})
    assert r.status_code == 200
    assert re.search(r'"extra_draws_max":7[,}]', raw(r).replace(" ", ""))


def test_a_fraction_for_an_integer_field_is_still_refused(client, shop):
    config = {"prizes": [{"name": "a", "type": "coupon", "stock": 1.5, "odds": 5000}],
              "draws_per_day": 2.5}
    r = client.post(ACTIVITIES, headers=shop.headers,
                    json={"template_id": "lottery", "config": config})
    assert r.status_code == 422
    assert {k: [e["code"] for e in v] for k, v in r.get_json()["errors"].items()} == {
        "prizes.0.stock": ["type"], "draws_per_day": ["type"]}
    assert client.get(ACTIVITIES, headers=shop.headers).get_json()["items"] == []


# items named alike --------------------------------------------------------------------------------

def prize(name: str) -> dict[str, Any]:
    return {"name": name, "type": "coupon", "stock": 5, "odds": 100}


def codes_of(r: Any) -> dict[str, list[str]]:
    return {k: [e["code"] for e in v] for k, v in r.get_json()["errors"].items()}


def test_prizes_named_alike_are_refused_naming_the_name_and_the_first_item(client, shop):
    config = {"prizes": [prize("Mug"), prize("Tea"), prize("Mug"), prize("Mug")]}
    for lang, words in (("en", "“Mug” is already the name of item 1"),
                        ("zh", "“Mug”已是第 1 项的名称")):
        r = client.post(ACTIVITIES, headers={**shop.headers, "Accept-Language": lang},
                        json={"template_id": "lottery", "config": config})
        assert r.status_code == 422
        assert r.get_json()["error"] == "invalid_config"
        assert codes_of(r) == {"prizes.2.name": ["duplicate_name"],
                               "prizes.3.name": ["duplicate_name"]}
        assert words in r.get_json()["errors"]["prizes.2.name"][0]["message"]
    assert client.get(ACTIVITIES, headers=shop.headers).get_json()["items"] == []


def test_an_edit_naming_two_prizes_alike_changes_nothing(client, shop):
    activity = shop.create("lottery")
    url = f"{ACTIVITIES}/{activity['id']}"
    r = client.patch(url, headers=shop.headers,
                     json={"config": {"prizes": [prize("Mug"), prize("Mug")]}})
    assert r.status_code == 422
    assert codes_of(r) == {"prizes.1.name": ["duplicate_name"]}
    assert client.get(url, headers=shop.headers).get_json()["config"] == activity["config"]


def test_names_that_differ_pass_and_collect_cards_keeps_its_own_code(client, shop):
    shop.create("lottery", {"prizes": [prize("Mug"), prize("mug"), prize("Mug ")]})
    cards = {**CONFIGS["collect_cards"],
             "cards": [{"name": "Plum", "odds": 50}, {"name": "Plum", "odds": 30}]}
    r = client.post(ACTIVITIES, headers=shop.headers,
                    json={"template_id": "collect_cards", "config": cards})
    assert r.status_code == 422
    assert codes_of(r) == {"cards": ["duplicate_card"]}
