"""Verifiable randomness.

Every random choice derives from HMAC-SHA256(seed, label/counter), where the label names the
activity, the participant and the action's sequence number. The activity publishes
sha256(seed) when it goes live and reveals the seed when it ends, so anyone can recompute
every draw from the action log.
"""

from __future__ import annotations

import hashlib
import hmac


def commitment(seed: str) -> str:
    """The public commitment to a seed: its SHA-256, hex."""
    return hashlib.sha256(seed.encode()).hexdigest()


_KEYED: dict[bytes, hmac.HMAC] = {}  # seed -> HMAC-SHA256 keyed with it, nothing hashed yet
_KEYED_KEPT = 256


def _keyed(key: bytes) -> hmac.HMAC:
    mac = _KEYED.get(key)
    if mac is None:
        if len(_KEYED) >= _KEYED_KEPT:
            _KEYED.clear()
        mac = _KEYED[key] = hmac.new(key, digestmod=hashlib.sha256)
    return mac


def action_label(activity_id: str, participant: str, seq: int) -> str:
    return f"{activity_id}/{participant}/{seq}"


class Rng:
    """A deterministic stream of integers for one action.

    `below(n)` is unbiased: 64-bit blocks at or above the largest multiple of n are
    rejected and the next block is taken, so every value has exactly the same odds.
    """

    def __init__(self, seed: str, label: str) -> None:
        self._key = seed.encode()
        self._label = label
        self._counter = 0
        self.drawn: list[list[int]] = []  # [[n, value], …] for the action log

    def _block(self) -> int:
        msg = f"{self._label}/{self._counter}".encode()
        self._counter += 1
        mac = _keyed(self._key).copy()  # HMAC-SHA256(seed, msg), the key's pads hashed once
        mac.update(msg)
        return int.from_bytes(mac.digest()[:8], "big")

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
