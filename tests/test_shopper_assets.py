"""The shopper page's scripts go out without their comment-only lines, every line kept."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from magic_cube.shopper.assets import STATIC, blank_comment_lines, load

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "js"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing (make test installs nodejs)")
        pytest.skip("node is missing")
    return found


def test_comment_only_lines_are_emptied_and_code_is_not():
    source = "\n".join([
        "// a line comment",
        "  /** a doc comment",
        "   * over lines",
        "   */",
        "const a = 1; // after code: kept",
        "/* inline */ const b = 2;",
        "const c = a",
        "  * b;  // a line that starts with * is code here",
        "const t = `",
        "// inside a template literal: text, kept",
        "/* also text */",
        "`;",
        "const u = `one line ${`nested`}`;",
        "// after the template: a comment again",
        "/* ends */ const d = 3;",
    ])
    served = blank_comment_lines(source)
    lines = served.split("\n")
    assert len(lines) == len(source.split("\n"))  # a stack trace's line numbers hold
    assert lines[:4] == ["", "", "", ""]
    assert lines[4:12] == source.split("\n")[4:12]
    assert lines[12] == "const u = `one line ${`nested`}`;"
    assert lines[13] == ""
    assert lines[14] == "/* ends */ const d = 3;"


def test_a_served_script_is_lighter_and_has_its_lines():
    original = (STATIC / "client" / "client.js").read_text("utf-8")
    asset = load("client/client.js")
    assert asset is not None
    served = asset.plain.decode("utf-8")
    assert served.count("\n") == original.count("\n")
    assert len(asset.plain) < len(original.encode("utf-8")) * 0.85
    assert gzip.decompress(asset.gzipped) == asset.plain
    assert "export class MagicCubeClient" in served and "\n// " not in served
    css = load("page.css")
    assert css is not None and css.plain == (STATIC / "page.css").read_bytes()  # not a script


def test_the_client_as_served_passes_its_own_tests(tmp_path):
    # The served copy is the code phones run: the client's whole test suite runs against it.
    runner = node()
    copy = tmp_path / "clients" / "js"
    shutil.copytree(CLIENT, copy)
    for path in sorted((copy / "src").glob("*.js")):
        path.write_text(blank_comment_lines(path.read_text("utf-8")), "utf-8")
    shutil.copytree(ROOT / "tests" / "conformance", tmp_path / "tests" / "conformance")
    done = subprocess.run([runner, "--test", "test/"], cwd=copy, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "# fail 0" in done.stdout
    for script in sorted(STATIC.glob("*.js")):
        served = blank_comment_lines(script.read_text("utf-8"))
        checked = subprocess.run([runner, "--input-type=module", "--check"], input=served,
                                 capture_output=True, text=True, timeout=60, check=False)
        assert checked.returncode == 0, (script.name, checked.stderr[-2000:])
