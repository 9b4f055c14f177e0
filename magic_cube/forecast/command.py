"""`magic-cube forecast`: the command line of a launch forecast.

`forecast_command(for_activity)` builds the command; `magic_cube.cli` hands it the function
that forecasts a stored activity through the engine (`--activity ID`), which this package may
not import: it stays pure.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import click

from magic_cube.catalog import Catalog, TemplateNotFound
from magic_cube.errors import MagicCubeError
from magic_cube.forecast.assumptions import AssumptionError, parse_pairs, read_forecast_file
from magic_cube.forecast.montecarlo import NEVER, Forecast
from magic_cube.forecast.montecarlo import forecast as run_forecast
from magic_cube.i18n import N_, gettext, money

# (activity id, database URL, assumptions as JSON values, runs, seed, language) -> an object
# with `result` (a Forecast) and `summary(lang)`: the engine's ActivityForecast.
ActivityForecaster = Callable[[str, str | None, dict[str, Any], int, str, str], Any]


def forecast_command(for_activity: ActivityForecaster | None = None) -> click.Command:
    """The `forecast` command; `--activity` needs `for_activity`."""

    @click.pass_context
    def run(ctx: click.Context, activity: str | None, database: str | None, lang: str,
            **options: Any) -> None:
        if activity is None:
            if not options["template_id"] or options["config_file"] is None:
                raise click.UsageError("give TEMPLATE_ID and --config FILE, or --activity ID")
            ctx.invoke(forecast, **options)
            return
        if for_activity is None or options["template_id"] or options["config_file"]:
            raise click.UsageError("--activity forecasts a stored activity: no TEMPLATE_ID "
                                   "or --config with it")
        forecast_stored(for_activity, activity, database, lang, options)

    params = [p for p in forecast.params if p.name not in ("template_id", "config_file")]
    return click.Command(
        "forecast", callback=run, help=FORECAST_HELP, params=[
            click.Argument(["template_id"], required=False),
            click.Option(["--config", "config_file"], default=None,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help="The activity's config (JSON), or {\"config\": …, "
                              "\"assumptions\": …}"),
            click.Option(["--activity"], default=None, metavar="ID",
                         help="Forecast a stored activity with its config (a live one from now "
                              "and its current state)"),
            click.Option(["--database", "-d"], envvar="MAGIC_CUBE_DATABASE_URL",
                         help="Database URL for --activity (default: the database_url "
                              "setting)"),
            click.Option(["--lang"], type=click.Choice(["en", "zh"]), default="en",
                         show_default=True, help="The language of the report"),
            *params])


FORECAST_HELP = ("Forecast an activity: Monte Carlo runs of its rules. TEMPLATE_ID with "
                 "--config FILE before it exists, or --activity ID for a stored one.")


def forecast_stored(for_activity: ActivityForecaster, activity: str, database: str | None,
                    lang: str, options: dict[str, Any]) -> None:
    """`--activity ID`: the stored activity's forecast, through the engine."""
    assumptions: dict[str, Any] = {
        "visitors_per_day": options["visitors_per_day"], "days": options["days"],
        "friends": options["friends"]}
    try:
        if options["conversion"]:
            assumptions["conversion"] = parse_pairs(options["conversion"])
        if options["cost"]:
            assumptions["costs"] = parse_pairs(options["cost"], int)
        found = for_activity(activity, database, assumptions, options["runs"],
                             options["seed"], lang)
    except MagicCubeError as exc:
        fail(exc, options["as_json"])
    if options["as_json"]:
        click.echo(json.dumps(found.summary(lang), ensure_ascii=False, indent=2))
        return
    summary = found.summary(lang)
    when = gettext(lang, N_("from now, from its current state") if summary["from_state"]
                   else N_("from its start"))
    result: Forecast = found.result
    starts = datetime.fromtimestamp(result.start, ZoneInfo(result.timezone))
    click.echo(gettext(lang, "activity {activity} ({status}), {when} at {starts_at}",
                       activity=activity, status=gettext(lang, summary["status"]), when=when,
                       starts_at=f"{starts:%Y-%m-%d %H:%M} {result.timezone}"))
    click.echo(report(found.result, lang))


def fail(exc: MagicCubeError, as_json: bool) -> NoReturn:
    """Stop with exit status 1 on a forecast that cannot be made: with `--json` the error as a
    JSON object on stdout (`error`, `message`, and `errors` by field when there are), so that a
    script reads one format either way; else the message on stderr."""
    details = getattr(exc, "errors", None) or {}
    if as_json:
        code = getattr(exc, "code", None) or "invalid_forecast"
        click.echo(json.dumps({"error": code, "message": str(exc), "errors": details},
                              ensure_ascii=False, indent=2))
        raise click.exceptions.Exit(1) from exc
    words = "; ".join(f"{name}: {e['message']}" for name, items in details.items()
                      for e in items)
    raise click.ClickException(f"{exc}{': ' + words if words else ''}") from exc


@click.command("forecast")
@click.argument("template_id")
@click.option("--config", "config_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The activity's config (JSON), or {\"config\": …, \"assumptions\": …}")
@click.option("--visitors-per-day", type=click.IntRange(min=0), default=None,
              help="Visitors who come on their own each day [200]")
@click.option("--days", type=click.IntRange(min=1), default=None, help="Duration in days [7]")
@click.option("--friends", type=click.FloatRange(min=0), default=None,
              help="Friends a share brings, on average [3]")
@click.option("--conversion", multiple=True, metavar="STEP=RATE",
              help="Chance of a step: act, again, return, share, friend, buy (repeatable, "
                   "or comma-separated)")
@click.option("--cost", multiple=True, metavar="ITEM=AMOUNT",
              help="What one prize or product costs, in fen (the smallest unit: 8800 is "
                   "¥88.00; repeatable)")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--seed", default="0", show_default=True, help="Same seed, same forecast")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the forecast as JSON")
@click.option("--template-dirs", envvar="MAGIC_CUBE_TEMPLATE_DIRS", default="",
              help="More template folders, comma-separated (the template_dirs setting)")
def forecast(template_id: str, config_file: Path, visitors_per_day: int | None,
             days: int | None, friends: float | None, conversion: tuple[str, ...],
             cost: tuple[str, ...], runs: int, seed: str, timezone: str,
             as_json: bool, template_dirs: str) -> None:
    """Forecast an activity of TEMPLATE_ID before launch: Monte Carlo runs of its rules."""
    try:
        entry = Catalog.served(template_dirs).get(template_id)
        config, assumptions = read_forecast_file(config_file)
        assumptions = assumptions.updated(
            visitors_per_day=visitors_per_day, days=days, friends=friends,
            conversion=parse_pairs(conversion) or None,
            costs=parse_pairs(cost, int) or None)
        with click.progressbar(length=runs, label="forecasting", file=sys.stderr) as bar:
            result = run_forecast(entry, config, assumptions, runs=runs, seed=seed,
                                  timezone=timezone, progress=bar.update)
    except (TemplateNotFound, AssumptionError) as exc:
        fail(exc, as_json)
    lang = _lang()
    if as_json:
        click.echo(json.dumps(result.summary(lang), ensure_ascii=False, indent=2))
    else:
        click.echo(report(result, lang))


def _lang() -> str:
    """The `--lang` of the command being run (the outer `forecast` passes it on)."""
    ctx = click.get_current_context()
    while ctx is not None:
        if "lang" in ctx.params:
            return str(ctx.params["lang"])
        ctx = ctx.parent  # type: ignore[assignment]
    return "en"


def _width(text: str) -> int:
    """Columns `text` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _label(label: str) -> str:
    """A row's label, padded to the first column's 30 columns."""
    return f"  {label}{' ' * max(1, 30 - _width(label))}"


def _row(label: str, q: dict[str, Any], lang: str, unit: str = "",
         shown: Callable[[Any], str] = str) -> str:
    texts = [gettext(lang, NEVER_WORDS) if q[k] == NEVER else shown(q[k])
             for k in ("p10", "p50", "p90")]
    cells = "  ".join(" " * max(0, 12 - _width(text)) + text for text in texts)
    return f"{_label(label)}{cells}  {unit}".rstrip()


NEVER_WORDS = N_("never")


def report(result: Forecast, lang: str = "en") -> str:
    """The forecast in plain text, in `lang`: one line per figure, P10/P50/P90 across; money
    as yuan (or the template's currency) with two decimals."""
    s = result.summary(lang)
    a = s["assumptions"]

    def cash(amount: Any) -> str:
        return money(amount, s["currency"]) if s["currency"] else str(amount)

    def row(label: str, q: dict[str, Any], unit: str = "",
            shown: Callable[[Any], str] = str) -> str:
        return _row(label, q, lang, unit, shown)

    lines = [
        gettext(lang, "{template} ({kind}): {runs} runs, {days} days, {visitors} visitors a "
                "day, {friends} friends a share", template=s["template"], kind=s["kind"],
                runs=s["runs"], days=a["days"], visitors=a["visitors_per_day"],
                friends=a["friends"]),
        f"  {'':<30}{'P10':>12}  {'P50':>12}  {'P90':>12}",
        row(gettext(lang, "participations"), s["participations"]),
        row(gettext(lang, "participants"), s["participants"]),
        row(gettext(lang, "first-time participants"), s["first_time"]),
        row(gettext(lang, "completions"), s["completions"]),
        row(gettext(lang, "cost"), s["cost"], shown=cash),
        row("  " + gettext(lang, "prize cost"), s["prize_cost"], shown=cash),
        row("  " + gettext(lang, "money given away"), s["given_away"], shown=cash),
    ]
    for item, q in s["awarded"].items():
        lines.append(row("  " + gettext(lang, "handed out: {item}", item=item), q))
    for name, q in s["stock_out"].items():
        share = f"{q['share_of_runs']:.0%}"
        lines.append(row(gettext(lang, "{name} runs out (hour)", name=name), q,
                         gettext(lang, "runs out in {share} of runs", share=share)))
    rooms = s["rooms"]
    if rooms["completion_share"] is not None:
        lines.append(row(gettext(lang, "rooms started"), rooms["started"]))
        # (the words outside the f-string, where pybabel finds them)
        label, mean = gettext(lang, "rooms that complete"), gettext(lang, "(mean)")
        lines.append(f"{_label(label)}{rooms['completion_share']:>12.0%}  {mean}")
    lines.append("  " + gettext(lang, "expected first-time participants: {count}",
                                count=s["first_time_mean"]))
    lines += [gettext(lang, "warning: {text}", text=w) for w in s["warnings"]]
    return "\n".join(lines)
