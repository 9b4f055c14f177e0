"""The SQL both stores share: every `Tx` method whose statements and row conversions are the
same on SQLite and PostgreSQL, written once with `?` placeholders.

A subclass runs the statements through five hooks on its own driver — `_one` and `_all`
(rows as dicts), `_row` and `_rows` (rows as tuples), `_exec` (a write: its row count) and
`_many` (one statement, many argument tuples) — translating the placeholders if its driver
needs to, and raising `Conflict` where a constraint refuses a write. It overrides only the
methods whose SQL differs (row locks, `SKIP LOCKED`, `RETURNING`, …).
"""

from __future__ import annotations

import json
from typing import Any

from magic_cube.store.base import Conflict, Tx
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


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class SQLTx(Tx):
    conn: Any

    # The operator of `list_activities`' search: ASCII case-insensitive on both databases.
    _LIKE = "LIKE"

    # hooks ---------------------------------------------------------------------------------

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        """The first row of a query, as a dict, or None."""
        raise NotImplementedError

    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        """Every row of a query, as dicts."""
        raise NotImplementedError

    def _row(self, sql: str, args: Any = ()) -> tuple | None:
        """The first row of a query, as a tuple, or None."""
        raise NotImplementedError

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Every row of a query, as tuples."""
        raise NotImplementedError

    def _exec(self, sql: str, args: tuple = ()) -> int:
        """Run a write; the number of rows it changed."""
        raise NotImplementedError

    def _many(self, sql: str, args: list[tuple]) -> None:
        """Run one statement once per argument tuple."""
        raise NotImplementedError

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
        row = self._row("SELECT version, status, starts_at, ends_at FROM activities "
                        "WHERE id = ?", (activity_id,))
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
            where.append(f"(title {self._LIKE} ? OR template_id {self._LIKE} ?)")
            args += [f"%{search}%", f"%{search}%"]
        if before:
            where.append("id < ?")
            args.append(before)
        rows = self._all(f"SELECT * FROM activities WHERE {' AND '.join(where)} "
                         f"ORDER BY id DESC LIMIT ?", (*args, limit))
        return [self._activity(r) for r in rows]

    # rooms ---------------------------------------------------------------------------------

    def get_room(self, activity_id: str, room_id: str) -> StoredRoom | None:
        return self._room(activity_id, room_id, lock=False)

    def _room(self, activity_id: str, room_id: str, lock: bool) -> StoredRoom | None:
        """A room with its members; `lock` (asked for by PostgreSQL only) reads it FOR UPDATE."""
        query = "SELECT * FROM rooms WHERE activity_id = ? AND id = ?"
        row = self._one(f"{query} FOR UPDATE" if lock else query, (activity_id, room_id))
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
        row = self._row("SELECT version, next_due FROM rooms WHERE activity_id = ? AND id = ?",
                        (activity_id, room_id))
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
        rows = self._rows("SELECT id FROM rooms WHERE activity_id = ? AND next_due <= ? "
                          "ORDER BY next_due, id LIMIT ?", (activity_id, now, limit))
        return [r[0] for r in rows]

    def open_room_ids(self, activity_id: str) -> list[str]:
        rows = self._rows("SELECT id FROM rooms WHERE activity_id = ? AND status = 'open' "
                          "ORDER BY opened_at, id", (activity_id,))
        return [r[0] for r in rows]

    def list_rooms(self, activity_id: str) -> list[StoredRoom]:
        rows = self._rows("SELECT id FROM rooms WHERE activity_id = ? ORDER BY opened_at, id",
                          (activity_id,))
        # Listing is not acting: even a write transaction does not lock every room it lists.
        return [self._room(activity_id, r[0], lock=False) for r in rows]

    def rooms_of(self, activity_id: str, participant_id: str, limit: int = 20) -> list[str]:
        rows = self._rows(
            "SELECT room_id FROM room_members WHERE activity_id = ? AND participant_id = ? "
            "ORDER BY joined_at DESC, room_id LIMIT ?", (activity_id, participant_id, limit))
        return [r[0] for r in rows]

    # participants --------------------------------------------------------------------------

    def get_participant(self, activity_id: str, participant_id: str) -> ParticipantRecord | None:
        row = self._one("SELECT * FROM activity_participants WHERE activity_id = ? "
                        "AND participant_id = ?", (activity_id, participant_id))
        if row is None:
            return None
        row["state"] = loads(row["state"])
        return ParticipantRecord(**row)

    def get_participant_version(self, activity_id: str, participant_id: str) -> int | None:
        row = self._row("SELECT version FROM activity_participants WHERE activity_id = ? "
                        "AND participant_id = ?", (activity_id, participant_id))
        return row[0] if row else None

    def save_participant(self, p: ParticipantRecord, expected_version: int | None) -> None:
        """Insert (`expected_version` None) or update conditionally on the version read."""
        state = dumps(p.state) if p.state is not None else None
        if expected_version is None:
            self._exec("INSERT INTO activity_participants (activity_id, participant_id, "
                       "display_name, state, version, first_action_at, last_action_at, actions, "
                       "last_seen_at, interaction_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (p.activity_id, p.participant_id, p.display_name, state, p.version,
                        p.first_action_at, p.last_action_at, p.actions, p.last_seen_at,
                        p.interaction_seconds))
            return
        n = self._exec("UPDATE activity_participants SET display_name = ?, state = ?, version = ?, "
                       "first_action_at = ?, last_action_at = ?, actions = ?, last_seen_at = ?, "
                       "interaction_seconds = ? WHERE activity_id = ? AND participant_id = ? "
                       "AND version = ?",
                       (p.display_name, state, p.version, p.first_action_at, p.last_action_at,
                        p.actions, p.last_seen_at, p.interaction_seconds, p.activity_id,
                        p.participant_id, expected_version))
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
        return self._row("SELECT 1 FROM participants WHERE merchant_id = ? AND id = ?",
                         (merchant_id, participant_id)) is not None

    # action log, outbox --------------------------------------------------------------------

    _ACTION_JSON = ("params", "result", "events", "random")
    _ACTION_FLAGS = ("first_time", "new_to_activity")  # INTEGER 0/1 columns

    def insert_action(self, a: ActionRecord) -> None:
        row = {k: (dumps(v) if k in self._ACTION_JSON else int(v) if k in self._ACTION_FLAGS
                   else v) for k, v in vars(a).items()}
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
            for key in self._ACTION_FLAGS:
                r[key] = bool(r[key])
            out.append(ActionRecord(**r))
        return out

    def insert_outbox(self, activity_id: str, seq: int, events: list[dict[str, Any]],
                      now: int) -> None:
        self._many(
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
        rows = self._rows(
            "SELECT id FROM activities a WHERE a.status IN ('live', 'paused', 'ended') AND EXISTS (SELECT 1 FROM rooms r "
            "WHERE r.activity_id = a.id AND r.next_due <= ?) "
            "UNION SELECT id FROM activities WHERE status = 'scheduled' AND starts_at <= ? "
            "UNION SELECT id FROM activities WHERE status IN ('live', 'paused') "
            "AND ends_at <= ? LIMIT ?", (now, now, now, limit))
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
        """Add to the per-event-type counters of one hour."""
        self._many(
            "INSERT INTO event_stats (activity_id, hour, type, count) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (activity_id, hour, type) "
            "DO UPDATE SET count = event_stats.count + excluded.count",
            [(activity_id, hour, t, n) for t, n in counts.items()])

    def event_totals(self, activity_id: str) -> dict[str, int]:
        """Event type -> count over all hours."""
        rows = self._rows("SELECT type, sum(count) FROM event_stats WHERE activity_id = ? "
                          "GROUP BY type ORDER BY type", (activity_id,))
        return {t: int(n) for t, n in rows}  # PostgreSQL's sum(bigint) is numeric

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
        """Forget a key whatever its state (an expired one, before it is used afresh)."""
        self._exec("DELETE FROM idempotency WHERE activity_id = ? AND participant_id = ? "
                   "AND key = ?", (activity_id, participant_id, key))

    def purge_idempotency(self, before: int) -> int:
        return self._exec("DELETE FROM idempotency WHERE created_at < ?", (before,))

    # console -------------------------------------------------------------------------------

    def count_participants(self, activity_id: str) -> int:
        """Participants with a row in the activity: everyone who acted or sent a heartbeat."""
        return self._row("SELECT count(*) FROM activity_participants WHERE activity_id = ?",
                         (activity_id,))[0]

    def get_login_failures(self, email: str) -> tuple[int, int, int | None] | None:
        """(failures, last failure time, locked until) for a console login email, if any."""
        row = self._row("SELECT failures, last_failed_at, locked_until FROM login_failures "
                        "WHERE email = ?", (email,))
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
        row = self._row("SELECT failures, locked_until FROM login_failures WHERE email = ?",
                        (email,))
        return row[0], row[1]

    def clear_login_failures(self, email: str) -> None:
        self._exec("DELETE FROM login_failures WHERE email = ?", (email,))
