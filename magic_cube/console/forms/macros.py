"""The Jinja macros that lay out a form's view (`templates/console/_form.html`).

They run in an environment of their own, so that the form renders the same inside and outside
a request; `_()` in them is Flask-Babel's, in the locale the caller forces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from flask_babel import gettext, ngettext
from markupsafe import Markup, escape

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "templates"


def html_attrs(values: Mapping[str, Any]) -> Markup:
    """HTML attributes from a dict: True → bare attribute, None/False → left out."""
    out = []
    for key, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            out.append(f" {escape(key)}")
        else:
            out.append(f' {escape(key)}="{escape(value)}"')
    return Markup("".join(out))


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    extensions=["jinja2.ext.i18n"],
)
_ENV.filters["attrs"] = html_attrs
_ENV.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]


def macros() -> Any:
    return _ENV.get_template("console/_form.html").module


_TEXTAREA = re.compile(r"(<textarea\b.*?</textarea>)", re.DOTALL)


def drop_blank_lines(html: str) -> str:
    """Drop the blank lines the macros leave (never inside a textarea's value)."""
    parts = _TEXTAREA.split(html)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"\n[ \t]*(?=\n)", "", parts[i])
    return "".join(parts)
