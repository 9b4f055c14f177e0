"""One action = one transaction.

Load the snapshot the action needs, fire the activity's due room timers first (lazily, so
correctness never waits for a worker), run the pure interpreter, then write state changes, the
action-log entry, outbox events, counters and the idempotency record together — or nothing.

With an `Idempotency-Key`, the key is claimed inside the action's own transaction, after the
activity's row is locked: the claim, the action and the stored outcome commit together or not
at all, so a crash leaves no key half-used, and a retry of a request still being processed
waits on that lock and then answers its stored outcome. A retry of a completed key answers the
stored outcome; the same key with another request is refused. (A key left pending by the
earlier two-transaction scheme is still honoured: in flight until its owner process is gone or
it is older than `idempotency_pending_timeout`.)

The transaction goes through group commit (`engine/commits.py`): concurrent actions of this
process share one write transaction, each in its own savepoint, and each answer waits for
that commit.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from magic_cube.catalog.config import field_errors
from magic_cube.catalog.errors import error_info
from magic_cube.engine.blocks import screen
from magic_cube.engine.core import Core
from magic_cube.engine.errors import (
    ActivityNotLive,
    ConcurrentUpdate,
    IdempotencyInFlight,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    UnknownAction,
)
from magic_cube.engine.lifecycle import Lifecycle
from magic_cube.engine.outcomes import Accepted, ActionOutcome, Refused, from_record
from magic_cube.engine.performer import Performer
from magic_cube.engine.requests import ActionRequest
from magic_cube.errors import shown
from magic_cube.i18n import N_
from magic_cube.rules.compiler import CompiledTemplate
from magic_cube.rules.model import Rejection
from magic_cube.store import Conflict, Tx
from magic_cube.store.records import ActivityRecord, IdempotencyRecord, Merchant

KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # what docs/api.md promises a key may be
Claim = tuple[str, str, str]  # (scope, key, owner) of a claimed Idempotency-Key
# Refusals of the request itself, found before the template's rules run (its params, its room,
# who may call it): like a `validation_error`, they leave the Idempotency-Key unused, so that
# the retry with the request put right is performed (docs/api.md, "Idempotency").
REQUEST_ERRORS = frozenset({"invalid_params", "room_required", "not_allowed"})


def request_hash(action: str, params: Any, room_id: str | None, kind: str) -> str:
    body = json.dumps([action, params, room_id, kind], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def refusal(template: CompiledTemplate, rejection: Rejection, lang: str,
            request: ActionRequest | None = None) -> Refused:
    """A rejection worded in `lang`, with the status its code is declared with."""
    status, messages = error_info(rejection.error, template.errors) or (409, {})
    errors: dict[str, list[dict[str, str]]] = {}
    if rejection.error == "invalid_params":
        # Like every validation error: keyed by field path, each with code and message,
        # worded in `lang` as a merchant's config errors are.
        errors = _params_errors(template, request, lang) or {rejection.where or "params": [
            {"code": "invalid_params", "message": rejection.detail}]}
    return Refused(rejection.error,
                   messages.get(lang) or messages.get("en") or rejection.error, status, errors)


def _params_errors(template: CompiledTemplate, request: ActionRequest | None,
                   lang: str) -> dict[str, list[dict[str, str]]]:
    spec = template.actions.get(request.action) if request is not None else None
    if spec is None or request is None:
        return {}
    found = field_errors(spec.params, request.params, lang)
    return {f"params.{path}" if path else "params": entries for path, entries in found.items()}


def settle(tx: Tx, activity_id: str, claim: Claim, outcome: ActionOutcome) -> None:
    """Keep `outcome` under the claimed key for its retries, or give the key back when the
    request itself was at fault. (The claim is this transaction's own, made under the
    activity's lock: no other request can hold the key meanwhile.)"""
    scope, key, owner = claim
    if isinstance(outcome, Refused) and outcome.code in REQUEST_ERRORS:
        tx.delete_idempotency(activity_id, scope, key)
    else:
        tx.complete_idempotency(activity_id, scope, key, outcome.status, outcome.body,
                                owner=owner)


class Actions:
    def __init__(self, core: Core, lifecycle: Lifecycle, performer: Performer) -> None:
        self.core = core
        self.lifecycle = lifecycle
        self.performer = performer

    def act(self, activity_id: str, request: ActionRequest, key: str | None,
            merchant: Merchant | None, lang: str) -> ActionOutcome:
        """Perform `request` once per `key` (when given). Refusals by the template's rules come
        back as `Refused`; anything else that stops an action raises an `EngineError`."""
        if key is not None and not KEY_PATTERN.match(key):
            raise InvalidIdempotencyKey()
        return self.act_once(activity_id, request, merchant, lang, key)

    def _claim(self, tx: Tx, activity_id: str, request: ActionRequest, key: str,
               now: int) -> Claim | ActionOutcome:
        """Take the key for this request, or the outcome it already had."""
        digest = request_hash(request.action, request.params, request.room_id, request.kind)
        scope = request.participant if request.kind == "participant" \
            else f"merchant:{request.participant}"
        settings = self.core.settings
        # This claim's own mark, which completing it checks. No other transaction ever sees
        # it pending (the claim commits completed, or not at all): no owner process to name.
        owner = f"tx:{secrets.token_hex(8)}"
        record = IdempotencyRecord(activity_id, scope, key, digest, "pending", None, None, now,
                                   owner)
        stale_before = now - settings.idempotency_pending_timeout
        if tx.claim_idempotency(record, stale_before):
            return scope, key, owner  # one statement, the usual case
        found = tx.get_idempotency(activity_id, scope, key)
        if found is not None and found.created_at < now - settings.idempotency_ttl:
            tx.delete_idempotency(activity_id, scope, key)  # expired: usable afresh
            if tx.claim_idempotency(record, stale_before):
                return scope, key, owner
            found = tx.get_idempotency(activity_id, scope, key)
        if found is None:
            raise IdempotencyInFlight()  # released by another request just now
        if found.request_hash != digest:
            raise IdempotencyKeyReused()
        if found.state != "done":
            raise IdempotencyInFlight()  # pending from before claims shared the transaction
        assert found.status is not None and found.response is not None
        return from_record(found.status, found.response)

    def act_once(self, activity_id: str, request: ActionRequest, merchant: Merchant | None,
                 lang: str, key: str | None) -> ActionOutcome:
        """The action's own transaction (which claims and completes `key`), shared with the
        process's concurrent actions (group commit), answered once it has committed."""
        now = self.core.now()
        replayed = False

        def action(tx: Tx) -> ActionOutcome:
            nonlocal replayed
            # Locked first (the activity's row), so that two requests with one key take turns.
            activity = self.core.activity(tx, activity_id, merchant)
            claim: Claim | None = None
            if key is not None:
                taken = self._claim(tx, activity_id, request, key, now)
                if not isinstance(taken, tuple):
                    replayed = True
                    return taken  # answered before
                claim = taken
            self.lifecycle.advance(tx, activity, now)
            template = self.core.template(activity)
            outcome = self._checked(tx, activity, template, request, now, lang)
            if claim is not None:
                settle(tx, activity_id, claim, outcome)
            return outcome

        try:
            outcome = self.core.commits.run(self.core.store.lane(activity_id), action)
        except Conflict as exc:
            raise ConcurrentUpdate() from exc
        if not replayed:
            self.core.notify(activity_id)
        return outcome

    def _checked(self, tx: Tx, activity: ActivityRecord, template: CompiledTemplate,
                 request: ActionRequest, now: int, lang: str) -> ActionOutcome:
        if activity.status != "live":
            said = ActivityNotLive.by_status.get(activity.status, ActivityNotLive.message)
            raise ActivityNotLive(said, errors={"status": [
                {"code": activity.status, "message": said}]})
        spec = template.actions.get(request.action)
        if spec is None or spec.by in ("timer", "void"):
            raise UnknownAction(N_("No action {name} in this activity"),
                                values={"name": shown(request.action)})
        if (blocked := screen(tx, activity, request)) is not None:
            return refusal(template, blocked, lang, request)  # refused: nothing written
        fresh = self.performer.timers_before_action(tx, activity, template, now, request.room_id)
        outcome = self.performer.perform(tx, activity, template, request, now,
                                         next_due_fresh=fresh)
        if isinstance(outcome, Rejection):
            return refusal(template, outcome, lang, request)
        return Accepted(request.action, activity.seq, outcome.result,
                        [e.type for e in outcome.events],
                        outcome.room.room.id if outcome.room else request.room_id)

    def purge_keys(self, now: int) -> int:
        """Forget Idempotency-Keys older than `idempotency_ttl`; returns how many."""
        with self.core.store.transaction() as tx:
            return tx.purge_idempotency(now - int(self.core.settings.idempotency_ttl))
