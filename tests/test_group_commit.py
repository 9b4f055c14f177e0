"""Group commit on real stores (a SQLite file, a PostgreSQL schema): concurrent actions share one
transaction, each in its own savepoint; a failing one rolls back alone; nothing is answered
before the commit, and a process killed with a batch in flight applies none of it.

Also Idempotency-Keys after a crash: a process killed inside its keyed action leaves the key
unused, and a key left pending by a killed process (as claims in a transaction of their own
once did) is abandoned at once, not after `idempotency_pending_timeout`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import START, Clock, catalog, config_for, create_merchant, invariants, publish
from engine_helpers import read_all as read_everything
from stores import STORE_PARAMS, store_url

from magic_cube.engine import Engine, Participant
from magic_cube.engine.actions import request_hash
from magic_cube.engine.errors import ActivityNotFound, IdempotencyInFlight
from magic_cube.settings import Settings
from magic_cube.store import open_store
from magic_cube.store.records import IdempotencyRecord
from magic_cube.store.sql import SELECT_ACTIVITY

LOTTERY = config_for("lottery", prizes=[
    {"name": "Mug", "type": "physical", "stock": 1000, "odds": 3000},
    {"name": "Coupon", "type": "coupon", "stock": 1000, "odds": 4000}],
    draws_per_day=1, draws_total=1)


def engine_on(url: str, **settings: Any) -> Engine:
    store = open_store(url)
    store.migrate()
    return Engine(store, catalog(), Settings.load(settings, environ={}), Clock(START + 60))


@pytest.fixture(params=STORE_PARAMS)
def url(request, tmp_path) -> Iterator[str]:
    url, cleanup = store_url(request.param, tmp_path)
    yield url
    cleanup()


def in_one_batch(engine: Engine, activity_id: str,
                 calls: list[Callable[[], Any]]) -> list[Any]:
    """Run `calls` from as many threads, queued behind a transaction held open on the lane so
    that they all make the next batch; their results (or exceptions)."""
    commits, lane = engine.core.commits, engine.store.lane(activity_id)
    held, release = threading.Event(), threading.Event()

    def hold(_tx: Any) -> None:
        held.set()
        release.wait(30)

    holder = threading.Thread(target=commits.run, args=(lane, hold))
    holder.start()
    assert held.wait(10)
    results: list[Any] = [None] * len(calls)

    def call(i: int) -> None:
        try:
            results[i] = calls[i]()
        except Exception as exc:  # the test looks at it
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while commits.waiting(lane) < len(calls) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert commits.waiting(lane) == len(calls)
    batches = commits.batches
    release.set()
    holder.join(10)
    for t in threads:
        t.join(30)
    # The last result: how many batches (transactions) the calls took.
    results.append(commits.batches - batches)
    return results


def known_to_a_lottery(engine: Engine, n: int) -> tuple[str, list[Participant]]:
    """A live lottery and `n` participants who have drawn in it once, 20 seconds ago."""
    aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
    people = [Participant(f"p{i}") for i in range(n)]
    for p in people:
        assert engine.act(aid, "draw", p).status == 200
    engine.clock.advance(20)
    return aid, people


def test_heartbeats_share_a_commit_with_actions(url):
    engine = engine_on(url)
    try:
        aid, people = known_to_a_lottery(engine, 6)
        *answers, batches = in_one_batch(engine, aid, [
            *(lambda p=p: engine.heartbeat(aid, p) for p in people),
            lambda: engine.act(aid, "draw", Participant("late"))])
        assert batches == 1
        assert [a["credited"] for a in answers[:-1]] == [20] * len(people)
        assert answers[-1].status == 200
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_heartbeat_on_an_unknown_activity_is_refused_in_its_batch_alone(url):
    """A heartbeat reads its activity inside its job (no read transaction before it): one for
    an activity that does not exist is refused there, and its batch's other jobs stand."""
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        alice = Participant("alice")
        assert engine.act(aid, "draw", alice).status == 200
        engine.clock.advance(20)
        with pytest.raises(ActivityNotFound):
            engine.heartbeat("act_nope", alice)
        if engine.store.lane("act_nope") == engine.store.lane(aid):  # SQLite: one lane
            nope, credited, batches = in_one_batch(engine, aid, [
                lambda: engine.heartbeat("act_nope", alice),
                lambda: engine.heartbeat(aid, alice)])
            assert isinstance(nope, ActivityNotFound)
            assert credited["credited"] == 20 and batches == 1
        else:  # PostgreSQL batches per activity: the unknown one is a lane of its own
            assert engine.heartbeat(aid, alice)["credited"] == 20
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_failing_action_in_a_batch_rolls_back_alone(url):
    engine = engine_on(url)
    try:
        merchant = create_merchant(engine)
        aid = publish(engine, merchant, "lottery", LOTTERY)
        assert engine.act(aid, "draw", Participant("zed")).status == 200
        count = engine.count

        def count_unless_bob(tx, activity, template, action, participant, *args, **kwargs):
            if participant == "bob":  # after bob's room, state, row and log entry were written
                raise RuntimeError("counting failed")
            return count(tx, activity, template, action, participant, *args, **kwargs)

        engine.count = count_unless_bob
        people = ["alice", "bob", "carol", "zed", "dave"]
        *results, batches = in_one_batch(
            engine, aid, [lambda p=p: engine.act(aid, "draw", Participant(p)) for p in people])
        assert batches == 1
        alice, bob, carol, zed, dave = results
        assert isinstance(bob, RuntimeError)
        assert not zed.ok and zed.code == "no_draws_left"  # refused: writes nothing
        assert [r.status for r in (alice, carol, dave)] == [200, 200, 200]
        # Bob's sequence number was rolled back with the rest of his action.
        assert sorted(r.body["seq"] for r in (alice, carol, dave)) == [2, 3, 4]
        data = read_everything(engine, aid)
        assert [(e.seq, e.participant_id) for e in data["log"]] == \
            [(1, "zed")] + sorted((r.body["seq"], p) for p, r in
                                  (("alice", alice), ("carol", carol), ("dave", dave)))
        assert "bob" not in {p.participant_id for p in data["participants"]}
        engine.count = count
        assert invariants(engine, aid) == []
        assert engine.act(aid, "draw", Participant("bob")).status == 200  # bob can still draw
    finally:
        engine.close()


def test_a_statement_failing_outside_any_savepoint_costs_its_action_alone(url):
    # A batched draw writes nothing before the commit, so its part has no savepoint open: on
    # PostgreSQL a statement failing there loses the whole transaction, and the batch's other
    # actions run again in a new one (on SQLite the failed statement undoes only itself).
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        assert engine.act(aid, "draw", Participant("zed")).status == 200
        count = engine.count

        def fail_for_bob(tx, activity, template, action, participant, *args, **kwargs):
            if participant == "bob":
                tx._row("SELECT count(*) FROM no_such_table")
            return count(tx, activity, template, action, participant, *args, **kwargs)

        engine.count = fail_for_bob
        people = ["alice", "bob", "carol", "dave"]
        *results, batches = in_one_batch(
            engine, aid, [lambda p=p: engine.act(aid, "draw", Participant(p)) for p in people])
        alice, bob, carol, dave = results
        assert isinstance(bob, Exception)
        assert [r.status for r in (alice, carol, dave)] == [200, 200, 200]
        assert batches == (2 if url.startswith("postgresql") else 1)
        assert sorted(r.body["seq"] for r in (alice, carol, dave)) == [2, 3, 4]
        data = read_everything(engine, aid)
        assert sorted(e.participant_id for e in data["log"]) == ["alice", "carol", "dave", "zed"]
        assert "bob" not in {p.participant_id for p in data["participants"]}
        engine.count = count
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_batch_reads_its_activity_once_and_each_action_sees_the_one_before(url, monkeypatch):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        assert engine.act(aid, "draw", Participant("first")).status == 200
        with engine.store.transaction(write=False) as tx:
            before = tx.get_activity(aid)
        reads: list[str] = []
        writes: list[str] = []
        tx_class = getattr(sys.modules[type(engine.store).__module__],
                           type(engine.store).__name__.replace("Store", "Tx"))
        row, execute = tx_class._row, tx_class._exec

        def traced_row(self, query, args=()):
            if query.startswith(SELECT_ACTIVITY):
                reads.append(query)
            return row(self, query, args)

        def traced_exec(self, query, args=()):
            if query.startswith(("UPDATE activities", "INSERT INTO actions",
                                 "INSERT INTO activity_participants", "INSERT INTO participants")):
                writes.append(" ".join(query.split()[:3]))
            return execute(self, query, args)

        monkeypatch.setattr(tx_class, "_row", traced_row)
        monkeypatch.setattr(tx_class, "_exec", traced_exec)
        people = ["a", "b", "c", "d", "e"]
        *answers, batches = in_one_batch(
            engine, aid, [lambda p=p: engine.act(aid, "draw", Participant(p)) for p in people])
        assert batches == 1
        assert [a.status for a in answers] == [200] * len(people)
        assert len(reads) == 1  # one read of the row for the batch's five actions
        # One write of the row, one insert of the five log entries, one of the five new
        # participants' rows and one of the five shoppers new to the merchant.
        assert sorted(writes) == ["INSERT INTO actions", "INSERT INTO activity_participants",
                                  "INSERT INTO participants", "UPDATE activities SET"]
        # Each action started from the state and sequence number the one before it left.
        assert sorted(a.body["seq"] for a in answers) == [2, 3, 4, 5, 6]
        with engine.store.transaction(write=False) as tx:
            after = tx.get_activity(aid)
        assert after.seq == 6 and after.version == before.version + len(people)
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_rolled_back_savepoint_forgets_the_activity_it_changed(url):
    store = open_store(url)
    store.migrate()
    engine = Engine(store, catalog(), Settings.load({}, environ={}), Clock(START + 60))
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        with store.transaction() as tx:
            first = tx.get_activity(aid)
            first.seq = 99  # the caller's copy: the transaction's own is not changed
            assert tx.get_activity(aid).seq == 0
            tx.update_activity(aid, seq=1)
            assert tx.get_activity(aid).seq == 1
            assert tx.get_activity(aid).version == first.version + 1
            tx.update_activity(aid, bump=False, next_due=START + 3600)
            # A statement that reads the table sees what was kept back for the commit.
            assert tx.get_activity_version(aid)[0] == first.version + 1
            assert tx.get_activity_version(aid)[4] == START + 3600
            tx.update_activity(aid, seq=1)  # kept back again: the rollback below keeps it
            with pytest.raises(RuntimeError), tx.savepoint():
                tx.update_activity(aid, seq=2, state={"changed": True})
                assert tx.get_activity(aid).seq == 2
                raise RuntimeError("rolled back")
            kept = tx.get_activity(aid)
            assert kept.seq == 1 and kept.state == first.state
            assert kept.version == first.version + 2
        with store.transaction(write=False) as tx:
            stored = tx.get_activity(aid)
            assert (stored.seq, stored.version, stored.state, stored.next_due) == \
                (1, first.version + 2, first.state, START + 3600)
    finally:
        engine.close()


def test_one_key_sent_many_times_in_one_batch_acts_once(url):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        *answers, _ = in_one_batch(engine, aid, [
            lambda: engine.act(aid, "draw", Participant("alice"), idempotency_key="k1")
            for _ in range(8)])
        performed = [a for a in answers if not isinstance(a, Exception) and not a.replayed]
        assert len(performed) == 1 and performed[0].status == 200
        assert all(isinstance(a, IdempotencyInFlight) or a.body == performed[0].body
                   for a in answers)
        again = engine.act(aid, "draw", Participant("alice"), idempotency_key="k1")
        assert again.replayed and again.body == performed[0].body
        assert [e.participant_id for e in read_everything(engine, aid)["log"]] == ["alice"]
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def traced_writes(monkeypatch: pytest.MonkeyPatch, engine: Engine, method: str,
                  prefix: str) -> tuple[list[int], list[int]]:
    """Lists filled as the engine's transactions run: for each write through `method` whose
    statement starts with `prefix`, its number of arguments (`_exec`) or of rows (`_many`);
    and the depth of each savepoint opened in the database."""
    tx_class = getattr(sys.modules[type(engine.store).__module__],
                       type(engine.store).__name__.replace("Store", "Tx"))
    writes: list[int] = []
    opened: list[int] = []
    write, open_savepoints = getattr(tx_class, method), tx_class._open_savepoints

    def traced_write(self: Any, query: str, args: Any = ()) -> Any:
        if query.startswith(prefix):
            writes.append(len(args))
        return write(self, query, args)

    def traced_open(self: Any) -> None:
        opened.append(self._savepoints)
        open_savepoints(self)

    monkeypatch.setattr(tx_class, method, traced_write)
    monkeypatch.setattr(tx_class, "_open_savepoints", traced_open)
    return writes, opened


def test_a_batch_of_keyed_draws_writes_its_keys_at_the_commit_with_no_savepoint(url, monkeypatch):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        inserts, opened = traced_writes(monkeypatch, engine, "_exec", "INSERT INTO idempotency")
        calls = [(p, f"k-{p}") for p in ("a", "b", "c", "d")] + [("a", "k-a")]
        *answers, batches = in_one_batch(engine, aid, [
            lambda p=p, k=k: engine.act(aid, "draw", Participant(p), idempotency_key=k)
            for p, k in calls])
        assert batches == 1
        assert [a.status for a in answers] == [200] * 5
        assert answers[-1].replayed and answers[-1].body == answers[0].body  # a's key again
        assert len(inserts) == 1 and inserts[0] == 4 * 9  # four keys in one insert
        assert opened == []  # nothing written before the commit: no savepoint
        again = engine.act(aid, "draw", Participant("b"), idempotency_key="k-b")
        assert again.replayed and again.body == answers[1].body
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_batch_of_known_participants_updates_their_rows_at_the_commit_with_no_savepoint(
        url, monkeypatch):
    """Heartbeats and draws of participants the activity knows change their rows: kept for the
    commit, updated there in one go, with no savepoint (nothing written before it)."""
    engine = engine_on(url)
    try:
        aid, people = known_to_a_lottery(engine, 4)
        updates, opened = traced_writes(monkeypatch, engine, "_many",
                                        "UPDATE activity_participants")
        *answers, batches = in_one_batch(engine, aid, [
            *(lambda p=p: engine.heartbeat(aid, p) for p in people),
            lambda: engine.act(aid, "draw", people[0])])  # one draw each: refused, no write
        assert batches == 1
        assert [a["credited"] for a in answers[:-1]] == [20] * 4
        assert answers[-1].code == "no_draws_left"
        assert updates == [4] and opened == []
        monkeypatch.undo()
        assert engine.heartbeat(aid, people[1])["interaction_seconds"] == 20
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_batch_of_helps_writes_its_rooms_and_limits_at_the_commit_with_no_savepoint(
        url, monkeypatch):
    """Bargain helps on several rooms: each room read once, changed where it is kept, and
    written at the commit (one update per room, its members in one insert), the helpers'
    daily limits counted there too: no savepoint."""
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "bargain", config_for("bargain"))
        rooms = [engine.act(aid, "start", Participant(f"i{n}")).body["room"] for n in range(2)]
        updates, opened = traced_writes(monkeypatch, engine, "_many", "UPDATE rooms")
        calls = [(f"h{n}", rooms[n % 2]) for n in range(4)]
        *answers, batches = in_one_batch(engine, aid, [
            lambda p=p, r=r: engine.act(aid, "help", Participant(p), room_id=r)
            for p, r in calls])
        assert batches == 1
        assert [a.status for a in answers] == [200] * 4
        assert updates == [2] and opened == []  # one update of each of the two rooms
        monkeypatch.undo()
        with engine.store.transaction(write=False) as tx:
            stored = [tx.get_room(aid, room) for room in rooms]
        assert [(s.version, [m.participant for m in s.room.members]) for s in stored] == [
            (3, ["i0", "h0", "h2"]), (3, ["i1", "h1", "h3"])]  # two changes each
        assert invariants(engine, aid) == []
    finally:
        engine.close()


# kill -9 -----------------------------------------------------------------------------------

def _spawn() -> Any:
    return multiprocessing.get_context("spawn")


def _crash_child(url: str, activity_id: str, directory: str, threads: int) -> None:
    """Draw from `threads` threads, writing each acknowledged action to `acks`; once 20 are
    acknowledged, stop the next batch of several actions just before its commit, say which
    actions it holds, and wait to be killed."""
    engine = engine_on(url)
    acks = open(Path(directory, "acks"), "a", buffering=1)
    lock = threading.Lock()
    acked = [0]
    original = engine.store.transaction

    @contextmanager
    def stalling(write: bool = True) -> Iterator[Any]:
        with original(write) as tx:
            logged: list[tuple[str, int]] = []
            insert = tx.insert_action

            def recording(a: Any) -> None:
                insert(a)
                logged.append((a.participant_id, a.seq))

            tx.insert_action = recording
            yield tx
            if len(logged) >= 3 and acked[0] >= 20:
                Path(directory, "stalled.tmp").write_text(json.dumps(logged))
                os.rename(Path(directory, "stalled.tmp"), Path(directory, "stalled"))
                time.sleep(120)  # killed here, before the commit

    engine.store.transaction = stalling  # type: ignore[method-assign]

    def draw(n: int) -> None:
        for i in range(10_000):
            who = f"t{n}-{i}"
            answer = engine.act(activity_id, "draw", Participant(who))
            with lock:
                acks.write(f"{who} {answer.body['seq']}\n")
                acked[0] += 1

    pool = [threading.Thread(target=draw, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def test_a_process_killed_mid_batch_loses_no_acknowledged_action_and_applies_none_unanswered(
        url, tmp_path):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        child = _spawn().Process(target=_crash_child, args=(url, aid, str(tmp_path), 8))
        child.start()
        stalled = tmp_path / "stalled"
        deadline = time.monotonic() + 120
        while not stalled.exists() and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert stalled.exists(), "no batch of several actions was seen"
        time.sleep(0.5)  # every other thread has written its answer, or queued behind
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        in_flight = {p for p, _ in json.loads(stalled.read_text())}
        lines = (tmp_path / "acks").read_text().split("\n")[:-1]  # a cut last line is no ack
        acks = dict(line.split() for line in lines)
        log = read_everything(engine, aid)["log"]
        logged = {e.participant_id: e.seq for e in log}
        assert len(in_flight) >= 3 and len(acks) >= 20
        assert {p: int(s) for p, s in acks.items()} == \
            {p: s for p, s in logged.items() if p in acks}  # every answer is in the log
        assert not in_flight & set(logged)  # the batch killed before its commit left nothing
        assert set(logged) == set(acks)  # and nothing else was in flight
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        assert invariants(engine, aid) == []
        assert engine.store.integrity_check() == "ok"
    finally:
        engine.close()


def _claim_and_hang(url: str, activity_id: str, directory: str) -> None:
    """Leave a key pending in this process's name (as claims made in a transaction of their
    own once did), say so, and hang (until killed)."""
    engine = engine_on(url)
    record = IdempotencyRecord(activity_id, "alice", "crash-1",
                               request_hash("draw", {}, None, "participant"), "pending", None,
                               None, engine.now(), engine.store.owner())
    with engine.store.transaction() as tx:
        assert tx.claim_idempotency(record, stale_before=0)
    Path(directory, "claimed").touch()
    time.sleep(120)


def test_a_key_left_pending_by_a_killed_process_is_abandoned_at_once(url, tmp_path):
    # A pending timeout of an hour: only the owner's death can free the key in this test.
    engine = engine_on(url, idempotency_pending_timeout=3600)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        child = _spawn().Process(target=_claim_and_hang, args=(url, aid, str(tmp_path)))
        child.start()
        deadline = time.monotonic() + 60
        while not (tmp_path / "claimed").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "claimed").exists()
        with pytest.raises(IdempotencyInFlight):  # its owner is alive: in flight
            engine.act(aid, "draw", Participant("alice"), idempotency_key="crash-1")
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        # PostgreSQL drops the dead session's lock once it reads the closed socket: a moment.
        for _ in range(50):
            try:
                answer = engine.act(aid, "draw", Participant("alice"),
                                    idempotency_key="crash-1")
                break
            except IdempotencyInFlight:
                time.sleep(0.1)
        assert answer.status == 200 and not answer.replayed
        again = engine.act(aid, "draw", Participant("alice"), idempotency_key="crash-1")
        assert again.replayed and again.body == answer.body
        assert [e.participant_id for e in read_everything(engine, aid)["log"]] == ["alice"]
    finally:
        engine.close()


def _act_and_hang(url: str, activity_id: str, directory: str) -> None:
    """Act with a key and hang inside the action's transaction, after its writes (until
    killed): the claim, the action and the outcome are all written, none committed."""
    engine = engine_on(url)
    count = engine.count

    def hang(*args: Any, **kwargs: Any) -> Any:
        count(*args, **kwargs)
        Path(directory, "acting").touch()
        time.sleep(120)

    engine.count = hang
    engine.act(activity_id, "draw", Participant("alice"), idempotency_key="crash-2")


def test_a_process_killed_inside_its_keyed_action_leaves_the_key_unused(url, tmp_path):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        child = _spawn().Process(target=_act_and_hang, args=(url, aid, str(tmp_path)))
        child.start()
        deadline = time.monotonic() + 60
        while not (tmp_path / "acting").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "acting").exists()
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        # The retry waits for the dead transaction's locks to go, then acts: the first try
        # left nothing behind, neither its effects nor its key.
        answer = engine.act(aid, "draw", Participant("alice"), idempotency_key="crash-2")
        assert answer.status == 200 and not answer.replayed
        again = engine.act(aid, "draw", Participant("alice"), idempotency_key="crash-2")
        assert again.replayed and again.body == answer.body
        assert [e.participant_id for e in read_everything(engine, aid)["log"]] == ["alice"]
        assert invariants(engine, aid) == []
    finally:
        engine.close()


def test_a_retry_that_finishes_first_answers_the_slow_request_too(url):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery",
                      config_for("lottery", draws_per_day=3, draws_total=3))
        act_once = engine._act_once
        answers: list[Any] = []

        def late(*args: Any, **kwargs: Any) -> Any:
            # While this request dawdles on its way in, a retry with its key acts.
            engine._act_once = act_once
            answers.append(engine.act(aid, "draw", Participant("alice"), idempotency_key="k"))
            return act_once(*args, **kwargs)

        engine._act_once = late
        slow = engine.act(aid, "draw", Participant("alice"), idempotency_key="k")
        assert answers[0].status == 200 and not answers[0].replayed
        assert slow.replayed and slow.body == answers[0].body
        assert len(read_everything(engine, aid)["log"]) == 1  # one effect, the retry's
    finally:
        engine.close()


GREENLETS = r"""
import json, sys
from gevent import monkey
monkey.patch_all()
import gevent
sys.path.insert(0, sys.argv[2])
from test_group_commit import LOTTERY, engine_on
from engine_helpers import create_merchant, invariants, publish
from magic_cube.engine import Participant

engine = engine_on(sys.argv[1])
aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
commits = engine.core.commits
before = (commits.batches, commits.jobs)
greenlets = [gevent.spawn(engine.act, aid, "draw", Participant(f"g{i}")) for i in range(16)]
gevent.joinall(greenlets, raise_error=True)
print(json.dumps({"statuses": [g.value.status for g in greenlets],
                  "batches": commits.batches - before[0], "jobs": commits.jobs - before[1],
                  "invariants": invariants(engine, aid)}))
engine.close()
"""


def test_greenlets_share_commits_as_threads_do(url, tmp_path):
    """Under gunicorn's gevent workers the requests that would join a batch are parsed only
    when the leader yields: it must, or every action commits alone."""
    script = tmp_path / "greenlets.py"
    script.write_text(GREENLETS)
    out = subprocess.run([sys.executable, str(script), url, str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["statuses"] == [200] * 16
    assert result["jobs"] == 16
    assert result["batches"] <= 4, result  # one yield lets every ready greenlet queue
    assert result["invariants"] == []


def test_each_shared_commit_is_measured(url):
    engine = engine_on(url)
    try:
        aid = publish(engine, create_merchant(engine), "lottery", LOTTERY)
        before = metric_values()
        *answers, batches = in_one_batch(
            engine, aid, [lambda p=p: engine.act(aid, "draw", Participant(f"m{p}"))
                          for p in range(5)])
        assert batches == 1 and [a.status for a in answers] == [200] * 5
        after = metric_values()
        delta = {k: after[k] - before[k] for k in after}
        # Two commits: the transaction held open to queue the draws (alone), then the five.
        assert delta == {"count": 2, "sum": 6, "le_4": 1, "le_8": 2}
    finally:
        engine.close()


def metric_values() -> dict[str, float]:
    from prometheus_client import REGISTRY

    from magic_cube import metrics
    metrics.flush()  # what this process recorded, as a scrape would see it
    name = "magic_cube_write_batch_actions"
    return {"count": REGISTRY.get_sample_value(f"{name}_count") or 0.0,
            "sum": REGISTRY.get_sample_value(f"{name}_sum") or 0.0,
            "le_4": REGISTRY.get_sample_value(f"{name}_bucket", {"le": "4.0"}) or 0.0,
            "le_8": REGISTRY.get_sample_value(f"{name}_bucket", {"le": "8.0"}) or 0.0}
