"""The console's schema-driven config form (magic_cube/console/forms/).

Assertions read the HTML with a real HTML parser (the stdlib's html.parser, into a small tree
below) and submit it as a browser would: enabled named controls outside <template>, checked
checkboxes and radios only, selected options, nothing inside a disabled fieldset.
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel
from werkzeug.datastructures import MultiDict

from magic_cube.catalog import ConfigValidator
from magic_cube.console import TRANSLATIONS, forms
from magic_cube.console.forms import (
    apply_array_action,
    error_summary,
    form_action,
    parse_form,
    render_form,
)
from tests.form_schemas import EVERYTHING, EVERYTHING_CONFIG

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "activity_templates"
TEMPLATE_IDS = ("bargain", "gift", "group_buy", "lottery")


# -- a small DOM ------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Node | str] = []

    def get(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.attrs

    def elements(self) -> list[Node]:
        return [c for c in self.children if isinstance(c, Node)]

    def iter(self, templates: bool = False):
        """This node and its descendants, in document order; <template> contents only on ask."""
        yield self
        if self.tag == "template" and not templates and self.parent is not None:
            return
        for child in self.elements():
            yield from child.iter(templates)

    def find_all(self, tag: str | None = None, templates: bool = False, **attrs: Any) -> list[Node]:
        out = []
        for node in self.iter(templates):
            if node is self:
                continue
            if tag and node.tag != tag:
                continue
            if all(node.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                out.append(node)
        return out

    def find(self, tag: str | None = None, **attrs: Any) -> Node | None:
        found = self.find_all(tag, **attrs)
        return found[0] if found else None

    def by_id(self, ident: str) -> Node:
        found = [n for n in self.iter() if n.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def named(self, name: str) -> list[Node]:
        return [n for n in self.iter() if n.get("name") == name]

    def text(self) -> str:
        parts = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text())
        return "".join(parts)

    def classes(self) -> list[str]:
        return (self.get("class") or "").split()

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def is_inside(self, other: Node) -> bool:
        return any(a is other for a in self.ancestors())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"stray </{tag}>"
        self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse_html(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(str(html))
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return builder.root


def is_disabled(el: Node) -> bool:
    if el.has("disabled"):
        return True
    for fieldset in el.ancestors():
        if fieldset.tag == "fieldset" and fieldset.has("disabled"):
            legend = next((c for c in fieldset.elements() if c.tag == "legend"), None)
            if legend is None or not el.is_inside(legend):
                return True
    return False


def submission(root: Node) -> MultiDict:
    """What a browser submits for this form, in document order, without any button."""
    pairs: list[tuple[str, str]] = []
    for el in root.iter():
        if el.tag not in ("input", "select", "textarea") or not el.get("name") or is_disabled(el):
            continue
        name = el.get("name")
        if el.tag == "input":
            kind = (el.get("type") or "text").lower()
            if kind in ("submit", "button", "reset", "image", "file"):
                continue
            if kind in ("checkbox", "radio"):
                if el.has("checked"):
                    pairs.append((name, el.get("value") if el.get("value") is not None else "on"))
                continue
            pairs.append((name, el.get("value") or ""))
        elif el.tag == "select":
            options = el.find_all("option")
            chosen = [o for o in options if o.has("selected")] or options[:1]
            for option in chosen[:1] if not el.has("multiple") else chosen:
                value = option.get("value")
                pairs.append((name, value if value is not None else option.text().strip()))
        else:
            text = el.text()
            pairs.append((name, text[1:] if text.startswith("\n") else text))
    return MultiDict(pairs)


def assert_well_formed(root: Node) -> None:
    """Unique ids; every label and aria-describedby points at an element that exists."""
    ids = [n.get("id") for n in root.iter() if n.get("id")]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"duplicate ids: {sorted(duplicates)}"
    known = set(ids)
    for node in root.iter():
        if node.tag == "label":
            assert node.get("for") in known, f"label for {node.get('for')!r} points nowhere"
        for token in (node.get("aria-describedby") or "").split():
            assert token in known, f"aria-describedby {token!r} points nowhere"
    for template in root.find_all("template"):
        inner = [n.get("id") for n in template.iter(templates=True) if n.get("id")]
        assert len(inner) == len(set(inner)), "duplicate ids in a row template"


@pytest.fixture
def console_catalog():
    """An app with the console's catalog, where the form's own words (Add, Remove, …) come
    from Flask-Babel as they do in the console."""
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app)
    with app.app_context():
        yield app


def render(schema: dict[str, Any], values: Any = None, errors: Any = None, lang: str = "en",
           **kw: Any) -> Node:
    root = parse_html(render_form(schema, values, errors, lang=lang, **kw))
    assert_well_formed(root)
    return root


def load(template_id: str) -> dict[str, Any]:
    return json.loads((TEMPLATES / template_id / "template.json").read_text(encoding="utf-8"))


def scenario_configs() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for template_id in TEMPLATE_IDS:
        for path in sorted((TEMPLATES / template_id / "scenarios").glob("*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            out.append((template_id, path.stem, doc["config"]))
    return out


def control(root: Node, name: str) -> Node:
    found = [n for n in root.named(name) if n.tag in ("input", "select", "textarea")
             and n.get("type") != "hidden"]
    assert len(found) == 1, f"{len(found)} visible controls named {name!r}"
    return found[0]


def selected(select: Node) -> str | None:
    chosen = [o.get("value") for o in select.find_all("option") if o.has("selected")]
    assert len(chosen) <= 1
    return chosen[0] if chosen else None


def label_of(root: Node, el: Node) -> str:
    labels = [n for n in root.iter() if n.tag == "label" and n.get("for") == el.get("id")]
    assert len(labels) == 1
    return " ".join(labels[0].text().split())


# -- 1. nested objects ------------------------------------------------------------------------

def test_nested_object_is_a_fieldset_with_a_legend():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    shipping = root.by_id("field-config-shipping")
    assert shipping.tag == "fieldset"
    legend = shipping.elements()[0]
    assert legend.tag == "legend" and legend.text().strip() == "Shipping"
    city = control(root, "config.shipping.city")
    assert city.is_inside(shipping) and city.get("id") == "field-config-shipping-city"
    assert city.get("value") == "杭州" and city.has("required")
    help_p = root.by_id("field-config-shipping-help")
    assert help_p.tag == "p" and help_p.text() == "Where prizes go"


# -- 2. arrays --------------------------------------------------------------------------------

def test_lottery_prizes_render_as_table_rows_with_buttons():
    doc = load("lottery")
    config = {"prizes": [{"name": "A", "type": "coupon", "stock": 1, "odds": 10},
                         {"name": "B", "type": "points", "stock": 2, "odds": 20},
                         {"name": "C", "type": "physical", "stock": 3, "odds": 30}]}
    root = render(doc["config"]["schema"], config)
    array = root.by_id("field-config-prizes")
    assert array.get("data-array") == "config.prizes"
    table = array.find("table")
    headers = [" ".join(th.text().split()) for th in table.find("thead").find_all("th")]
    assert headers[:3] == ["Prize*", "Type*", "Stock*"]
    rows = table.find("tbody").find_all("tr", templates=False)
    assert [r.get("id") for r in rows] == [f"field-config-prizes-{i}" for i in range(3)]
    names = [control(root, f"config.prizes.{i}.name").get("value") for i in range(3)]
    assert names == ["A", "B", "C"]
    assert selected(control(root, "config.prizes.1.type")) == "points"

    def buttons(row: Node) -> list[str]:
        return [b.get("name") for b in row.find_all("button")]

    assert buttons(rows[0]) == ["__down:config.prizes.0", "__remove:config.prizes.0"]
    assert buttons(rows[1]) == ["__up:config.prizes.1", "__down:config.prizes.1",
                                "__remove:config.prizes.1"]
    assert buttons(rows[2]) == ["__up:config.prizes.2", "__remove:config.prizes.2"]
    add = array.find("button", name="__add:config.prizes")
    assert add is not None and add.get("type") == "submit" and add.has("formnovalidate")
    # every row's input is labelled (visually hidden label with the row number)
    assert label_of(root, control(root, "config.prizes.2.stock")) == "Stock 3*"


def test_array_buttons_respect_min_and_max_items():
    schema = load("lottery")["config"]["schema"]
    one = {"prizes": [{"name": "A", "type": "coupon", "stock": 1, "odds": 10}]}
    root = render(schema, one)
    assert not [b for b in root.find_all("button") if b.get("name", "").startswith("__remove:")]
    assert root.find("button", name="__add:config.prizes") is not None
    full = {"prizes": [{"name": f"P{i}", "type": "coupon", "stock": 1, "odds": 1}
                       for i in range(12)]}
    root = render(schema, full)
    assert root.find("button", name="__add:config.prizes") is None
    assert len([b for b in root.find_all("button")
                if b.get("name", "").startswith("__remove:")]) == 12


def test_array_of_primitives_has_one_labelled_input_per_row():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    array = root.by_id("field-config-keywords")
    items = array.find("ol").find_all("li")
    assert len(items) == 2
    first = control(root, "config.keywords.0")
    assert first.get("id") == "field-config-keywords-0" and first.get("value") == "gift"
    assert first.has("required") and first.get("maxlength") == "10"
    assert label_of(root, first) == "Keywords 1*"
    assert [b.get("name") for b in items[1].find_all("button")] == [
        "__up:config.keywords.1", "__remove:config.keywords.1"]
    # nested arrays inside object rows (a list layout, not a table)
    assert control(root, "config.stages.0.thresholds.1").get("value") == "20"
    stage = root.by_id("field-config-stages-0")
    assert stage.tag == "fieldset"
    assert " ".join(stage.find("legend").text().split()) == "Stages 1"
    assert root.find("button", name="__add:config.stages.1.thresholds") is not None


def test_each_array_has_a_row_template_for_javascript():
    root = render(load("lottery")["config"]["schema"], None)
    array = root.by_id("field-config-prizes")
    template = array.find("template")
    assert array.get("data-placeholder") == "__i0__"
    row = next(n for n in template.iter(templates=True) if n.tag == "tr")
    names = [n.get("name") for n in row.iter(templates=True) if n.get("name")]
    assert "config.prizes.__i0__.name" in names and "__remove:config.prizes.__i0__" in names
    # a new row starts from the item's defaults
    select = next(n for n in row.iter(templates=True)
                  if n.get("name") == "config.prizes.__i0__.type")
    assert next(o for o in select.elements() if o.has("selected")).get("value") == "coupon"
    # nested arrays get their own placeholder
    nested = render(EVERYTHING, EVERYTHING_CONFIG).by_id("field-config-stages")
    own_template = next(c for c in nested.elements() if c.tag == "template")
    inner = [n for n in own_template.iter(templates=True)
             if n.get("data-array") == "config.stages.__i0__.thresholds"]
    assert inner and inner[0].get("data-placeholder") == "__i1__"


# -- 3. choices -------------------------------------------------------------------------------

def test_enum_as_select_or_radio_and_oneof_const_as_labelled_options():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    mode = root.by_id("field-config-mode")
    assert mode.tag == "fieldset" and "field--radio" in mode.classes()
    radios = mode.find_all("input", type="radio")
    assert [r.get("value") for r in radios] == ["units", "amount"]
    assert [r.has("checked") for r in radios] == [False, True]
    assert all(r.get("name") == "config.mode" and r.has("required") for r in radios)
    assert [label_of(root, r) for r in radios] == ["Units", "Amount"]

    channel = control(root, "config.channel")
    assert channel.tag == "select"
    options = [(o.get("value"), o.text(), o.has("selected")) for o in channel.find_all("option")]
    assert options == [("", "Choose…", False), ("wechat", "WeChat", False),
                       ("alipay", "Alipay", True)]
    level = control(root, "config.level")
    assert [o.get("value") for o in level.find_all("option")] == ["", "1", "2", "3"]


def test_enum_array_with_unique_items_is_checkboxes():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    group = root.by_id("field-config-audiences")
    assert group.tag == "fieldset" and group.find("legend").text().strip() == "Audiences"
    boxes = group.find_all("input", type="checkbox")
    assert [(b.get("name"), b.get("value"), b.has("checked")) for b in boxes] == [
        ("config.audiences", "new", True), ("config.audiences", "returning", False),
        ("config.audiences", "vip", True)]
    assert [label_of(root, b) for b in boxes] == ["New", "Returning", "Vip"]


# -- 4. oneOf variants ------------------------------------------------------------------------

def test_oneof_objects_get_a_variant_selector_and_a_fieldset_each():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    box = root.by_id("field-config-reward")
    select = root.by_id("field-config-reward-__variant")
    assert select.get("name") == "config.reward.__variant" and select.is_inside(box)
    assert [(o.get("value"), o.text(), o.has("selected")) for o in select.find_all("option")] \
        == [("0", "Coupon", False), ("1", "Points", True)]
    variants = [f for f in box.find_all("fieldset") if f.has("data-variant")]
    assert [v.get("data-variant") for v in variants] == ["0", "1"]
    assert variants[0].has("hidden") and variants[0].has("disabled")
    assert not variants[1].has("hidden") and not variants[1].has("disabled")
    points = root.by_id("field-config-reward-points")
    assert points.get("value") == "50" and points.is_inside(variants[1])
    # the inactive variant's fields keep their names but not the canonical ids
    code = next(n for n in variants[0].iter() if n.get("name") == "config.reward.code")
    assert code.get("id") == "field-config-reward-code--off"
    # the discriminating const travels as a hidden input of its variant
    assert [n.get("value") for n in variants[1].iter() if n.get("name") == "config.reward.kind"] \
        == ["points"]
    assert [n.get("value") for n in variants[0].iter() if n.get("name") == "config.reward.kind"] \
        == ["coupon"]


def test_variant_follows_the_value_and_defaults_to_the_first():
    root = render(EVERYTHING, {**EVERYTHING_CONFIG, "reward": {"kind": "coupon", "code": "X"}})
    assert root.by_id("field-config-reward-code").get("value") == "X"
    root = render(EVERYTHING, None)
    select = root.by_id("field-config-reward-__variant")
    assert next(o for o in select.find_all("option") if o.has("selected")).get("value") == "0"


def test_a_variant_switched_without_javascript_comes_back_chosen():
    form = MultiDict({"config.reward.__variant": "1"})  # its fields were disabled
    parsed, _ = parse_form(EVERYTHING, form)
    assert parsed["reward"] == {"kind": "points"}
    root = render(EVERYTHING, parsed)
    assert selected(root.by_id("field-config-reward-__variant")) == "1"
    assert root.by_id("field-config-reward-points").get("value") == ""


def test_an_optional_oneof_can_stay_unchosen():
    schema = copy.deepcopy(EVERYTHING)
    schema["required"].remove("reward")
    root = render(schema, {})
    select = root.by_id("field-config-reward-__variant")
    assert [o.get("value") for o in select.find_all("option")] == ["", "0", "1"]
    assert selected(select) is None
    variants = [f for f in root.by_id("field-config-reward").find_all("fieldset")
                if f.has("data-variant")]
    assert all(v.has("hidden") and v.has("disabled") for v in variants)
    assert "reward" not in parse_form(schema, submission(root))[0]


# -- 5. if / then / else ----------------------------------------------------------------------

def test_fields_only_in_then_or_else_carry_show_if_and_hide_by_value():
    root = render(EVERYTHING, EVERYTHING_CONFIG)  # mode = amount
    split = root.by_id("field-config-split")
    wrapper = next(a for a in split.ancestors() if a.has("data-show-if"))
    assert json.loads(wrapper.get("data-show-if")) == {
        "property": "mode", "const": "amount", "name": "config.mode"}
    assert not wrapper.has("hidden") and not wrapper.has("disabled")
    assert [r.has("required") for r in split.find_all("input", type="radio")] == [True, True]
    units = control(root, "config.units")
    units_wrapper = next(a for a in units.ancestors() if a.has("data-show-if"))
    assert json.loads(units_wrapper.get("data-show-if")) == {
        "not": {"property": "mode", "const": "amount", "name": "config.mode"}}
    assert units_wrapper.has("hidden") and units_wrapper.has("disabled")
    assert units.get("value") == "1"  # its default, ready when shown

    root = render(EVERYTHING, {**EVERYTHING_CONFIG, "mode": "units"})
    wrapper = next(a for a in root.by_id("field-config-split").ancestors()
                   if a.has("data-show-if"))
    assert wrapper.has("hidden") and wrapper.has("disabled")
    units = control(root, "config.units")
    assert not next(a for a in units.ancestors() if a.has("data-show-if")).has("hidden")
    # without a value, the condition reads the controlling field's default (units)
    root = render(EVERYTHING, None)
    assert next(a for a in root.by_id("field-config-split").ancestors()
                if a.has("data-show-if")).has("hidden")


def test_fields_of_a_false_condition_are_not_parsed():
    form = MultiDict({"config.mode": "units", "config.split": "equal", "config.units": "3"})
    parsed, errors = parse_form(EVERYTHING, form)
    assert "split" not in parsed and parsed["units"] == 3 and not errors


# -- 6. required and constraints --------------------------------------------------------------

def test_required_marker_and_constraints_become_attributes():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    title = control(root, "config.title")
    assert title.has("required")
    assert (title.get("minlength"), title.get("maxlength")) == ("2", "30")
    marker = next(n for n in root.iter() if n.tag == "label" and n.get("for") == title.get("id"))
    star = marker.find("abbr")
    assert star.text() == "*" and star.get("aria-hidden") == "true"
    assert star.get("title") == "required"
    description = control(root, "config.description")
    assert not description.has("required")
    assert not [n for n in root.iter() if n.tag == "label" and n.get("for") == description.get("id")
                and n.find("abbr")]

    budget = control(root, "config.budget")  # money: yuan in the input
    assert (budget.get("type"), budget.get("step"), budget.get("min"), budget.get("max")) == (
        "number", "0.01", "1", "100000")
    assert budget.get("value") == "1234.56"
    discount = control(root, "config.discount")
    assert (discount.get("step"), discount.get("min"), discount.get("max")) == ("1", "0", "100")
    ratio = control(root, "config.ratio")
    assert (ratio.get("step"), ratio.get("min"), ratio.get("max")) == ("0.25", "0", "1")
    zip_code = control(root, "config.shipping.zip")
    assert zip_code.get("pattern") == "[0-9]{6}"
    weight = control(root, "config.prizes.0.weight")
    assert (weight.get("min"), weight.get("max"), weight.get("step")) == ("0", "100", "1")


def test_unanchored_patterns_keep_their_meaning():
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "pattern": "abc"},
        "b": {"type": "string", "pattern": "^x|y$"}}}
    root = render(schema, {})
    assert control(root, "config.a").get("pattern") == ".*(?:abc).*"
    assert control(root, "config.b").get("pattern") == ".*(?:^x|y$).*"


# -- 7. formats -------------------------------------------------------------------------------

def test_formats_pick_input_types():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    assert control(root, "config.starts_on").get("type") == "date"
    assert control(root, "config.contact").get("type") == "email"
    assert control(root, "config.homepage").get("type") == "url"
    starts = control(root, "config.starts_at")
    assert starts.get("type") == "datetime-local" and starts.get("value") == "2026-11-11T10:00"
    tz = root.named("config.starts_at.__tz")
    assert [(n.get("type"), n.get("value")) for n in tz] == [("hidden", "Asia/Shanghai")]
    note = root.by_id("field-config-starts_at-tz")
    assert "Beijing time" in note.text()  # the zone as the merchant knows it, not its id
    assert "field-config-starts_at-tz" in starts.get("aria-describedby").split()
    daily = control(root, "config.daily_at")
    assert daily.get("type") == "time" and daily.get("value") == "09:30"


def test_datetimes_are_shown_in_the_form_time_zone():
    values = {**EVERYTHING_CONFIG, "starts_at": "2026-11-11T02:00:00Z"}
    root = render(EVERYTHING, values)
    assert control(root, "config.starts_at").get("value") == "2026-11-11T10:00"
    root = render(EVERYTHING, values, timezone="UTC")
    assert control(root, "config.starts_at").get("value") == "2026-11-11T02:00"
    parsed, _ = parse_form(EVERYTHING, submission(root))
    assert parsed["starts_at"] == "2026-11-11T02:00:00+00:00"


# -- 8. UI hints ------------------------------------------------------------------------------

def test_ui_hints_widget_order_help_placeholder_hidden_readonly_groups():
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    form = root.by_id("field-config")
    top = [c for c in form.elements()]
    # groups become fieldsets at the place of their first field, in x-ui.order
    assert top[0].tag == "fieldset" and top[0].find("legend").text() == "Basics"
    assert top[1].tag == "fieldset" and top[1].find("legend").text() == "Money"
    assert control(root, "config.title").is_inside(top[0])
    assert control(root, "config.description").is_inside(top[0])
    assert control(root, "config.budget").is_inside(top[1])
    order = [n.get("name") for n in root.iter()
             if n.get("name", "").count(".") == 1 and n.tag in ("input", "select", "textarea")
             and n.get("type") != "hidden"]
    assert order[:6] == ["config.title", "config.description", "config.budget",
                         "config.discount", "config.mode", "config.mode"]

    title = control(root, "config.title")
    assert title.get("placeholder") == "Summer sale"
    assert root.by_id("field-config-title-help").tag == "p"
    assert title.get("aria-describedby") == "field-config-title-help"
    assert control(root, "config.description").tag == "textarea"
    unit = [n for n in control(root, "config.discount").parent.elements() if "unit" in n.classes()]
    assert [u.text() for u in unit] == ["%"]
    enabled = control(root, "config.enabled")
    assert enabled.get("type") == "checkbox" and enabled.get("role") == "switch"
    assert not enabled.has("checked")
    secret = root.named("config.secret")
    assert [(n.get("type"), n.get("value")) for n in secret] == [("hidden", "s3")]
    assert not [n for n in root.iter()
                if n.tag == "label" and n.get("for") == "field-config-secret"]
    serial = control(root, "config.serial")
    assert serial.has("readonly") and serial.get("value") == "A-1"
    # hidden columns of a table travel as hidden inputs of their row
    assert [n.get("value") for n in root.named("config.prizes.0.code")] == ["M1"]


def test_readonly_choices_show_disabled_and_carry_their_value():
    doc = load("gift")
    schema = copy.deepcopy(doc["config"]["schema"])
    schema["properties"]["mode"]["x-ui"]["readonly"] = True
    root = render(schema, {"gift_name": "Tea", "mode": "amount"})
    radios = root.by_id("field-config-mode").find_all("input", type="radio")
    assert all(r.has("disabled") for r in radios)
    assert submission(root).getlist("config.mode") == ["amount"]


# -- 9. defaults and round trips --------------------------------------------------------------

def test_defaults_prefill_a_new_form():
    root = render(load("lottery")["config"]["schema"], None)
    assert control(root, "config.miss_name").get("value") == "谢谢参与"
    assert control(root, "config.draws_total").get("value") == "10"
    root = render(load("gift")["config"]["schema"], {})
    checked = [r.get("value") for r in root.by_id("field-config-split").find_all("input")
               if r.has("checked")]
    assert checked == ["random"]


def filled(validator: ConfigValidator, config: dict[str, Any]) -> dict[str, Any]:
    return validator.fill_defaults(config)


@pytest.mark.parametrize(("template_id", "scenario", "config"), scenario_configs(),
                         ids=[f"{t}-{s}" for t, s, _ in scenario_configs()])
def test_scenario_configs_round_trip(template_id, scenario, config):
    doc = load(template_id)
    validator = ConfigValidator.for_template(doc)
    expected, errors = validator.validate(config)
    assert not errors
    for lang in ("en", "zh"):
        root = render(doc["config"]["schema"], config, lang=lang)
        parsed, coercion = parse_form(doc["config"]["schema"], submission(root))
        assert not coercion
        assert filled(validator, parsed) == expected
        assert validator.validate(parsed)[1] == {}


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_read_only_schemas_round_trip(template_id):
    """The live-edit form (every field but the live-editable ones read-only)."""
    doc = load(template_id)
    schema = copy.deepcopy(doc["config"]["schema"])
    for name, prop in schema["properties"].items():
        if name not in doc["config"].get("live_editable", []):
            prop.setdefault("x-ui", {})["readonly"] = True
    validator = ConfigValidator.for_template(doc)
    for _t, _s, config in [c for c in scenario_configs() if c[0] == template_id]:
        root = render(schema, config)
        parsed, _ = parse_form(schema, submission(root))
        assert filled(validator, parsed) == validator.validate(config)[0]


def test_everything_round_trips():
    validator = ConfigValidator(EVERYTHING)
    expected, errors = validator.validate(EVERYTHING_CONFIG)
    assert not errors
    root = render(EVERYTHING, EVERYTHING_CONFIG)
    form = submission(root)
    assert form.getlist("config.audiences") == ["new", "vip"]
    assert "config.units" not in form and "config.reward.code" not in form
    parsed, coercion = parse_form(EVERYTHING, form)
    assert not coercion
    assert filled(validator, parsed) == expected
    assert validator.validate(parsed)[1] == {}


def test_everything_round_trips_in_the_other_branches():
    validator = ConfigValidator(EVERYTHING)
    config = {**EVERYTHING_CONFIG, "mode": "units", "units": 4,
              "reward": {"kind": "coupon", "code": "SAVE"}, "enabled": True, "note": "hi",
              "description": "a\n\n  \nb", "ratio": 0.25}
    del config["split"]
    expected, errors = validator.validate(config)
    assert not errors
    parsed, coercion = parse_form(EVERYTHING, submission(render(EVERYTHING, config, lang="zh")))
    assert not coercion and filled(validator, parsed) == expected


def test_hidden_containers_travel_as_hidden_inputs():
    schema = {"type": "object", "properties": {
        "meta": {"type": "object", "x-ui": {"hidden": True}, "properties": {
            "tags": {"type": "array", "items": {"type": "string"}},
            "flags": {"type": "array", "uniqueItems": True,
                      "items": {"enum": ["a", "b"]}},
            "rows": {"type": "array", "items": {"type": "object", "properties": {
                "n": {"type": "integer"}, "on": {"type": "boolean"},
                "price": {"type": "integer", "x-ui": {"widget": "money"}}}}},
            "at": {"type": "string", "format": "date-time"},
            "pick": {"oneOf": [{"type": "object", "properties": {"k": {"const": "x"}}},
                               {"type": "object", "properties": {"k": {"const": "y"},
                                                                 "v": {"type": "number"}}}]}}}}}
    value = {"meta": {"tags": ["t1", "t2"], "flags": ["b"], "at": "2026-01-01T08:00:00+08:00",
                      "rows": [{"n": 1, "on": True, "price": 150}, {"n": 2, "on": False}],
                      "pick": {"k": "y", "v": 1.5}}}
    root = render(schema, value)
    assert not [n for n in root.iter() if n.tag in ("input", "select", "textarea")
                and n.get("type") != "hidden"]
    assert not root.find_all("label")
    assert parse_form(schema, submission(root))[0] == value


def test_read_only_arrays_have_no_buttons_and_no_template():
    schema = copy.deepcopy(load("lottery")["config"]["schema"])
    schema["properties"]["prizes"]["x-ui"]["readonly"] = True
    root = render(schema, {"prizes": [{"name": "A", "type": "coupon", "stock": 1, "odds": 1},
                                      {"name": "B", "type": "coupon", "stock": 1, "odds": 1}]})
    array = root.by_id("field-config-prizes")
    assert not array.find_all("button") and not array.find_all("template")
    assert control(root, "config.prizes.1.name").has("readonly")
    assert control(root, "config.prizes.1.type").has("disabled")
    assert submission(root).getlist("config.prizes.1.type") == ["coupon"]


# -- 10. errors -------------------------------------------------------------------------------

def test_errors_show_next_to_their_fields():
    schema = load("lottery")["config"]["schema"]
    config = {"prizes": [{"name": "A", "type": "coupon", "stock": 1, "odds": 10},
                         {"name": "", "type": "coupon", "stock": 1, "odds": 99999}],
              "draws_per_day": 5, "draws_total": 3}
    validator = ConfigValidator.for_template(load("lottery"))
    _filled, errors = validator.validate(config)
    assert "prizes.1.odds" in errors and "prizes.1.name" in errors
    errors = {**errors, "": [{"code": "x", "message": "Whole config is off"}],
              "prizes": [{"code": "odds_over_100_percent", "message": "Too much"}]}
    root = render(schema, config, errors)
    odds = control(root, "config.prizes.1.odds")
    assert odds.get("aria-invalid") == "true"
    assert odds.get("aria-describedby").split() == ["field-config-prizes-odds-help",
                                                    "field-config-prizes-1-odds-error"]
    message = root.by_id("field-config-prizes-1-odds-error")
    assert message.tag == "p" and "error" in message.classes()
    assert message.text() == errors["prizes.1.odds"][0]["message"]
    assert not control(root, "config.prizes.0.odds").has("aria-invalid")
    array_error = root.by_id("field-config-prizes-error")
    assert array_error.text() == "Too much"
    assert "field-config-prizes-error" in root.by_id("field-config-prizes").get(
        "aria-describedby").split()
    assert "Whole config is off" not in root.text()  # root errors: summary only


def test_errors_on_nested_checkbox_and_variant_fields():
    errors = {"shipping.city": [{"code": "required", "message": "Needed"}],
              "audiences.1": [{"code": "enum", "message": "Not an audience"}],
              "reward.points": [{"code": "minimum", "message": "Too few"}]}
    root = render(EVERYTHING, EVERYTHING_CONFIG, errors)
    city = control(root, "config.shipping.city")
    assert city.get("aria-describedby") == "field-config-shipping-city-error"
    assert root.by_id("field-config-shipping-city-error").text() == "Needed"
    group = root.by_id("field-config-audiences")
    assert group.get("aria-describedby") == "field-config-audiences-error"
    assert all(b.get("aria-invalid") == "true" for b in group.find_all("input", type="checkbox"))
    points = control(root, "config.reward.points")
    assert points.get("aria-invalid") == "true"
    assert root.by_id("field-config-reward-points-error").text() == "Too few"


def test_error_summary_links_to_fields_in_form_order():
    errors = {"prizes.0.name": [{"code": "minLength", "message": "Too short"}],
              "": [{"code": "x", "message": "Broken"}],
              "title": [{"code": "required", "message": "Needed"}],
              "shipping.city": [{"code": "required", "message": "City needed"}],
              "reward.points": [{"code": "minimum", "message": "Too few"}],
              "mystery": [{"code": "additionalProperties", "message": "Unknown"}]}
    summary = error_summary(errors, EVERYTHING, "en")
    assert summary[0] == {"field_id": None, "label": "", "message": "Broken"}
    assert summary[1] == {"field_id": "field-config-title", "label": "Title", "message": "Needed"}
    assert summary[2] == {"field_id": "field-config-prizes-0-name", "label": "Prizes › 1 › Prize",
                          "message": "Too short"}
    assert [s["field_id"] for s in summary[3:]] == [
        "field-config-shipping-city", "field-config-reward-points", None]
    root = render(EVERYTHING, EVERYTHING_CONFIG, errors)
    for item in summary:
        if item["field_id"]:
            root.by_id(item["field_id"])  # the link target exists, once
    zh = error_summary(errors, EVERYTHING, "zh")
    assert zh[2]["label"] == "奖品 › 1 › 奖品"
    # used directly in a Jinja page, the summary renders as a list of links
    links = parse_html(html_of(summary)).find_all("a")
    assert links[0].get("href") == "#field-config-title"
    assert " ".join(links[0].text().split()) == "Title: Needed"


def html_of(value: Any) -> str:
    return str(value.__html__())


# -- 11. $ref / $defs -------------------------------------------------------------------------

def test_local_refs_are_resolved_including_array_items():
    schema = {"type": "object", "$defs": {
        "money": {"type": "integer", "minimum": 0, "x-ui": {"widget": "money"}},
        "row": {"type": "object", "properties": {"price": {"$ref": "#/$defs/money"}}}},
        "properties": {"rows": {"type": "array", "items": {"$ref": "#/$defs/row"}},
                       "price": {"$ref": "#/$defs/money", "x-ui": {"label": t("Price")}}}}
    root = render(schema, {"rows": [{"price": 250}], "price": 100})
    assert control(root, "config.rows.0.price").get("value") == "2.50"
    price = control(root, "config.price")
    assert price.get("value") == "1.00" and label_of(root, price) == "Price"
    parsed, _ = parse_form(schema, submission(root))
    assert parsed == {"rows": [{"price": 250}], "price": 100}


def t(en: str) -> dict[str, str]:
    return {"en": en, "zh": en}


# -- 12. coercion -----------------------------------------------------------------------------

def test_parse_coerces_numbers_money_percent_and_booleans():
    form = MultiDict([("config.budget", "12.34"), ("config.discount", "15"),
                      ("config.ratio", "0.5"), ("config.level", "3"),
                      ("config.enabled", "false"), ("config.enabled", "true"),
                      ("config.title", "  spaced  ")])
    parsed, errors = parse_form(EVERYTHING, form)
    assert not errors
    assert parsed["budget"] == 1234 and isinstance(parsed["budget"], int)
    assert parsed["discount"] == 15 and parsed["ratio"] == 0.5 and parsed["level"] == 3
    assert parsed["enabled"] is True and parsed["title"] == "  spaced  "
    assert parse_form(EVERYTHING, MultiDict({"config.budget": "1,200"}))[0]["budget"] == 120000
    assert parse_form(EVERYTHING, MultiDict({"config.budget": "12"}))[0]["budget"] == 1200
    assert parse_form(EVERYTHING, MultiDict({"config.enabled": "false"}))[0]["enabled"] is False


def test_parse_reports_unreadable_numbers_instead_of_raising(console_catalog):
    form = MultiDict({"config.prizes.0.weight": "2.5", "config.budget": "12.345",
                      "config.discount": "lots", "config.prizes.0.name": "x"})
    parsed, errors = parse_form(EVERYTHING, form)
    assert errors == {
        "prizes.0.weight": [{"code": "type", "message": "Must be a whole number"}],
        "budget": [{"code": "type", "message": "Must be an amount such as 12.34"}],
        "discount": [{"code": "type", "message": "Must be a whole number"}]}
    assert parsed["discount"] == "lots"  # shown again as typed
    root = render(EVERYTHING, parsed, errors)
    assert control(root, "config.discount").get("value") == "lots"
    assert control(root, "config.budget").get("value") == "12.345"
    assert control(root, "config.budget").get("aria-invalid") == "true"
    _parsed, zh = parse_form(EVERYTHING, MultiDict({"config.level": "x", "config.discount": "1.5"}),
                             lang="zh")
    assert zh["discount"][0]["message"] == "应为整数"


def test_parse_leaves_out_empty_optional_inputs():
    form = MultiDict({"config.title": "", "config.description": "", "config.ratio": "",
                      "config.level": "", "config.homepage": "", "config.note": "",
                      "config.shipping.city": "", "config.shipping.zip": ""})
    parsed, errors = parse_form(EVERYTHING, form)
    assert not errors
    # required nullable note → null; everything else (even required title) is simply absent
    assert parsed == {"note": None}


def test_parse_arrays_from_indexed_names_and_checkboxes_from_repeats():
    form = MultiDict([
        ("config.prizes.__array", "1"),
        ("config.prizes.0.__row", "1"), ("config.prizes.0.name", "A"),
        ("config.prizes.0.kind", "coupon"), ("config.prizes.0.weight", "5"),
        ("config.prizes.0.value", ""),
        ("config.prizes.3.__row", "1"), ("config.prizes.3.name", "B"),
        ("config.prizes.3.weight", "x"),
        ("config.keywords.__array", "1"), ("config.keywords.0", "a"), ("config.keywords.1", ""),
        ("config.stages.__array", "1"),
        ("config.audiences.__array", "1"), ("config.audiences", "vip"),
        ("config.audiences", "new"), ("config.audiences", "alien")])
    parsed, errors = parse_form(EVERYTHING, form)
    assert parsed["prizes"] == [{"name": "A", "kind": "coupon", "weight": 5},
                                {"name": "B", "weight": "x"}]
    assert errors == {"prizes.1.weight": [{"code": "type", "message": "Must be a whole number"}]}
    assert parsed["keywords"] == ["a", ""]
    assert "stages" not in parsed  # optional, no rows, no default
    assert parsed["audiences"] == ["vip", "new", "alien"]  # the validator refuses "alien"
    unchecked = parse_form(EVERYTHING, MultiDict({"config.audiences.__array": "1"}))[0]
    assert "audiences" not in unchecked
    required_rows = parse_form(EVERYTHING, MultiDict({"config.prizes.__array": "1"}))[0]
    assert required_rows["prizes"] == []


def test_parse_dates_times_text_and_variants():
    form = MultiDict({"config.starts_at": "2026-11-11T10:00", "config.starts_at.__tz": "UTC",
                      "config.daily_at": "07:05:09", "config.starts_on": "2026-01-02",
                      "config.description": "a\r\nb",
                      "config.reward.__variant": "0", "config.reward.kind": "coupon",
                      "config.reward.code": "C1", "config.reward.points": "9"})
    parsed, errors = parse_form(EVERYTHING, form)
    assert not errors
    assert parsed["starts_at"] == "2026-11-11T10:00:00+00:00"
    assert parsed["daily_at"] == "07:05:09+08:00"
    assert parsed["starts_on"] == "2026-01-02"
    assert parsed["description"] == "a\nb"
    assert parsed["reward"] == {"kind": "coupon", "code": "C1"}
    fallback = parse_form(EVERYTHING, {"config.starts_at": "2026-11-11T10:00"},
                          timezone="Asia/Tokyo")[0]
    assert fallback["starts_at"] == "2026-11-11T10:00:00+09:00"
    bad = parse_form(EVERYTHING, {"config.starts_at": "soon"})[0]
    assert bad["starts_at"] == "soon"  # the validator reports the format


def test_parse_accepts_a_plain_mapping():
    parsed, _ = parse_form(EVERYTHING, {"config.audiences": ["new", "vip"],
                                        "config.keywords.0": "k", "config.level": "1"})
    assert parsed == {"audiences": ["new", "vip"], "keywords": ["k"], "level": 1}


# -- array buttons without JavaScript ---------------------------------------------------------

def test_form_action_reads_the_pressed_button():
    assert form_action(MultiDict({"config.title": "x", "__add:config.prizes": "1"})) == (
        "add", "config.prizes")
    assert form_action(MultiDict({"__remove:config.prizes.2": "1"})) == (
        "remove", "config.prizes.2")
    assert form_action(MultiDict({"__up:config.stages.1.thresholds.0": ""})) == (
        "up", "config.stages.1.thresholds.0")
    assert form_action(MultiDict({"__down:config.prizes.0": "1"})) == ("down", "config.prizes.0")
    assert form_action(MultiDict({"config.title": "x", "_save": "1"})) is None


def test_apply_array_action_adds_removes_and_moves_rows():
    values = {"keywords": ["a", "b", "c"], "stages": [{"name": "s", "thresholds": [1, 2]}]}
    assert apply_array_action(values, ("up", "config.keywords.2"))["keywords"] == ["a", "c", "b"]
    assert apply_array_action(values, ("down", "config.keywords.0"))["keywords"] == [
        "b", "a", "c"]
    assert apply_array_action(values, ("remove", "config.keywords.1"))["keywords"] == ["a", "c"]
    assert apply_array_action(values, ("add", "config.keywords"))["keywords"] == [
        "a", "b", "c", None]
    assert values["keywords"] == ["a", "b", "c"]  # a copy
    nested = apply_array_action(values, ("down", "config.stages.0.thresholds.0"))
    assert nested["stages"][0]["thresholds"] == [2, 1]
    assert apply_array_action({}, ("add", "config.keywords"))["keywords"] == [None]
    # out of range or at the ends: unchanged
    assert apply_array_action(values, ("up", "config.keywords.0")) == values
    assert apply_array_action(values, ("remove", "config.keywords.9")) == values
    # with the schema: defaults for the new row, min/maxItems hold
    with_schema = apply_array_action({"prizes": [{"name": "A"}]}, ("add", "config.prizes"),
                                     schema=EVERYTHING)
    assert with_schema["prizes"][1] == {"kind": "coupon", "code": "P"}
    assert apply_array_action({"prizes": [{"name": "A"}]}, ("remove", "config.prizes.0"),
                              schema=EVERYTHING)["prizes"] == [{"name": "A"}]
    full = {"keywords": ["a", "b", "c"]}
    assert apply_array_action(full, ("add", "config.keywords"), schema=EVERYTHING) == full


def test_adding_a_row_without_javascript_round_trips_through_the_server():
    doc = load("lottery")
    schema = doc["config"]["schema"]
    config = {"prizes": [{"name": "A", "type": "physical", "stock": 1, "odds": 10}]}
    form = submission(render(schema, config))
    form.add("__add:config.prizes", "1")  # the pressed button
    values, errors = parse_form(schema, form)
    action = form_action(form)
    assert action == ("add", "config.prizes") and not errors
    root = render(schema, apply_array_action(values, action))
    rows = root.by_id("field-config-prizes").find("tbody").find_all("tr")
    assert len(rows) == 2
    new_type = control(root, "config.prizes.1.type")
    assert next(o for o in new_type.find_all("option") if o.has("selected")).get("value") \
        == "coupon"
    assert control(root, "config.prizes.0.name").get("value") == "A"
    # then move it up and remove the old one
    form = submission(root)
    form.add("__up:config.prizes.1", "1")
    moved, _ = parse_form(schema, form)
    moved = apply_array_action(moved, form_action(form))
    assert [p.get("name") for p in moved["prizes"]] == [None, "A"]
    moved = apply_array_action(moved, ("remove", "config.prizes.1"))
    assert len(moved["prizes"]) == 1


# -- languages, escaping, the rest ------------------------------------------------------------

def test_chinese_labels_and_our_own_words(console_catalog):
    root = render(EVERYTHING, EVERYTHING_CONFIG, lang="zh")
    assert label_of(root, control(root, "config.title")) == "标题*"
    assert root.find("button", name="__add:config.keywords").text() == "添加"
    remove = root.find("button", name="__remove:config.keywords.0")
    assert remove.text().startswith("删除")
    assert root.find("button", name="__up:config.keywords.1").text().startswith("上移")
    assert control(root, "config.channel").find("option").text() == "请选择…"
    assert root.find("abbr", **{"class": "required"}).get("title") == "必填"
    assert root.by_id("field-config-title").get("placeholder") == "夏季促销"


def test_outside_an_app_our_own_words_are_english():
    # No Flask-Babel without an app: the template's texts still follow `lang`.
    root = render(EVERYTHING, EVERYTHING_CONFIG, lang="zh")
    assert label_of(root, control(root, "config.title")) == "标题*"
    assert root.find("button", name="__add:config.keywords").text() == "Add"


def test_labels_fall_back_to_title_then_the_name():
    schema = {"type": "object", "properties": {
        "max_per_day": {"type": "integer"},
        "x": {"type": "string", "title": "Titled"}}}
    root = render(schema, {})
    assert label_of(root, control(root, "config.max_per_day")) == "Max per day"
    assert label_of(root, control(root, "config.x")) == "Titled"


def test_text_is_escaped():
    schema = {"type": "object", "properties": {
        "a": {"type": "string", "x-ui": {"label": t("<b>bold</b>"), "help": t("<i>x</i>")}}}}
    html = str(render_form(schema, {"a": '"><script>alert(1)</script>'}))
    assert "<script>" not in html and "<b>" not in html
    root = parse_html(html)
    assert control(root, "config.a").get("value") == '"><script>alert(1)</script>'
    assert label_of(root, control(root, "config.a")) == "<b>bold</b>"


def test_every_bundled_template_renders_well_formed_in_both_languages():
    for template_id in TEMPLATE_IDS:
        schema = load(template_id)["config"]["schema"]
        for lang in ("en", "zh"):
            for values in (None, {}):
                root = render(schema, values, lang=lang)
                for el in root.iter():
                    if el.tag in ("input", "select", "textarea") and el.get("type") != "hidden":
                        assert el.get("name", "").startswith("config.")
                        assert el.get("id") == forms.field_id(el.get("name")) or \
                            el.get("type") in ("radio", "checkbox")


def test_static_assets_exist():
    static = ROOT / "magic_cube" / "console" / "static"
    script = (static / "forms.js").read_text(encoding="utf-8")
    for hook in ("data-show-if", "data-array", "data-variant-select", "data-row-actions"):
        assert hook in script
    assert "import " not in script and "http" not in script
    assert ".error" in (static / "console.css").read_text(encoding="utf-8")
