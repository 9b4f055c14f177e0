"""Everything an author or operator can use is documented."""

import json
import re
from pathlib import Path

import click

from magic_cube.catalog.errors import BUILTIN_ERRORS
from magic_cube.cli import cli
from magic_cube.rules.effects import EFFECTS
from magic_cube.rules.jsonlogic import ALLOWED_OPERATORS
from magic_cube.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES_MD = (ROOT / "docs" / "templates.md").read_text(encoding="utf-8")
EXPRESSIONS_MD = (ROOT / "docs" / "expressions.md").read_text(encoding="utf-8")
OPERATIONS_MD = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")


def backticked(text: str) -> set[str]:
    """Names in `code` spans, outside fenced blocks (whose backticks would pair up wrongly)."""
    prose = re.sub(r"^(```|~~~).*?^(```|~~~)", "", text, flags=re.M | re.S)
    return set(re.findall(r"`([^`]+)`", prose))


def test_every_setting_is_documented():
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in OPERATIONS_MD]
    assert not missing


def _commands(group: click.Group, prefix: str = "magic-cube") -> list[str]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


def test_every_cli_command_is_documented():
    missing = [c for c in _commands(cli) if c not in OPERATIONS_MD]
    assert not missing


def test_every_effect_is_documented():
    assert not [e for e in EFFECTS if f'{{"{e}": ' not in TEMPLATES_MD]


def test_every_operator_is_documented():
    assert not sorted(ALLOWED_OPERATORS - backticked(EXPRESSIONS_MD))


def test_every_top_level_template_field_is_documented():
    schema = json.loads((ROOT / "schemas" / "template.schema.json").read_text(encoding="utf-8"))
    fields = set(schema["properties"])
    assert not sorted(fields - backticked(TEMPLATES_MD))


def test_every_builtin_error_code_is_documented():
    assert not sorted(set(BUILTIN_ERRORS) - backticked(TEMPLATES_MD))


def test_every_ui_hint_is_documented():
    hints = {"label", "help", "placeholder", "widget", "order", "group", "hidden", "readonly"}
    assert not sorted(hints - backticked(TEMPLATES_MD))
