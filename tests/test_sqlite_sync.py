"""The SQLite store's durability (store/sqlite.py): at `synchronous=FULL` (the default) a write
transaction is on disk before `transaction()` returns, synced by the store itself after SQLite
has released its write lock; NORMAL and OFF are SQLite's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from magic_cube.store import open_store
from magic_cube.store.records import Merchant

ROOT = Path(__file__).resolve().parents[1]


def merchant(mid: str) -> Merchant:
    return Merchant(id=mid, name=f"Shop {mid}", participant_secret="s", created_at=0)


def _pragma(store: Any) -> int:
    with store._connection() as conn:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])


class Syncs:
    """`os.fsync`, recording the path of each file synced and what `during(path)` says then."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, during: Any = None) -> None:
        self.paths: list[str] = []
        self.seen: list[Any] = []
        self.during = during
        real = os.fsync

        def fsync(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            self.paths.append(path)
            if self.during is not None:
                self.seen.append(self.during(path))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)


def test_full_syncs_the_wal_after_the_commit_outside_the_write_lock(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    other = open_store(f"sqlite:///{path}")  # another process's store, as far as SQLite knows
    store.migrate()
    other.migrate()
    assert _pragma(store) == 1  # SQLite's NORMAL: its commit does not sync

    returned = []

    def during(_path: str) -> tuple[bool, bool]:
        # While the store syncs, before `transaction()` returns: the commit is visible
        # elsewhere, and another writer takes the write lock at once (a lock still held
        # would refuse it as busy: the store's connections do not wait inside SQLite).
        with other._connection() as conn:
            seen = conn.execute("SELECT 1 FROM merchants WHERE id = 'm1'").fetchone()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
        return seen is not None, bool(returned)

    syncs = Syncs(monkeypatch, during)
    with store.transaction() as tx:
        tx.insert_merchant(merchant("m1"))
    returned.append(True)
    other_syncs = len(syncs.paths)
    assert syncs.paths == [f"{path}-wal"]
    assert syncs.seen == [(True, False)]
    # A read transaction and one rolled back sync nothing.
    syncs.during = None
    with store.transaction(write=False) as tx:
        assert tx.get_merchant("m1") is not None
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_merchant(merchant("m2"))
        raise RuntimeError("rolled back")
    assert len(syncs.paths) == other_syncs
    with store.transaction() as tx:
        assert tx.get_merchant("m2") is None
        tx.insert_merchant(merchant("m3"))
    assert syncs.paths[other_syncs:] == [f"{path}-wal"]
    store.close()
    other.close()


@pytest.mark.parametrize("where, mode, pragma", [
    ("s.db", "NORMAL", 1), ("s.db", "OFF", 0),  # SQLite's own
    (":memory:", "FULL", 2),  # no WAL, no disk: SQLite's FULL, and nothing for the store to sync
])
def test_the_store_syncs_nothing_itself_but_a_file_at_full(tmp_path, monkeypatch, where, mode,
                                                           pragma):
    store = open_store(f"sqlite:///{where if where == ':memory:' else tmp_path / where}",
                       synchronous=mode)
    store.migrate()
    assert _pragma(store) == pragma
    syncs = Syncs(monkeypatch)
    with store.transaction() as tx:
        tx.insert_merchant(merchant("m1"))
    assert syncs.paths == []
    store.close()


def test_under_gevent_the_sync_runs_on_a_native_thread_while_the_worker_goes_on(tmp_path):
    # A gevent worker's process: the store's fsync is on a thread of the hub's pool, and the
    # worker's other greenlets run while it waits.
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        import os, threading, time
        import gevent
        from gevent import monkey as m
        from magic_cube.store import open_store
        from magic_cube.store.records import Merchant

        native = m.get_original("threading", "get_ident")
        loop_thread = native()
        store = open_store("sqlite:///{tmp_path}/g.db")
        store.migrate()
        real, seen = os.fsync, []

        def fsync(fd):
            seen.append(native() != loop_thread)
            m.get_original("time", "sleep")(0.2)  # a slow disk
            real(fd)

        os.fsync = fsync
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(1) or gevent.sleep(0.01) for _ in range(10)])
        with store.transaction() as tx:
            tx.insert_merchant(Merchant(id="m1", name="m", participant_secret="s", created_at=0))
        print(seen, len(ticks) >= 5)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[True]", "True"]


def test_concurrent_writers_of_one_file_each_sync_their_commit(tmp_path, monkeypatch):
    path = tmp_path / "c.db"
    stores = [open_store(f"sqlite:///{path}") for _ in range(2)]
    for store in stores:
        store.migrate()
    syncs = Syncs(monkeypatch)

    def write(n: int) -> None:
        for i in range(20):
            with stores[n % 2].transaction() as tx:
                tx.insert_merchant(merchant(f"m{n}-{i}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert syncs.paths.count(f"{path}-wal") == 80
    with stores[0].transaction(write=False) as tx:
        assert all(tx.get_merchant(f"m{n}-{i}") for n in range(4) for i in range(20))
    for store in stores:
        store.close()
