"""The shopper page before it is public: a merchant's preview, which writes nothing.

The console hands its phone frame a short-lived preview token for one activity, signed with
the merchant's participant secret (another salt than participant tokens, so neither can stand
for the other). With it, the shopper page renders what a participant would see — a draft's view
on its initial state — with every button disabled.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from magic_cube.engine.core import Core
from magic_cube.engine.errors import InvalidToken, TokenExpired
from magic_cube.engine.views import Views
from magic_cube.rules.interpreter import initial_activity_state, render_view
from magic_cube.rules.model import Actor, Snapshot
from magic_cube.store.records import Merchant

PREVIEW_SALT = "magic-cube.preview"
PREVIEW_TTL = 15 * 60


class Previews:
    def __init__(self, core: Core, views: Views) -> None:
        self.core = core
        self.views = views

    def token(self, merchant: Merchant, activity_id: str) -> str:
        """A token that shows the merchant's activity in preview for a quarter of an hour."""
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
        payload = {"a": activity_id, "exp": self.core.now() + PREVIEW_TTL}
        return str(URLSafeSerializer(merchant.participant_secret, salt=PREVIEW_SALT)
                   .dumps(payload))

    def body(self, activity_id: str, token: str, lang: str = "en") -> dict[str, Any]:
        """The public view of the activity as the preview token allows it, drafts included."""
        with self.core.store.transaction(write=False) as tx:
            activity = self.core.activity(tx, activity_id)
            merchant = tx.get_merchant(activity.merchant_id)
        try:
            payload = URLSafeSerializer(merchant.participant_secret if merchant else "",
                                        salt=PREVIEW_SALT).loads(token)
        except BadSignature as exc:
            raise InvalidToken() from exc
        if not isinstance(payload, dict) or payload.get("a") != activity_id \
                or not isinstance(payload.get("exp"), int):
            raise InvalidToken()
        if payload["exp"] <= self.core.now():
            raise TokenExpired()
        if activity.status != "draft":
            body = self.views.public_view(activity_id, lang=lang).body
            assert body is not None  # no If-None-Match: always the full view
            return dict(body)
        entry = self.core.entry(activity)
        now = self.core.now()
        state = initial_activity_state(entry.compiled, activity.config, now, activity.timezone)
        snapshot = Snapshot(activity.id, activity.config, state, None, None, activity.timezone)
        return {
            "id": activity.id, "title": activity.title, "status": "draft",
            "template": {"id": entry.id, "version": entry.version, "kind": entry.kind,
                         "title": entry.title.get(lang) or entry.title.get("en")},
            "timezone": activity.timezone, "starts_at": activity.starts_at,
            "ends_at": activity.ends_at,
            "view": render_view(entry.compiled, "activity", snapshot, Actor(""), now),
            "actions": [], "fairness": {"seed_commitment": None, "seed": None},
            "heartbeat_interval": self.core.settings.heartbeat_interval,
            "guests": activity.guests,
        }
