"""What one hammered topology saw and what was checked afterwards, as problems and lines."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from magic_cube.hammer.floor import Floor
from magic_cube.hammer.servers import Server
from magic_cube.hammer.tally import Tally
from magic_cube.hammer.verification import Verification


@dataclass
class Report:
    """What one hammered topology saw and what was checked afterwards."""

    store: str
    topology: str
    clients: int
    tally: Tally
    verification: Verification
    elapsed: float
    floor: Floor | None = None
    crashes: int = 0
    edits: Counter = field(default_factory=Counter)
    settled_checked: int = 0
    server_log_errors: list[str] = field(default_factory=list)
    pool_finaliser_noise: int = 0  # see Server.log_errors

    def read_logs(self, servers: list[Server]) -> Report:
        for server in servers:
            errors, noise = server.log_errors()
            self.server_log_errors += errors
            self.pool_finaliser_noise += noise
        return self

    @property
    def actions_per_second(self) -> float:
        answered = self.tally.actions - self.tally.statuses.get(("action", "error"), 0)
        return answered / self.elapsed if self.elapsed else 0.0

    @property
    def ratio(self) -> float | None:
        if self.floor is None or not self.floor.ops_per_second:
            return None
        return self.actions_per_second / self.floor.ops_per_second

    def failures(self) -> list[str]:
        out = list(self.verification.problems)
        if self.tally.five_xx:
            out.append(f"{self.tally.five_xx} 5xx answers: {self.tally.server_errors[:5]}")
        if self.tally.bad_polls:
            out.append(f"{len(self.tally.bad_polls)} polls broke the ETag rules: "
                       f"{self.tally.bad_polls[:5]}")
        if self.server_log_errors:
            out.append(f"{len(self.server_log_errors)} errors in the server logs: "
                       f"{self.server_log_errors[:5]}")
        if not self.crashes and self.tally.transport_errors:
            out.append(f"{self.tally.transport_errors} requests lost: "
                       f"{self.tally.server_errors[:5]}")
        return out

    def lines(self) -> list[str]:
        t, v = self.tally, self.verification
        out = [f"{self.store} — {self.topology}",
               f"  actions hammered: {t.actions} ({len(t.acks)} acknowledged 2xx), "
               f"polls: {t.polls}, in {self.elapsed:.1f}s",
               f"  answers: {json.dumps(t.by_status())}",
               f"  merchant: {sum(1 for a in t.acks if a.action == 'grant')} grants, "
               f"{sum(self.edits.values())} live stock top-ups acknowledged",
               f"  refusals: {json.dumps(_top(t.codes))}",
               f"  invariants checked: {v.invariants_checked} ({v.activities_checked} "
               f"activities × invariants()+replay, "
               f"{v.acks_matched} acknowledged actions matched in the log of "
               f"{v.logged_actions}, {v.integrity_checks} integrity check)",
               f"  stock left: {json.dumps(v.left)}"]
        if not self.crashes:
            out.insert(5, f"  settled polls: {self.settled_checked} views answered 304 after "
                          f"the run, checked against a fresh read")
        if self.crashes:
            out.append(f"  crashes survived: {self.crashes} (kill -9 of the process group); "
                       f"{t.unknown} actions in flight lost their answer, "
                       f"{t.statuses.get(('action', 'refused'), 0)} refused while down")
        if self.floor is not None:
            out.append(f"  throughput: {self.actions_per_second:.0f} hot actions/s (with polls "
                       f"mixed in) vs "
                       f"bare-SQL floor {self.floor.ops_per_second:.0f}/s "
                       f"({self.floor.description}) = {self.ratio:.2f}×")
        if self.pool_finaliser_noise:
            out.append(f"  note: {self.pool_finaliser_noise} workers logged psycopg_pool's "
                       f"ConnectionPool.__del__ failing at exit (the pool is never closed)")
        problems = self.failures()
        out.append(f"  problems: {len(problems)}")
        out += [f"    - {p}" for p in problems[:20]]
        return out


def _top(counter: Counter, n: int = 12) -> dict[str, int]:
    return {f"{k[0]} {k[1]}": v for k, v in counter.most_common(n)}
