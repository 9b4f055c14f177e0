"""The operator's account commands: merchants and operators made from the command line."""

import json

from click.testing import CliRunner

from magic_cube.cli import _engine as cli_engine
from magic_cube.cli import cli


def test_operator_accounts_are_made_and_granted_from_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner = CliRunner()
    made = runner.invoke(cli, ["operator", "create", "Festival Ops", "-d", url])
    assert made.exit_code == 0, made.output
    ops = json.loads(made.output)
    assert ops["operator"] is True and ops["api_key"].startswith("mck_")
    shop = json.loads(runner.invoke(cli, ["merchants", "create", "Tea", "-d", url]).output)
    assert shop["operator"] is False
    granted = runner.invoke(cli, ["operator", "grant", shop["id"], "-d", url])
    assert json.loads(granted.output)["operator"] is True
    engine = cli_engine(url)
    try:
        assert engine.merchant_for_key(ops["api_key"]).operator
    finally:
        engine.store.close()
    revoked = runner.invoke(cli, ["operator", "grant", shop["id"], "--revoke", "-d", url])
    assert json.loads(revoked.output)["operator"] is False
    missing = runner.invoke(cli, ["operator", "grant", "m_nope", "-d", url])
    assert missing.exit_code == 1 and "m_nope: No such merchant" in missing.output
