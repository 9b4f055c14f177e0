"""Proof-of-work challenges for participant actions (ALTCHA, no third-party service).

After `challenge_after` actions of one participant in one activity within `challenge_window`
seconds — or at once for a participant a flag check names — an action is answered 428
`challenge_required` with an ALTCHA challenge in the error body. The client searches the number
(SHA-256 of salt + number equal to `challenge`), then sends the same action again with the
solution (ALTCHA's base64 JSON payload) in `Magic-Cube-Challenge`. A valid solution lets the
action through and starts the count again. A solution is spent once (`challenge_reused`), except
by a retry of the same request (same Idempotency-Key): the engine answers that one with its first
response and never acts twice.

Counts and spent solutions live in the rate limiter's storage (in memory, or the Redis that
every process shares). Challenges are signed with a key derived from the app's secret key and
bound to the activity and participant, so that a solution is worth nothing to anyone else.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import altcha
from altcha.v1 import PayloadType
from flask import Flask, current_app
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from magic_cube.api.counters import storage_uri
from magic_cube.engine.accounts import Participant
from magic_cube.engine.errors import EngineError

HEADER = "Magic-Cube-Challenge"
TTL = 300  # seconds a challenge stays solvable; a spent solution is remembered as long
ALGORITHM: Literal["SHA-256"] = "SHA-256"
MAX_PAYLOAD = 2048  # characters of the header: a real payload is about 400
PREFIX = "magic-cube/challenge"
log = logging.getLogger(__name__)

# (activity id, participant) -> whether to challenge every action of theirs.
FlagCheck = Callable[[str, Participant], bool]


class ChallengeRequired(EngineError):
    code, status = "challenge_required", 428
    message = ("Solve the challenge in this answer and send the action again with the solution "
               "in Magic-Cube-Challenge")

    def __init__(self, challenge: dict[str, Any]) -> None:
        super().__init__()
        self.challenge = challenge

    def body(self) -> dict[str, Any]:
        return {**super().body(), "challenge": self.challenge}


class ChallengeInvalid(EngineError):
    code, status = "challenge_invalid", 403
    message = "The challenge solution is wrong, expired or meant for someone else"


class ChallengeReused(EngineError):
    code, status, message = "challenge_reused", 403, "This challenge solution was already used"


@dataclass
class Challenges:
    storage: Storage
    hmac_key: str
    after: int
    window: int
    difficulty: int
    flag_checks: list[FlagCheck] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counter = MovingWindowRateLimiter(self.storage)
        self.item = RateLimitItemPerSecond(max(self.after, 1), max(int(self.window), 1))

    def flagged(self, activity_id: str, participant: Participant) -> bool:
        return any(check(activity_id, participant) for check in self.flag_checks)

    def check(self, activity_id: str, participant: Participant, solution: str | None,
              idempotency_key: str | None) -> None:
        """Let the action through, or raise ChallengeRequired / ChallengeInvalid /
        ChallengeReused. A solution sent is always checked, needed or not."""
        ids = (PREFIX, "count", activity_id, participant.id)
        try:
            if solution is not None:
                self.redeem(solution, activity_id, participant.id, idempotency_key)
                self.counter.clear(self.item, *ids)
                return
            if self.flagged(activity_id, participant):
                raise ChallengeRequired(self.issue(activity_id, participant.id))
            if self.after > 0 and not self.counter.hit(self.item, *ids):
                raise ChallengeRequired(self.issue(activity_id, participant.id))
        except StorageError as exc:
            # As the rate limits do: a Redis out of reach leaves the shop open, loudly. A
            # solution sent is checked before anything is counted; only its spending is lost.
            log.warning("challenge counts not kept: their storage failed: %s", exc)

    def issue(self, activity_id: str, participant_id: str) -> dict[str, Any]:
        """A new signed challenge, in the shape ALTCHA's widget reads."""
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=TTL)
        made = altcha.create_challenge_v1(altcha.ChallengeOptionsV1(
            algorithm=ALGORITHM, max_number=int(self.difficulty), hmac_key=self.hmac_key,
            expires=expires, params={"for": binding(activity_id, participant_id)}))
        return {"algorithm": made.algorithm, "challenge": made.challenge,
                "maxnumber": made.max_number, "salt": made.salt, "signature": made.signature}

    def redeem(self, solution: str, activity_id: str, participant_id: str,
               idempotency_key: str | None) -> None:
        payload = _payload(solution)
        if payload is None or not _verified(payload, self.hmac_key):
            raise ChallengeInvalid()
        params = altcha.extract_params_v1(cast(PayloadType, payload))
        if params.get("for") != [binding(activity_id, participant_id)]:
            raise ChallengeInvalid()
        spent = f"{PREFIX}/spent/{payload['signature']}"
        uses = self.storage.incr(spent, TTL)
        if uses == 1:
            if idempotency_key:
                self.storage.incr(f"{spent}/{_digest(idempotency_key)}", TTL)
            return
        # A retry of the request that spent it (same key) passes: the engine replays its answer.
        if not idempotency_key or self.storage.get(f"{spent}/{_digest(idempotency_key)}") < 1:
            raise ChallengeReused()


def binding(activity_id: str, participant_id: str) -> str:
    """The `for` salt parameter that ties a challenge to one participant of one activity."""
    return _digest(f"{activity_id}\x00{participant_id}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _payload(solution: str) -> dict[str, Any] | None:
    """ALTCHA's base64 JSON payload with the fields and types it must have, else None."""
    if len(solution) > MAX_PAYLOAD:
        return None
    try:
        data = json.loads(base64.b64decode(solution, validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM:
        return None
    number = data.get("number")
    if not isinstance(number, int) or isinstance(number, bool) or number < 0:
        return None
    if not all(isinstance(data.get(k), str) for k in ("challenge", "salt", "signature")):
        return None
    return data


def _verified(payload: dict[str, Any], key: str) -> bool:
    typed = cast(PayloadType, payload)
    if not altcha.extract_params_v1(typed).get("expires"):
        return False  # every challenge issued here expires
    ok, _ = altcha.verify_solution_v1(typed, key, check_expires=True)
    return bool(ok)


def hmac_key(secret: str) -> str:
    """The signing key, derived so that it says nothing about the app's secret key."""
    return hmac.new(secret.encode(), b"magic-cube challenge", hashlib.sha256).hexdigest()


def init_challenges(app: Flask, storage: Storage | None = None) -> Challenges:
    """Challenges for `app`, counting in `storage` (the rate limiter's) or, when the limiter is
    off, in a storage of its own made from `rate_limit_storage`."""
    settings = app.extensions["magic_cube"].settings
    challenges = Challenges(
        storage=storage if storage is not None else cast(
            Storage, storage_from_string(storage_uri(settings.rate_limit_storage),
                                         wrap_exceptions=True)),
        hmac_key=hmac_key(str(app.config["SECRET_KEY"])),
        after=int(settings.challenge_after), window=int(settings.challenge_window),
        difficulty=int(settings.challenge_difficulty))
    app.extensions["magic_cube_challenges"] = challenges
    return challenges


def challenges() -> Challenges:
    found: Challenges = current_app.extensions["magic_cube_challenges"]
    return found


def add_flag_check(app: Flask, check: FlagCheck) -> None:
    """Challenge every action of the participants `check` names (e.g. flagged ones)."""
    app.extensions["magic_cube_challenges"].flag_checks.append(check)


def challenge_needed(activity_id: str, participant: Participant) -> bool:
    """Whether this participant's next action needs a solved challenge whatever the count:
    when a flag check added with `add_flag_check` names them."""
    return challenges().flagged(activity_id, participant)
