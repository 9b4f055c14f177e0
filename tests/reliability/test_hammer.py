"""Real servers hammered over HTTP, then every correctness rule checked from the database.

(a) two gunicorn servers on different ports sharing one PostgreSQL schema, clients spread
over both; (b) one gunicorn with several worker processes on one SQLite file. Each hammers one
hot activity of each template whose stock runs out during the run. The throughput ratio to a
bare-SQL floor is printed, never asserted.
"""

from __future__ import annotations

from magic_cube.hammer import Report, run_postgres, run_sqlite


def check(report: Report) -> None:
    tally, verification = report.tally, report.verification
    assert tally.five_xx == 0, tally.server_errors[:10]
    assert tally.transport_errors == 0, tally.server_errors[:10]
    assert not report.failures(), report.failures()
    # Every 2xx action is in the log (and, no answer being lost, nothing else is).
    assert verification.acks_matched == len(tally.acks) > 0
    assert verification.activities_checked == 4
    # The run reached the interesting part: stock ran out while clients kept coming.
    left = verification.left
    assert left["lottery"] == [0, 0] and left["group_buy"] == 0 and left["bargain"] == 0, left
    assert any(code == "sold_out" for (_, code) in tally.codes), tally.codes


def test_two_app_servers_sharing_postgresql_keep_every_rule(tmp_path, size, postgres_schema,
                                                            figures):
    report = run_postgres(postgres_schema(), postgres_schema(), tmp_path, size)
    figures(report.lines())
    check(report)


def test_one_gunicorn_with_worker_processes_on_one_sqlite_file_keeps_every_rule(
        tmp_path, size, figures):
    report = run_sqlite(tmp_path, size)
    figures(report.lines())
    check(report)
