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

from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("en", "zh")  # English is the source language: no catalog of its own


def N_(message: str) -> str:
    """Mark `message` for extraction without translating it yet."""
    return message


def language(lang: str | None) -> str:
    """The supported language closest to `lang` (`zh-CN` -> `zh`); English otherwise."""
    return "zh" if (lang or "").lower().startswith("zh") else "en"


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
