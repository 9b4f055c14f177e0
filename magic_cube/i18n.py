"""Our own words in the merchant's or shopper's language, from gettext catalogs.

The template catalog and the engine have no Flask app and no request: they are told the
language (`lang`), so they read the compiled catalog in `magic_cube/translations` through
`babel.support.Translations` rather than through Flask-Babel's request locale. Messages are
written in English, which is also the msgid; `N_` marks a message for extraction where it is
only named (in a table), and `gettext` translates it where it is used.

Words a template author wrote (titles, labels, its own error messages) are data: they carry
their languages themselves and never pass through here.
"""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("en", "zh")  # English is the source language: no catalog of its own


def N_(message: str) -> str:
    """Mark `message` for extraction without translating it yet."""
    return message


def language(lang: str | None) -> str:
    """The supported language closest to `lang` (`zh-CN` -> `zh`); English otherwise."""
    return "zh" if (lang or "").lower().startswith("zh") else "en"


@lru_cache(maxsize=512)
def negotiate(header: str | None) -> str:
    """The language an `Accept-Language` header asks for, for the API, the console and the
    shopper pages alike: each language's weight is the highest `q` of any tag of it (`zh-CN`,
    `zh-Hans` and `zh` are Chinese), the heavier wins, and a tie goes to the one listed first.
    So `zh-CN, en;q=0.9` is Chinese, though only `en` matches a language exactly (werkzeug's
    `best_match` prefers an exact match of any weight). English when nothing listed is ours.
    Worked out once per header: clients send a handful of distinct ones."""
    weights: dict[str, float] = {}
    for item in (header or "")[:1000].split(","):
        tag, *params = item.split(";")
        lang = tag.strip().lower().split("-", 1)[0]
        if lang not in LANGUAGES:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if 0 < q <= 1 and q > weights.get(lang, 0):  # NaN fails both
            weights[lang] = q
    return max(weights, key=lambda lang: weights[lang], default="en")


@cache
def _translations(lang: str) -> NullTranslations:
    if lang == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), locales=[lang])


def gettext(lang: str | None, message: str, **values: object) -> str:
    """`message` in `lang`, with `{name}` placeholders filled from `values`."""
    text = _translations(language(lang)).gettext(message)
    return text.format(**values) if values else text


def in_every_language(message: str) -> dict[str, str]:
    """`message` in each supported language, as `{"en": …, "zh": …}`."""
    return {lang: gettext(lang, message) for lang in LANGUAGES}


CURRENCY_SIGNS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "JPY": "¥"}


def money(amount: Any, currency: str = "CNY") -> str:
    """Smallest units (fen, cents) as a price with two decimals: 1234 -> ¥12.34; "" for what
    is not a whole number of them."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        return ""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{CURRENCY_SIGNS.get(currency, currency + ' ')}{whole:,}.{cents:02d}"
