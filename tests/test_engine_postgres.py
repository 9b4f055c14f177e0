"""The engine end to end on PostgreSQL: each template through create, publish, actions (with
a room expiring lazily, without a worker), stats and replay; then the app factory on a
PostgreSQL URL. Skipped like every PostgreSQL test when no server is reachable (tests/stores.py),
except in CI."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from engine_helpers import Clock, config_for, create_merchant, invariants, publish, read_all
from stores import require_postgres, store_url

from magic_cube.catalog import Catalog
from magic_cube.engine import Engine, Participant
from magic_cube.engine.replay import audit, replay
from magic_cube.settings import Settings
from magic_cube.store.postgres import PostgresStore

HOUR = 3600
ALICE, BOB, CAROL, DAN, ERIN = (Participant(n, n.title())
                                for n in ("alice", "bob", "carol", "dan", "erin"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.discover()


@pytest.fixture
def env(tmp_path, catalog):
    require_postgres()
    url, drop = store_url("postgresql", tmp_path)
    store = PostgresStore(url)
    store.migrate()
    clock = Clock()
    engine = Engine(store, catalog, Settings.load(), clock)
    yield SimpleNamespace(engine=engine, clock=clock, merchant=create_merchant(engine))
    store.close()
    drop()


def ok(response):
    assert response.status == 200, response.body
    return response.body


def refused(response, error: str):
    assert response.status >= 400 and response.body["error"] == error, response.body


def check(env, activity_id: str) -> dict:
    """Replay and every correctness rule hold; returns the dashboard stats."""
    assert replay(env.engine, activity_id) == []
    assert invariants(env.engine, activity_id) == []
    assert env.engine.store.integrity_check() == "ok"
    return env.engine.stats(env.merchant, activity_id)


def test_lottery_on_postgres(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "lottery")
    first = ok(e.act(aid, "draw", ALICE, idempotency_key="d1"))
    again = e.act(aid, "draw", ALICE, idempotency_key="d1")
    assert again.replayed and again.body == first
    ok(e.act(aid, "draw", ALICE))
    ok(e.act(aid, "draw", ALICE))
    refused(e.act(aid, "draw", ALICE), "no_draws_left")  # 3 a day
    ok(e.merchant_act(m, aid, "grant", "alice", {"count": 1}))
    ok(e.act(aid, "draw", ALICE))
    ok(e.act(aid, "draw", BOB))
    e.heartbeat(aid, BOB)
    env.clock.advance(30)
    assert e.heartbeat(aid, BOB)["credited"] == 30
    env.clock.advance(24 * HOUR)
    ok(e.act(aid, "draw", ALICE))  # a new day
    stats = check(env, aid)
    assert stats["totals"]["participations"] == 6
    assert stats["totals"]["unique_participants"] == 2
    assert stats["totals"]["first_time_participants"] == 2
    assert stats["totals"]["interaction_seconds"] == 30
    e.end(m, aid)
    assert audit(e, aid)["ok"] is True


def test_group_buy_on_postgres_with_a_lazily_expiring_room(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "group_buy")
    full = ok(e.act(aid, "start", ALICE))["room"]
    ok(e.act(aid, "join", BOB, room_id=full))
    ok(e.act(aid, "join", CAROL, room_id=full))
    refused(e.act(aid, "join", ERIN, room_id=full), "room_closed")  # succeeded: full
    lonely = ok(e.act(aid, "start", DAN))["room"]
    assert e.public_view(aid).body["view"]["stock_left"] == 16
    env.clock.advance(25 * HOUR)
    ok(e.act(aid, "start", ERIN))  # fires the due expiry first: nobody looked at the room
    data = read_all(e, aid)
    rooms = {r.id: r for r in data["rooms"]}
    assert rooms[full].status == "succeeded" and rooms[lonely].status == "expired"
    assert data["activity"].state["stock"] == 20 - 3 - 1  # dan's unit came back
    assert [o.data["participant"] for o in data["outbox"] if o.type == "group.refund"] == ["dan"]
    refused(e.act(aid, "join", ALICE, room_id=lonely), "room_closed")
    stats = check(env, aid)
    assert stats["totals"]["unique_participants"] == 5
    assert stats["events"].get("group.failed") == 1


def test_bargain_on_postgres_with_a_room_expiring_on_view(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "bargain")
    room = ok(e.act(aid, "start", ALICE))["room"]
    ok(e.act(aid, "help", BOB, room_id=room))
    refused(e.act(aid, "help", BOB, room_id=room), "already_helped")
    for helper in (CAROL, DAN):
        ok(e.act(aid, "help", helper, room_id=room))
    ok(e.act(aid, "buy", ALICE, room_id=room))
    other = ok(e.act(aid, "start", ERIN))["room"]
    before = e.room_view(aid, other, BOB)
    assert before.body["status"] == "open"
    assert e.room_view(aid, other, BOB, if_none_match=before.etag).status == 304
    env.clock.advance(25 * HOUR)
    after = e.room_view(aid, other, BOB, if_none_match=before.etag)  # fires the expiry
    assert after.status == 200 and after.body["status"] == "expired"
    stats = check(env, aid)
    assert stats["completions"] == {"bargain.completed": 1}
    assert stats["totals"]["participations"] >= 5


def test_gift_on_postgres_with_an_expiring_pack(env):
    e, m = env.engine, env.merchant
    aid = publish(e, m, "gift", config_for("gift"))
    pack = ok(e.act(aid, "send", ALICE, params={"shares": 3, "amount": 3000}))["room"]
    ok(e.act(aid, "claim", BOB, room_id=pack))
    refused(e.act(aid, "claim", BOB, room_id=pack), "already_claimed")
    refused(e.act(aid, "claim", ALICE, room_id=pack), "own_pack")
    ok(e.act(aid, "claim", CAROL, room_id=pack))
    env.clock.advance(25 * HOUR)
    ok(e.act(aid, "send", DAN, params={"shares": 1, "amount": 100}))  # expires `pack` first
    data = read_all(e, aid)
    expired = next(r for r in data["rooms"] if r.id == pack)
    assert expired.status == "expired" and expired.state["left"] == 0
    assert sum(mb.data["share"] for mb in expired.members if mb.role == "recipient") \
        + expired.state["returned"] == 3000
    check(env, aid)


def test_the_app_runs_on_a_postgres_url(tmp_path, catalog):
    from magic_cube.app import create_app
    url, drop = store_url("postgresql", tmp_path)
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": Clock(),
                      "SETTINGS": {"database_url": url}})
    engine = app.extensions["magic_cube"]
    try:
        assert isinstance(engine.store, PostgresStore)
        client = app.test_client()
        assert client.get("/healthz").status_code == 200
        merchant, key = engine.create_merchant("Tea House")
        headers = {"Authorization": f"Bearer {key}"}
        r = client.post("/v1/merchant/activities", headers=headers,
                        json={"template_id": "lottery", "config": config_for("lottery")})
        assert r.status_code == 201, r.get_json()
        aid = r.get_json()["id"]
        assert client.post(f"/v1/merchant/activities/{aid}/publish",
                           headers=headers).status_code == 200
        token = engine.participant_token(merchant, "alice")[0]
        r = client.post(f"/v1/activities/{aid}/actions/draw", json={},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.get_json()
        assert invariants(engine, aid) == []
    finally:
        engine.store.close()
        drop()


def test_a_deadlock_is_a_conflict_to_retry_not_a_crash(tmp_path):
    """psycopg's deadlock (40P01) and serialisation failure (40001) are not subclasses of its
    `TransactionRollback`: the store names them, so that they are `Conflict` (409) too."""
    import threading

    from magic_cube.store import Conflict

    require_postgres()
    url, drop = store_url("postgresql", tmp_path)
    store = PostgresStore(url)
    store.migrate()
    both = threading.Barrier(2)
    outcomes: list[str] = []

    def lock(first: int, second: int) -> None:
        try:
            with store.transaction() as tx:
                tx._row("SELECT 1 FROM _migrations WHERE version = ? FOR UPDATE", (first,))
                both.wait()
                tx._row("SELECT 1 FROM _migrations WHERE version = ? FOR UPDATE", (second,))
            outcomes.append("committed")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:  # the bug: psycopg's DeadlockDetected itself
            outcomes.append(type(exc).__name__)

    try:
        threads = [threading.Thread(target=lock, args=pair) for pair in ((1, 2), (2, 1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["committed", "conflict"]
    finally:
        store.close()
        drop()
