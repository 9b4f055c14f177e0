"""The embedded default store: one SQLite file, via sqlite-utils.

WAL so that readers never wait for the writer; `BEGIN IMMEDIATE` for every write transaction so
that two writers never both read and then collide at commit; a busy timeout so that waiting
writers queue instead of failing. Constraints (primary keys, UNIQUE, CHECK) refuse whatever a
race might still let through.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from magic_cube.store.base import Conflict, Store, Tx
from magic_cube.store.records import (
    ActionRecord,
    ActivityRecord,
    IdempotencyRecord,
    Member,
    Merchant,
    OutboxRecord,
    ParticipantRecord,
    Room,
    StoredRoom,
)
from magic_cube.store.schema import MIGRATIONS


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, path: str | Path, busy_timeout_ms: int = 10000,
                 synchronous: str = "FULL", pool_size: int = 32) -> None:
        self.path = str(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue(maxsize=pool_size)
        self._lock = threading.Lock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._memory_conn = self._connect() if self.path == ":memory:" else None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        if self.path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._memory_conn is not None:
            with self._lock:  # one shared connection for ":memory:"
                yield self._memory_conn
            return
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            yield conn
        finally:
            try:
                self._pool.put_nowait(conn)
            except queue.Full:
                conn.close()

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield SQLiteTx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def migrate(self) -> list[int]:
        applied = []
        with self._connection() as conn:
            db = sqlite_utils.Database(conn)
            for version, name, statements in MIGRATIONS:
                conn.execute("BEGIN IMMEDIATE")  # two processes migrating at once take turns
                try:
                    if "_migrations" not in db.table_names():
                        db["_migrations"].create({"version": int, "name": str, "applied_at": str},
                                                 pk="version", if_not_exists=True)
                    done = conn.execute("SELECT 1 FROM _migrations WHERE version = ?",
                                        (version,)).fetchone()
                    if not done:
                        for sql in statements:
                            conn.execute(sql)
                        conn.execute("INSERT INTO _migrations (version, name, applied_at) "
                                     "VALUES (?, ?, datetime('now'))", (version, name))
                        applied.append(version)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        return applied

    def integrity_check(self) -> str:
        with self._connection() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                break
        if self._memory_conn is not None:
            self._memory_conn.close()


def _translate(exc: sqlite3.IntegrityError) -> Conflict:
    return Conflict(str(exc))


class SQLiteTx(Tx):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _one(self, sql: str, args: tuple = ()) -> sqlite3.Row | None:
        cur = self.conn.execute(sql, args)
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        cur = self.conn.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _exec(self, sql: str, args: tuple = ()) -> int:
        try:
            return self.conn.execute(sql, args).rowcount
        except sqlite3.IntegrityError as exc:
            raise _translate(exc) from exc

    # merchants -----------------------------------------------------------------------------

    def insert_merchant(self, m: Merchant) -> None:
        self._exec("INSERT INTO merchants (id, name, email, password_hash, participant_secret, "
                   "webhook_url, webhook_secret, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (m.id, m.name, m.email, m.password_hash, m.participant_secret, m.webhook_url,
                    m.webhook_secret, m.created_at))

    def get_merchant(self, merchant_id: str) -> Merchant | None:
        row = self._one("SELECT * FROM merchants WHERE id = ?", (merchant_id,))
        return Merchant(**row) if row else None

    def get_merchant_by_email(self, email: str) -> Merchant | None:
        row = self._one("SELECT * FROM merchants WHERE email = ?", (email,))
        return Merchant(**row) if row else None

    def update_merchant(self, merchant_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE merchants SET {sets} WHERE id = ?", (*fields.values(), merchant_id))

    def insert_api_key(self, key_id: str, merchant_id: str, key_hash: str, prefix: str,
                       now: int) -> None:
        self._exec("INSERT INTO api_keys (id, merchant_id, key_hash, prefix, created_at) "
                   "VALUES (?, ?, ?, ?, ?)", (key_id, merchant_id, key_hash, prefix, now))

    def merchant_for_key_hash(self, key_hash: str) -> Merchant | None:
        row = self._one("SELECT m.* FROM api_keys k JOIN merchants m ON m.id = k.merchant_id "
                        "WHERE k.key_hash = ? AND k.revoked_at IS NULL", (key_hash,))
        return Merchant(**row) if row else None

    def list_api_keys(self, merchant_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT id, prefix, created_at, revoked_at FROM api_keys "
                         "WHERE merchant_id = ? ORDER BY created_at", (merchant_id,))

    def revoke_api_key(self, merchant_id: str, key_id: str, now: int) -> bool:
        return self._exec("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND merchant_id = ? "
                          "AND revoked_at IS NULL", (now, key_id, merchant_id)) == 1

    # activities ----------------------------------------------------------------------------

    _ACTIVITY_JSON = ("config", "state", "initial_state")

    def _activity(self, row: dict[str, Any] | None) -> ActivityRecord | None:
        if row is None:
            return None
        for key in self._ACTIVITY_JSON:
            row[key] = loads(row[key])
        return ActivityRecord(**row)

    def get_activity(self, activity_id: str) -> ActivityRecord | None:
        return self._activity(self._one("SELECT * FROM activities WHERE id = ?", (activity_id,)))

    def get_activity_version(self, activity_id: str) -> tuple[int, str, int | None, int | None] | None:
        row = self.conn.execute("SELECT version, status, starts_at, ends_at FROM activities "
                                "WHERE id = ?", (activity_id,)).fetchone()
        return tuple(row) if row else None

    def insert_activity(self, a: ActivityRecord) -> None:
        row = {k: (dumps(v) if k in self._ACTIVITY_JSON else v) for k, v in vars(a).items()}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._exec(f"INSERT INTO activities ({cols}) VALUES ({marks})", tuple(row.values()))

    def update_activity(self, activity_id: str, bump: bool = True, **fields: Any) -> None:
        """Write the given columns; `bump` moves the version a participant's ETag depends on."""
        sets = [f"{k} = ?" for k in fields]
        args = [dumps(v) if k in self._ACTIVITY_JSON else v for k, v in fields.items()]
        if bump:
            sets.append("version = version + 1")
        self._exec(f"UPDATE activities SET {', '.join(sets)} WHERE id = ?", (*args, activity_id))

    def list_activities(self, merchant_id: str, status: str | None = None,
                        search: str | None = None, before: str | None = None,
                        limit: int = 50) -> list[ActivityRecord]:
        where, args = ["merchant_id = ?"], [merchant_id]
        if status:
            where.append("status = ?")
            args.append(status)
        if search:
            where.append("(title LIKE ? OR template_id LIKE ?)")
            args += [f"%{search}%", f"%{search}%"]
        if before:
            where.append("id < ?")
            args.append(before)
        rows = self._all(f"SELECT * FROM activities WHERE {' AND '.join(where)} "
                         f"ORDER BY id DESC LIMIT ?", (*args, limit))
        return [self._activity(r) for r in rows]

    def due_activities(self, now: int, limit: int) -> list[str]:
        rows = self.conn.execute(
            "SELECT id FROM activities WHERE (next_due IS NOT NULL AND next_due <= ?) "
            "OR (status = 'scheduled' AND starts_at <= ?) "
            "OR (status IN ('live', 'paused') AND ends_at IS NOT NULL AND ends_at <= ?) LIMIT ?",
            (now, now, now, limit)).fetchall()
        return [r[0] for r in rows]

    # rooms ---------------------------------------------------------------------------------

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        row = self._one("SELECT * FROM rooms WHERE activity_id = ? AND id = ?",
                        (activity_id, room_id))
        if row is None:
            return None
        members = [
            Member(m["participant_id"], m["role"], m["joined_at"], loads(m["data"]),
                   m["display_name"])
            for m in self._all("SELECT * FROM room_members WHERE activity_id = ? AND room_id = ? "
                               "ORDER BY position", (activity_id, room_id))
        ]
        room = Room(id=row["id"], status=row["status"], initiator=row["initiator"],
                    capacity=row["capacity"], opened_at=row["opened_at"],
                    state=loads(row["state"]), members=members, timers=loads(row["timers"]),
                    closed_at=row["closed_at"])
        return StoredRoom(room, row["version"])

    def get_room_state_version(self, activity_id: str, room_id: str) -> tuple[int, int | None] | None:
        """(version, next timer due) of a room: enough to answer a poll with 304."""
        row = self.conn.execute("SELECT version, next_due FROM rooms WHERE activity_id = ? "
                                "AND id = ?", (activity_id, room_id)).fetchone()
        return (row[0], row[1]) if row else None

    def insert_room(self, activity_id: str, room: Room) -> None:
        self._exec("INSERT INTO rooms (activity_id, id, status, initiator, capacity, opened_at, "
                   "closed_at, state, timers, next_due, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (activity_id, room.id, room.status, room.initiator, room.capacity,
                    room.opened_at, room.closed_at, dumps(room.state), dumps(room.timers),
                    min(room.timers.values(), default=None), len(room.members)))

    def update_room(self, activity_id: str, room: Room, expected_version: int) -> None:
        """Conditional on the version read: a lost update is refused, never written."""
        n = self._exec("UPDATE rooms SET status = ?, closed_at = ?, state = ?, timers = ?, "
                       "next_due = ?, size = ?, version = version + 1 "
                       "WHERE activity_id = ? AND id = ? AND version = ?",
                       (room.status, room.closed_at, dumps(room.state), dumps(room.timers),
                        min(room.timers.values(), default=None) if room.status == "open" else None,
                        len(room.members), activity_id, room.id, expected_version))
        if n != 1:
            raise Conflict(f"room {room.id} changed concurrently")

    def insert_member(self, activity_id: str, room_id: str, member: Member, position: int) -> None:
        self._exec("INSERT INTO room_members (activity_id, room_id, participant_id, role, data, "
                   "display_name, joined_at, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (activity_id, room_id, member.participant, member.role, dumps(member.data),
                    member.display_name, member.joined_at, position))

    def due_rooms(self, activity_id: str, now: int, limit: int = 100) -> list[str]:
        rows = self.conn.execute("SELECT id FROM rooms WHERE activity_id = ? AND next_due <= ? "
                                 "ORDER BY next_due, id LIMIT ?", (activity_id, now, limit))
        return [r[0] for r in rows.fetchall()]

    def next_room_due(self, activity_id: str) -> int | None:
        row = self.conn.execute("SELECT min(next_due) FROM rooms WHERE activity_id = ?",
                                (activity_id,)).fetchone()
        return row[0] if row else None

    def open_room_ids(self, activity_id: str) -> list[str]:
        rows = self.conn.execute("SELECT id FROM rooms WHERE activity_id = ? AND status = 'open' "
                                 "ORDER BY opened_at, id", (activity_id,))
        return [r[0] for r in rows.fetchall()]

    def list_rooms(self, activity_id: str) -> list[StoredRoom]:
        ids = [r[0] for r in self.conn.execute("SELECT id FROM rooms WHERE activity_id = ? "
                                               "ORDER BY opened_at, id", (activity_id,))]
        return [self.get_room(activity_id, i) for i in ids]

    def rooms_of(self, activity_id: str, participant_id: str, limit: int = 20) -> list[str]:
        rows = self.conn.execute(
            "SELECT room_id FROM room_members WHERE activity_id = ? AND participant_id = ? "
            "ORDER BY joined_at DESC, room_id LIMIT ?", (activity_id, participant_id, limit))
        return [r[0] for r in rows.fetchall()]

    # participants --------------------------------------------------------------------------

    def get_participant(self, activity_id: str, participant_id: str) -> ParticipantRecord | None:
        row = self._one("SELECT * FROM activity_participants WHERE activity_id = ? "
                        "AND participant_id = ?", (activity_id, participant_id))
        if row is None:
            return None
        row["state"] = loads(row["state"])
        return ParticipantRecord(**row)

    def get_participant_version(self, activity_id: str, participant_id: str) -> int | None:
        row = self.conn.execute("SELECT version FROM activity_participants WHERE activity_id = ? "
                                "AND participant_id = ?", (activity_id, participant_id)).fetchone()
        return row[0] if row else None

    def save_participant(self, p: ParticipantRecord, expected_version: int | None) -> None:
        """Insert (`expected_version` None) or update conditionally on the version read."""
        if expected_version is None:
            self._exec("INSERT INTO activity_participants (activity_id, participant_id, "
                       "display_name, state, version, first_action_at, last_action_at, actions, "
                       "last_seen_at, interaction_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (p.activity_id, p.participant_id, p.display_name, dumps(p.state)
                        if p.state is not None else None, p.version, p.first_action_at,
                        p.last_action_at, p.actions, p.last_seen_at, p.interaction_seconds))
            return
        n = self._exec("UPDATE activity_participants SET display_name = ?, state = ?, version = ?, "
                       "first_action_at = ?, last_action_at = ?, actions = ?, last_seen_at = ?, "
                       "interaction_seconds = ? WHERE activity_id = ? AND participant_id = ? "
                       "AND version = ?",
                       (p.display_name, dumps(p.state) if p.state is not None else None,
                        p.version, p.first_action_at, p.last_action_at, p.actions,
                        p.last_seen_at, p.interaction_seconds, p.activity_id, p.participant_id,
                        expected_version))
        if n != 1:
            raise Conflict(f"participant {p.participant_id} changed concurrently")

    def list_participants(self, activity_id: str, after: str | None = None,
                          limit: int = 1000) -> list[ParticipantRecord]:
        rows = self._all("SELECT * FROM activity_participants WHERE activity_id = ? "
                         "AND participant_id > ? ORDER BY participant_id LIMIT ?",
                         (activity_id, after or "", limit))
        for r in rows:
            r["state"] = loads(r["state"])
        return [ParticipantRecord(**r) for r in rows]

    def remember_participant(self, merchant_id: str, participant_id: str, activity_id: str,
                             now: int) -> bool:
        """Record a participant's first accepted action on this deployment; True if it is."""
        n = self._exec("INSERT INTO participants (merchant_id, id, first_seen_at, first_activity_id) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       (merchant_id, participant_id, now, activity_id))
        return n == 1

    def known_participant(self, merchant_id: str, participant_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM participants WHERE merchant_id = ? AND id = ?",
                                 (merchant_id, participant_id)).fetchone() is not None

    # action log, outbox --------------------------------------------------------------------

    _ACTION_JSON = ("params", "result", "events", "random")

    def insert_action(self, a: ActionRecord) -> None:
        row = {k: (dumps(v) if k in self._ACTION_JSON else v) for k, v in vars(a).items()}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        self._exec(f"INSERT INTO actions ({cols}) VALUES ({marks})", tuple(row.values()))

    def list_actions(self, activity_id: str, after_seq: int = 0, limit: int = 100) -> list[ActionRecord]:
        rows = self._all("SELECT * FROM actions WHERE activity_id = ? AND seq > ? ORDER BY seq "
                         "LIMIT ?", (activity_id, after_seq, limit))
        out = []
        for r in rows:
            for key in self._ACTION_JSON:
                r[key] = loads(r[key])
            r["first_time"] = bool(r["first_time"])
            r["new_to_activity"] = bool(r["new_to_activity"])
            out.append(ActionRecord(**r))
        return out

    def insert_outbox(self, activity_id: str, seq: int, events: list[dict[str, Any]],
                      now: int) -> None:
        self.conn.executemany(
            "INSERT INTO outbox (activity_id, seq, type, data, created_at, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(activity_id, seq, e["type"], dumps(e["data"]), now, now) for e in events])

    def list_outbox(self, activity_id: str, after_id: int = 0, limit: int = 100) -> list[OutboxRecord]:
        rows = self._all("SELECT id, activity_id, seq, type, data, created_at, attempts, "
                         "delivered_at FROM outbox WHERE activity_id = ? AND id > ? ORDER BY id "
                         "LIMIT ?", (activity_id, after_id, limit))
        for r in rows:
            r["data"] = loads(r["data"])
        return [OutboxRecord(**r) for r in rows]

    # the worker: due work across activities, webhook delivery ------------------------------

    def due_activity_ids(self, now: int, limit: int) -> list[str]:
        """Activities with work due at `now` (see base.Tx). Driven by the live activities, one
        `rooms_due` seek each (open rooms come due when their activity ends, so none lingers)."""
        rows = self.conn.execute(
            "SELECT id FROM activities a WHERE a.status IN ('live', 'paused', 'ended') AND EXISTS (SELECT 1 FROM rooms r "
            "WHERE r.activity_id = a.id AND r.next_due <= ?) "
            "UNION SELECT id FROM activities WHERE status = 'scheduled' AND starts_at <= ? "
            "UNION SELECT id FROM activities WHERE status IN ('live', 'paused') "
            "AND ends_at <= ? LIMIT ?", (now, now, now, limit)).fetchall()
        return [r[0] for r in rows]

    _EVENT_COLUMNS = ("o.id, o.activity_id, o.seq, o.type, o.data, o.created_at, o.attempts, "
                      "o.next_attempt_at, o.delivered_at, o.dead_at, o.last_error")
    # An event is pending while neither delivered nor dead (`outbox_undelivered`'s condition).
    _PENDING = "{t}.delivered_at IS NULL AND {t}.dead_at IS NULL"

    def claim_outbox(self, now: int, lease: int, limit: int) -> list[dict[str, Any]]:
        """See base.Tx. Runs in the caller's `BEGIN IMMEDIATE` transaction, which holds the
        write lock from the first read: two workers' claims are serialised, and the second sees
        the first one's lease."""
        rows = self._all(
            f"SELECT {self._EVENT_COLUMNS}, m.webhook_url, m.webhook_secret FROM activities a "
            "JOIN merchants m ON m.id = a.merchant_id "
            "JOIN outbox o ON o.id = (SELECT h.id FROM outbox h WHERE h.activity_id = a.id "
            f"AND {self._PENDING.format(t='h')} ORDER BY h.id LIMIT 1) "
            "WHERE m.webhook_url IS NOT NULL AND m.webhook_url <> '' "
            f"AND {self._PENDING.format(t='o')} "  # as in postgres.py (no-op here)
            "AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ?) "
            "ORDER BY o.next_attempt_at, o.id LIMIT ?", (now, limit))
        for r in rows:
            self._exec("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? "
                       "WHERE id = ?", (now + lease, r["id"]))
            r["attempts"] += 1
            r["next_attempt_at"] = now + lease
            r["data"] = loads(r["data"])
        return rows

    def mark_delivered(self, event_id: int, now: int) -> bool:
        return self._exec("UPDATE outbox SET delivered_at = ?, dead_at = NULL, "
                          "next_attempt_at = NULL WHERE id = ? AND delivered_at IS NULL",
                          (now, event_id)) == 1

    def mark_failed(self, event_id: int, now: int, next_attempt_at: int, error: str,
                    dead: bool) -> bool:
        return self._exec(f"UPDATE outbox SET last_error = ?, next_attempt_at = ?, dead_at = ? "
                          f"WHERE id = ? AND {self._PENDING.format(t='outbox')}",
                          (error, None if dead else next_attempt_at, now if dead else None,
                           event_id)) == 1

    def get_event(self, activity_id: str, event_id: int) -> dict[str, Any] | None:
        row = self._one(f"SELECT {self._EVENT_COLUMNS} FROM outbox o WHERE o.activity_id = ? "
                        "AND o.id = ?", (activity_id, event_id))
        if row is not None:
            row["data"] = loads(row["data"])
        return row

    def list_events(self, activity_id: str, status: str | None = None, after: int = 0,
                    limit: int = 100) -> list[dict[str, Any]]:
        where = {None: "", "pending": f"AND {self._PENDING.format(t='o')} ",
                 "delivered": "AND o.delivered_at IS NOT NULL ",
                 "dead": "AND o.delivered_at IS NULL AND o.dead_at IS NOT NULL "}[status]
        rows = self._all(f"SELECT {self._EVENT_COLUMNS} FROM outbox o WHERE o.activity_id = ? "
                         f"AND o.id > ? {where}ORDER BY o.id LIMIT ?", (activity_id, after, limit))
        for r in rows:
            r["data"] = loads(r["data"])
        return rows

    def redeliver(self, activity_id: str, event_id: int, now: int) -> bool:
        return self._exec("UPDATE outbox SET delivered_at = NULL, dead_at = NULL, attempts = 0, "
                          "next_attempt_at = ?, last_error = NULL WHERE activity_id = ? "
                          "AND id = ? AND (delivered_at IS NOT NULL OR dead_at IS NOT NULL)",
                          (now, activity_id, event_id)) == 1

    # stats ---------------------------------------------------------------------------------

    def add_stats(self, activity_id: str, hour: int, deltas: dict[str, int]) -> None:
        deltas = {k: v for k, v in deltas.items() if v}
        if not deltas:
            return
        cols = ", ".join(deltas)
        marks = ", ".join("?" for _ in deltas)
        updates = ", ".join(f"{k} = stats.{k} + excluded.{k}" for k in deltas)
        self._exec(f"INSERT INTO stats (activity_id, hour, {cols}) VALUES (?, ?, {marks}) "
                   f"ON CONFLICT (activity_id, hour) DO UPDATE SET {updates}",
                   (activity_id, hour, *deltas.values()))

    def add_event_stats(self, activity_id: str, hour: int, counts: dict[str, int]) -> None:
        self.conn.executemany(
            "INSERT INTO event_stats (activity_id, hour, type, count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (activity_id, hour, type) DO UPDATE SET count = event_stats.count + excluded.count",
            [(activity_id, hour, t, n) for t, n in counts.items()])

    def event_totals(self, activity_id: str) -> dict[str, int]:
        rows = self.conn.execute("SELECT type, sum(count) FROM event_stats WHERE activity_id = ? "
                                 "GROUP BY type ORDER BY type", (activity_id,)).fetchall()
        return {t: n for t, n in rows}

    def mark_participant_hour(self, activity_id: str, participant_id: str, hour: int) -> bool:
        return self._exec("INSERT INTO participant_hours (activity_id, hour, participant_id) "
                          "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          (activity_id, hour, participant_id)) == 1

    def hourly_stats(self, activity_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM stats WHERE activity_id = ? ORDER BY hour", (activity_id,))

    # idempotency ---------------------------------------------------------------------------

    def get_idempotency(self, activity_id: str, participant_id: str, key: str) -> IdempotencyRecord | None:
        row = self._one("SELECT * FROM idempotency WHERE activity_id = ? AND participant_id = ? "
                        "AND key = ?", (activity_id, participant_id, key))
        if row is None:
            return None
        row["response"] = loads(row["response"])
        return IdempotencyRecord(**row)

    def claim_idempotency(self, rec: IdempotencyRecord, stale_before: int) -> bool:
        """Take the key for a new request: insert it, or take over an abandoned pending one."""
        n = self._exec("INSERT INTO idempotency (activity_id, participant_id, key, request_hash, "
                       "state, created_at) VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                       (rec.activity_id, rec.participant_id, rec.key, rec.request_hash,
                        rec.created_at))
        if n == 1:
            return True
        return self._exec("UPDATE idempotency SET created_at = ?, request_hash = ? "
                          "WHERE activity_id = ? AND participant_id = ? AND key = ? "
                          "AND state = 'pending' AND created_at < ?",
                          (rec.created_at, rec.request_hash, rec.activity_id, rec.participant_id,
                           rec.key, stale_before)) == 1

    def complete_idempotency(self, activity_id: str, participant_id: str, key: str, status: int,
                             response: dict[str, Any]) -> None:
        self._exec("UPDATE idempotency SET state = 'done', status = ?, response = ? "
                   "WHERE activity_id = ? AND participant_id = ? AND key = ?",
                   (status, dumps(response), activity_id, participant_id, key))

    def release_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        self._exec("DELETE FROM idempotency WHERE activity_id = ? AND participant_id = ? "
                   "AND key = ? AND state = 'pending'", (activity_id, participant_id, key))

    def delete_idempotency(self, activity_id: str, participant_id: str, key: str) -> None:
        self._exec("DELETE FROM idempotency WHERE activity_id = ? AND participant_id = ? "
                   "AND key = ?", (activity_id, participant_id, key))

    def purge_idempotency(self, before: int) -> int:
        return self._exec("DELETE FROM idempotency WHERE created_at < ?", (before,))

    # console -------------------------------------------------------------------------------

    def count_participants(self, activity_id: str) -> int:
        """Participants with a row in the activity: everyone who acted or sent a heartbeat."""
        return self.conn.execute("SELECT count(*) FROM activity_participants "
                                 "WHERE activity_id = ?", (activity_id,)).fetchone()[0]

    def get_login_failures(self, email: str) -> tuple[int, int, int | None] | None:
        """(failures, last failure time, locked until) for a console login email, if any."""
        row = self.conn.execute("SELECT failures, last_failed_at, locked_until FROM "
                                "login_failures WHERE email = ?", (email,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def add_login_failure(self, email: str, now: int, reset_before: int, limit: int,
                          lock_until: int) -> tuple[int, int | None]:
        """Count a failed login in one statement (no read-then-write race): the count starts
        again when the previous failure is older than `reset_before`; reaching `limit` locks
        the email until `lock_until`. Returns (failures, locked until)."""
        self._exec(
            "INSERT INTO login_failures (email, failures, last_failed_at, locked_until) "
            "VALUES (?, 1, ?, CASE WHEN 1 >= ? THEN ? END) "
            "ON CONFLICT (email) DO UPDATE SET "
            "failures = CASE WHEN login_failures.last_failed_at < ? THEN 1 "
            "ELSE login_failures.failures + 1 END, "
            "locked_until = CASE WHEN (CASE WHEN login_failures.last_failed_at < ? THEN 1 "
            "ELSE login_failures.failures + 1 END) >= ? THEN ? END, "
            "last_failed_at = excluded.last_failed_at",
            (email, now, limit, lock_until, reset_before, reset_before, limit, lock_until))
        row = self.conn.execute("SELECT failures, locked_until FROM login_failures "
                                "WHERE email = ?", (email,)).fetchone()
        return row[0], row[1]

    def clear_login_failures(self, email: str) -> None:
        self._exec("DELETE FROM login_failures WHERE email = ?", (email,))
