"""Page partials: the part of a shopper page that shows one template's play.

A template may ship `page.html` in its folder; a template that does not is shown by the generic
partial (`shopper/partials/generic.html`), built from its declared views, actions and parameter
schemas. Both render in one sandboxed Jinja environment: a partial is data written by a template
author, so it sees only the values handed to it (the participant's views, labels, formatting
helpers), never the app, its config, the request or Python internals.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from jinja2 import DictLoader, TemplateError, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from magic_cube.catalog.problems import TemplateProblem
from magic_cube.i18n import money
from magic_cube.shopper import context as ctx

log = logging.getLogger(__name__)
GENERIC = Path(__file__).parent / "partials" / "generic.html"
PARTIAL_NAME = "page.html"
class PartialError(Exception):
    """A template's page partial failed to render; the page falls back to the generic one."""


def percent(odds: Any, scale: Any = 10000) -> str:
    """Odds out of `scale` as a percentage with up to two decimals: 525 / 10000 -> 5.25%."""
    if not isinstance(odds, int | float) or not isinstance(scale, int | float) or not scale:
        return ""
    text = f"{odds * 100 / scale:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _moment(epoch: Any, zone: tzinfo) -> datetime | None:
    """Epoch seconds in `zone`; None for what is no time, or one the calendar cannot hold
    there (beyond years 1-9999): a row from before times were checked may keep one."""
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        return None
    try:
        return datetime.fromtimestamp(epoch, UTC).astimezone(zone)
    except (OverflowError, ValueError, OSError):
        return None


class Formatter:
    """Formatting helpers bound to one page's language and time zone."""

    def __init__(self, lang: str, timezone: str, currency: str) -> None:
        self.lang = lang
        self.zone = ZoneInfo(timezone)
        self.currency = currency

    def money(self, amount: Any) -> str:
        return money(amount, self.currency)

    def datetime(self, epoch: Any) -> str:
        """Epoch seconds as local date and time, in the activity's time zone."""
        local = _moment(epoch, self.zone)
        if local is None:
            return ""
        if self.lang == "zh":
            return f"{local.month}月{local.day}日 {local:%H:%M}"
        return f"{local:%d %b %H:%M}"

    def countdown(self, epoch: Any) -> Markup:
        """A countdown to `epoch` that the page script keeps ticking on the server's clock."""
        moment, shown = _moment(epoch, UTC), self.datetime(epoch)
        if moment is None or not shown:
            return Markup("")
        return Markup('<time class="mc-countdown" data-countdown="{0}" datetime="{1}">'
                      '{2}</time>').format(epoch, moment.isoformat(), shown)

    def tr(self, zh: Any = None, en: Any = None) -> Any:
        """The partial's own words in the page's language: `tr(zh="砍一刀", en="Help")`. A
        language left out (or none) falls back to the other one; one given as "" is nothing:
        `tr(zh="元", en="")` writes nothing on an English page."""
        mine, other = (zh, en) if self.lang == "zh" else (en, zh)
        if mine is not None and not isinstance(mine, Undefined):
            return mine
        return other if other is not None and not isinstance(other, Undefined) else ""

    def number(self, n: Any) -> str:
        """A count with thousands separators, as the console writes it: 12000 -> "12,000"."""
        if isinstance(n, int) and not isinstance(n, bool):
            return f"{n:,}"
        return str(n)

    def plural(self, n: Any, one: str, other: str) -> str:
        """`n` with the word for it, for English words: `plural(1, "friend", "friends")` ->
        "1 friend", `plural(3, "friend", "friends")` -> "3 friends"."""
        return f"{n} {one if n == 1 else other}"

    def ordinal(self, n: Any) -> str:
        """`n` as a position in the page's language: 1st, 2nd, 3rd, 11th, 22nd / 第1, 第2."""
        if self.lang == "zh":
            return f"第{n}"
        if not isinstance(n, int) or isinstance(n, bool):
            return str(n)
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"

    def pick(self, text: Any) -> Any:
        """A template's `{"zh": …, "en": …}` text in the page's language (other values as is)."""
        if isinstance(text, dict) and ("zh" in text or "en" in text):
            return text.get(self.lang) or text.get("en") or text.get("zh") or ""
        return text


def closed_reason(fmt: Formatter, activity: dict[str, Any], now: Any) -> Markup:
    """Why the activity takes no action now, in the page's language — when it starts (with a
    countdown), that it is paused, that it has ended — or "" while it is live. A draft is only
    ever seen in the console's preview, which shows the page as it will be once live."""
    status = activity.get("status")
    if status in ("live", "draft", None):
        return Markup("")
    if status == "scheduled":
        starts = activity.get("starts_at")
        if isinstance(starts, int) and isinstance(now, int) and starts > now:
            return Markup(fmt.tr(zh="活动 {0} 开始，还有 {1}", en="Starts {0} · in {1}")).format(
                fmt.datetime(starts), fmt.countdown(starts))
        return Markup(fmt.tr(zh="活动即将开始", en="The activity starts soon"))
    if status == "paused":
        return Markup(fmt.tr(zh="活动暂停中，请稍后再来",
                             en="The activity is paused: come back soon"))
    return Markup(fmt.tr(zh="活动已结束", en="The activity has ended"))


def rooms_lister(context: dict[str, Any], lang: str) -> Any:
    """`my_rooms()` for a partial: the participant's rooms with their views (context.my_rooms),
    looked up only by a partial that lists them, once per render."""
    found: list[list[dict[str, Any]]] = []

    def my_rooms() -> list[dict[str, Any]]:
        if not found:
            me, activity = context.get("me"), context.get("activity") or {}
            found.append(ctx.my_rooms(current_app.extensions["magic_cube"], activity["id"], me,
                                      lang, context["room_url"])
                         if me and me.get("rooms") and has_app_context() else [])
        return found[0]
    return my_rooms


def _environment() -> ImmutableSandboxedEnvironment:
    # The only file a partial may import is our macro library (`{% import "mc.html" as mc %}`).
    library = (Path(__file__).parent / "partials" / "mc.html").read_text(encoding="utf-8")
    env = ImmutableSandboxedEnvironment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                        loader=DictLoader({"mc.html": library}))
    env.filters["percent"] = percent
    return env


ENV = _environment()
GENERIC_PARTIAL = ENV.from_string(GENERIC.read_text(encoding="utf-8"))
# (template id, content hash, folder) -> compiled partial; read once per process, like the
# template itself.
_cache: dict[tuple[str, str, str], Any] = {}


def partial_source(directory: Path | None) -> str | None:
    """The page partial a template ships in its folder, or None."""
    if directory is None:
        return None
    path = directory / PARTIAL_NAME
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _compiled(template: tuple[str, str], directory: Path | None) -> Any:
    """The template's partial compiled, None if it has none; a `PartialError` (remembered,
    so that a broken file is read and logged once) if it does not compile."""
    key = (*template, str(directory))
    if key not in _cache:
        source = partial_source(directory)
        try:
            _cache[key] = ENV.from_string(source) if source is not None else None
        except TemplateError as exc:
            _cache[key] = PartialError(f"{directory}/{PARTIAL_NAME}: {exc}")
            log.error("page partial of %s does not compile: %s", template[0], exc)
    return _cache[key]


def render_partial(key: tuple[str, str], directory: Path | None, context: dict[str, Any],
                   fmt: Formatter) -> Markup:
    """The template's own partial if it has one and it renders, else the generic partial."""
    names = {"money": fmt.money, "datetime": fmt.datetime, "countdown": fmt.countdown,
             "tr": fmt.tr, "pick": fmt.pick, "plural": fmt.plural, "ordinal": fmt.ordinal,
             "number": fmt.number,
             "lang": fmt.lang,
             "closed": closed_reason(fmt, context.get("activity") or {}, context.get("now")),
             "my_rooms": rooms_lister(context, fmt.lang)}
    template = _compiled(key, directory)
    if isinstance(template, PartialError):
        # A partial that does not compile must not take the activity down either.
        context = {**context, "partial_error": str(template)}
    elif template is not None:
        try:
            return Markup(template.render(**context, **names))
        except (TemplateError, TypeError, ValueError, KeyError, AttributeError) as exc:
            # A broken partial must not take the activity down: show the generic page.
            log.warning("page partial of %s failed: %s", key[0], exc)
            context = {**context, "partial_error": str(exc)}
    return Markup(GENERIC_PARTIAL.render(**context, **names))


def partial_problems(directory: Path) -> list[TemplateProblem]:
    """Why the page partial in a template folder cannot be compiled (for `templates
    validate`): one problem naming its line, or none (also when the folder has no partial)."""
    source = partial_source(directory)
    if source is None:
        return []
    try:
        ENV.from_string(source)
    except TemplateSyntaxError as exc:
        return [TemplateProblem(str(directory / PARTIAL_NAME), f"line {exc.lineno}",
                                exc.message or str(exc), "page_error")]
    except TemplateError as exc:
        return [TemplateProblem(str(directory / PARTIAL_NAME), "", str(exc), "page_error")]
    return []
