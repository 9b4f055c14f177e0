"""The in-process rate-limit counters (`rate_limit_storage=memory://`), under the `limits`
library's own strategies, with the clock moved by hand."""

import threading

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from magic_cube.api import counters
from magic_cube.api.counters import ProcessCounters, storage_uri


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    found = Clock()
    monkeypatch.setattr(counters.time, "time", found)
    return found


def test_memory_setting_is_served_by_the_process_counters_and_others_are_left_alone():
    assert isinstance(storage_from_string(storage_uri("memory://")), ProcessCounters)
    assert storage_uri("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379"


def test_a_moving_window_refuses_over_its_limit_and_lets_through_as_entries_age(clock):
    limiter = MovingWindowRateLimiter(ProcessCounters())
    item = parse("3/minute")
    assert [limiter.hit(item, "amy") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(item, "ben")  # a key of its own
    clock.now += 30
    assert not limiter.hit(item, "amy")
    stats = limiter.get_window_stats(item, "amy")
    assert stats.remaining == 0 and stats.reset_time == pytest.approx(1_000_000.0 + 60)
    clock.now += 30.5  # the first three are out of the window
    assert limiter.hit(item, "amy")
    assert limiter.get_window_stats(item, "amy").remaining == 2


def test_entries_of_several_at_once_and_clearing_a_key(clock):
    storage = ProcessCounters()
    assert not storage.acquire_entry("k", 2, 60, amount=3)
    assert storage.acquire_entry("k", 3, 60, amount=3)
    assert not storage.acquire_entry("k", 3, 60)
    assert storage.get_moving_window("k", 3, 60) == (clock.now, 3)
    storage.clear("k")
    assert storage.get_moving_window("k", 3, 60) == (clock.now, 0)
    assert storage.acquire_entry("k", 3, 60)


def test_counting_tells_the_window_as_reading_it_next_would(clock):
    storage = ProcessCounters()
    for expected in range(1, 4):
        acquired, start, used = storage.acquire_counted("k", 3, 60)
        assert acquired and (start, used) == storage.get_moving_window("k", 3, 60)
        assert used == expected
        clock.now += 10
    refused = storage.acquire_counted("k", 3, 60)
    assert refused == (False, 1_000_000.0, 3) == (False, *storage.get_moving_window("k", 3, 60))
    clock.now += 31  # the first entry has left the window
    assert storage.acquire_counted("k", 3, 60) == (True, 1_000_010.0, 3)


def test_fixed_counters_count_until_they_expire(clock):
    storage = ProcessCounters()
    assert [storage.incr("spent", 10) for _ in range(3)] == [1, 2, 3]
    assert storage.get("spent") == 3 and storage.get_expiry("spent") == clock.now + 10
    clock.now += 10
    assert storage.get("spent") == 0
    assert storage.incr("spent", 10) == 1
    assert storage.reset() == 1 and storage.get("spent") == 0


def test_keys_nobody_counts_again_are_forgotten_without_a_timer(clock):
    before = threading.active_count()
    storage = ProcessCounters()
    for i in range(1000):
        assert storage.acquire_entry(f"p{i}", 5, 60)
    storage.incr("spent", 10)
    assert threading.active_count() == before  # no expiry thread, unlike limits' own
    clock.now += counters.SWEEP_SECONDS + 1
    assert storage.acquire_entry("p0", 5, 60)  # counting triggers the sweep
    assert storage.keys() == {"p0"}
