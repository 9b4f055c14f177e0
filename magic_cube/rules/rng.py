"""Verifiable randomness.

Every random choice derives from HMAC-SHA256(seed, label/counter), where the label names the
activity, the participant and the action's sequence number. The activity publishes
sha256(seed) when it goes live and reveals the seed when it ends, so anyone can recompute
every draw from the action log.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any


def commitment(seed: str) -> str:
    """The public commitment to a seed: its SHA-256, hex."""
    return hashlib.sha256(seed.encode()).hexdigest()


# seed -> SHA-256 states with HMAC's inner and outer pads hashed (RFC 2104), nothing else yet:
# a block then costs two copies and two short updates in C instead of a new HMAC object.
# (Keyed by the seed as text: the same string object at every action of an activity or a
# forecast run, found without hashing or comparing it again.)
_KEYED: dict[str, tuple[Any, Any]] = {}
_KEYED_KEPT = 256
_BLOCK = 64  # SHA-256's block size in bytes


def _keyed(seed: str) -> tuple[Any, Any]:
    pads = _KEYED.get(seed)
    if pads is None:
        if len(_KEYED) >= _KEYED_KEPT:
            _KEYED.clear()
        key = seed.encode()
        block = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        pads = _KEYED[seed] = (hashlib.sha256(block.translate(_IPAD)),
                               hashlib.sha256(block.translate(_OPAD)))
    return pads


_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def action_label(activity_id: str, participant: str, seq: int) -> str:
    return f"{activity_id}/{participant}/{seq}"


def action_rng(seed: str, activity_id: str, participant: str, seq: int) -> Rng:
    """`Rng(seed, action_label(…))`, whose label is made only if the action draws (most
    actions draw nothing, and a forecast makes one of these per action)."""
    rng = Rng(seed, "")
    rng._label, rng._parts = None, (activity_id, participant, seq)
    return rng


def stream_rng(source: random.Random) -> Rng:
    """An `Rng` whose blocks come from `source` instead of HMAC-SHA256. A forecast draws
    from one seeded stream per run: its draws need the live odds (`below` is unchanged, so
    they are the same) and its own determinism, not a proof anyone can recompute."""
    rng = Rng("", "")
    rng._source = source
    return rng


class Rng:
    """A deterministic stream of integers for one action.

    `below(n)` is unbiased: 64-bit blocks at or above the largest multiple of n are
    rejected and the next block is taken, so every value has exactly the same odds.
    """

    def __init__(self, seed: str, label: str) -> None:
        self._seed = seed
        self._label: str | None = label
        self._parts: tuple[str, str, int] | None = None
        self._counter = 0
        self._source: random.Random | None = None
        self.drawn: list[list[int]] = []  # [[n, value], …] for the action log

    def _block(self) -> int:
        if self._source is not None:
            return self._source.getrandbits(64)
        label = self._label
        if label is None:
            assert self._parts is not None
            label = self._label = action_label(*self._parts)
        msg = f"{label}/{self._counter}".encode()
        self._counter += 1
        inner_pad, outer_pad = _keyed(self._seed)  # HMAC-SHA256(seed, msg), pads hashed once
        inner = inner_pad.copy()
        inner.update(msg)
        outer = outer_pad.copy()
        outer.update(inner.digest())
        return int.from_bytes(outer.digest()[:8], "big")

    def below(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        if n <= 0:
            raise ValueError("n must be positive")
        limit = (1 << 64) - ((1 << 64) % n)
        while True:
            block = self._block()
            if block < limit:
                value = block % n
                self.drawn.append([n, value])
                return value

    def between(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)
