"""`magic-cube hammer`: every topology hammered, its figures and problems printed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from magic_cube.hammer.report import Report
from magic_cube.hammer.runs import run_crash, run_postgres, run_sqlite
from magic_cube.hammer.stores import DEFAULT_POSTGRES_URL, fresh_postgres, postgres_base_url
from magic_cube.hammer.workload import sizes


@click.command("hammer")
@click.option("--store", type=click.Choice(["sqlite", "postgresql", "both"]), default="both",
              show_default=True, help="Which topology to hammer")
@click.option("--database-url", default=None,
              help="PostgreSQL server to use (a fresh schema is created and dropped); default "
                   "MAGIC_CUBE_TEST_POSTGRES_URL or " + DEFAULT_POSTGRES_URL)
@click.option("--clients", type=click.IntRange(min=1), default=None,
              help="Concurrent HTTP clients (default: 8, 24 with --long)")
@click.option("--actions", type=click.IntRange(min=40), default=None,
              help="Participant actions per topology (default: 600, 12000 with --long)")
@click.option("--crash", "crashes", type=click.IntRange(min=0), default=0,
              help="Also kill -9 a server N times under load and check nothing acknowledged "
                   "was lost")
@click.option("--long", "long_", is_flag=True, help="The long run (as MAGIC_CUBE_LONG=1)")
@click.option("--no-floor", is_flag=True, help="Skip the bare-SQL throughput floor")
def hammer(store: str, database_url: str | None, clients: int | None, actions: int | None,
           crashes: int, long_: bool, no_floor: bool) -> None:
    """Hammer real servers over HTTP, then check every correctness rule."""
    size = sizes(long_ or None)
    stores = ["sqlite", "postgresql"] if store == "both" else [store]
    if "postgresql" in stores:
        import psycopg

        try:
            psycopg.connect(database_url or postgres_base_url(), connect_timeout=5).close()
        except psycopg.Error as exc:
            raise click.ClickException(f"PostgreSQL at {database_url or postgres_base_url()} "
                                       f"is unreachable: {exc}") from exc
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="mc-hammer-") as tmp:
        for kind in stores:
            click.echo(f"hammering {kind} …", err=True)
            if kind == "sqlite":
                reports.append(run_sqlite(Path(tmp) / "sqlite", size, clients, actions,
                                          floor=not no_floor))
                if crashes:
                    reports.append(run_crash(f"sqlite:///{Path(tmp) / 'crash.db'}",
                                             Path(tmp) / "crash", crashes, size, clients))
            else:
                with fresh_postgres(database_url) as url, fresh_postgres(database_url) as prof:
                    reports.append(run_postgres(url, prof, Path(tmp) / "pg", size, clients,
                                                actions, floor=not no_floor))
                if crashes:
                    with fresh_postgres(database_url) as url:
                        reports.append(run_crash(url, Path(tmp) / "pg-crash", crashes, size,
                                                 clients))
    for report in reports:
        click.echo("\n".join(report.lines()))
    total_actions = sum(r.tally.actions for r in reports)
    total_checks = sum(r.verification.invariants_checked for r in reports)
    survived = sum(r.crashes for r in reports)
    failures = sum(len(r.failures()) for r in reports)
    click.echo(f"total: {total_actions} actions hammered, {total_checks} invariants checked, "
               f"{survived} crashes survived, {failures} problems")
    for r in reports:
        if r.floor is not None and r.ratio is not None:
            click.echo(f"throughput {r.store}: {r.ratio:.2f}× the bare-SQL floor "
                       f"({r.actions_per_second:.0f} vs {r.floor.ops_per_second:.0f} per s)")
    if failures:
        raise SystemExit(1)
