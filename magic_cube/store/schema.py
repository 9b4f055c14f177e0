"""Versioned migrations. Each runs once, in order, in its own transaction; running them again
is a no-op. The statements are plain SQL that SQLite and PostgreSQL both accept (JSON is kept
as text, times as integer epoch seconds), except for the few spellings `translate` rewrites."""

from __future__ import annotations

import re

_POSTGRESQL = [
    ("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"),
    ("datetime('now')", "now()"),
]


# Advisory lock keys (two-int form: class, hashtext(name)) that the store's statements and
# the functions below share (store/postgres.py).
PARTICIPANT_LOCK = 0x6D63_0002  # "mc" 2: first sight of one merchant's participant
ACTIVITY_PARTICIPANT_LOCK = 0x6D63_0003  # "mc" 3: first row of a participant in an activity


class PostgresOnly(str):
    """A statement that only PostgreSQL runs, exactly as written."""


def translate(sql: str, dialect: str) -> str:
    """`sql` as `dialect` spells it: SQLite's text unchanged; for PostgreSQL, SQLite's
    auto-increment key becomes BIGSERIAL, `datetime('now')` becomes `now()`, and every TEXT
    column compares bytewise (`COLLATE "C"`, as SQLite does), so that ordering, keyset
    pagination and LIKE behave the same whatever the server's locale. A `PostgresOnly`
    statement is nothing ("") for SQLite and unchanged for PostgreSQL."""
    if dialect == "sqlite":
        return "" if isinstance(sql, PostgresOnly) else sql
    if dialect != "postgresql":
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    if isinstance(sql, PostgresOnly):
        return sql
    for sqlite_text, postgres_text in _POSTGRESQL:
        sql = sql.replace(sqlite_text, postgres_text)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)


MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "initial schema", [
        """CREATE TABLE merchants (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT UNIQUE,
            password_hash TEXT,
            participant_secret TEXT NOT NULL,
            webhook_url TEXT,
            webhook_secret TEXT,
            created_at BIGINT NOT NULL)""",
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            merchant_id TEXT NOT NULL REFERENCES merchants(id),
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            revoked_at BIGINT)""",
        """CREATE TABLE activities (
            id TEXT PRIMARY KEY,
            merchant_id TEXT NOT NULL REFERENCES merchants(id),
            template_id TEXT NOT NULL,
            template_version TEXT NOT NULL,
            template_hash TEXT NOT NULL,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            config TEXT NOT NULL,
            timezone TEXT NOT NULL,
            starts_at BIGINT,
            ends_at BIGINT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            published_at BIGINT,
            ended_at BIGINT,
            state TEXT NOT NULL,
            initial_state TEXT,
            seq BIGINT NOT NULL DEFAULT 0,
            version BIGINT NOT NULL DEFAULT 1,
            seed TEXT,
            seed_commitment TEXT,
            next_due BIGINT)""",
        "CREATE INDEX activities_merchant ON activities (merchant_id, created_at)",
        "CREATE INDEX activities_due ON activities (next_due)",
        """CREATE TABLE rooms (
            activity_id TEXT NOT NULL REFERENCES activities(id),
            id TEXT NOT NULL,
            status TEXT NOT NULL,
            initiator TEXT NOT NULL,
            capacity INTEGER,
            opened_at BIGINT NOT NULL,
            closed_at BIGINT,
            state TEXT NOT NULL,
            timers TEXT NOT NULL,
            next_due BIGINT,
            size INTEGER NOT NULL DEFAULT 0,
            version BIGINT NOT NULL DEFAULT 1,
            PRIMARY KEY (activity_id, id),
            CHECK (capacity IS NULL OR size <= capacity))""",
        "CREATE INDEX rooms_due ON rooms (activity_id, next_due)",
        """CREATE TABLE room_members (
            activity_id TEXT NOT NULL,
            room_id TEXT NOT NULL,
            participant_id TEXT NOT NULL,
            role TEXT NOT NULL,
            data TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            joined_at BIGINT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (activity_id, room_id, participant_id),
            UNIQUE (activity_id, room_id, position))""",
        """CREATE TABLE participants (
            merchant_id TEXT NOT NULL,
            id TEXT NOT NULL,
            first_seen_at BIGINT NOT NULL,
            first_activity_id TEXT NOT NULL,
            PRIMARY KEY (merchant_id, id))""",
        """CREATE TABLE activity_participants (
            activity_id TEXT NOT NULL,
            participant_id TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            state TEXT,
            version BIGINT NOT NULL DEFAULT 0,
            first_action_at BIGINT,
            last_action_at BIGINT,
            actions BIGINT NOT NULL DEFAULT 0,
            last_seen_at BIGINT,
            interaction_seconds BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (activity_id, participant_id))""",
        """CREATE TABLE actions (
            activity_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            at BIGINT NOT NULL,
            actor_kind TEXT NOT NULL,
            participant_id TEXT NOT NULL,
            action TEXT NOT NULL,
            params TEXT NOT NULL,
            room_id TEXT,
            new_room_id TEXT,
            result TEXT NOT NULL,
            events TEXT NOT NULL,
            random TEXT NOT NULL,
            first_time INTEGER NOT NULL DEFAULT 0,
            new_to_activity INTEGER NOT NULL DEFAULT 0,
            display_name TEXT NOT NULL DEFAULT '',
            timer TEXT,
            PRIMARY KEY (activity_id, seq))""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            activity_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            type TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at BIGINT,
            delivered_at BIGINT,
            dead_at BIGINT,
            last_error TEXT)""",
        "CREATE INDEX outbox_pending ON outbox (delivered_at, next_attempt_at)",
        """CREATE TABLE stats (
            activity_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            participations BIGINT NOT NULL DEFAULT 0,
            participants BIGINT NOT NULL DEFAULT 0,
            new_participants BIGINT NOT NULL DEFAULT 0,
            first_time BIGINT NOT NULL DEFAULT 0,
            interaction_seconds BIGINT NOT NULL DEFAULT 0,
            completions BIGINT NOT NULL DEFAULT 0,
            actions BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (activity_id, hour))""",
        """CREATE TABLE event_stats (
            activity_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            type TEXT NOT NULL,
            count BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (activity_id, hour, type))""",
        """CREATE TABLE participant_hours (
            activity_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            participant_id TEXT NOT NULL,
            PRIMARY KEY (activity_id, hour, participant_id))""",
        """CREATE TABLE idempotency (
            activity_id TEXT NOT NULL,
            participant_id TEXT NOT NULL,
            key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            state TEXT NOT NULL,
            status INTEGER,
            response TEXT,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (activity_id, participant_id, key))""",
        "CREATE INDEX idempotency_created ON idempotency (created_at)",
    ]),
    # The console's lock-out after repeated failed logins is kept here, not in process memory,
    # so that it holds across app processes and restarts.
    (2, "console login failures", [
        """CREATE TABLE login_failures (
            email TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_failed_at BIGINT NOT NULL,
            locked_until BIGINT)""",
    ]),
    # The worker (magic_cube/worker). `outbox_undelivered` finds the oldest undelivered event
    # of an activity with one index seek, however many were delivered before it;
    # `outbox_activity` pages through an activity's events. Due room timers are found per live
    # activity through `rooms_due`: a scan of `rooms (next_due)` would also walk the open rooms
    # of ended and paused activities, whose timers never fire, and grow without bound.
    (3, "worker: outbox delivery, due activities", [
        "CREATE INDEX outbox_undelivered ON outbox (activity_id, id) "
        "WHERE delivered_at IS NULL AND dead_at IS NULL",
        "CREATE INDEX outbox_activity ON outbox (activity_id, id)",
        "CREATE INDEX activities_status ON activities (status)",
    ]),
    # Sharing (docs/architecture.md, "Share links and attribution"). A share code names its
    # sharer, activity and room, so it is looked up, never decoded: it cannot be forged, and it
    # fits a mini-program code's 32-character `scene`. A participant's inviter is set once, by
    # their first accepted action; the action log keeps it (`actions.inviter`) for replay.
    (4, "share links, inviters, guest activities", [
        """CREATE TABLE shares (
            code TEXT PRIMARY KEY,
            activity_id TEXT NOT NULL REFERENCES activities(id),
            room_id TEXT NOT NULL DEFAULT '',
            sharer TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            opens BIGINT NOT NULL DEFAULT 0,
            UNIQUE (activity_id, sharer, room_id))""",
        "ALTER TABLE activity_participants ADD COLUMN inviter TEXT",
        "ALTER TABLE activity_participants ADD COLUMN generation INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX activity_participants_inviter ON activity_participants "
        "(activity_id, inviter) WHERE inviter IS NOT NULL",
        "ALTER TABLE actions ADD COLUMN inviter TEXT",
        "ALTER TABLE activities ADD COLUMN guests BOOLEAN NOT NULL DEFAULT FALSE",
        "ALTER TABLE stats ADD COLUMN invited BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE stats ADD COLUMN invited_first_time BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE stats ADD COLUMN shares BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE stats ADD COLUMN share_opens BIGINT NOT NULL DEFAULT 0",
    ]),
    # Idempotency-Keys name the claim that holds them while pending, so that a key left by a
    # process that is gone is abandoned at once (store/owners.py), and so that completing a
    # key taken over meanwhile is refused.
    (5, "idempotency key owners", [
        "ALTER TABLE idempotency ADD COLUMN owner TEXT",
    ]),
    # Fulfilment: one redemption code (核销码) per prize won or order placed, written in the
    # transaction of the action that won it. Redeeming is one conditional UPDATE (`… AND
    # redeemed_at IS NULL`), so of two concurrent redeems of a code exactly one changes a row.
    (6, "fulfilment: redemption codes and shipping", [
        """CREATE TABLE redemptions (
            code TEXT PRIMARY KEY,
            merchant_id TEXT NOT NULL,
            activity_id TEXT NOT NULL REFERENCES activities(id),
            seq BIGINT NOT NULL,
            position INTEGER NOT NULL,
            participant_id TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            event TEXT NOT NULL,
            item TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT '',
            amount BIGINT,
            created_at BIGINT NOT NULL,
            redeemed_at BIGINT,
            redeemed_by TEXT,
            shipping TEXT,
            shipped_at BIGINT,
            UNIQUE (activity_id, seq, position))""",
                "CREATE INDEX redemptions_participant ON redemptions (activity_id, participant_id)",
    ]),
    # Failed console logins are counted per email *and* client address (`address`; '' counts
    # the email's failures from every address), so that one address cannot lock a merchant out
    # of every other (engine/accounts.py). The counts are short-lived: the old per-email table
    # is dropped rather than carried over, and the worker forgets stale rows
    # (`login_failures_last`).
    (7, "console login failures per client address", [
        "DROP TABLE login_failures",
        """CREATE TABLE login_failures (
            email TEXT NOT NULL,
            address TEXT NOT NULL DEFAULT '',
            failures INTEGER NOT NULL,
            last_failed_at BIGINT NOT NULL,
            locked_until BIGINT,
            PRIMARY KEY (email, address))""",
        "CREATE INDEX login_failures_last ON login_failures (last_failed_at)",
    ]),
    # Campaigns (docs/architecture.md, "Campaigns"): activities reported as one, of one
    # merchant or, for an operator, of the merchants who joined. Counters move with each
    # accepted action, in buckets per (campaign, activity, hour): an activity's actions write
    # only its own rows, so activities of one campaign never wait for each other's counters.
    # `campaign_participants` dedupes participants across the campaign's activities.
    (8, "campaigns and operator accounts", [
        "ALTER TABLE merchants ADD COLUMN operator BOOLEAN NOT NULL DEFAULT FALSE",
        """CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            owner_id TEXT NOT NULL REFERENCES merchants(id),
            name TEXT NOT NULL,
            timezone TEXT NOT NULL,
            starts_on TEXT NOT NULL,
            ends_on TEXT NOT NULL,
            starts_at BIGINT NOT NULL,
            ends_at BIGINT NOT NULL,
            created_at BIGINT NOT NULL)""",
        """CREATE TABLE campaign_members (
            campaign_id TEXT NOT NULL REFERENCES campaigns(id),
            merchant_id TEXT NOT NULL REFERENCES merchants(id),
            role TEXT NOT NULL,
            joined_at BIGINT NOT NULL,
            PRIMARY KEY (campaign_id, merchant_id))""",
        "CREATE INDEX campaign_members_merchant ON campaign_members (merchant_id, campaign_id)",
        """CREATE TABLE campaign_invites (
            code TEXT PRIMARY KEY,
            campaign_id TEXT NOT NULL REFERENCES campaigns(id),
            created_at BIGINT NOT NULL,
            accepted_by TEXT,
            accepted_at BIGINT)""",
        "CREATE INDEX campaign_invites_campaign ON campaign_invites (campaign_id, created_at)",
        """CREATE TABLE campaign_activities (
            campaign_id TEXT NOT NULL REFERENCES campaigns(id),
            activity_id TEXT NOT NULL REFERENCES activities(id),
            merchant_id TEXT NOT NULL,
            added_at BIGINT NOT NULL,
            removed_at BIGINT,
            PRIMARY KEY (campaign_id, activity_id))""",
        "CREATE INDEX campaign_activities_activity ON campaign_activities (activity_id)",
        """CREATE TABLE campaign_participants (
            campaign_id TEXT NOT NULL,
            participant_id TEXT NOT NULL,
            first_seen BIGINT NOT NULL,
            activity_id TEXT NOT NULL,
            first_ever INTEGER NOT NULL DEFAULT 0,
            inviter TEXT,
            PRIMARY KEY (campaign_id, participant_id))""",
        "CREATE INDEX campaign_participants_inviter ON campaign_participants "
        "(campaign_id, inviter) WHERE inviter IS NOT NULL",
        """CREATE TABLE campaign_stats (
            campaign_id TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            participations BIGINT NOT NULL DEFAULT 0,
            participants BIGINT NOT NULL DEFAULT 0,
            first_ever BIGINT NOT NULL DEFAULT 0,
            new_to_activity BIGINT NOT NULL DEFAULT 0,
            interaction_seconds BIGINT NOT NULL DEFAULT 0,
            completions BIGINT NOT NULL DEFAULT 0,
            actions BIGINT NOT NULL DEFAULT 0,
            invited BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (campaign_id, activity_id, hour))""",
        """CREATE TABLE campaign_completions (
            campaign_id TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            hour BIGINT NOT NULL,
            type TEXT NOT NULL,
            count BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (campaign_id, activity_id, hour, type))""",
    ]),
    # Limits per device and address (engine/action_limits.py): one row per (activity, limit,
    # subject, window) counts the accepted actions, taken by one conditional upsert in the
    # action's transaction, so of two actions racing for the last slot one is refused. The
    # log keeps the device and address each action came from, so that replay counts the same.
    # `participant_devices` remembers the devices a participant acted or shared from: an
    # invitee acting from their inviter's device is a self-invite.
    (9, "limits per device and address", [
        """CREATE TABLE action_limits (
            activity_id TEXT NOT NULL,
            limit_id TEXT NOT NULL,
            subject TEXT NOT NULL,
            period TEXT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (activity_id, limit_id, subject, period))""",
        """CREATE TABLE participant_devices (
            activity_id TEXT NOT NULL,
            participant_id TEXT NOT NULL,
            device TEXT NOT NULL,
            first_seen BIGINT NOT NULL,
            PRIMARY KEY (activity_id, participant_id, device))""",
        "ALTER TABLE actions ADD COLUMN device TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE actions ADD COLUMN address TEXT NOT NULL DEFAULT ''",
    ]),
    # Blocks and voids (engine/blocks.py): a merchant blocks a participant or a device in an
    # activity, `refused` or `never_wins`; each logged action records whether it ran as
    # never-winning, so replay agrees whatever the blocks are now; a voided participant's codes
    # keep their row, marked `voided_at`, and can no longer be redeemed.
    (10, "blocklists and voids", [
        """CREATE TABLE blocks (
            activity_id TEXT NOT NULL REFERENCES activities(id),
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_at BIGINT NOT NULL,
            PRIMARY KEY (activity_id, kind, value))""",
        "ALTER TABLE actions ADD COLUMN never_wins INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE redemptions ADD COLUMN voided_at BIGINT",
    ]),
    # What every action would otherwise look up on each call, kept on the activity's row
    # (which the action reads anyway) by the statements that change it: `blocks` counts the
    # activity's blocks (none: no lookup), `campaigns` lists the campaigns counting it as
    # [campaign, since, until] (JSON; NULL until first worked out, then looked up).
    (11, "block count and campaigns on the activity row", [
        "ALTER TABLE activities ADD COLUMN blocks INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE activities ADD COLUMN campaigns TEXT",
        "UPDATE activities SET blocks = (SELECT COUNT(*) FROM blocks b "
        "WHERE b.activity_id = activities.id)",
        "UPDATE activities SET campaigns = '[]' WHERE id NOT IN "
        "(SELECT activity_id FROM campaign_activities)",
    ]),
    # Every template document an activity may be pinned to, by content hash (engine/core.py):
    # an activity keeps running on exactly the rules it was published with when its template
    # is edited in place or uninstalled. Each process keeps the templates it loads.
    (12, "template documents by content hash", [
        """CREATE TABLE template_docs (
            content_hash TEXT PRIMARY KEY,
            template_id TEXT NOT NULL,
            version TEXT NOT NULL,
            doc TEXT NOT NULL,
            kept_at BIGINT NOT NULL)""",
    ]),
    # PostgreSQL: a write transaction looks a participant up and, when the row is missing,
    # takes the advisory lock standing in for it and looks again (store/postgres.py) in one
    # statement, not three. The functions are VOLATILE: each statement in them sees a fresh
    # snapshot, so the second look sees a row committed while the lock was awaited.
    (13, "participant look-ups under a lock in one statement (PostgreSQL)", [
        PostgresOnly(f"""
CREATE OR REPLACE FUNCTION mc_participant_for_update(a text, p text)
RETURNS SETOF activity_participants LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY SELECT * FROM activity_participants
        WHERE activity_id = a AND participant_id = p FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM pg_advisory_xact_lock({ACTIVITY_PARTICIPANT_LOCK}, hashtext(a || chr(31) || p));
        RETURN QUERY SELECT * FROM activity_participants
            WHERE activity_id = a AND participant_id = p FOR UPDATE;
    END IF;
END $$"""),
        PostgresOnly(f"""
CREATE OR REPLACE FUNCTION mc_known_participant(m text, p text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM 1 FROM participants WHERE merchant_id = m AND id = p;
    IF FOUND THEN
        RETURN true;
    END IF;
    PERFORM pg_advisory_xact_lock({PARTICIPANT_LOCK}, hashtext(m || chr(31) || p));
    PERFORM 1 FROM participants WHERE merchant_id = m AND id = p;
    RETURN FOUND;
END $$"""),
    ]),
]
