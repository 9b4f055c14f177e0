"""The store contract (store/base.py), checked against both stores: a SQLite file and
PostgreSQL in a fresh schema (tests/stores.py). Whatever the engine may rely on is here."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from stores import STORE_PARAMS, make_store, require_postgres, store_fixture, store_url

from magic_cube.store import Conflict, open_store
from magic_cube.store.base import Tx
from magic_cube.store.records import (
    ActionRecord,
    ActivityRecord,
    IdempotencyRecord,
    Member,
    Merchant,
    ParticipantRecord,
    Room,
)
from magic_cube.store.schema import MIGRATIONS, PostgresOnly, translate
from magic_cube.store.sqlite import SQLiteTx

store = store_fixture()

T0 = 1_794_362_400
HOUR = 3600


def merchant(mid: str = "m1", **fields) -> Merchant:
    return Merchant(id=mid, name=f"Shop {mid}", participant_secret="s3cret", created_at=T0,
                    **fields)


def activity(aid: str = "act_1", mid: str = "m1", **fields) -> ActivityRecord:
    values = dict(id=aid, merchant_id=mid, template_id="lottery", template_version="1.0.0",
                  template_hash="h" * 64, title="双十一 lottery", status="live",
                  config={"prizes": [{"name": "杯子", "stock": 3, "odds": 0.25}], "flag": True,
                          "nothing": None, "nested": {"list": [1, 2.5, "x"]}},
                  timezone="Asia/Shanghai", starts_at=T0, ends_at=None, created_at=T0,
                  updated_at=T0, state={"stock": [3], "draws": 0})
    values.update(fields)
    return ActivityRecord(**values)


def room(rid: str = "r1", capacity: int | None = 3, members: list[Member] | None = None,
         timers: dict[str, int] | None = None, status: str = "open") -> Room:
    return Room(id=rid, status=status, initiator="alice", capacity=capacity, opened_at=T0,
                state={"price": 10000, "名": "壶"}, members=members or [],
                timers={"expire": T0 + HOUR} if timers is None else timers)


def member(pid: str, role: str = "helper", at: int = T0) -> Member:
    return Member(pid, role, at, {"cut": 123}, pid.title())


@pytest.fixture
def shop(store):
    """A store with merchant m1 and its live activity act_1."""
    with store.transaction() as tx:
        tx.insert_merchant(merchant())
        tx.insert_activity(activity())
    return store


# the contract itself ---------------------------------------------------------------------

def public_methods(cls) -> dict[str, inspect.Signature]:
    """The public methods `cls` defines, itself or through its bases below `Tx` (a store's
    Tx inherits the shared ones from `sql.SQLTx`); for `Tx` itself, the ones it lists."""
    mro = cls.__mro__
    own = mro[:mro.index(Tx)] if cls is not Tx and Tx in mro else (cls,)
    return {n: inspect.signature(v) for k in reversed(own) for n, v in vars(k).items()
            if callable(v) and not n.startswith("_")}


def test_postgres_tx_implements_every_method_of_the_sqlite_tx_with_the_same_signature():
    from magic_cube.store.postgres import PostgresTx
    sqlite, postgres = public_methods(SQLiteTx), public_methods(PostgresTx)
    assert sorted(set(sqlite) - set(postgres)) == []
    assert sorted(set(postgres) - set(sqlite)) == []
    assert {n for n in sqlite if sqlite[n].parameters != postgres[n].parameters} == set()


def test_the_tx_protocol_lists_every_method_the_stores_implement():
    listed = public_methods(Tx)
    assert sorted(set(public_methods(SQLiteTx)) - set(listed)) == []
    assert sorted(set(listed) - set(public_methods(SQLiteTx))) == []
    assert [n for n in listed if not getattr(Tx, n).__doc__] == []


def test_translate_leaves_sqlite_untouched_and_spells_postgresql():
    for _version, _name, statements in MIGRATIONS:
        for sql in statements:
            if isinstance(sql, PostgresOnly):
                assert translate(sql, "sqlite") == ""  # nothing for SQLite to run
                assert translate(sql, "postgresql") is sql  # and as written for PostgreSQL
            else:
                assert translate(sql, "sqlite") is sql
    pg = translate("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, "
                   "at TEXT DEFAULT (datetime('now')))", "postgresql")
    assert pg == ('CREATE TABLE t (id BIGSERIAL PRIMARY KEY, name TEXT COLLATE "C", '
                  'at TEXT COLLATE "C" DEFAULT (now()))')
    with pytest.raises(ValueError):
        translate("SELECT 1", "oracle")


def test_open_store_reads_postgres_options_from_the_url_and_keyword_arguments():
    from magic_cube.store.postgres import PostgresStore
    s = open_store("postgresql://u@db.example:5432/mc?sslmode=disable&pool_max=40&schema=t1",
                   pool_min=2, busy_timeout_ms=5000, synchronous="NORMAL")  # SQLite's: ignored
    assert isinstance(s, PostgresStore) and s.dialect == "postgresql"
    assert (s.pool_min, s.pool_max, s.schema) == (2, 40, "t1")
    assert s.conninfo == "postgresql://u@db.example:5432/mc?sslmode=disable"
    assert isinstance(open_store("postgres://u@h/db"), PostgresStore)
    s.close()  # never opened: nothing to do, no server needed
    with pytest.raises(TypeError):
        open_store("postgresql://u@h/db", pool_sise=3)


# migrations ------------------------------------------------------------------------------

def test_migrations_run_once_and_are_a_no_op_afterwards(store):
    assert store.migrate() == []
    assert store.integrity_check() == "ok"


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_processes_migrating_at_once_apply_each_migration_once(kind, tmp_path):
    url, cleanup = store_url(kind, tmp_path)
    stores = [open_store(url), open_store(url)]
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(s):
        barrier.wait()
        try:
            results.append(s.migrate())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        applied = sorted(v for r in results for v in r)
        assert applied == [v for v, _name, _sql in MIGRATIONS]
        assert stores[0].migrate() == [] and stores[1].integrity_check() == "ok"
    finally:
        for s in stores:
            s.close()
        cleanup()


# merchants -------------------------------------------------------------------------------

def test_merchants_and_api_keys(store):
    with store.transaction() as tx:
        tx.insert_merchant(merchant("m1", email="tea@example.com"))
        tx.insert_api_key("k1", "m1", "hash1", "mck_abcd", T0)
        tx.insert_api_key("k2", "m1", "hash2", "mck_efgh", T0 + 1)
    with store.transaction(write=False) as tx:
        assert tx.get_merchant("m1") == merchant("m1", email="tea@example.com")
        assert tx.get_merchant("nope") is None
        assert tx.get_merchant_by_email("tea@example.com").id == "m1"
        assert tx.merchant_for_key_hash("hash2").id == "m1"
        assert [k["id"] for k in tx.list_api_keys("m1")] == ["k1", "k2"]
    with store.transaction() as tx:
        assert tx.revoke_api_key("m1", "k2", T0 + 5) is True
        assert tx.revoke_api_key("m1", "k2", T0 + 6) is False
        tx.update_merchant("m1", webhook_url="https://example.com/hook", name="Tea")
    with store.transaction(write=False) as tx:
        assert tx.merchant_for_key_hash("hash2") is None
        assert tx.list_api_keys("m1")[1] == {"id": "k2", "prefix": "mck_efgh",
                                             "created_at": T0 + 1, "revoked_at": T0 + 5}
        m = tx.get_merchant("m1")
        assert (m.name, m.webhook_url) == ("Tea", "https://example.com/hook")
    with pytest.raises(Conflict), store.transaction() as tx:
        tx.insert_merchant(merchant("m2", email="tea@example.com"))  # UNIQUE email


# activities ------------------------------------------------------------------------------

def test_an_activity_round_trips_with_json_and_none_fields(shop):
    stored = activity("act_2", initial_state=None, seed=None, next_due=None,
                      config={"a": None, "b": [True, False], "c": "中文 ✓", "d": 0.1,
                              "e": 2 ** 53})
    with shop.transaction() as tx:
        tx.insert_activity(stored)
    with shop.transaction(write=False) as tx:
        assert tx.get_activity("act_2") == stored
        assert tx.get_activity("nope") is None
        assert tx.get_activity_version("act_2") == (1, "live", T0, None, None)
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.insert_activity(activity("act_2"))


def test_update_activity_bumps_the_version_only_when_asked(shop):
    with shop.transaction() as tx:
        tx.update_activity("act_1", bump=False, seq=7, state={"stock": [2], "draws": 1})
    with shop.transaction() as tx:
        a = tx.get_activity("act_1")
        assert (a.version, a.seq, a.state) == (1, 7, {"stock": [2], "draws": 1})
        tx.update_activity("act_1", status="paused", initial_state={"x": None}, updated_at=T0 + 9)
    with shop.transaction(write=False) as tx:
        a = tx.get_activity("act_1")
        assert (a.version, a.status, a.initial_state, a.updated_at) == \
            (2, "paused", {"x": None}, T0 + 9)
    # What a poll reads on its own, outside any transaction: the committed version.
    assert shop.activity_version("act_1") == (2, "paused", a.starts_at, a.ends_at, a.next_due)
    assert shop.activity_version("nope") is None


def test_list_activities_filters_and_pages_by_id(store):
    with store.transaction() as tx:
        tx.insert_merchant(merchant("m1"))
        tx.insert_merchant(merchant("m2"))
        for i, (title, status) in enumerate([("Spring Lottery", "live"), ("summer group", "draft"),
                                             ("AUTUMN lottery", "ended"), ("Winter", "live"),
                                             ("50% off_", "live")]):
            tx.insert_activity(activity(f"act_{i}", title=title, status=status,
                                        template_id="bargain" if i else "group_buy"))
        tx.insert_activity(activity("act_x", mid="m2"))
    with store.transaction(write=False) as tx:
        ids = lambda rows: [a.id for a in rows]  # noqa: E731
        assert ids(tx.list_activities("m1")) == ["act_4", "act_3", "act_2", "act_1", "act_0"]
        assert ids(tx.list_activities("m1", limit=2)) == ["act_4", "act_3"]
        assert ids(tx.list_activities("m1", before="act_3", limit=2)) == ["act_2", "act_1"]
        assert ids(tx.list_activities("m1", status="live")) == ["act_4", "act_3", "act_0"]
        assert ids(tx.list_activities("m1", search="lottery")) == ["act_2", "act_0"]
        assert ids(tx.list_activities("m1", search="LOTTERY", status="ended")) == ["act_2"]
        assert ids(tx.list_activities("m1", search="% off")) == ["act_4"]
        assert ids(tx.list_activities("m1", search="nothing")) == []
        assert ids(tx.list_activities("m1", search="GROUP_")) == ["act_0"]  # template id
        assert ids(tx.list_activities("m2")) == ["act_x"]
        # LIKE's wildcards and its escape character are searched for as themselves
        assert ids(tx.list_activities("m1", search="%")) == ["act_4"]
        assert ids(tx.list_activities("m1", search="_")) == ["act_4", "act_0"]
        assert ids(tx.list_activities("m1", search="w_nter")) == []
        assert ids(tx.list_activities("m1", search="\\")) == []


def test_a_funnel_counts_the_event_named_not_events_its_name_would_match(shop):
    with shop.transaction() as tx:
        tx.insert_action(action(1, events=[{"type": "gift.sent", "data": {}}]))
        tx.insert_action(action(2, participant_id="bob", events=[{"type": "a_b%", "data": {}}]))
    with shop.transaction(write=False) as tx:
        counts = tx.funnel_counts("act_1", [], ["gift_sent", "gift%", "a_b%"], T0, T0 + HOUR)
    assert counts == {"event:gift_sent": 0, "event:gift%": 0, "event:a_b%": 1}


def test_ids_sort_bytewise_like_sqlite(store):
    ids = ["act_B", "act_a", "act_Z", "act_0", "act_é", "act_b"]
    with store.transaction() as tx:
        tx.insert_merchant(merchant())
        for aid in ids:
            tx.insert_activity(activity(aid))
    with store.transaction(write=False) as tx:
        assert [a.id for a in tx.list_activities("m1")] == \
            sorted(ids, key=lambda s: s.encode(), reverse=True)




# rooms -----------------------------------------------------------------------------------

def test_a_room_round_trips_and_updates_only_from_the_version_read(shop):
    r = room(members=[member("alice", "initiator")])
    with shop.transaction() as tx:
        tx.insert_room("act_1", r)
        tx.insert_member("act_1", "r1", r.members[0], 0)
    with shop.transaction() as tx:
        stored = tx.get_room("act_1", "r1")
        assert stored.version == 1 and stored.room == r
        assert tx.get_room_state_version("act_1", "r1") == (1, T0 + HOUR)
        stored.room.members.append(member("bob"))
        stored.room.state["price"] = 9000
        tx.update_room("act_1", stored.room, stored.version)
        tx.insert_member("act_1", "r1", stored.room.members[-1], 1)
    with shop.transaction(write=False) as tx:
        again = tx.get_room("act_1", "r1")
        assert again.version == 2 and again.room == stored.room
        assert tx.get_room("act_1", "nope") is None and tx.get_room("act_2", "r1") is None
    # A write from a stale read is refused, and the whole transaction with it.
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.update_activity("act_1", seq=99)
        stored.room.state["price"] = 1
        tx.update_room("act_1", stored.room, 1)
    with shop.transaction(write=False) as tx:
        assert tx.get_room("act_1", "r1").room.state["price"] == 9000
        assert tx.get_activity("act_1").seq == 0


def test_a_participant_joins_a_room_once(shop):
    with shop.transaction() as tx:
        tx.insert_room("act_1", room(members=[member("alice")]))
        tx.insert_member("act_1", "r1", member("alice"), 0)
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.insert_member("act_1", "r1", member("alice"), 1)  # primary key
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.insert_member("act_1", "r1", member("bob"), 0)  # position taken
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.insert_room("act_1", room())  # room id taken


def test_a_room_is_never_over_capacity(shop):
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.insert_room("act_1", room(capacity=1, members=[member("a"), member("b")]))
    with shop.transaction() as tx:
        tx.insert_room("act_1", room(capacity=2, members=[member("a")]))
        tx.insert_room("act_1", room("free", capacity=None, members=[member(str(i))
                                                                      for i in range(50)]))
    with pytest.raises(Conflict), shop.transaction() as tx:
        stored = tx.get_room("act_1", "r1")
        stored.room.members += [member("b"), member("c"), member("d")]
        tx.update_room("act_1", stored.room, stored.version)
    assert shop.integrity_check() == "ok"


def test_due_rooms_earliest_first_then_by_id(shop):
    with shop.transaction() as tx:
        tx.insert_room("act_1", room("r3", timers={"expire": T0 + 30}))
        tx.insert_room("act_1", room("r2", timers={"expire": T0 + 10}))
        tx.insert_room("act_1", room("r1", timers={"expire": T0 + 10, "remind": T0 + 5}))
        tx.insert_room("act_1", room("r0", timers={}))
        tx.insert_activity(activity("act_2"))
        tx.insert_room("act_2", room("r9", timers={"expire": T0}))
    with shop.transaction() as tx:
        assert tx.due_rooms("act_1", T0) == []
        assert tx.due_rooms("act_1", T0 + 5) == ["r1"]
        assert tx.due_rooms("act_1", T0 + 100) == ["r1", "r2", "r3"]
        assert tx.due_rooms("act_1", T0 + 100, limit=2) == ["r1", "r2"]
        # Closing a room clears its schedule.
        stored = tx.get_room("act_1", "r1")
        stored.room.status = "expired"
        tx.update_room("act_1", stored.room, stored.version)
        assert tx.due_rooms("act_1", T0 + 100) == ["r2", "r3"]
        assert tx.get_room_state_version("act_1", "r1") == (2, None)
    with shop.transaction(write=False) as tx:
        assert [s.room.id for s in tx.list_rooms("act_1")] == ["r0", "r1", "r2", "r3"]


def test_rooms_kept_for_the_commit_read_as_written_and_rolled_back(shop):
    with shop.transaction() as tx:
        tx.insert_room("act_1", room("r1", members=[member("alice")],
                                     timers={"expire": T0 + 50}))
        tx.insert_member("act_1", "r1", member("alice"), 0)
        tx.insert_room("act_1", room("r2", timers={"expire": T0 + 20}))
    with shop.transaction() as tx:
        tx.insert_room("act_1", room("r3", members=[member("carol")], timers={"expire": T0}))
        tx.insert_member("act_1", "r3", member("carol"), 0)
        with pytest.raises(Conflict):
            tx.insert_room("act_1", room("r3"))  # as the insert would fail
        stored = tx.get_room("act_1", "r3")  # as kept, version 1
        assert stored.version == 1 and [m.participant for m in stored.room.members] == ["carol"]
        r1 = tx.get_room("act_1", "r1")
        r1.room.members.append(member("bob"))
        r1.room.timers = {"expire": T0 + 10}
        tx.update_room("act_1", r1.room, r1.version)
        tx.insert_member("act_1", "r1", member("bob"), 1)
        with pytest.raises(Conflict):
            tx.insert_member("act_1", "r1", member("bob"), 2)  # a member already
        with pytest.raises(Conflict):
            tx.update_room("act_1", r1.room, r1.version)  # not the version as changed here
        again = tx.get_room("act_1", "r1")
        assert again.version == 2 and again.room.state == {"price": 10000, "名": "壶"}
        assert [m.participant for m in again.room.members] == ["alice", "bob"]
        assert tx.get_room_state_version("act_1", "r1") == (2, T0 + 10)
        # Due as kept (r3, r1), then as stored (r2); later changes to r1 stand too.
        assert tx.due_rooms("act_1", T0 + 30) == ["r3", "r1", "r2"]
        assert tx.due_rooms("act_1", T0 + 30, limit=2) == ["r3", "r1"]
        with pytest.raises(RuntimeError), tx.savepoint():
            again.room.status = "expired"
            tx.update_room("act_1", again.room, 2)
            assert tx.due_rooms("act_1", T0 + 30) == ["r3", "r2"]
            assert [s.room.id for s in tx.list_rooms("act_1")] == ["r1", "r2", "r3"]  # written
            raise RuntimeError("rolled back")
        assert tx.get_room_state_version("act_1", "r1") == (2, T0 + 10)
        assert tx.rooms_of("act_1", "bob") == ["r1"]
    with shop.transaction(write=False) as tx:
        rooms = {s.room.id: s for s in tx.list_rooms("act_1")}
        assert {rid: (s.version, s.room.status, [m.participant for m in s.room.members])
                for rid, s in rooms.items()} == {
            "r1": (2, "open", ["alice", "bob"]), "r2": (1, "open", []),
            "r3": (1, "open", ["carol"])}
        assert tx.due_rooms("act_1", T0 + 30) == ["r3", "r1", "r2"]
    # A room changed under the version read fails the commit, and writes nothing.
    with pytest.raises(Conflict), shop.transaction() as tx:
        r2 = tx.get_room("act_1", "r2")
        tx.update_room("act_1", r2.room, r2.version - 1)
    with shop.transaction(write=False) as tx:
        assert tx.get_room("act_1", "r2").version == 1


def test_action_limits_kept_for_the_commit_are_counted_and_rolled_back(shop):
    with shop.transaction() as tx:
        assert tx.take_limit("act_1", "help.0", "d:a", "day1", 2) is True
    with shop.transaction() as tx:
        assert tx.limit_count("act_1", "help.0", "d:a", "day1") == 1
        with pytest.raises(RuntimeError), tx.savepoint():
            assert tx.take_limit("act_1", "help.0", "d:a", "day1", 2) is True
            assert tx.take_limit("act_1", "help.0", "d:a", "day1", 2) is False
            raise RuntimeError("rolled back")
        assert tx.limit_count("act_1", "help.0", "d:a", "day1") == 1
        assert tx.take_limit("act_1", "help.0", "d:b", "day1", 1) is True
        assert tx.limit_counts("act_1") == [("help.0", "d:a", "day1", 1),
                                            ("help.0", "d:b", "day1", 1)]
        assert tx.take_limit("act_1", "help.0", "d:a", "day1", 2) is True
    with shop.transaction(write=False) as tx:
        assert tx.limit_counts("act_1") == [("help.0", "d:a", "day1", 2),
                                            ("help.0", "d:b", "day1", 1)]


def test_rooms_of_a_participant_most_recent_first(shop):
    with shop.transaction() as tx:
        for i, rid in enumerate(["r1", "r2", "r3"]):
            tx.insert_room("act_1", room(rid))
            tx.insert_member("act_1", rid, member("bob", at=T0 + i), 0)
    with shop.transaction(write=False) as tx:
        assert tx.rooms_of("act_1", "bob") == ["r3", "r2", "r1"]
        assert tx.rooms_of("act_1", "bob", limit=1) == ["r3"]
        assert tx.rooms_of("act_1", "carol") == []


# participants ----------------------------------------------------------------------------

def test_a_participant_saves_and_refuses_a_stale_update(shop):
    p = ParticipantRecord("act_1", "alice", "Alice", {"draws": 1, "名": None}, version=1,
                          first_action_at=T0, last_action_at=T0, actions=1, last_seen_at=T0)
    with shop.transaction() as tx:
        tx.save_participant(p, None)
    with shop.transaction() as tx:
        stored = tx.get_participant("act_1", "alice")
        assert stored == p and tx.get_participant_version("act_1", "alice") == 1
        stored.state["draws"] = 2
        stored.version = 2
        tx.save_participant(stored, 1)
    with pytest.raises(Conflict), shop.transaction() as tx:
        p.version = 2
        tx.save_participant(p, 1)  # read version 1, but it is 2 now
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.save_participant(ParticipantRecord("act_1", "alice"), None)  # already there
    with shop.transaction() as tx:
        tx.save_participant(ParticipantRecord("act_1", "bob", last_seen_at=T0), None)
    with shop.transaction(write=False) as tx:
        assert tx.get_participant("act_1", "alice").state == {"draws": 2, "名": None}
        assert tx.get_participant("act_1", "bob").state is None
        assert tx.get_participant("act_1", "carol") is None
        assert tx.get_participant_version("act_1", "carol") is None
        assert [p.participant_id for p in tx.list_participants("act_1")] == ["alice", "bob"]
        assert [p.participant_id for p in tx.list_participants("act_1", after="alice")] == ["bob"]
        assert [p.participant_id for p in tx.list_participants("act_1", limit=1)] == ["alice"]
        assert tx.count_participants("act_1") == 2


def test_a_participant_is_remembered_once_per_merchant(shop):
    with shop.transaction() as tx:
        assert tx.known_participant("m1", "alice") is False
        assert tx.remember_participant("m1", "alice", "act_1", T0) is True
        assert tx.remember_participant("m1", "alice", "act_2", T0 + 1) is False
        assert tx.known_participant("m1", "alice") is True
        assert tx.known_participant("m2", "alice") is False


def one_waits_for_the_other(store, first_looks: Callable[[Tx], Any],
                            first_writes: Callable[[Tx], Any],
                            second_looks: Callable[[Tx], Any]) -> dict[str, Any]:
    """`first_looks`, then `second_looks` in a second write transaction, which must wait until
    the first has also run `first_writes` and committed: what each look found."""
    looked, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def first():
        with store.transaction() as tx:
            seen["first"] = first_looks(tx)
            looked.set()
            release.wait(10)
            first_writes(tx)

    def second():
        looked.wait(10)
        with store.transaction() as tx:
            seen["second"] = second_looks(tx)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    looked.wait(10)
    time.sleep(0.3)  # let `second` reach its lookup and wait there
    assert "second" not in seen
    release.set()
    for t in threads:
        t.join(20)
    return seen


def test_first_sight_of_a_shopper_is_decided_once_across_activities(shop):
    """Two activities of one merchant act for the same new shopper at once: exactly one of
    them sees the shopper as new (the other waits for it and then knows the shopper)."""
    with shop.transaction() as tx:
        tx.insert_activity(activity("act_2"))

    def sees(activity_id: str) -> Callable[[Tx], bool]:
        def look(tx: Tx) -> bool:
            tx.get_activity(activity_id)
            return tx.known_participant("m1", "dora")
        return look

    seen = one_waits_for_the_other(
        shop, sees("act_1"), lambda tx: tx.remember_participant("m1", "dora", "act_1", T0),
        sees("act_2"))
    assert seen == {"first": False, "second": True}


def test_a_new_participant_is_written_by_one_writer_at_a_time(shop):
    """A participant with no row yet in the activity: a second writer (on PostgreSQL, a
    heartbeat takes no activity lock) waits for the first, then finds the row it wrote."""
    seen = one_waits_for_the_other(
        shop, lambda tx: tx.get_participant("act_1", "newbie"),
        lambda tx: tx.save_participant(ParticipantRecord("act_1", "newbie", "New"), None),
        lambda tx: tx.get_participant("act_1", "newbie"))
    assert seen["first"] is None
    assert seen["second"] is not None and seen["second"].display_name == "New"
    with shop.transaction(write=False) as tx:  # a read transaction neither waits nor locks
        assert tx.get_participant("act_1", "newbie").display_name == "New"
        assert tx.get_participant("act_1", "nobody") is None


# action log, outbox ----------------------------------------------------------------------

def action(seq: int, **fields) -> ActionRecord:
    values = dict(activity_id="act_1", seq=seq, at=T0 + seq, actor_kind="participant",
                  participant_id="alice", action="draw", params={"n": seq, "x": None},
                  room_id=None, new_room_id=None, result={"prize": "杯子"},
                  events=[{"type": "prize.awarded", "data": {"index": 0}}],
                  random=[[10000, 42]], first_time=seq == 1, new_to_activity=seq == 1,
                  display_name="Alice")
    values.update(fields)
    return ActionRecord(**values)


def test_the_action_log_round_trips_in_order_and_pages(shop):
    logged = [action(i) for i in (1, 2, 3, 4)]
    logged[2] = action(3, actor_kind="timer", room_id="r1", timer="expire", random=[],
                       events=[], result={"error": "room_closed"})
    with shop.transaction() as tx:
        for a in reversed(logged):
            tx.insert_action(a)
    with shop.transaction(write=False) as tx:
        assert tx.list_actions("act_1") == logged
        assert tx.list_actions("act_1", after_seq=1, limit=2) == logged[1:3]
        assert tx.list_actions("act_1", after_seq=4) == []
        assert type(tx.list_actions("act_1")[0].first_time) is bool
    with pytest.raises(Conflict), shop.transaction() as tx:
        tx.insert_action(action(2))


def test_log_entries_kept_for_the_commit_are_read_in_the_transaction_and_rolled_back(shop):
    with shop.transaction() as tx:
        tx.insert_action(action(1))
        # A statement that reads the log first writes what was kept back for the commit.
        assert [a.seq for a in tx.list_actions("act_1")] == [1]
        tx.insert_action(action(2))
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.insert_action(action(3))
            raise RuntimeError("rolled back")
        tx.insert_action(action(4, participant_id="bob"))
    with shop.transaction(write=False) as tx:
        assert [(a.seq, a.participant_id) for a in tx.list_actions("act_1")] == \
            [(1, "alice"), (2, "alice"), (4, "bob")]
        assert tx.count_actors("act_1", T0, T0 + 10) == 2


def test_what_a_rolled_back_savepoint_wrote_for_earlier_parts_is_written_again(shop):
    # A batch's second action reads the log, the stats and the activity table, which writes
    # what the first kept back, then fails: rolling it back undoes those writes, and the
    # first action's log entry, counts and activity change must still reach the commit.
    with shop.transaction() as tx:
        with tx.savepoint():
            tx.insert_action(action(1))
            tx.add_stats("act_1", T0, {"actions": 1})
            tx.add_event_stats("act_1", T0, {"prize.awarded": 1})
            tx.count_participant_hour("act_1", "alice", T0)
            tx.get_activity("act_1")
            tx.update_activity("act_1", state={"drawn": 1})
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.insert_action(action(2))
            tx.add_stats("act_1", T0, {"actions": 1})
            tx.update_activity("act_1", state={"drawn": 2})
            with tx.savepoint():  # written inside a nested part, kept when it is released
                assert [a.seq for a in tx.list_actions("act_1")] == [1, 2]
                assert [h["actions"] for h in tx.hourly_stats("act_1")] == [2]
                assert tx.get_activity_version("act_1") is not None
            raise RuntimeError("rolled back")
        assert [a.seq for a in tx.list_actions("act_1")] == [1]
        tx.insert_action(action(3, participant_id="bob"))
        tx.add_stats("act_1", T0, {"actions": 1})
    with shop.transaction(write=False) as tx:
        assert [a.seq for a in tx.list_actions("act_1")] == [1, 3]
        hourly = tx.hourly_stats("act_1")
        assert [(h["actions"], h["participants"]) for h in hourly] == [(2, 1)]
        assert tx.event_totals("act_1") == {"prize.awarded": 1}
        assert tx.get_activity("act_1").state == {"drawn": 1}


def test_new_participants_kept_for_the_commit_read_as_written(shop):
    with shop.transaction() as tx:
        assert tx.known_participant("m1", "alice") is False
        tx.save_participant(ParticipantRecord("act_1", "alice", "Alice", state={"n": 1}), None)
        assert tx.remember_participant("m1", "alice", "act_1", T0) is True
        assert tx.remember_participant("m1", "alice", "act_1", T0) is False  # once
        assert tx.known_participant("m1", "alice") is True
        alice = tx.get_participant("act_1", "alice")
        assert (alice.display_name, alice.state, alice.version) == ("Alice", {"n": 1}, 0)
        with pytest.raises(Conflict):  # inserted already, as far as this transaction goes
            tx.save_participant(ParticipantRecord("act_1", "alice"), None)
        alice.state, alice.version = {"n": 2}, 1
        tx.save_participant(alice, 0)
        with pytest.raises(Conflict):  # not the version read
            tx.save_participant(alice, 0)
        tx.touch_participants("act_1", ["alice"])
        assert tx.get_participant_version("act_1", "alice") == 2
        assert tx.display_names("act_1", ["alice", "nobody"]) == {"alice": "Alice"}
        tx.note_device("act_1", "alice", "phone-a", T0)
        assert tx.used_device("act_1", "alice", "phone-a") is True
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.note_device("act_1", "alice", "phone-b", T0)
            assert tx.known_participant("m1", "bob") is False
            tx.save_participant(ParticipantRecord("act_1", "bob", "Bob"), None)
            assert tx.remember_participant("m1", "bob", "act_1", T0) is True
            assert tx.count_participants("act_1") == 2  # written for the count, then undone
            raise RuntimeError("rolled back")
        assert tx.get_participant("act_1", "bob") is None
        assert tx.known_participant("m1", "bob") is False
        assert tx.used_device("act_1", "alice", "phone-b") is False
        assert tx.count_participants("act_1") == 1
    with shop.transaction(write=False) as tx:
        assert [(p.participant_id, p.state, p.version) for p in tx.list_participants("act_1")] \
            == [("alice", {"n": 2}, 2)]
        assert tx.known_participant("m1", "alice") is True
        assert tx.known_participant("m1", "bob") is False
        assert tx.used_device("act_1", "alice", "phone-a") is True
        assert tx.used_device("act_1", "alice", "phone-b") is False


def test_participant_updates_kept_for_the_commit_read_as_written_and_rolled_back(shop):
    with shop.transaction() as tx:
        for who in ("alice", "bob"):
            tx.save_participant(ParticipantRecord("act_1", who, who.title(), state={"n": 0},
                                                  version=1), None)
    with shop.transaction() as tx:
        alice = tx.get_participant("act_1", "alice")
        alice.state, alice.version, alice.display_name = {"n": 1}, 2, "Al"
        tx.save_participant(alice, 1)
        again = tx.get_participant("act_1", "alice")  # as changed, not as stored
        assert (again.state, again.version) == ({"n": 1}, 2)
        assert tx.get_participant_version("act_1", "alice") == 2
        assert tx.display_names("act_1", ["alice", "bob"]) == {"alice": "Al", "bob": "Bob"}
        with pytest.raises(Conflict):  # not the version as changed here
            tx.save_participant(alice, 1)
        with pytest.raises(Conflict):  # there already
            tx.save_participant(ParticipantRecord("act_1", "alice"), None)
        with pytest.raises(RuntimeError), tx.savepoint():
            again.state, again.version = {"n": 2}, 3
            tx.save_participant(again, 2)
            bob = tx.get_participant("act_1", "bob")
            bob.version = 2
            tx.save_participant(bob, 1)
            # written for the list, then undone with the savepoint
            assert [p.version for p in tx.list_participants("act_1")] == [3, 2]
            raise RuntimeError("rolled back")
        assert tx.get_participant("act_1", "alice").state == {"n": 1}
        assert tx.get_participant("act_1", "bob").version == 1
        tx.touch_participants("act_1", ["alice", "bob"])
        assert tx.get_participant_version("act_1", "alice") == 3
    with shop.transaction(write=False) as tx:
        assert [(p.participant_id, p.display_name, p.state, p.version)
                for p in tx.list_participants("act_1")] == \
            [("alice", "Al", {"n": 1}, 3), ("bob", "Bob", {"n": 0}, 2)]
    # An update whose version moved under it fails the commit, and writes nothing.
    with pytest.raises(Conflict), shop.transaction() as tx:
        alice = tx.get_participant("act_1", "alice")
        alice.version = 4
        tx.save_participant(alice, 3)
        bob = tx.get_participant("act_1", "bob")
        bob.version = 9
        tx.save_participant(bob, 1)  # read 2: as if another writer got there first
    with shop.transaction(write=False) as tx:
        assert [p.version for p in tx.list_participants("act_1")] == [3, 2]


def test_a_participant_and_whether_their_merchant_knows_them_are_one_look_up(shop):
    with shop.transaction() as tx:
        tx.save_participant(ParticipantRecord("act_1", "alice", "Alice"), None)
        assert tx.known_participant("m1", "alice") is False
        assert tx.remember_participant("m1", "alice", "act_1", T0) is True
    with shop.transaction() as tx:
        asked: list[str] = []
        tx._is_known = lambda merchant, who: asked.append(who)  # a second look-up, if any
        assert tx.get_participant("act_1", "bob", "m1") is None
        assert tx.known_participant("m1", "bob") is False
        assert tx.get_participant("act_2", "alice", "m1") is None  # new here, known there
        assert tx.known_participant("m1", "alice") is True
        alice = tx.get_participant("act_1", "alice", "m1")
        assert (alice.participant_id, alice.display_name) == ("alice", "Alice")
        assert asked == []
        assert tx.remember_participant("m1", "bob", "act_1", T0) is True
        assert tx.known_participant("m1", "bob") is True
    with shop.transaction(write=False) as tx:
        assert tx.known_participant("m1", "bob") is True


def code(code: str, seq: int, participant_id: str = "alice") -> dict[str, Any]:
    return {"code": code, "merchant_id": "m1", "activity_id": "act_1", "seq": seq,
            "position": 0, "participant_id": participant_id, "display_name": "",
            "event": "prize.awarded", "item": "Mug", "kind": "physical", "amount": None,
            "created_at": T0}


def test_events_and_codes_kept_for_the_commit_are_read_in_order_and_rolled_back(shop):
    with shop.transaction() as tx:
        tx.insert_outbox("act_1", 1, [{"type": "a", "data": {}}], T0)
        tx.insert_redemptions([code("C1", 1)])
        with pytest.raises(RuntimeError), tx.savepoint():
            tx.insert_outbox("act_1", 2, [{"type": "b", "data": {}}], T0)
            tx.insert_redemptions([code("C2", 2)])
            # read inside: written with the earlier part's, then undone with this one's
            assert [e.type for e in tx.list_outbox("act_1")] == ["a", "b"]
            assert tx.get_redemption("m1", "C1")["item"] == "Mug"
            raise RuntimeError("rolled back")
        tx.insert_outbox("act_1", 3, [{"type": "c", "data": {}}, {"type": "d", "data": {}}], T0)
        tx.insert_redemptions([code("C3", 3, "bob")])
        assert [c["code"] for c in tx.participant_codes("act_1", "bob")] == ["C3"]
    with shop.transaction(write=False) as tx:
        events = tx.list_outbox("act_1")
        assert [(e.seq, e.type) for e in events] == [(1, "a"), (3, "c"), (3, "d")]
        assert events[0].id < events[1].id < events[2].id
        assert [c["code"] for c in tx.list_redemptions("act_1")] == ["C1", "C3"]


def test_the_outbox_keeps_events_in_order(shop):
    with shop.transaction() as tx:
        tx.insert_outbox("act_1", 1, [{"type": "a", "data": {"x": 1}},
                                      {"type": "b", "data": {"名": None}}], T0)
        tx.insert_outbox("act_1", 2, [], T0)
        tx.insert_outbox("act_1", 3, [{"type": "c", "data": {}}], T0 + 1)
    with shop.transaction(write=False) as tx:
        rows = tx.list_outbox("act_1")
        assert [(o.seq, o.type, o.data, o.attempts, o.delivered_at) for o in rows] == \
            [(1, "a", {"x": 1}, 0, None), (1, "b", {"名": None}, 0, None), (3, "c", {}, 0, None)]
        assert rows[0].id < rows[1].id < rows[2].id
        assert tx.list_outbox("act_1", after_id=rows[0].id, limit=1) == rows[1:2]
        assert tx.list_outbox("act_2") == []


def test_the_worker_claims_the_oldest_event_of_each_activity_once(shop):
    with shop.transaction() as tx:
        tx.insert_outbox("act_1", 1, [{"type": "a", "data": {}}, {"type": "b", "data": {}}], T0)
    with shop.transaction() as tx:
        assert tx.claim_outbox(T0, 30, 10) == []  # no webhook: nothing to deliver
        tx.update_merchant("m1", webhook_url="https://example.com/hook", webhook_secret="w")
    with shop.transaction() as tx:
        claimed = tx.claim_outbox(T0, 30, 10)
    assert [(e["type"], e["attempts"], e["next_attempt_at"], e["webhook_url"]) for e in claimed] \
        == [("a", 1, T0 + 30, "https://example.com/hook")]
    first = claimed[0]["id"]
    with shop.transaction() as tx:
        assert tx.claim_outbox(T0 + 10, 30, 10) == []  # leased, and `b` waits behind it
        assert tx.mark_delivered(first, T0 + 11) is True
        assert tx.mark_failed(first, T0 + 12, T0 + 60, "late", dead=False) is False
        second = tx.claim_outbox(T0 + 12, 30, 10)
        assert [e["type"] for e in second] == ["b"]
        assert tx.mark_failed(second[0]["id"], T0 + 13, T0 + 60, "HTTP 500", dead=True)
    with shop.transaction() as tx:
        assert [e["type"] for e in tx.list_events("act_1", "delivered")] == ["a"]
        dead = tx.list_events("act_1", "dead")
        assert [(e["type"], e["last_error"], e["dead_at"]) for e in dead] == \
            [("b", "HTTP 500", T0 + 13)]
        assert tx.list_events("act_1", "pending") == []
        assert [e["type"] for e in tx.list_events("act_1")] == ["a", "b"]
        assert tx.get_event("act_1", first)["delivered_at"] == T0 + 11
        assert tx.get_event("act_2", first) is None
        assert tx.redeliver("act_1", dead[0]["id"], T0 + 20) is True
        assert tx.redeliver("act_1", dead[0]["id"], T0 + 20) is False  # pending already
        again = tx.claim_outbox(T0 + 20, 30, 10)
        assert [(e["type"], e["attempts"]) for e in again] == [("b", 1)]


def test_due_activity_ids_for_the_worker(shop):
    with shop.transaction() as tx:
        tx.insert_room("act_1", room("r1", timers={"expire": T0 + 10}))
        tx.insert_activity(activity("act_s", status="scheduled", starts_at=T0 + 20))
        tx.insert_activity(activity("act_p", status="paused", ends_at=T0 + 5))
        tx.insert_activity(activity("act_x", status="ended"))  # rooms still fire after the end
        tx.insert_room("act_x", room("r1", timers={"expire": T0 + 10}))
        tx.insert_activity(activity("act_a", status="archived"))
        tx.insert_room("act_a", room("r1", timers={"expire": T0}))
    with shop.transaction(write=False) as tx:
        assert tx.due_activity_ids(T0, 10) == []
        assert sorted(tx.due_activity_ids(T0 + 20, 10)) == ["act_1", "act_p", "act_s", "act_x"]
        assert len(tx.due_activity_ids(T0 + 20, 1)) == 1


# stats -----------------------------------------------------------------------------------

def test_stats_accumulate_per_hour(shop):
    with shop.transaction() as tx:
        tx.add_stats("act_1", T0, {"actions": 1, "participations": 1, "completions": 0})
        tx.add_stats("act_1", T0, {"actions": 2, "interaction_seconds": 30})
        tx.add_stats("act_1", T0 + HOUR, {"actions": 1})
        tx.add_stats("act_1", T0 + 2 * HOUR, {"actions": 0})  # nothing to add: no bucket
        tx.add_event_stats("act_1", T0, {"prize.awarded": 2, "room.expired": 1})
        tx.add_event_stats("act_1", T0 + HOUR, {"prize.awarded": 1})
        tx.add_event_stats("act_1", T0 + HOUR, {})
        assert tx.mark_participant_hour("act_1", "alice", T0) is True
        assert tx.mark_participant_hour("act_1", "alice", T0) is False
        assert tx.mark_participant_hour("act_1", "alice", T0 + HOUR) is True
    with shop.transaction(write=False) as tx:
        hourly = tx.hourly_stats("act_1")
        assert [(h["hour"], h["actions"], h["participations"], h["interaction_seconds"],
                 h["completions"]) for h in hourly] == [(T0, 3, 1, 30, 0), (T0 + HOUR, 1, 0, 0, 0)]
        assert all(type(v) is int for h in hourly for k, v in h.items() if k != "activity_id")
        totals = tx.event_totals("act_1")
        assert totals == {"prize.awarded": 3, "room.expired": 1}
        assert all(type(v) is int for v in totals.values())
        assert tx.event_totals("act_2") == {}


# idempotency -----------------------------------------------------------------------------

def key(created_at: int = T0, digest: str = "d1") -> IdempotencyRecord:
    return IdempotencyRecord("act_1", "alice", "key-1", digest, "pending", None, None, created_at)


def test_idempotency_claim_complete_takeover_release_delete(shop):
    with shop.transaction() as tx:
        assert tx.claim_idempotency(key(), stale_before=T0 - 60) is True
        assert tx.claim_idempotency(key(T0 + 1), stale_before=T0 - 59) is False  # in flight
    with shop.transaction() as tx:
        # Abandoned for longer than the pending timeout: taken over, with the new body.
        assert tx.claim_idempotency(key(T0 + 100, "d2"), stale_before=T0 + 40) is True
        rec = tx.get_idempotency("act_1", "alice", "key-1")
        assert (rec.state, rec.request_hash, rec.created_at) == ("pending", "d2", T0 + 100)
        tx.complete_idempotency("act_1", "alice", "key-1", 200, {"ok": True, "名": None})
    with shop.transaction() as tx:
        rec = tx.get_idempotency("act_1", "alice", "key-1")
        assert (rec.state, rec.status, rec.response) == ("done", 200, {"ok": True, "名": None})
        assert tx.claim_idempotency(key(T0 + 999), stale_before=T0 + 900) is False  # done
        tx.release_idempotency("act_1", "alice", "key-1")  # only a pending key is released
        assert tx.get_idempotency("act_1", "alice", "key-1") is not None
        tx.delete_idempotency("act_1", "alice", "key-1")
        assert tx.get_idempotency("act_1", "alice", "key-1") is None
        assert tx.claim_idempotency(key(T0 + 1000), stale_before=T0) is True
        tx.release_idempotency("act_1", "alice", "key-1")
        assert tx.get_idempotency("act_1", "alice", "key-1") is None
        tx.claim_idempotency(key(T0), stale_before=0)
        tx.claim_idempotency(IdempotencyRecord("act_1", "bob", "k", "d", "pending", None, None,
                                               T0 + 50), stale_before=0)
        assert tx.purge_idempotency(T0 + 10) == 1
        assert tx.get_idempotency("act_1", "bob", "k") is not None


# console ---------------------------------------------------------------------------------

def test_login_failures_count_lock_and_clear(store):
    with store.transaction() as tx:
        assert tx.get_login_failures("a@example.com") is None
        assert tx.add_login_failure("a@example.com", T0, T0 - 900, 3, T0 + 600) == (1, None)
        assert tx.add_login_failure("a@example.com", T0 + 1, T0 - 899, 3, T0 + 601) == (2, None)
        assert tx.add_login_failure("a@example.com", T0 + 2, T0 - 898, 3, T0 + 602) == \
            (3, T0 + 602)
        assert tx.get_login_failures("a@example.com") == (3, T0 + 2, T0 + 602)
        # Long after the last failure the count starts again.
        assert tx.add_login_failure("a@example.com", T0 + 5000, T0 + 4000, 3, T0 + 5600) == \
            (1, None)
        assert tx.add_login_failure("b@example.com", T0, T0, 1, T0 + 60) == (1, T0 + 60)
        tx.clear_login_failures("a@example.com")
        assert tx.get_login_failures("a@example.com") is None


# transactions ----------------------------------------------------------------------------

def test_an_exception_rolls_the_whole_transaction_back(shop):
    with pytest.raises(RuntimeError), shop.transaction() as tx:
        tx.insert_activity(activity("act_2"))
        tx.update_activity("act_1", state={"gone": True})
        tx.insert_room("act_1", room())
        tx.insert_action(action(1))
        tx.insert_outbox("act_1", 1, [{"type": "a", "data": {}}], T0)
        tx.add_stats("act_1", T0, {"actions": 1})
        tx.save_participant(ParticipantRecord("act_1", "alice"), None)
        tx.remember_participant("m1", "alice", "act_1", T0)
        raise RuntimeError("crash before commit")
    with shop.transaction(write=False) as tx:
        assert tx.get_activity("act_2") is None
        assert tx.get_activity("act_1") == activity()
        assert tx.get_room("act_1", "r1") is None
        assert tx.list_actions("act_1") == [] and tx.list_outbox("act_1") == []
        assert tx.hourly_stats("act_1") == [] and tx.list_participants("act_1") == []
        assert tx.known_participant("m1", "alice") is False
    # The store is usable afterwards.
    with shop.transaction() as tx:
        tx.insert_activity(activity("act_2"))
    assert shop.integrity_check() == "ok"


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_concurrent_read_modify_write_of_one_activity_loses_no_update(kind, tmp_path):
    """8 threads × 50 read-modify-writes of one activity's state, each in a write
    transaction: the activity row lock (SQLite: the database lock) serialises them."""
    s, cleanup = make_store(kind, tmp_path, pool_max=8) if kind == "postgresql" \
        else make_store(kind, tmp_path)
    try:
        with s.transaction() as tx:
            tx.insert_merchant(merchant())
            tx.insert_activity(activity(state={"counter": 0}))
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def work():
            barrier.wait()
            try:
                for _ in range(50):
                    with s.transaction() as tx:
                        a = tx.get_activity("act_1")
                        tx.update_activity("act_1", state={"counter": a.state["counter"] + 1})
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        with s.transaction(write=False) as tx:
            a = tx.get_activity("act_1")
        assert (a.state["counter"], a.version) == (400, 401)
    finally:
        cleanup()


# PostgreSQL only: what row locks give beyond SQLite's one writer -------------------------

@pytest.fixture
def pg(tmp_path):
    require_postgres()
    s, cleanup = make_store("postgresql", tmp_path, lock_timeout_ms=300)
    with s.transaction() as tx:
        tx.insert_merchant(merchant())
        tx.insert_activity(activity("act_1"))
        tx.insert_activity(activity("act_2"))
    yield s
    cleanup()


def test_postgres_different_activities_never_wait_for_each_other(pg):
    with pg.transaction() as tx:
        tx.get_activity("act_1")  # locked until this block ends
        done = threading.Event()

        def other():
            with pg.transaction() as tx2:
                tx2.update_activity("act_2", seq=5, bump=False)
            with pg.transaction(write=False) as tx2:  # reads never wait
                tx2.get_activity("act_1")
            done.set()

        threading.Thread(target=other).start()
        assert done.wait(5)
        tx.update_activity("act_1", seq=1, bump=False)


def test_postgres_a_second_writer_of_one_activity_waits_then_times_out_as_a_conflict(pg):
    with pg.transaction() as tx:
        tx.get_activity("act_1")
        outcome: list[object] = []

        def other():
            try:
                with pg.transaction() as tx2:
                    tx2.get_activity("act_1")
                outcome.append("locked")
            except Conflict as exc:
                outcome.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict)


def test_postgres_a_write_transaction_locks_room_and_participant_rows(pg):
    with pg.transaction() as tx:
        tx.insert_room("act_1", room())
        tx.save_participant(ParticipantRecord("act_1", "alice"), None)
    with pg.transaction() as tx:
        tx.get_room("act_1", "r1")
        tx.get_participant("act_1", "alice")
        blocked: list[str] = []

        def other():
            for read in (lambda t: t.get_room("act_1", "r1"),
                         lambda t: t.get_participant("act_1", "alice")):
                try:
                    with pg.transaction() as tx2:
                        read(tx2)
                except Conflict:
                    blocked.append("waited")
            with pg.transaction(write=False) as tx2:  # a read transaction does not lock
                assert tx2.get_room("act_1", "r1") is not None

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
    assert blocked == ["waited", "waited"]


def test_postgres_read_transactions_see_one_snapshot(pg):
    with pg.transaction(write=False) as tx:
        before = tx.get_activity("act_1").seq
        with pg.transaction() as tx2:
            tx2.update_activity("act_1", seq=before + 1)
        assert tx.get_activity("act_1").seq == before
    with pg.transaction(write=False) as tx:
        assert tx.get_activity("act_1").seq == before + 1


def test_postgres_integrity_check_reports_a_room_over_capacity(pg):
    with pg.transaction() as tx:
        tx.insert_room("act_1", room(capacity=5))
        tx.flush()  # the room is kept for the commit: written now, for the SQL below
        tx.conn.execute("ALTER TABLE rooms DROP CONSTRAINT rooms_check")
        tx.conn.execute("UPDATE rooms SET size = 9")
    assert "over capacity" in pg.integrity_check()


def test_postgres_two_workers_never_claim_the_same_event(pg):
    with pg.transaction() as tx:
        tx.update_merchant("m1", webhook_url="https://example.com/hook")
        tx.insert_outbox("act_1", 1, [{"type": "a", "data": {}}], T0)
        tx.insert_outbox("act_2", 1, [{"type": "b", "data": {}}], T0)
    with pg.transaction() as tx:
        first = tx.claim_outbox(T0, 30, 1)
        with pg.transaction() as tx2:  # not blocked by the first claim, and not the same row
            second = tx2.claim_outbox(T0, 30, 10)
    assert len(first) == len(second) == 1 and first[0]["id"] != second[0]["id"]
