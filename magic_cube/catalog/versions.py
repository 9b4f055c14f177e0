"""Semantic versions (semver.org 2.0.0): parsing and precedence for picking the latest."""

from __future__ import annotations

import re

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

VersionKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


def version_key(version: str) -> VersionKey:
    """A sort key with semver precedence: 1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-beta < 1.0.0.

    Build metadata is ignored, as semver says. Raises ValueError for a non-semver string.
    """
    match = SEMVER.match(version)
    if match is None:
        raise ValueError(f"not a semantic version: {version!r}")
    major, minor, patch, pre = match.groups()
    if pre is None:
        return int(major), int(minor), int(patch), 1, ()
    # Numeric identifiers sort before alphanumeric ones; a shorter list sorts first on a tie.
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return int(major), int(minor), int(patch), 0, ids
