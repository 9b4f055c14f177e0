"""What a limit counts and in which window: device, else address, else participant; the local
day and the local ISO week; a `max` that is not a number is a rule error."""

from __future__ import annotations

from datetime import datetime

from magic_cube.rules.compiler import Limit, expr
from magic_cube.rules.limits import counted, most, period, subject
from magic_cube.rules.model import Rejection

SHANGHAI = "Asia/Shanghai"


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def limit(max_rule: object, per: str = "device", within: str = "day") -> Limit:
    return Limit("help.0", per, within, expr(max_rule, "max"), "device_used_up", "limits[0]")


def test_a_device_is_counted_by_its_id_else_its_address_else_the_participant():
    assert subject("device", "amy", "phone-0001", "10.0.0.1") == "d:phone-0001"
    assert subject("device", "amy", "", "10.0.0.1") == "a:10.0.0.1"
    assert subject("device", "amy", "", "") == "p:amy"
    assert subject("address", "amy", "phone-0001", "10.0.0.1") == "a:10.0.0.1"
    assert subject("address", "amy", "phone-0001", "") == "p:amy"
    assert subject("participant", "amy", "phone-0001", "10.0.0.1") == "p:amy"


def test_a_day_turns_at_local_midnight_and_a_week_on_local_monday():
    assert period("day", None, at("2026-11-11T15:59:59+00:00"), SHANGHAI) == "2026-11-11"
    assert period("day", None, at("2026-11-11T16:00:00+00:00"), SHANGHAI) == "2026-11-12"
    sunday_night = at("2026-11-15T23:59:59+08:00")
    assert period("week", None, sunday_night, SHANGHAI) == "2026-W46"
    assert period("week", None, sunday_night + 1, SHANGHAI) == "2026-W47"
    # ISO weeks belong to the year of their Thursday: 2027-01-01 is in 2026's last week.
    assert period("week", None, at("2027-01-01T12:00:00+08:00"), SHANGHAI) == "2026-W53"
    assert period("room", "r1", 0, SHANGHAI) == "r1"
    assert period("activity", "r1", 0, SHANGHAI) == ""


def test_max_reads_config_and_must_be_a_number():
    assert most(limit({"var": "config.n"}), {"n": 3}) == 3
    assert most(limit(2.9), {}) == 2
    for bad in ({"var": "config.missing"}, True, "three"):
        refused = most(limit(bad), {})
        assert isinstance(refused, Rejection) and refused.error == "rule_error"
    found = counted([limit(1, within="room")], {}, "amy", "", "10.0.0.1", "r1", 0, SHANGHAI)
    assert not isinstance(found, Rejection)
    assert [key for _, key, _ in found] == [("help.0", "a:10.0.0.1", "r1")]
