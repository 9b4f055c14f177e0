"""Held polls at scale: the date in an ETag only where a view shows daily values, wake-ups
coalesced per activity, and one view shared by every poll a broadcast wakes."""

from __future__ import annotations

import threading
import time

from engine_helpers import Clock, config_for, create_merchant, make_engine, publish

from magic_cube.engine import Participant
from magic_cube.engine.core import Notifier
from magic_cube.engine.views import shows_the_day
from magic_cube.hammer.statements import count_statements

# 2026-11-11 23:59:50 Asia/Shanghai: ten seconds before local midnight.
BEFORE_MIDNIGHT = 1_794_412_790


def test_only_views_that_show_daily_values_carry_the_date(tmp_path):
    engine = make_engine(tmp_path)
    template = engine.catalog.get("lottery").compiled
    # The lottery's public view shows stock and odds; "me" shows draws left today.
    assert not shows_the_day(template, "activity")
    assert shows_the_day(template, "me")


def test_a_poll_held_across_local_midnight_on_a_view_without_daily_values_is_not_woken(
        tmp_path):
    clock = Clock(BEFORE_MIDNIGHT)
    engine = make_engine(tmp_path, clock)
    aid = publish(engine, create_merchant(engine), "lottery")
    alice = Participant("alice")
    public = engine.public_view(aid)
    me = engine.me_view(aid, alice)
    answers = []
    held = threading.Thread(target=lambda: answers.append(
        engine.public_view(aid, if_none_match=public.etag, wait=1.5)))
    held.start()
    time.sleep(0.2)
    clock.advance(20)  # local midnight passes while the poll is held
    held.join(10)
    assert answers[0].status == 304 and answers[0].etag == public.etag
    assert engine.public_view(aid, if_none_match=public.etag).status == 304
    # The participant's own view shows today's draws: a new day is a new view.
    assert engine.me_view(aid, alice, if_none_match=me.etag).status == 200


def test_polls_woken_together_share_one_view(tmp_path):
    engine = make_engine(tmp_path, settings={"poll_wake_interval": 0.05})
    aid = publish(engine, create_merchant(engine), "lottery")
    etag = engine.public_view(aid).etag
    views = []
    lock = threading.Lock()

    def hold() -> None:
        view = engine.public_view(aid, if_none_match=etag, wait=5)
        with lock:
            views.append(view)

    pollers = [threading.Thread(target=hold) for _ in range(20)]
    for t in pollers:
        t.start()
    deadline = time.monotonic() + 5
    while sum(len(w) for w in engine.notifier._waiters.values()) < 20 \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    engine.act(aid, "draw", Participant("bob"))
    for t in pollers:
        t.join(10)
    assert len(views) == 20 and all(v.status == 200 and v.etag != etag for v in views)
    # Rendered once for all of them (and so serialised once by the API).
    assert len({id(v) for v in views}) == 1


def test_a_poll_without_a_wake_up_still_reads_its_own_etag(tmp_path):
    engine = make_engine(tmp_path)
    aid = publish(engine, create_merchant(engine),
                  "lottery", config_for("lottery", draws_per_day=3))
    first = engine.public_view(aid)
    engine.act(aid, "draw", Participant("bob"))
    assert engine.public_view(aid, if_none_match=first.etag).status == 200


def test_changes_are_broadcast_at_most_once_per_interval():
    notifier = Notifier(interval=30)
    broadcasts = []
    publish = notifier._publish
    notifier._publish = lambda activity_id: (broadcasts.append(activity_id),  # type: ignore
                                             publish(activity_id))[1]
    mark = notifier.mark("a")
    waiters = [threading.Thread(target=notifier.wait, args=("a", mark, 10)) for _ in range(3)]
    for t in waiters:
        t.start()
    deadline = time.monotonic() + 5
    while len(notifier._waiters.get("a", ())) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(5):
        notifier.notify("a")  # the first goes out at once; the rest wait for the interval
    for t in waiters:
        t.join(10)
        assert not t.is_alive()
    time.sleep(0.2)
    assert broadcasts == ["a"]
    assert notifier.mark("a") == 5 and notifier.broadcasts("a") == 1


def test_a_full_poll_of_an_unchanged_activity_reads_its_version_alone(tmp_path):
    # Two processes' engines on one database: the first answers from the view it rendered
    # last as long as the activity's version says it is current, and renders anew as soon as
    # the other has changed the activity.
    clock = Clock(1_794_362_400)
    here, there = make_engine(tmp_path, clock), make_engine(tmp_path, clock, migrate=False)
    # Every draw wins, so bob's draw changes the stock the view shows (a miss would change the
    # activity's version but not its public view).
    certain = [{"name": "Mug", "type": "physical", "stock": 3, "odds": 10000}]
    aid = publish(here, create_merchant(here), "lottery",
                  config_for("lottery", draws_per_day=3, prizes=certain))
    first = here.public_view(aid)
    transactions = count_statements(here.store)
    again = here.public_view(aid)
    assert again is first and transactions == []  # no transaction: one lone version read
    there.act(aid, "draw", Participant("bob"))
    after = here.public_view(aid)
    assert after.etag != first.etag and after.body != first.body
    assert after.etag == there.public_view(aid).etag
    # A poll whose ETag is behind is answered from the version it has just read.
    assert here.public_view(aid, if_none_match=first.etag) is after
    assert transactions == [(False, 1)]  # the one full read (the activity), for the change
