"""Settings, each with a default and help text (`magic-cube settings` lists them).

A setting comes from the environment as `MAGIC_CUBE_<NAME>` (upper case), else its default.
Flask apps take overrides in `create_app({"SETTINGS": {...}})`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


SETTINGS: list[Setting] = [
    Setting("database_url", "sqlite:///magic-cube.db",
            "Where data lives: sqlite:///PATH (the embedded default) or postgresql://…"),
    Setting("secret_key", "",
            "Signs console sessions; when empty, a key kept in the instance folder "
            "(secret_key, made once, mode 0600) that every process of the machine shares"),
    Setting("participant_token_ttl", 7 * 86400,
            "Seconds a participant token issued by the API stays valid"),
    Setting("heartbeat_interval", 15, "Seconds between heartbeats a client is asked to send"),
    Setting("public_url", "",
            "The address shoppers reach this server at (e.g. https://shop.example.com), used "
            "in share links and shopper page URLs; empty: the address each request came to"),
    Setting("interaction_gap_cap", 60,
            "A gap between a participant's heartbeats or actions up to this many seconds is "
            "credited in full"),
    Setting("session_timeout", 300,
            "A longer gap, up to this many seconds, is credited the cap; beyond it a new "
            "session starts"),
    Setting("long_poll_max", 25,
            "Longest ?wait= a poll may hold, in seconds (WeChat allows 60 at most)"),
    Setting("long_poll_interval", 1.0,
            "Seconds between database checks while a poll waits (changes in this process wake "
            "it at once)"),
    Setting("poll_wake_interval", 1.0,
            "Seconds: held polls of an activity are woken, and its public view republished to "
            "them, at most once per interval (the first change after a quiet interval at "
            "once); 0 wakes them at every change"),
    Setting("write_batch", 64,
            "Most actions one process commits in one shared write transaction (group commit; "
            "each action in its own savepoint, each answered after the commit)"),
    Setting("idempotency_ttl", 86400, "Seconds an Idempotency-Key and its first response are kept"),
    Setting("idempotency_pending_timeout", 60,
            "Seconds after which a request still in flight with a key counts as abandoned"),
    Setting("max_body_bytes", 64 * 1024, "Largest request body accepted, in bytes"),
    Setting("upload_max_bytes", 2 * 1024 * 1024,
            "Largest image a merchant may upload in the console, in bytes (larger: 413)"),
    Setting("upload_folder", "",
            "Where uploaded images are kept, named by their SHA-256 and served at /media/…; "
            "empty: uploads/ in the instance folder (a relative path is inside it too)"),
    Setting("template_dirs", "",
            "More templates to serve: folders, each a template folder or a folder of them, "
            "separated by commas; read when a process starts, beside the bundled templates and "
            "those installed packages publish"),
    Setting("default_timezone", "Asia/Shanghai", "Time zone of a new activity unless it names one"),
    Setting("sqlite_busy_timeout_ms", 10000, "How long a SQLite writer waits for the lock, in ms"),
    Setting("sqlite_synchronous", "FULL",
            "SQLite synchronous mode: FULL survives power loss (each commit is synced before it "
            "is acknowledged, outside SQLite's write lock); NORMAL only process crashes"),
    Setting("trusted_proxies", 0,
            "How many reverse proxies in front set X-Forwarded-For/-Proto (the client IP for "
            "limits)"),
    Setting("rate_limit_enabled", True,
            "Refuse participants and IPs that exceed the limits below (429)"),
    Setting("rate_limit_storage", "memory://",
            "Where limit counters live: memory:// (one process) or redis://host:6379 (shared)"),
    Setting("rate_limit_actions", "5/second;120/minute",
            "Actions (and heartbeats) per participant per activity"),
    Setting("rate_limit_polls", "5/second;300/minute", "Polls per participant per activity"),
    Setting("rate_limit_ip", "100/second;3000/minute",
            "Requests to the participant endpoints per client IP"),
    Setting("challenge_after", 0,
            "Actions a participant may make in one activity within challenge_window before the "
            "next one must carry a solved proof-of-work challenge (428 challenge_required); "
            "0: only flagged participants are challenged"),
    Setting("challenge_window", 60, "Seconds over which challenge_after counts actions"),
    Setting("challenge_difficulty", 50000,
            "Largest number a challenge's answer may be (ALTCHA maxnumber): a phone tries about "
            "half of them, so the default takes well under a second"),
    Setting("timer_batch", 100, "Most due room timers fired lazily before one action"),
    Setting("worker_interval", 1.0,
            "Seconds the worker sleeps between passes when a pass found nothing more to do"),
    Setting("worker_batch", 500,
            "Most activities with due timers, and most webhook events, one worker pass handles"),
    Setting("webhook_timeout", 10.0,
            "Seconds a webhook receiver has to connect and to answer; slower counts as a failure"),
    Setting("webhook_max_attempts", 12,
            "Attempts at delivering one webhook event before it is dead (dead-letter)"),
    Setting("webhook_backoff_base", 30,
            "Seconds: after failed attempt n a webhook waits a random time up to base × 2^(n-1)"),
    Setting("webhook_backoff_cap", 21600, "Longest wait before a webhook retry, in seconds"),
    Setting("webhook_lease", 60,
            "Seconds a claimed webhook event is reserved for one worker; must exceed "
            "webhook_timeout"),
    Setting("webhook_concurrency", 8, "Webhook deliveries one worker makes at once"),
    Setting("log_format", "text",
            "text (for people) or json (one JSON object per line, each with its request_id)"),
]

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None,
             environ: dict[str, str] | None = None) -> Settings:
        """Defaults, then MAGIC_CUBE_* environment variables, then `overrides`."""
        env = os.environ if environ is None else environ
        values = {}
        for s in SETTINGS:
            raw = env.get(f"MAGIC_CUBE_{s.name.upper()}")
            values[s.name] = s.default if raw is None else _parse(raw, s.default)
        for name, value in (overrides or {}).items():
            if name not in _BY_NAME:
                raise ValueError(f"unknown setting {name!r}")
            values[name] = value
        return cls(values)


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


assert not {f.name for f in fields(Settings)} & set(_BY_NAME)
