"""What the activity's row keeps so that an action looks nothing else up: the count of its
blocks and the campaigns counting it (migration 11). The store keeps both with the statements
that change them; an activity with no blocks and in no campaign runs no statement on those
tables; the migration works both out for the activities that were there before it."""

from __future__ import annotations

from typing import Any

import pytest
from stores import STORE_PARAMS, store_fixture, store_url
from test_store import T0, activity, merchant

from magic_cube.engine.campaigns import counting
from magic_cube.store import open_store
from magic_cube.store.schema import MIGRATIONS

store = store_fixture()


def row(store: Any, aid: str = "act_1") -> Any:
    with store.transaction(write=False) as tx:
        return tx.get_activity(aid)


def campaign(cid: str, starts: int, ends: int) -> dict[str, Any]:
    return {"id": cid, "owner_id": "m1", "name": cid, "timezone": "Asia/Shanghai",
            "starts_on": "2026-11-11", "ends_on": "2026-11-12", "starts_at": starts,
            "ends_at": ends, "created_at": T0}


def test_the_row_counts_blocks_as_they_are_put_changed_and_lifted(store):
    with store.transaction() as tx:
        tx.insert_merchant(merchant())
        tx.insert_activity(activity())
    assert row(store).blocks == 0
    with store.transaction() as tx:
        tx.put_block("act_1", "participant", "p1", "refused", "", T0)
        tx.put_block("act_1", "participant", "p1", "never_wins", "", T0)  # changed, not added
        tx.put_block("act_1", "device", "d1", "refused", "", T0)
    assert row(store).blocks == 2
    with store.transaction() as tx:
        assert tx.delete_block("act_1", "device", "d1")
        assert not tx.delete_block("act_1", "device", "d1")
    assert row(store).blocks == 1


def test_the_row_lists_its_campaigns_as_it_is_added_and_removed(store):
    with store.transaction() as tx:
        tx.insert_merchant(merchant())
        tx.insert_activity(activity())
        tx.insert_campaign(campaign("c1", T0 - 100, T0 + 86400))
        tx.insert_campaign(campaign("c2", T0 + 500, T0 + 900))
    assert row(store).campaigns == []
    with store.transaction() as tx:
        assert tx.add_campaign_activity("c1", "act_1", "m1", T0)
        assert tx.add_campaign_activity("c2", "act_1", "m1", T0 + 10)
    # since: the later of being added and the campaign's start; until: the campaign's end
    assert row(store).campaigns == [["c1", T0, T0 + 86400], ["c2", T0 + 500, T0 + 900]]
    with store.transaction() as tx:
        assert tx.remove_campaign_activity("c1", "act_1", T0 + 20)
    assert row(store).campaigns == [["c2", T0 + 500, T0 + 900]]
    with store.transaction() as tx:
        assert tx.add_campaign_activity("c1", "act_1", "m1", T0 + 30)  # back, from now on
    assert row(store).campaigns == [["c1", T0 + 30, T0 + 86400], ["c2", T0 + 500, T0 + 900]]


@pytest.mark.parametrize("kind", STORE_PARAMS)
def test_the_migration_works_both_out_for_earlier_activities(kind, tmp_path, monkeypatch):
    url, cleanup = store_url(kind, tmp_path)
    module = "magic_cube.store.sqlite" if kind == "sqlite" else "magic_cube.store.postgres"
    monkeypatch.setattr(f"{module}.MIGRATIONS", [m for m in MIGRATIONS if m[0] < 11])
    old = open_store(url)
    try:
        old.migrate()
        with old.transaction() as tx:  # written as the code before migration 11 wrote them
            tx._exec("INSERT INTO merchants (id, name, participant_secret, created_at) "
                     "VALUES ('m1', 'Shop', 's', ?)", (T0,))
            for aid in ("act_1", "act_2"):
                tx._exec("INSERT INTO activities (id, merchant_id, template_id, "
                         "template_version, template_hash, title, status, config, timezone, "
                         "created_at, updated_at, state) VALUES (?, 'm1', 'lottery', '1', 'h', "
                         "'t', 'live', '{}', 'Asia/Shanghai', ?, ?, '{}')", (aid, T0, T0))
            for value in ("p1", "p2"):
                tx._exec("INSERT INTO blocks (activity_id, kind, value, outcome, created_at) "
                         "VALUES ('act_1', 'participant', ?, 'refused', ?)", (value, T0))
            tx._exec("INSERT INTO campaigns (id, owner_id, name, timezone, starts_on, ends_on, "
                     "starts_at, ends_at, created_at) VALUES ('c1', 'm1', 'c', 'Asia/Shanghai', "
                     "'2026-11-11', '2026-11-12', ?, ?, ?)", (T0, T0 + 86400, T0))
            tx._exec("INSERT INTO campaign_activities (campaign_id, activity_id, merchant_id, "
                     "added_at) VALUES ('c1', 'act_1', 'm1', ?)", (T0 + 5,))
    finally:
        old.close()
    monkeypatch.undo()
    new = open_store(url)
    try:
        assert new.migrate()[0] == 11  # and any later ones
        first, second = row(new, "act_1"), row(new, "act_2")
        assert (first.blocks, second.blocks) == (2, 0)
        assert first.campaigns is None  # worked out by its first action, and kept
        assert second.campaigns == []
        with new.transaction() as tx:
            assert counting(tx, tx.get_activity("act_1"), T0 + 10) == [("c1", T0 + 5)]
        assert row(new, "act_1").campaigns == [["c1", T0 + 5, T0 + 86400]]
    finally:
        new.close()
        cleanup()


def _traced(engine: Any, call: Any) -> list[str]:
    statements: list[str] = []
    with engine.store._connection() as conn:
        conn.set_trace_callback(statements.append)
    try:
        call()
    finally:
        with engine.store._connection() as conn:
            conn.set_trace_callback(None)
    return statements


def _touches(statements: list[str], table: str) -> bool:
    return any(f" {table} " in f" {s} " for s in statements)


def test_an_action_looks_up_blocks_and_campaigns_only_when_there_are_some(shop, engine):
    aid = shop.live("lottery")["id"]
    assert shop.act(aid, "draw", "warm").status_code == 200
    plain = _traced(engine, lambda: shop.act(aid, "draw", "alice"))
    assert any("INSERT INTO actions" in s for s in plain)
    assert not _touches(plain, "blocks") and not _touches(plain, "campaign_activities")

    r = shop.client.post(f"/v1/merchant/activities/{aid}/blocks", headers=shop.headers,
                         json={"kind": "participant", "value": "mallory", "outcome": "refused"})
    assert r.status_code == 201
    blocked = _traced(engine, lambda: shop.act(aid, "draw", "bob"))
    assert _touches(blocked, "blocks")
    assert shop.act(aid, "draw", "mallory").status_code == 403
