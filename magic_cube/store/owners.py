"""Who holds an Idempotency-Key that is still pending: an owner id per process.

A claimed key names its owner, so that a key left pending by a process that is gone (killed,
crashed) is abandoned at once instead of after `idempotency_pending_timeout`. Each store says
how an owner is known to be gone:

- SQLite lives on one machine: the owner is `host/pid/start time`, and it is gone when no
  process with that pid and start time runs on this host (a reused pid has another start).
- PostgreSQL serves several hosts: the owner is a random id on which the process holds a
  session advisory lock on a connection of its own; the server drops the lock the moment the
  process (or its connection) dies, and anyone can ask for it.

An owner of another host, or one that cannot be checked, is never taken for gone: its keys
wait for the timeout, as before. Whatever decides it, a takeover is safe: completing a key is
conditional on still owning it, so a slow first request that lost its key rolls back.
"""

from __future__ import annotations

import os
import socket

_local: tuple[int, str] | None = None  # (pid, owner) of this process


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); "dead" for a zombie (killed,
    not yet reaped); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    if fields and fields[0] in (b"Z", b"X"):
        return "dead"
    return fields[19].decode() if len(fields) > 19 else None


def local_owner() -> str:
    """This process's owner id on this host: `host/pid/start` (made again after a fork)."""
    global _local
    pid = os.getpid()
    if _local is None or _local[0] != pid:
        _local = (pid, f"{socket.gethostname()}/{pid}/{_start_time(pid) or '-'}")
    return _local[1]


def local_owner_gone(owner: str | None) -> bool:
    """Whether `owner` (a `local_owner()` id, maybe with `#claim` after it) is a process of
    this host that no longer runs. False when it cannot tell."""
    if not owner:
        return False
    host, _, rest = owner.split("#", 1)[0].partition("/")
    pid_text, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner.split("#", 1)[0] != local_owner()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, as another user
    now = _start_time(pid)
    return start != "-" and now is not None and now != start
