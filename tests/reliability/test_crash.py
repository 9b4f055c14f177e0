"""kill -9 under load: a server's whole process group (gunicorn master and workers) is
SIGKILLed while clients hammer it, several times, and restarted each time. Afterwards every
action that was acknowledged with a 2xx is in the log under its `seq`, with its participant,
params, room and result; no partial action exists (invariants and replay hold); and the
store's integrity check (SQLite: `PRAGMA integrity_check`) is ok.
"""

from __future__ import annotations

import pytest

from magic_cube.hammer import run_crash


def check(report, crashes: int) -> None:
    tally, verification = report.tally, report.verification
    assert report.crashes == crashes >= 3
    assert tally.five_xx == 0, tally.server_errors[:10]
    assert not report.failures(), report.failures()
    assert verification.acks_matched == len(tally.acks) > 0
    assert verification.integrity_checks == 1
    # Some actions were in flight at a kill (else nothing was under load).
    assert tally.unknown > 0


def test_sqlite_server_killed_under_load_loses_no_acknowledged_action(tmp_path, size,
                                                                       figures):
    report = run_crash(f"sqlite:///{tmp_path / 'crash.db'}", tmp_path, size.crashes, size)
    figures(report.lines())
    check(report, size.crashes)


@pytest.mark.slow
def test_postgresql_server_killed_under_load_loses_no_acknowledged_action(
        tmp_path, size, postgres_schema, figures):
    report = run_crash(postgres_schema(), tmp_path, size.crashes, size)
    figures(report.lines())
    check(report, size.crashes)
