"""Group commit: concurrent actions of one process share one write transaction.

Durability costs one fsync (SQLite) or one WAL flush (PostgreSQL) per commit, not per action,
so actions that arrive together commit together. Each caller hands `run` its work; callers of
one lane (the store's: one per SQLite database, one per activity on PostgreSQL) queue up:

- the first caller to find no leader leads: when other callers are about, it lets those that
  are ready join (one yield), takes up to `write_batch` queued jobs, opens one transaction,
  runs each job inside its own savepoint — a job that raises or is refused rolls back alone,
  its neighbours keep their effects — and commits once. (The store opens a savepoint only
  before its part's first write; on PostgreSQL a statement that fails before then loses the
  whole transaction, and the batch's other jobs then run again, in order, in a new one);
- every job's answer (its result or its exception) is handed back only after that commit: an
  action is acknowledged only once it is durable, exactly as with one transaction each. If the
  transaction cannot commit, every job of the batch gets the error and nothing is applied;
- the leader then hands the lane to the first job still queued, which leads the next batch, so
  no caller waits for more than the batch before its own plus its own.

A batch of one runs without a savepoint, exactly like a plain transaction. The waits are
`threading` primitives, which gevent's monkey-patching makes cooperative: the same code serves
gunicorn's gevent workers (greenlets) and plain threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from magic_cube import metrics
from magic_cube.concurrency import cooperative
from magic_cube.store import Conflict, Store, Tx

T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("work", "done", "result", "error", "lead")

    def __init__(self, work: Callable[[Tx], T]) -> None:
        self.work = work
        # What a caller that waits blocks on: a lock taken when the job is queued, released
        # once by the leader (with an answer, or to hand it the lead) — a bare lock costs far
        # less than an Event's condition. Made only for a caller that waits (under the lock,
        # before anyone can release it): one that leads at once, as a lone caller does, never
        # needs it.
        self.done: threading.Lock | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.lead = False  # woken to lead the next batch, not with an answer


class _Lost(Exception):
    """The batch's transaction is lost to one job's failure: roll it back, run the rest again."""


class _Lane:
    __slots__ = ("queue", "busy")

    def __init__(self) -> None:
        self.queue: deque[_Job[Any]] = deque()
        self.busy = False  # a leader is running a batch of this lane


class GroupCommit:
    """Leader/follower group commit over `store` (see the module's docstring)."""

    def __init__(self, store: Store, batch: int = 64) -> None:
        self.store = store
        self.batch = max(1, int(batch))
        self._lock = threading.Lock()
        self._lanes: dict[str, _Lane] = {}
        self.batches = 0  # transactions committed or tried (for benchmarks and tests)
        self.jobs = 0
        self._callers = 0  # inside `run`, in any lane

    def run(self, lane_key: str, work: Callable[[Tx], T]) -> T:
        """Run `work(tx)` in a write transaction shared with concurrent callers of the same
        lane; its result once that transaction has committed, or its exception."""
        job: _Job[T] = _Job(work)
        with self._lock:
            self._callers += 1
            lane = self._lanes.get(lane_key)
            if lane is None:
                lane = self._lanes[lane_key] = _Lane()
            lane.queue.append(job)
            lead = not lane.busy
            if lead:
                lane.busy = True
            else:
                job.done = threading.Lock()
                job.done.acquire()
        try:
            if not lead:
                assert job.done is not None
                job.done.acquire()  # until the leader releases it
                job.done = None  # answered, or leading: nobody releases it again
                lead = job.lead
            if lead:
                self._lead(lane_key, lane)
        finally:
            with self._lock:
                self._callers -= 1
        if job.error is not None:
            raise job.error
        return job.result

    def waiting(self, lane_key: str) -> int:
        """How many callers of the lane are queued (not yet taken into a batch)."""
        with self._lock:
            lane = self._lanes.get(lane_key)
            return len(lane.queue) if lane is not None else 0

    def _lead(self, lane_key: str, lane: _Lane) -> None:
        # Let callers that are ready join before the batch is taken. Threads run alongside
        # the leader, so with no other caller about a yield (a system call, and maybe a wait
        # for the GIL) is waste. Greenlets do not: the requests that would join are parsed only
        # when the leader yields, so it always does (a switch through the hub, microseconds).
        if self._callers > 1 or cooperative():
            time.sleep(0)
        with self._lock:
            batch = [lane.queue.popleft() for _ in range(min(self.batch, len(lane.queue)))]
        try:
            self._commit(batch)
        finally:
            with self._lock:
                successor = lane.queue[0] if lane.queue else None
                if successor is None:
                    lane.busy = False
                    if self._lanes.get(lane_key) is lane:
                        del self._lanes[lane_key]  # idle lanes (activities) are not kept
            for job in batch:
                if job.done is not None:
                    job.done.release()
            if successor is not None:
                successor.lead = True
                assert successor.done is not None  # queued behind a leader: it waits
                successor.done.release()

    def _commit(self, batch: list[_Job[Any]]) -> None:
        self.jobs += len(batch)
        metrics.record_write_batch(len(batch))
        while batch:
            batch = self._try(batch)

    def _try(self, batch: list[_Job[Any]]) -> list[_Job[Any]]:
        """Run `batch` in one transaction. What is left to run in another: the jobs that had
        not failed on their own, when one's failure lost the whole transaction (a statement
        that failed before its part had a savepoint to roll back to); else nothing."""
        self.batches += 1
        try:
            with self.store.transaction() as tx:
                if len(batch) == 1:
                    batch[0].result = batch[0].work(tx)
                    return []
                for job in batch:
                    try:
                        with tx.savepoint():
                            job.result = job.work(tx)
                    except Exception as exc:  # this job's alone: its savepoint rolled back
                        job.error = exc
                        job.result = None
                        if tx.broken:
                            raise _Lost() from exc
        except _Lost:
            # Rolled back: the others, whether they ran before it or not, run again (each
            # removal makes the batch smaller, so this ends).
            again = [job for job in batch if job.error is None]
            for job in again:
                job.result = None
            return again
        except BaseException as exc:
            # Nothing of the batch was committed: every job that had not failed on its own
            # gets the transaction's error (a job that failed keeps its own). The leader being
            # stopped (a greenlet killed, an interrupt) is its own affair: the others may retry.
            error = exc if isinstance(exc, Exception) else \
                Conflict("the batch was interrupted; try again")
            for job in batch:
                if job.error is None:
                    job.error = error
                    job.result = None
            if not isinstance(exc, Exception):
                raise
        return []
