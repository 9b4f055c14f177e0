"""Fulfilment: a redemption code (核销码) for every prize won and order placed, verified and
redeemed exactly once, with shipping details for physical goods.

Which events are wins or orders is the template's to say (`fulfilment`, see docs/templates.md):
for each such event type, whose it is (a data key naming the participant, or every member of
the event's room), what was won (a data key, a config field or a fixed value), what kind of item
it is (`physical` ones are shipped) and an amount. Codes are written by `issue` inside the
transaction of the action that emitted the events, so a win and its code commit together.

Redeeming is one conditional UPDATE: of two concurrent redeems of one code, exactly one wins.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from magic_cube.engine.core import Core
from magic_cube.engine.errors import AlreadyRedeemed, CodeNotFound, CodeVoided
from magic_cube.store import Tx
from magic_cube.store.records import ActivityRecord, Merchant

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at a counter
CODE_LENGTH = 10
assert len(ALPHABET) == 32  # `new_code` relies on it
SHIPPING_FIELDS = ("name", "phone", "address", "carrier", "tracking")


def new_code() -> str:
    # 32 letters: each random byte's low five bits pick one uniformly; one read of the system's
    # randomness per code, not one per letter.
    return "".join([ALPHABET[b & 31] for b in secrets.token_bytes(CODE_LENGTH)])


def normal_code(code: str) -> str:
    """A code as typed at a counter: spaces and dashes dropped, upper case."""
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def _pick(spec: Any, data: dict[str, Any], config: dict[str, Any]) -> Any:
    if isinstance(spec, str):
        return data.get(spec)
    if isinstance(spec, dict) and "config" in spec:
        return config.get(spec["config"])
    if isinstance(spec, dict) and "value" in spec:
        return spec["value"]
    return None


def own_code(row: dict[str, Any]) -> dict[str, Any]:
    """A code as its winner sees it: what to show at the counter and where it stands, without
    the merchant's own records (who redeemed it, the shipping address)."""
    shipping = row.get("shipping") or {}
    return {"code": row["code"], "event": row["event"], "item": row["item"],
            "kind": row["kind"], "amount": row["amount"], "created_at": row["created_at"],
            "redeemed_at": row["redeemed_at"], "voided_at": row.get("voided_at"),
            "shipped_at": row.get("shipped_at"),
            "carrier": shipping.get("carrier") or "", "tracking": shipping.get("tracking") or ""}


def issue(tx: Tx, activity: ActivityRecord, doc: dict[str, Any], seq: int,
          events: list[dict[str, Any]], now: int, actor: tuple[str, str] = ("", ""),
          written: Collection[str] = ()) -> int:
    """Write a code for each win or order among an action's `events`; how many were written.
    `actor` is the acting participant's (id, display name); anyone else named by an event gets
    the name they last acted under. `written`: participants whose rows the action writes anyway
    (with `with`), which must not be touched here (their write expects the version it read)."""
    specs = doc.get("fulfilment")
    if not isinstance(specs, dict):
        return 0
    rows: list[dict[str, Any]] = []
    for event in events:
        spec = specs.get(event.get("type"))
        if not isinstance(spec, dict):
            continue
        raw = event.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if spec.get("members"):
            stored = tx.get_room(activity.id, str(data.get("room", "")))
            people = [(m.participant, m.display_name) for m in stored.room.members] \
                if stored is not None else []
        else:
            who = _pick(spec.get("participant"), data, activity.config)
            people = [(str(who), "")] if who else []
        item, kind = _pick(spec.get("item"), data, activity.config), \
            _pick(spec.get("kind"), data, activity.config)
        amount = _pick(spec.get("amount"), data, activity.config)
        for participant, name in people:
            rows.append({
                "code": new_code(), "merchant_id": activity.merchant_id,
                "activity_id": activity.id, "seq": seq, "position": len(rows),
                "participant_id": participant, "display_name": name or "",
                "event": event["type"], "item": "" if item is None else str(item),
                "kind": "" if kind is None else str(kind),
                "amount": amount if isinstance(amount, int) and not isinstance(amount, bool)
                else None, "created_at": now})
    actor_id, actor_name = actor
    names = {actor_id: actor_name} if actor_name else {}
    unnamed = sorted({r["participant_id"] for r in rows if not r["display_name"]} - set(names))
    if unnamed:
        names.update(tx.display_names(activity.id, unnamed))
    for row in rows:
        row["display_name"] = row["display_name"] or names.get(row["participant_id"], "")
    if rows:
        tx.insert_redemptions(rows)
        # The actor's `me` changes with this action; anyone else's only by this code.
        named = {r["participant_id"] for r in rows} - {actor_id} - set(written)
        tx.touch_participants(activity.id, sorted(named))
    return len(rows)


class Fulfilment:
    """Winners and orders with their codes: listing, verifying, redeeming, shipping."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def list(self, merchant: Merchant, activity_id: str, after: str | None = None,
             limit: int = 100, search: str | None = None) -> list[dict[str, Any]]:
        with self.core.store.transaction(write=False) as tx:
            self.core.activity(tx, activity_id, merchant)
            return tx.list_redemptions(activity_id, after, limit, search)

    def verify(self, merchant: Merchant, code: str) -> dict[str, Any]:
        """A code's details (redeemed or not), or `CodeNotFound`."""
        with self.core.store.transaction(write=False) as tx:
            found = tx.get_redemption(merchant.id, normal_code(code))
        if found is None:
            raise CodeNotFound()
        return found

    def redeem(self, merchant: Merchant, code: str, by: str = "") -> dict[str, Any]:
        """Redeem a code once: its details, `AlreadyRedeemed` the second time."""
        code = normal_code(code)
        now = self.core.now()
        with self.core.store.transaction() as tx:
            won = tx.redeem(merchant.id, code, now, by[:100])
            found = tx.get_redemption(merchant.id, code)
            if won and found is not None:
                tx.touch_participants(found["activity_id"], [found["participant_id"]])
        if won and found is not None:
            self.core.notify(found["activity_id"])  # the winner's page shows it redeemed
        if found is None:
            raise CodeNotFound()
        if not won and found.get("voided_at") is not None and found["redeemed_at"] is None:
            raise CodeVoided()  # its participant's results were voided
        if not won:
            raise AlreadyRedeemed(found["redeemed_at"])
        return found

    def ship(self, merchant: Merchant, code: str, shipping: dict[str, Any],
             shipped: bool | None = None) -> dict[str, Any]:
        """Record where a physical item goes (and that it went). Only the fields in
        `shipping` change; `shipped` True marks it shipped (now, unless it was already),
        False takes that back, None leaves it."""
        code = normal_code(code)
        with self.core.store.transaction() as tx:
            # Locked: two partial updates at once must not each keep the other's old fields.
            found = tx.get_redemption(merchant.id, code, lock=True)
            if found is None:
                raise CodeNotFound()
            clean = {k: str((found.get("shipping") or {}).get(k) or "") for k in SHIPPING_FIELDS}
            clean.update({k: str(shipping[k] or "").strip()[:500]
                          for k in SHIPPING_FIELDS if k in shipping})
            shipped_at = found.get("shipped_at")
            if shipped is not None:
                shipped_at = (shipped_at or self.core.now()) if shipped else None
            if not tx.set_shipping(merchant.id, code, clean, shipped_at):
                raise CodeNotFound()
            found = tx.get_redemption(merchant.id, code)
            assert found is not None
            tx.touch_participants(found["activity_id"], [found["participant_id"]])
        self.core.notify(found["activity_id"])
        return found
