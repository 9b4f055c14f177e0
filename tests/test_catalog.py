"""Discovery, versions, pinning and content hashes of the template catalog."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest
from template_factory import minimal_template, write_template

from magic_cube.catalog import (
    Catalog,
    ConfigValidator,
    TemplateEntry,
    TemplateMismatch,
    TemplateNotFound,
    content_hash,
    pin,
    validate_path,
)
from magic_cube.catalog.versions import version_key
from magic_cube.errors import MagicCubeError
from magic_cube.rules.compiler import CompiledTemplate


def write_versions(root: Path, *versions: str, template_id: str = "mini") -> None:
    for version in versions:
        doc = minimal_template(id=template_id, version=version)
        write_template(root, doc, f"{template_id}-{version}")


def test_discover_loads_every_template_in_the_directories(tmp_path):
    write_template(tmp_path / "a", minimal_template(id="alpha"))
    write_template(tmp_path / "b", minimal_template(id="beta"))
    catalog = Catalog.discover([tmp_path / "a", tmp_path / "b"], entry_points=False)
    assert catalog.problems == []
    assert [e.id for e in catalog.entries()] == ["alpha", "beta"]
    assert "alpha" in catalog and "gamma" not in catalog
    assert len(catalog) == 2


def test_entry_holds_metadata_document_and_compiled_template(tmp_path):
    file = write_template(tmp_path, minimal_template())
    entry = Catalog.discover([tmp_path], entry_points=False).get("mini")
    assert isinstance(entry, TemplateEntry)
    assert (entry.id, entry.version, entry.kind) == ("mini", "1.0.0", "group_buy")
    assert entry.title == {"zh": "迷你组队", "en": "Mini team"}
    assert entry.description["en"] == "Teams of two"
    assert entry.path == file.resolve()
    assert entry.directory == file.parent.resolve()
    assert entry.doc == minimal_template()
    assert isinstance(entry.compiled, CompiledTemplate)
    assert set(entry.compiled.actions) == {"start", "join", "expire"}


def test_get_without_version_returns_the_latest_by_semver(tmp_path):
    write_versions(tmp_path, "1.2.0", "1.10.0", "1.9.9", "1.10.0-rc.1")
    catalog = Catalog.discover([tmp_path], entry_points=False)
    assert catalog.get("mini").version == "1.10.0"
    assert [e.version for e in catalog.entries()] == ["1.2.0", "1.9.9", "1.10.0-rc.1", "1.10.0"]


def test_get_a_specific_version(tmp_path):
    write_versions(tmp_path, "1.0.0", "2.0.0")
    assert Catalog.discover([tmp_path], entry_points=False).get("mini", "1.0.0").version == "1.0.0"


def test_unknown_template_or_version_raises_template_not_found_with_a_stable_code(tmp_path):
    write_versions(tmp_path, "1.0.0")
    catalog = Catalog.discover([tmp_path], entry_points=False)
    with pytest.raises(TemplateNotFound) as info:
        catalog.get("bargain")
    assert info.value.code == "template_not_found"
    assert isinstance(info.value, MagicCubeError)
    with pytest.raises(TemplateNotFound):
        catalog.get("mini", "9.9.9")


def test_content_hash_ignores_formatting_and_key_order():
    doc = minimal_template()
    shuffled = json.loads(json.dumps(dict(reversed(list(doc.items())))))
    assert content_hash(doc) == content_hash(shuffled)
    assert len(content_hash(doc)) == 64
    assert content_hash(doc) != content_hash(minimal_template(kind="other"))


def test_content_hash_is_over_canonical_utf8_json(tmp_path):
    import hashlib
    doc = minimal_template()
    write_template(tmp_path, doc)
    entry = Catalog.discover([tmp_path], entry_points=False).get("mini")
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.content_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_pin_and_get_pinned_round_trip(tmp_path):
    write_versions(tmp_path, "1.0.0", "1.1.0")
    catalog = Catalog.discover([tmp_path], entry_points=False)
    old = catalog.get("mini", "1.0.0")
    pinned = pin(old)
    assert pinned == {"template_id": "mini", "template_version": "1.0.0",
                      "template_hash": old.content_hash}
    assert catalog.get_pinned(*pinned.values()) is old


def test_get_pinned_refuses_a_template_whose_content_changed(tmp_path):
    write_versions(tmp_path, "1.0.0")
    pinned = pin(Catalog.discover([tmp_path], entry_points=False).get("mini"))
    edited = minimal_template(description={"zh": "改了", "en": "edited in place"})
    write_template(tmp_path, edited, "mini-1.0.0")
    catalog = Catalog.discover([tmp_path], entry_points=False)
    with pytest.raises(TemplateMismatch) as info:
        catalog.get_pinned(*pinned.values())
    assert info.value.code == "template_mismatch"
    with pytest.raises(TemplateNotFound):
        catalog.get_pinned("mini", "3.0.0", pinned["template_hash"])


def test_same_id_and_version_with_different_content_is_a_problem_for_the_second(tmp_path):
    write_template(tmp_path / "a", minimal_template())
    second = write_template(tmp_path / "b", minimal_template(kind="other"))
    catalog = Catalog.discover([tmp_path / "a", tmp_path / "b"], entry_points=False)
    assert catalog.get("mini").kind == "group_buy"
    [problem] = catalog.problems
    assert (problem.file, problem.path, problem.code) == (
        str(second.resolve()), "version", "duplicate_version")


def test_same_template_found_twice_with_identical_content_is_not_a_problem(tmp_path):
    write_template(tmp_path / "a", minimal_template())
    write_template(tmp_path / "b", minimal_template())
    catalog = Catalog.discover([tmp_path / "a", tmp_path / "b", tmp_path / "a"], entry_points=False)
    assert catalog.problems == []
    assert len(catalog.entries()) == 1


def test_a_missing_directory_is_a_problem_not_a_crash(tmp_path):
    catalog = Catalog.discover([tmp_path / "nowhere"], entry_points=False)
    assert catalog.entries() == []
    assert catalog.problems[0].code == "not_found"


def test_a_directory_holding_template_json_is_one_template(tmp_path):
    file = write_template(tmp_path, minimal_template())
    catalog = Catalog.discover([file.parent], entry_points=False)
    assert catalog.get("mini")


def test_problems_by_file_groups_problems(tmp_path):
    write_template(tmp_path, minimal_template(id="one", version="x"))
    write_template(tmp_path, minimal_template(id="two", kind="x"))
    grouped = Catalog.discover([tmp_path], entry_points=False).problems_by_file()
    assert sorted(Path(f).parent.name for f in grouped) == ["one", "two"]


def test_config_validator_is_built_once_per_template(tmp_path):
    write_template(tmp_path, minimal_template())
    entry = Catalog.discover([tmp_path], entry_points=False).get("mini")
    assert entry.config_validator is entry.config_validator
    assert isinstance(entry.config_validator, ConfigValidator)
    assert entry.config_validator.validate({"team_size": 3})[1] == {}


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """A real installed distribution on sys.path publishing templates via entry points."""
    site = tmp_path / "site"
    package = f"mc_fake_templates_{uuid.uuid4().hex[:8]}"
    (site / package).mkdir(parents=True)
    write_template(site / package / "templates", minimal_template(id="from_package"))
    (site / package / "__init__.py").write_text(textwrap.dedent("""
        from pathlib import Path

        HERE = str(Path(__file__).parent / "templates" / "from_package")

        def templates():
            return Path(__file__).parent / "templates"

        def nothing():
            return 42
    """), encoding="utf-8")
    dist_info = site / f"{package}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n",
                                        encoding="utf-8")

    def publish(**entry_points: str) -> None:
        lines = [f"{name} = {target.format(package=package)}"
                 for name, target in entry_points.items()]
        text = "[magic_cube.templates]\n" + "\n".join(lines) + "\n"
        (dist_info / "entry_points.txt").write_text(text, encoding="utf-8")
        monkeypatch.syspath_prepend(str(site))  # also invalidates the import caches
    return publish


def test_entry_point_callable_publishes_a_directory_of_templates(tmp_path, fake_distribution):
    fake_distribution(fake="{package}:templates")
    catalog = Catalog.discover([], entry_points=True)
    entry = catalog.get("from_package")
    assert entry.directory.name == "from_package"
    assert not [p for p in catalog.problems if "mc_fake_templates" in p.file]


def test_entry_point_string_path_names_one_template_directory(tmp_path, fake_distribution):
    fake_distribution(fake="{package}:HERE")
    assert Catalog.discover([], entry_points=True).get("from_package")


def test_broken_entry_points_are_problems_and_do_not_stop_discovery(tmp_path, fake_distribution):
    write_template(tmp_path / "local", minimal_template())
    fake_distribution(a_missing="{package}_nope:templates", b_number="{package}:nothing",
                      c_good="{package}:templates")
    catalog = Catalog.discover([tmp_path / "local"], entry_points=True)
    assert catalog.get("mini") and catalog.get("from_package")
    ours = [p for p in catalog.problems if "mc_fake_templates" in p.file]
    assert [p.file.split()[2] for p in ours] == ["a_missing", "b_number"]
    assert all(p.code == "entry_point" for p in ours)


def test_entry_points_can_be_skipped(tmp_path, fake_distribution):
    fake_distribution(fake="{package}:templates")
    assert "from_package" not in Catalog.discover([], entry_points=False)


def test_validate_path_accepts_a_file_a_template_directory_or_a_root(tmp_path):
    file = write_template(tmp_path, minimal_template())
    assert validate_path(file) == []
    assert validate_path(file.parent) == []
    assert validate_path(tmp_path) == []
    assert validate_path(tmp_path / "nothing")[0].code == "not_found"
    (tmp_path / "empty").mkdir()
    assert validate_path(tmp_path / "empty")[0].code == "not_found"


def test_validate_path_checks_the_template_scenarios(tmp_path):
    file = write_template(tmp_path, minimal_template())
    scenarios = file.parent / "scenarios"
    scenarios.mkdir()
    good = {"title": "two join", "config": {"team_size": 2}, "start": "2026-11-11T10:00:00+08:00",
            "steps": [{"actor": "alice", "action": "start", "save_room": "t"},
                      {"actor": "bob", "action": "join", "room": "t",
                       "expect": {"error": "joins_used_up"}}]}
    (scenarios / "good.json").write_text(json.dumps(good), encoding="utf-8")
    assert validate_path(file) == []
    bad = {**good, "steps": [
        {"actor": "alice", "action": "help", "expect": {"error": "own_bargain"}},
        {"actor": "bob", "at": "later"},
    ]}
    (scenarios / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    [problem] = validate_path(file)
    assert (Path(problem.file).name, problem.path) == ("bad.json", "steps[1].at")
    bad["steps"].pop()
    (scenarios / "bad.json").write_text(json.dumps(bad), encoding="utf-8")
    assert {(p.path, p.code) for p in validate_path(file)} == {
        ("steps[0].action", "unknown_action"), ("steps[0].expect.error", "undeclared_error")}


@pytest.mark.parametrize(("lower", "higher"), [
    ("1.0.0", "2.0.0"), ("1.9.0", "1.10.0"), ("1.0.0-alpha", "1.0.0"),
    ("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
    ("1.0.0-beta.2", "1.0.0-beta.11"), ("1.0.0-rc.1", "1.0.0"),
])
def test_semver_precedence(lower, higher):
    assert version_key(lower) < version_key(higher)


def test_build_metadata_does_not_change_precedence():
    assert version_key("1.0.0+abc") == version_key("1.0.0")
    with pytest.raises(ValueError):
        version_key("1.0")
