"""What runs concurrently in this process: greenlets (gunicorn's gevent workers) or threads.

Under gevent a call that blocks in C without yielding — an fsync, seconds of simulation —
stops every other request of the worker until it returns. `off_the_loop` runs such a call on a
native thread of gevent's pool instead, so the worker goes on meanwhile; with plain threads it
is just the call (it releases the GIL itself).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def cooperative() -> bool:
    """Whether threads here are greenlets (gevent has patched `threading`)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))


def off_the_loop(work: Callable[[], T]) -> T:
    """`work()`, run where it does not stop the process's other greenlets: a native thread of
    the hub's pool under gevent (the calling greenlet waits for it, the others run), else
    this thread. Its result, or its exception."""
    if cooperative():
        from gevent import get_hub

        result: T = get_hub().threadpool.apply(work)
        return result
    return work()
