"""The `magic-cube` command."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import click

from magic_cube.catalog import Catalog, TemplateNotFound, validate_path
from magic_cube.catalog.labels import label_warnings_of
from magic_cube.scenarios import run_template_scenarios


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _app(database: str | None = None):
    from magic_cube.app import create_app

    settings = {"database_url": database} if database else {}
    return create_app({"SETTINGS": settings} if settings else None)


def _engine(database: str | None = None):
    return _app(database).extensions["magic_cube"]


def _served() -> Catalog:
    """The templates a server started here would serve (with the template_dirs setting)."""
    from magic_cube.settings import Settings

    return Catalog.served(Settings.load().template_dirs)


database_option = click.option("--database", "-d", envvar="MAGIC_CUBE_DATABASE_URL",
                               help="Database URL (default: the database_url setting)")


@click.group()
@click.version_option(package_name="magic-cube")
def cli() -> None:
    """magic-cube: marketing activities described as data."""


# templates ------------------------------------------------------------------------------

@cli.group()
def templates() -> None:
    """Find, check, test and scaffold activity templates."""


@templates.command("list")
@click.option("--dir", "dirs", multiple=True, type=click.Path(path_type=Path),
              help="Template directories (default: activity_templates/)")
def templates_list(dirs: tuple[Path, ...]) -> None:
    """Every template found, with its version and kind; broken ones with their problems."""
    catalog = Catalog.discover(list(dirs)) if dirs else _served()
    for entry in catalog.entries():
        click.echo(f"{entry.id:<16} {entry.version:<10} {entry.kind:<13} "
                   f"{entry.title.get('en', '')} / {entry.title.get('zh', '')}")
    for problem in catalog.problems:
        click.secho(f"INVALID {problem}", fg="red")
    if catalog.problems:  # scripts can tell a clean listing from one with broken templates
        raise SystemExit(1)


@templates.command("show")
@click.argument("template_id")
@click.option("--version", default=None)
@click.option("--dir", "dirs", multiple=True, type=click.Path(path_type=Path),
              help="Template directories (default: activity_templates/)")
def templates_show(template_id: str, version: str | None, dirs: tuple[Path, ...]) -> None:
    """The template's actions, state, timers, errors and config fields.

    TEMPLATE_ID is an id looked up in --dir like `list`, or a template folder anywhere."""
    if Path(template_id).is_dir() or Path(template_id).is_file():
        folder = Path(template_id)
        catalog = Catalog.discover([folder.parent if folder.is_file() else folder],
                                   entry_points=False)
        found = catalog.entries()
        if not found:
            raise click.ClickException("; ".join(str(p) for p in catalog.problems)
                                       or f"no template in {template_id}")
        template_id = found[0].id
    else:
        catalog = Catalog.discover(list(dirs)) if dirs else _served()
    try:
        entry = catalog.get(template_id, version)
    except TemplateNotFound as exc:
        raise click.ClickException(str(exc)) from exc
    doc = entry.doc
    click.echo(f"{entry.id} {entry.version} ({entry.kind}) — "
               f"{entry.title['en']} / {entry.title['zh']}")
    click.echo(f"  {entry.path}\n  hash {entry.content_hash}")
    click.echo(f"\n{entry.description['en']}\n")
    click.echo("config:")
    for name, prop in doc["config"]["schema"].get("properties", {}).items():
        required = name in doc["config"]["schema"].get("required", [])
        label = prop.get("x-ui", {}).get("label", {}).get("en", "")
        flag = "required" if required else ""
        click.echo(f"  {name:<26} {prop.get('type', ''):<8} {flag:<9}{label}")
    click.echo("state:")
    for scope, decls in doc.get("state", {}).items():
        for name, decl in decls.items():
            reset = f" ({decl['reset']})" if decl.get("reset") else ""
            click.echo(f"  {scope}.{name}: {decl['type']}{reset}")
    click.echo("actions:")
    for name, action in doc["actions"].items():
        click.echo(f"  {name:<10} by {action.get('by', 'participant'):<12} room "
                   f"{action.get('room', 'none'):<7} {action.get('title', {}).get('en', '')}")
    for name, timer in doc.get("timers", {}).items():
        click.echo(f"timer {name}: runs {timer['action']}")
    click.echo("errors:")
    for code, err in doc.get("errors", {}).items():
        click.echo(f"  {code:<32} {err['status']}  {err['message']['en']}")


@templates.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def templates_validate(path: Path | None) -> None:
    """Check templates (a template.json, a template directory, or a directory of them)."""
    from magic_cube.catalog.catalog import DEFAULT_DIR

    target = path or DEFAULT_DIR
    problems = validate_path(target)
    # A template's page partial must compile too (shopper/partials.py).
    from magic_cube.catalog.files import template_files
    from magic_cube.shopper.partials import partial_problems

    for file in [target] if target.is_file() else template_files(target) if target.is_dir() \
            else []:
        problems += partial_problems(file.parent)
    for problem in problems:
        click.secho(str(problem), fg="red", err=True)
    for warning in label_warnings_of(target):
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{target}: valid")


@templates.command("test")
@click.argument("target", required=False)
@click.option("--dir", "dirs", multiple=True, type=click.Path(path_type=Path),
              help="Template directories (default: activity_templates/)")
def templates_test(target: str | None, dirs: tuple[Path, ...]) -> None:
    """Run the scenarios of one template (an id, or a template folder anywhere), or of all.

    A TARGET that exists on disk is a folder (or its template.json); otherwise an id looked up
    in --dir like `list`."""
    if target is not None and Path(target).exists():
        folder = Path(target)
        folder = folder.parent if folder.is_file() else folder
        catalog = Catalog.discover([folder], entry_points=False)
        entries = catalog.entries()
    else:
        catalog = Catalog.discover(list(dirs)) if dirs else _served()
        try:
            entries = [catalog.get(target)] if target else catalog.entries()
        except TemplateNotFound as exc:
            raise click.ClickException(str(exc)) from exc
    for problem in catalog.problems:
        click.secho(f"INVALID {problem}", fg="red", err=True)
    passed = failed = 0
    for entry in entries:
        results = run_template_scenarios(entry)
        if not results:
            click.secho(f"{entry.id} {entry.version}: no scenarios in {entry.directory}",
                        fg="yellow")
        for result in results:
            name = f"{entry.id}/{Path(result.file).stem}"
            if result.ok:
                passed += 1
                click.echo(f"PASS {name} ({result.steps} steps)")
            else:
                failed += 1
                click.secho(f"FAIL {name}", fg="red")
                for failure in result.failures:
                    click.echo(f"     {failure}")
    click.echo(f"{passed} passed, {failed} failed")
    if failed or catalog.problems:
        raise SystemExit(1)


@templates.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Where to create it (default: activity_templates/)")
@click.option("--from", "source", default=None, metavar="TEMPLATE_ID",
              help="Start from a copy of this template (e.g. bargain) instead of a check-in")
def templates_new(name: str, directory: Path | None, source: str | None) -> None:
    """Scaffold a template that validates and whose scenarios pass.

    Without --from, a small daily check-in that shows one of each common piece; with --from,
    a copy of a served template (its scenarios and page too) under the new id."""
    from magic_cube.catalog.catalog import DEFAULT_DIR
    from magic_cube.scaffold import copy_template, scaffold

    root = directory or DEFAULT_DIR
    try:
        if source is None:
            target = scaffold(name, root)
        else:
            entry = _served().get(source)
            if entry.directory is None:
                raise click.ClickException(f"{source} has no folder to copy")
            target = copy_template(name, root, entry.directory)
    except (ValueError, TemplateNotFound) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {target}")
    where = shlex.quote(str(target))
    click.echo(f"next: edit {target / 'template.json'} (its title first), then run "
               f"`magic-cube templates validate {where}` and `magic-cube templates test {where}`")


# operating -------------------------------------------------------------------------------

@cli.command()
@database_option
def migrate(database: str | None) -> None:
    """Create or upgrade the database (safe to run again)."""
    _engine(database)
    click.echo("database is up to date")


@cli.group()
def merchants() -> None:
    """Merchant accounts."""


@merchants.command("create")
@click.argument("name")
@click.option("--email", default=None)
@click.option("--password", default=None, help="Console password (hashed; optional)")
@database_option
def merchants_create(name: str, email: str | None, password: str | None,
                     database: str | None) -> None:
    """Create a merchant and print its first API key (shown only once)."""
    _create_merchant(name, email, password, database, operator=False)


def _create_merchant(name: str, email: str | None, password: str | None, database: str | None,
                     operator: bool) -> None:
    from werkzeug.security import generate_password_hash

    engine = _engine(database)
    merchant, key = engine.create_merchant(
        name, email, generate_password_hash(password) if password else None)
    if operator:
        merchant = engine.set_operator(merchant.id)
    _echo_json({"id": merchant.id, "name": merchant.name, "api_key": key,
                "participant_secret": merchant.participant_secret,
                "operator": bool(merchant.operator)})


@cli.group()
def operator() -> None:
    """Operator accounts: merchants that run campaigns across merchants and invite them."""


@operator.command("create")
@click.argument("name")
@click.option("--email", default=None)
@click.option("--password", default=None, help="Console password (hashed; optional)")
@database_option
def operator_create(name: str, email: str | None, password: str | None,
                    database: str | None) -> None:
    """Create an operator account and print its first API key (shown only once)."""
    _create_merchant(name, email, password, database, operator=True)


@operator.command("grant")
@click.argument("merchant_id")
@click.option("--revoke", is_flag=True, help="Take the operator flag away instead")
@database_option
def operator_grant(merchant_id: str, revoke: bool, database: str | None) -> None:
    """Make an existing merchant an operator (or, with --revoke, no longer one)."""
    from magic_cube.engine.errors import EngineError

    try:
        merchant = _engine(database).set_operator(merchant_id, not revoke)
    except EngineError as exc:
        raise click.ClickException(f"{merchant_id}: {exc}") from exc
    _echo_json({"id": merchant.id, "name": merchant.name, "operator": bool(merchant.operator)})


@cli.command()
@click.argument("activity_id")
@database_option
def replay(activity_id: str, database: str | None) -> None:
    """Rebuild an activity from its action log and report any difference."""
    from magic_cube.engine.replay import replay as run_replay

    diffs = run_replay(_engine(database), activity_id)
    for diff in diffs:
        click.secho(diff, fg="red")
    if diffs:
        raise SystemExit(1)
    click.echo(f"{activity_id}: replay matches the stored state")


@cli.command()
@click.argument("activity_id")
@database_option
def audit(activity_id: str, database: str | None) -> None:
    """Recompute every random draw of an ended activity from its revealed seed."""
    from magic_cube.engine.replay import audit as run_audit

    report = run_audit(_engine(database), activity_id)
    _echo_json(report)
    if not report["ok"]:
        raise SystemExit(1)


@cli.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def demo(database: str | None, host: str, port: int) -> None:
    """Create (once) a demo merchant with a live activity of each bundled template; print how to
    try it once a server runs at --host/--port (`make run` does both)."""
    from magic_cube.demo import ensure_demo

    info = ensure_demo(_engine(database))
    base = f"http://{host}:{port}"
    click.echo(f"magic-cube demo data is ready; with a server on {base} (`make run` starts "
               "one, see docs/operations.md):")
    click.echo("  play as a shopper (open on a phone or in a narrow window; guests welcome):")
    for activity in info["activities"]:
        click.echo(f"    {activity['template']:<13} {base}/s/{activity['id']}")
    click.echo(f"  the merchant console: {base}/console   "
               f"(log in as {info['email']} / {info['password']})")
    click.echo(f"  API docs:     {base}/docs   (OpenAPI: {base}/openapi.json)")
    click.echo(f"  merchant API key:   {info['api_key']}")
    click.echo(f"  participant token:  {info['token']}  (participant {info['participant']})")
    click.echo(f"  participant secret: {info['participant_secret']}  "
               "(sign your own tokens: docs/api.md, Participant tokens)")
    for activity in info["activities"]:
        click.echo(f"  {activity['template']:<13} {base}/v1/activities/{activity['id']}")
    lottery = next(a["id"] for a in info["activities"] if a["template"] == "lottery")
    click.echo("try:")
    click.echo(f"  curl -s -X POST -H 'Authorization: Bearer {info['token']}' "
               f"{base}/v1/activities/{lottery}/actions/draw")


@cli.command("settings")
def settings_command() -> None:
    """Every setting with its default and help."""
    from magic_cube.settings import SETTINGS

    for s in SETTINGS:
        click.echo(f"{s.name:<30} {s.default!r:<36} {s.help}")


from magic_cube.forecast.command import forecast_command  # noqa: E402
from magic_cube.hammer import hammer  # noqa: E402  (command modules import only what they use)
from magic_cube.worker.command import worker  # noqa: E402

cli.add_command(worker)
cli.add_command(hammer)


def _forecast_activity(activity_id: str, database: str | None, assumptions: dict[str, Any],
                       runs: int, seed: str, lang: str) -> Any:
    """`magic-cube forecast --activity ID`: any merchant's activity, all runs (no time limit)."""
    return _engine(database).forecast(None, activity_id, assumptions, runs=runs, seed=seed,
                                      lang=lang, time_budget=None)


cli.add_command(forecast_command(_forecast_activity))


def main() -> None:  # pragma: no cover
    cli(prog_name="magic-cube")


if __name__ == "__main__":  # pragma: no cover
    main()
