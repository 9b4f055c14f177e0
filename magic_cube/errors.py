"""The project-wide exception base.

Every error magic-cube raises on purpose derives from `MagicCubeError`, so callers (the API's
one error handler, the CLI) can tell our refusals from bugs with a single `except`.
"""

from __future__ import annotations


class MagicCubeError(Exception):
    """Base class of every deliberate magic-cube error."""
