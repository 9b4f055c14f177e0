"""The merchant console through Flask's test client, on a real SQLite file (tmp_path).

Forms are filled the way a browser without JavaScript fills them: the page is fetched, its
form's fields are read from the HTML, a few are changed, and everything is posted back with
the page's CSRF token.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from activity_configs import CONFIGS
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from console_values import EXPECTED, FORM_VALUES, MISTAKES
from werkzeug.datastructures import MultiDict

from magic_cube import console
from magic_cube.console import charts, exports
from magic_cube.engine import Participant
from magic_cube.store.records import ActionRecord, ParticipantRecord
from magic_cube.store.sqlite import SQLiteTx

CONSOLE_DIR = console.TRANSLATIONS.parent
PO_FILE = console.TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
MO_FILE = console.TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.mo"
BABEL_CFG = CONSOLE_DIR.parents[1] / "babel.cfg"

# reading pages --------------------------------------------------------------------------------

class FormReader(HTMLParser):
    """The successful controls of one `<form>` (as a browser would submit them), its submit
    buttons, and every element's attributes by id."""

    def __init__(self, form_class: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_class = form_class
        self.inside = False
        self.fields: list[list[str]] = []
        self.buttons: list[tuple[str, str]] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = {"tag": tag, **a}
        if tag == "form" and self.form_class in a.get("class", "").split():
            self.inside = True
        if not self.inside:
            return
        name = a.get("name")
        disabled = "disabled" in a
        if tag == "input" and name and not disabled:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append([name, a.get("value", "on")])
            elif kind not in ("submit", "button", "image", "reset"):
                self.fields.append([name, a.get("value", "")])
        elif tag == "button" and name:
            self.buttons.append((name, a.get("value", "")))
        elif tag == "select" and name and not disabled:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name and not disabled:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [v for v, s in self._options if s] or [v for v, _ in self._options[:1]]
            if chosen:
                self.fields.append([self._select, chosen[0]])
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append([self._textarea, self._text])
            self._textarea = None


def read_form(html: str, form_class: str = "activity-form") -> FormReader:
    reader = FormReader(form_class)
    reader.feed(html)
    return reader


def with_values(fields: list[list[str]], values: dict[str, str]) -> MultiDict:
    """The form's fields with `values` typed in (`config.` names for config paths)."""
    out = [list(f) for f in fields]
    for name, value in values.items():
        for f in out:
            if f[0] == name:
                f[1] = value
                break
        else:
            out.append([name, value])
    return MultiDict([tuple(f) for f in out])


def config_values(values: dict[str, str]) -> dict[str, str]:
    return {f"config.{k}": v for k, v in values.items()}


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# fixtures -------------------------------------------------------------------------------------

class Web:
    """A merchant's browser without JavaScript: a test client that posts forms with their token."""

    def __init__(self, client: Any, engine: Any) -> None:
        self.client = client
        self.engine = engine

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)

    def token(self) -> str:
        return csrf_token(self.client.get("/console/login").get_data(as_text=True))

    def post(self, url: str, data: Any = None, **kw: Any) -> Any:
        data = MultiDict(data or {})
        data["csrf_token"] = self.token()
        return self.client.post(url, data=data, **kw)

    def signup(self, email: str = "tea@example.com", password: str = "correct horse",
               name: str = "Tea House") -> str:
        r = self.post("/console/signup", {"name": name, "email": email, "password": password})
        assert r.status_code == 303, r.get_data(as_text=True)
        assert r.headers["Location"].endswith("/console/welcome")
        r = self.get("/console/welcome")
        key = re.search(r'value="(mck_[^"]+)"', r.get_data(as_text=True))
        assert key, "the new API key is shown once"
        return key.group(1)

    def login(self, email: str, password: str) -> Any:
        return self.post("/console/login", {"email": email, "password": password})

    def logout(self) -> Any:
        return self.post("/console/logout")

    @property
    def merchant(self) -> Any:
        with self.engine.store.transaction(write=False) as tx:
            return tx.get_merchant(self._merchant_id())

    def _merchant_id(self) -> str:
        with self.client.session_transaction() as session:
            return session["merchant_id"]

    def create(self, template: str, values: dict[str, str] | None = None, **settings: str) -> str:
        """A draft made through the form; returns its id."""
        html = self.new_form(template)
        fields = read_form(html).fields
        data = with_values(fields, {**config_values(values or FORM_VALUES[template]),
                                    **settings})
        r = self.post(f"/console/activities/new/{template}", data)
        assert r.status_code == 302, text_of(r.get_data(as_text=True))[:2000]
        return r.headers["Location"].split("/")[-2]

    def new_form(self, template: str) -> str:
        """The new-activity form (a lottery's starts with one empty prize row)."""
        r = self.get(f"/console/activities/new/{template}")
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        if template == "lottery" and 'name="config.prizes.0.name"' not in html:
            page = read_form(html)
            add = [b for b in page.buttons if b[0] == "__add:config.prizes"]
            assert add, page.buttons
            r = self.post(f"/console/activities/new/{template}",
                          MultiDict([*map(tuple, page.fields), add[0]]))
            assert r.status_code == 200
            html = r.get_data(as_text=True)
            assert 'name="config.prizes.0.name"' in html
        return html

    def live(self, template: str, **settings: str) -> str:
        activity_id = self.create(template, **settings)
        r = self.post(f"/console/activities/{activity_id}/publish", {"when": "now"})
        assert r.status_code == 302
        return activity_id

    def status(self, activity_id: str) -> str:
        return self.engine.get_activity(self.merchant, activity_id)["status"]


@pytest.fixture
def web_app(app):
    if "console" not in app.blueprints:  # until app.py mounts the console itself
        console.init_app(app)
    return app


@pytest.fixture
def web(web_app, engine) -> Web:
    return Web(web_app.test_client(), engine)


@pytest.fixture
def signed_in(web) -> Web:
    web.signup()
    return web


# accounts -------------------------------------------------------------------------------------

def test_signup_logs_in_and_shows_the_api_key_once(web, engine):
    key = web.signup("shop@example.com", "s3cret-pass", "Shop")
    assert engine.merchant_for_key(key).email == "shop@example.com"
    r = web.get("/console/activities")
    assert r.status_code == 200 and "Shop" in r.get_data(as_text=True)
    assert key not in web.get("/console/settings").get_data(as_text=True)
    with engine.store.transaction(write=False) as tx:
        stored = tx.get_merchant_by_email("shop@example.com").password_hash
    assert stored and "s3cret-pass" not in stored


def test_signup_lands_on_a_welcome_page_that_says_what_to_do_next(web, engine):
    key = web.signup("first@example.com", "s3cret-pass", "First Shop")
    assert engine.merchant_for_key(key).email == "first@example.com"
    again = web.get("/console/welcome")  # a reload: the next steps stay, the key is gone
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and again.headers["Cache-Control"] == "no-store"
    assert key not in html and "mck_" not in html
    assert "Welcome, First Shop" in html and 'href="/console/activities/new"' in html
    text = text_of(html)
    assert "Pick a template" in text and "Create the activity" in text
    assert "Your first API key was shown once" in text
    assert len(engine.list_api_keys(web.merchant)) == 1
    web.get("/console/welcome?lang=zh")
    zh = text_of(web.get("/console/welcome").get_data(as_text=True))
    assert "选择模板" in zh and "Pick a template" not in zh
    web.logout()
    assert web.get("/console/welcome").status_code == 302  # to the login page


def test_reloading_the_welcome_page_goes_on_to_the_console(web):
    """A reload of the page that showed the new key posts the sign-up form again with the token
    of the session before: the merchant is signed in, so the console says so and goes on, not
    "the form has expired"."""
    token = web.token()
    form = {"name": "Shop", "email": "reload@example.com", "password": "s3cret-pass",
            "csrf_token": token}
    r = web.client.post("/console/signup", data=form)
    assert r.status_code == 303 and "mck_" in web.get("/console/welcome").get_data(as_text=True)
    again = web.client.post("/console/signup", data=form)  # the reload
    assert again.status_code == 302
    page = web.get(again.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "You are signed up and signed in" in text_of(page) and "Shop" in page
    assert "mck_" not in page  # the key is never shown twice
    # signed out, the same post is an expired form
    web.logout()
    assert web.client.post("/console/signup", data=form).status_code == 400


def test_signup_errors_are_inline_and_email_must_be_new(web):
    web.signup("taken@example.com")
    web.logout()
    r = web.post("/console/signup", {"name": "", "email": "taken@example.com", "password": "short"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    page = read_form(html, "narrow-form")
    for field in ("name", "email", "password"):
        attrs = page.by_id[f"field-{field}"]
        assert attrs["aria-invalid"] == "true"
        assert f"field-{field}-error" in attrs["aria-describedby"].split()
        assert f'id="field-{field}-error"' in html
    assert html.index("error-summary") < html.index('class="narrow-form"')
    assert "already exists" in html


def test_login_and_logout(web):
    web.signup("a@example.com", "password-a")
    r = web.logout()
    assert "You are logged out." in web.get(r.headers["Location"]).get_data(as_text=True)
    assert web.get("/console/activities").status_code == 302
    r = web.login("a@example.com", "wrong-password")
    assert r.status_code == 401 and "not right" in r.get_data(as_text=True)
    r = web.login("A@Example.com ", "password-a")
    assert r.status_code == 302 and r.headers["Location"].startswith("/console/")
    assert web.get("/console/activities").status_code == 200
    web.logout()
    r = web.get("/console/activities")
    assert r.status_code == 302 and "/console/login" in r.headers["Location"]


def test_login_returns_to_the_page_asked_for_but_never_off_site(web):
    web.signup("a@example.com", "password-a")
    web.logout()
    r = web.get("/console/settings")
    assert "next=" in r.headers["Location"]
    r = web.post("/console/login", {"email": "a@example.com", "password": "password-a",
                                    "next": "/console/settings?tab=keys"})
    assert r.headers["Location"] == "/console/settings?tab=keys"
    web.logout()
    r = web.post("/console/login", {"email": "a@example.com", "password": "password-a",
                                    "next": "https://evil.example/"})
    assert r.headers["Location"] == "/console/"


def test_five_failed_logins_lock_the_email_for_15_minutes(web, clock):
    web.signup("a@example.com", "password-a")
    web.logout()
    for _ in range(4):
        assert web.login("a@example.com", "nope").status_code == 401
    r = web.login("a@example.com", "nope")
    assert r.status_code == 429 and "15 minutes" in r.get_data(as_text=True)
    # Locked: even the right password is refused, without being checked.
    assert web.login("a@example.com", "password-a").status_code == 429
    clock.advance(14 * 60)
    assert web.login("a@example.com", "password-a").status_code == 429
    clock.advance(61)
    assert web.login("a@example.com", "password-a").status_code == 302
    # A success clears the count: four more failures do not lock.
    web.logout()
    for _ in range(4):
        assert web.login("a@example.com", "nope").status_code == 401
    assert web.login("a@example.com", "password-a").status_code == 302


def test_lock_out_is_kept_in_the_database(web, engine, clock):
    for _ in range(5):
        web.login("ghost@example.com", "nope")
    with engine.store.transaction(write=False) as tx:
        failures, _last, locked_until = tx.get_login_failures("ghost@example.com",
                                                              "127.0.0.1")
    assert failures == 5 and locked_until == clock.now + 15 * 60


def test_console_form_without_csrf_token_is_refused(web, engine):
    web.signup()
    r = web.client.post("/console/settings/keys")
    assert r.status_code == 400
    assert "expired" in r.get_data(as_text=True)
    r = web.client.post("/console/login", data={"email": "tea@example.com", "password": "x"})
    assert r.status_code == 400


def test_json_api_needs_no_csrf_token(web, engine):
    key = web.signup()
    r = web.client.post("/v1/merchant/activities", headers={"Authorization": f"Bearer {key}"},
                        json={"template_id": "gift",
                              "config": {"gift_name": "Tea", "mode": "units"}})
    assert r.status_code == 201, r.get_json()


def test_session_cookie_flags(web_app, web):
    web.signup()
    cookie = web.client.get_cookie("session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert web_app.config["SESSION_COOKIE_SECURE"] is False  # TESTING; True in production
    from magic_cube.app import create_app
    prod = create_app({"CATALOG": web_app.extensions["magic_cube"].catalog,
                       "SETTINGS": {"database_url": "sqlite://:memory:",
                                    "secret_key": "fixed-secret"}})
    console.init_app(prod) if "console" not in prod.blueprints else None
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert prod.config["SECRET_KEY"] == "fixed-secret"
    prod.extensions["magic_cube"].store.close()


# isolation ------------------------------------------------------------------------------------

def test_a_merchant_cannot_see_or_change_another_merchants_activity(web, engine):
    web.signup("a@example.com")
    theirs = web.live("lottery")
    web.logout()
    web.signup("b@example.com")
    for path in ("", "/preview", "/dashboard", "/edit", "/export/participants.csv",
                 "/export/actions.csv"):
        r = web.get(f"/console/activities/{theirs}{path}")
        assert r.status_code == 404, path
    for verb in ("pause", "end", "archive", "duplicate", "publish", "edit"):
        r = web.post(f"/console/activities/{theirs}/{verb}", {"when": "now"})
        assert r.status_code == 404, verb
    assert theirs not in web.get("/console/activities").get_data(as_text=True)
    web.logout()
    web.login("a@example.com", "correct horse")
    assert web.status(theirs) == "live"


# activities -----------------------------------------------------------------------------------

def test_the_catalog_shows_every_template_as_a_card(signed_in):
    html = signed_in.get("/console/activities/new").get_data(as_text=True)
    for template in ("Bargain", "Group buy", "Lottery", "Gift"):
        assert template in html
    for template_id in FORM_VALUES:
        assert f'href="/console/activities/new/{template_id}"' in html


@pytest.mark.parametrize("template", sorted(FORM_VALUES))
def test_create_each_template_shows_inline_errors_then_saves_a_draft(signed_in, template):
    web = signed_in
    fields = read_form(web.new_form(template)).fields
    field, bad = MISTAKES[template]
    data = with_values(fields, config_values({**FORM_VALUES[template], field: bad}))
    data["title"] = f"My {template}"
    r = web.post(f"/console/activities/new/{template}", data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    page = read_form(html)
    field_id = "field-config-" + field.replace(".", "-")
    attrs = page.by_id[field_id]
    assert attrs.get("aria-invalid") == "true"
    assert f"{field_id}-error" in attrs["aria-describedby"].split()
    assert f'id="{field_id}-error"' in html
    # The summary sits above the form and links to the field.
    assert html.index('class="error-summary"') < html.index('class="activity-form"')
    assert f'href="#{field_id}"' in html
    # What was typed comes back (the title and the other fields), nothing was saved.
    assert page.by_id["field-title"]["value"] == f"My {template}"
    assert signed_in.engine.list_activities(web.merchant)[0] == []

    fixed = with_values(page.fields, config_values(FORM_VALUES[template]))
    r = web.post(f"/console/activities/new/{template}", fixed)
    assert r.status_code == 302 and r.headers["Location"].endswith("/preview")
    activity_id = r.headers["Location"].split("/")[-2]
    activity = web.engine.get_activity(web.merchant, activity_id)
    assert activity["status"] == "draft" and activity["title"] == f"My {template}"
    for key, value in EXPECTED[template].items():
        assert activity["config"][key] == value
    assert web.get(r.headers["Location"]).status_code == 200


def test_settings_errors_are_inline_too(signed_in):
    fields = read_form(signed_in.new_form("gift")).fields
    data = with_values(fields, {**config_values(FORM_VALUES["gift"]), "timezone": "Mars/Base",
                                "starts_at": "2026-11-12T10:00", "ends_at": "2026-11-11T10:00"})
    r = signed_in.post("/console/activities/new/gift", data)
    assert r.status_code == 422
    page = read_form(r.get_data(as_text=True))
    assert page.by_id["field-timezone"]["aria-invalid"] == "true"
    data = with_values(fields, {**config_values(FORM_VALUES["gift"]),
                                "starts_at": "2026-11-12T10:00", "ends_at": "2026-11-11T10:00"})
    page = read_form(signed_in.post("/console/activities/new/gift", data).get_data(as_text=True))
    assert page.by_id["field-ends_at"]["aria-invalid"] == "true"
    assert "field-ends_at-error" in page.by_id["field-ends_at"]["aria-describedby"]


def test_prize_rows_are_added_removed_and_moved_without_javascript(signed_in):
    web = signed_in
    html = web.new_form("lottery")
    page = read_form(html)
    data = with_values(page.fields, config_values({"prizes.0.name": "First"}))
    r = web.post("/console/activities/new/lottery",
                 MultiDict([*data.items(multi=True), ("__add:config.prizes", "")]))
    page = read_form(r.get_data(as_text=True))
    data = with_values(page.fields, config_values({"prizes.1.name": "Second"}))
    r = web.post("/console/activities/new/lottery",
                 MultiDict([*data.items(multi=True), ("__up:config.prizes.1", "")]))
    page = read_form(r.get_data(as_text=True))
    names = [v for n, v in page.fields if re.fullmatch(r"config\.prizes\.\d+\.name", n)]
    assert names == ["Second", "First"]
    r = web.post("/console/activities/new/lottery",
                 MultiDict([*map(tuple, page.fields), ("__remove:config.prizes.0", "")]))
    page = read_form(r.get_data(as_text=True))
    names = [v for n, v in page.fields if re.fullmatch(r"config\.prizes\.\d+\.name", n)]
    assert names == ["First"]
    assert web.engine.list_activities(web.merchant)[0] == []  # nothing saved on the way


def test_lottery_preview_shows_the_odds_table(signed_in):
    web = signed_in
    values = {"prizes.0.name": "Big", "prizes.0.stock": "2", "prizes.0.odds": "150",
              "prizes.1.name": "Small", "prizes.1.stock": "50", "prizes.1.odds": "2500",
              "prizes.1.type": "points", "miss_name": "Next time"}
    html = web.new_form("lottery")
    page = read_form(html)
    r = web.post("/console/activities/new/lottery",
                 MultiDict([*map(tuple, page.fields), ("__add:config.prizes", "")]))
    fields = read_form(r.get_data(as_text=True)).fields
    r = web.post("/console/activities/new/lottery", with_values(fields, config_values(values)))
    assert r.status_code == 302
    preview = text_of(web.get(r.headers["Location"]).get_data(as_text=True))
    assert "Big 1.50% 2 2" in preview
    assert "Small 25.00% 50 50" in preview
    assert "Next time (no prize) 73.50%" in preview
    # Once live, the table shows the stock left.
    activity_id = r.headers["Location"].split("/")[-2]
    web.post(f"/console/activities/{activity_id}/publish", {"when": "now"})
    token_holder = Participant("p1", "Pat")
    web.engine.act(activity_id, "draw", token_holder)
    preview = text_of(web.get(f"/console/activities/{activity_id}/preview").get_data(as_text=True))
    assert "Big 1.50% 2" in preview and "Live" in preview


@pytest.mark.parametrize("template", sorted(FORM_VALUES))
def test_preview_of_a_draft_renders_the_participant_view(signed_in, template):
    activity_id = signed_in.create(template)
    html = signed_in.get(f"/console/activities/{activity_id}/preview").get_data(as_text=True)
    assert "What participants see" in html and "Publish now" in html
    assert 'name="starts_at"' in html


def test_publish_now_and_schedule(signed_in, clock):
    web = signed_in
    now_id = web.create("gift")
    r = web.post(f"/console/activities/{now_id}/publish", {"when": "now"})
    assert r.status_code == 302 and web.status(now_id) == "live"
    assert "The activity is live." in web.get(r.headers["Location"]).get_data(as_text=True)

    later_id = web.create("gift")
    # 2026-11-11 12:00 in Shanghai = 04:00Z, two hours after the test clock.
    r = web.post(f"/console/activities/{later_id}/publish",
                 {"when": "schedule", "starts_at": "2026-11-11T12:00"})
    assert web.status(later_id) == "scheduled"
    activity = web.engine.get_activity(web.merchant, later_id)
    assert activity["starts_at"] == clock.now + 2 * 3600
    page = web.get(f"/console/activities/{later_id}").get_data(as_text=True)
    assert "Scheduled" in page and "2026-11-11 12:00" in page
    clock.advance(2 * 3600)
    assert web.status(later_id) == "live"

    past_id = web.create("gift")
    r = web.post(f"/console/activities/{past_id}/publish",
                 {"when": "schedule", "starts_at": "2026-11-10T12:00"})
    assert web.status(past_id) == "draft"
    # Said at the schedule's field, which keeps what was typed, and linked from the top.
    assert r.status_code == 422
    page = read_form(r.get_data(as_text=True), "schedule-form")
    field = page.by_id["schedule-starts"]
    assert field["value"] == "2026-11-10T12:00" and field["aria-invalid"] == "true"
    assert "schedule-starts-error" in field["aria-describedby"].split()
    assert "must be in the future" in r.get_data(as_text=True)
    assert 'href="#schedule-starts"' in r.get_data(as_text=True)


def test_a_refused_live_change_is_said_at_its_control_with_what_was_typed(signed_in):
    """A new end in the past or a top-up of -3: the page comes back with the message next to
    the control (linked from a summary on top, as a phone shows the page's top first) and the
    value typed still in it, rather than a note far above an emptied field."""
    web = signed_in
    activity_id = web.live("group_buy")
    before = web.engine.get_activity(web.merchant, activity_id)
    r = web.post(f"/console/activities/{activity_id}/ends_at", {"ends_at": "2020-01-01T10:00"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    page = read_form(html, "inline-controls")
    end = page.by_id["field-new-ends_at"]
    assert end["value"] == "2020-01-01T10:00" and end["aria-invalid"] == "true"
    assert end["aria-describedby"] == "field-new-ends_at-error"
    assert page.by_id["field-new-ends_at-error"]["tag"] == "p"
    assert 'href="#field-new-ends_at"' in html
    r = web.post(f"/console/activities/{activity_id}/stock", {"field": "stock", "add": "-3"})
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    add = read_form(html, "inline-controls").by_id["top-up-stock"]
    assert add["value"] == "-3" and add["aria-describedby"] == "top-up-stock-error"
    assert "Top up by a whole number of at least 1." in html and 'href="#top-up-stock"' in html
    after = web.engine.get_activity(web.merchant, activity_id)
    assert (after["ends_at"], after["config"]["stock"]) == (before["ends_at"],
                                                           before["config"]["stock"])
    # what was fine still goes back to the page with a note
    r = web.post(f"/console/activities/{activity_id}/stock", {"field": "stock", "add": "2"})
    assert r.status_code == 302


def test_lifecycle_buttons(signed_in):
    web = signed_in
    activity_id = web.live("lottery")
    detail = web.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert "Pause" in detail and "End now" in detail
    commitment = re.search(r'class="seed-commitment">([0-9a-f]{64})<', detail).group(1)
    assert 'class="seed"' not in detail  # the seed stays secret while live

    web.post(f"/console/activities/{activity_id}/pause")
    assert web.status(activity_id) == "paused"
    assert "Resume" in web.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    web.post(f"/console/activities/{activity_id}/resume")
    assert web.status(activity_id) == "live"
    r = web.post(f"/console/activities/{activity_id}/archive")  # not from live
    assert "cannot make that change" in web.get(r.headers["Location"], follow_redirects=True
                                                ).get_data(as_text=True)
    assert web.status(activity_id) == "live"
    r = web.post(f"/console/activities/{activity_id}/end")  # asks first: it cannot be undone
    assert r.headers["Location"].endswith(f"/console/activities/{activity_id}/end")
    assert "cannot be undone" in web.get(r.headers["Location"]).get_data(as_text=True)
    assert web.status(activity_id) == "live"
    web.post(f"/console/activities/{activity_id}/end", {"confirm": "yes"})
    assert web.status(activity_id) == "ended"
    detail = web.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    seed = re.search(r'class="seed">([0-9a-f]+)<', detail).group(1)
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment
    detail = web.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert f'href="/console/activities/{activity_id}/archive"' in detail  # a link, not a post
    r = web.post(f"/console/activities/{activity_id}/archive")  # asks first, without script
    assert r.headers["Location"].endswith(f"/console/activities/{activity_id}/archive")
    ask = web.get(r.headers["Location"])
    assert ask.status_code == 200 and "Archiving cannot be undone" in text_of(
        ask.get_data(as_text=True))
    assert 'name="confirm" value="yes"' in ask.get_data(as_text=True)
    assert web.status(activity_id) == "ended"
    web.get("/console/activities?lang=zh")
    assert "归档后无法撤销" in text_of(web.get(r.headers["Location"]).get_data(as_text=True))
    web.get("/console/activities?lang=en")
    web.post(f"/console/activities/{activity_id}/archive", {"confirm": "yes"})
    assert web.status(activity_id) == "archived"
    r = web.get(f"/console/activities/{activity_id}/archive")  # nothing left to ask
    assert r.headers["Location"].endswith(f"/console/activities/{activity_id}")

    r = web.post(f"/console/activities/{activity_id}/duplicate")
    copy_id = r.headers["Location"].split("/")[-2]
    assert r.headers["Location"].endswith("/edit") and copy_id != activity_id
    copy_ = web.engine.get_activity(web.merchant, copy_id)
    original = web.engine.get_activity(web.merchant, activity_id)
    assert copy_["status"] == "draft" and copy_["config"] == original["config"]


def test_list_filters_by_status_and_searches(signed_in):
    web = signed_in
    web.create("gift", title="Spring gift")
    web.live("lottery", title="Autumn lottery")
    html = web.get("/console/activities").get_data(as_text=True)
    assert "Spring gift" in html and "Autumn lottery" in html
    html = web.get("/console/activities?status=live").get_data(as_text=True)
    assert "Autumn lottery" in html and "Spring gift" not in html
    html = web.get("/console/activities?q=spring").get_data(as_text=True)
    assert "Spring gift" in html and "Autumn lottery" not in html
    assert "No activity matches" in web.get("/console/activities?q=zzz").get_data(as_text=True)


def test_draft_edit_changes_everything(signed_in):
    web = signed_in
    activity_id = web.create("bargain")
    page = read_form(web.get(f"/console/activities/{activity_id}/edit").get_data(as_text=True))
    assert page.by_id["field-config-original_price"]["value"] == "100.00"  # fen shown as yuan
    data = with_values(page.fields, {"title": "Renamed", "config.helpers_needed": "4",
                                     "timezone": "Asia/Tokyo"})
    r = web.post(f"/console/activities/{activity_id}/edit", data)
    assert r.status_code == 302
    activity = web.engine.get_activity(web.merchant, activity_id)
    assert activity["title"] == "Renamed" and activity["config"]["helpers_needed"] == 4
    assert activity["timezone"] == "Asia/Tokyo"


def test_live_edit_changes_only_live_editable_fields(signed_in):
    web = signed_in
    activity_id = web.live("lottery")
    html = web.get(f"/console/activities/{activity_id}/edit").get_data(as_text=True)
    page = read_form(html)
    # Frozen fields are shown read-only; the live-editable ones are not.
    frozen = page.by_id["field-config-draws_per_day"]
    assert "readonly" in frozen or "disabled" in frozen
    editable = page.by_id["field-config-miss_name"]
    assert "readonly" not in editable and "disabled" not in editable
    assert "readonly" in page.by_id["field-title"]

    r = web.post(f"/console/activities/{activity_id}/edit",
                 with_values(page.fields, {"config.miss_name": "Try again"}))
    assert r.status_code == 302
    assert web.engine.get_activity(web.merchant, activity_id)["config"]["miss_name"] == "Try again"

    # A frozen field changed anyway (a stale page, a crafted post) is refused, inline.
    page = read_form(web.get(f"/console/activities/{activity_id}/edit").get_data(as_text=True))
    r = web.post(f"/console/activities/{activity_id}/edit",
                 with_values(page.fields, {"config.draws_per_day": "2",
                                           "config.miss_name": "Again"}))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert read_form(html).by_id["field-config-draws_per_day"]["aria-invalid"] == "true"
    assert "cannot change once the activity is published" in html
    config = web.engine.get_activity(web.merchant, activity_id)["config"]
    assert config["draws_per_day"] == 3 and config["miss_name"] == "Try again"


def test_an_ended_activity_cannot_be_edited(signed_in):
    activity_id = signed_in.live("gift")
    signed_in.post(f"/console/activities/{activity_id}/end", {"confirm": "yes"})
    r = signed_in.get(f"/console/activities/{activity_id}/edit")
    assert r.status_code == 302


# dashboard ------------------------------------------------------------------------------------

def kpis(html: str) -> dict[str, str]:
    pairs = re.findall(r'class="tile-label">([^<]*)</span>\s*<span class="tile-value"[^>]*>'
                       r"([^<]*)</span>", html)
    return {label: value for label, value in pairs}


def test_dashboard_numbers_follow_participant_actions(signed_in, clock):
    web = signed_in
    activity_id = web.live("lottery")
    html = web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    assert kpis(html)["Participations"] == "0"
    engine = web.engine
    for name in ("alice", "bob", "carol"):
        assert engine.act(activity_id, "draw", Participant(f"user-{name}", name)).status == 200
    clock.advance(20)
    engine.heartbeat(activity_id, Participant("user-alice"))
    engine.act(activity_id, "draw", Participant("user-alice"))
    engine.heartbeat(activity_id, Participant("user-dave"))  # looked, never acted
    html = web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    tiles = kpis(html)
    stats = engine.stats(web.merchant, activity_id)["totals"]
    assert tiles["Participations"] == "4" == str(stats["participations"])
    assert tiles["Unique participants"] == "3"
    assert tiles["First-time participants"] == "3"
    assert tiles["Interaction minutes"] == "0.3"
    awarded = engine.stats(web.merchant, activity_id)["completions"]["prize.awarded"]
    assert tiles["Completions: Prize won"] == str(awarded)  # the template's label
    assert tiles["Stock left: Coupon"] == str(5 - awarded)
    funnel = re.findall(r'class="funnel-label">([^<]*)</span>.*?class="funnel-value">(\d+)<',
                        html, re.S)
    winners = len({c["participant_id"] for c in engine.redemptions(web.merchant, activity_id)})
    assert funnel == [("Drew", "3"), ("Won a prize", str(winners))]  # the template's steps
    # Charts are inline SVG with axis titles; no script anywhere on the page.
    assert html.count("<svg") == 4 and "Hour (Beijing time)" in html
    assert "<script" not in html.replace(
        '<script src="/console/static/forms.js" defer></script>', "")
    # Recent actions name the merchant's own users, and say which prize was won.
    recent = html[html.index('id="recent-title"'):html.index('id="export-title"')]
    assert "user-alice" in recent and "alice" in recent
    assert recent.count("<tr>") == 1 + 4  # the header and four draws
    if awarded:
        assert "Prize won: Coupon" in recent


def test_recent_actions_are_the_last_twenty(signed_in):
    web = signed_in
    activity_id = web.live("gift")
    for i in range(25):
        r = web.engine.act(activity_id, "send", Participant(f"sender-{i}"), {"shares": 1})
        assert r.status == 200, r.body
    html = web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    recent = html[html.index('id="recent-title"'):html.index('id="export-title"')]
    seqs = [int(s) for s in re.findall(r'<tr><td class="num">(\d+)</td>', recent)]
    assert seqs == list(range(25, 5, -1))


def test_charts_have_axes_and_labels():
    svg = str(charts.bar_chart("c1", ["10:00", "11:00", "12:00"], [3, 0, 7], title="Per hour",
                               x_title="Hour", y_title="Count"))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert '<title id="c1-title">Per hour</title>' in svg
    assert svg.count('class="bar"') == 3 and ">Hour</text>" in svg and ">Count</text>" in svg
    assert ">10:00</text>" in svg and ">0</text>" in svg and ">8</text>" in svg
    line = str(charts.line_chart("c2", ["a"], [0], title="t", x_title="x", y_title="y"))
    assert 'class="line"' in line and "<circle" in line
    assert charts.nice_ticks(7) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(2, whole=True) == [0, 1, 2]
    assert charts.nice_ticks(2) == [0, 0.5, 1, 1.5, 2]
    assert "&lt;b&gt;" in str(charts.bar_chart("c3", ["<b>"], [1], title="t", x_title="x",
                                               y_title="y"))


# CSV exports ----------------------------------------------------------------------------------

ROWS = 2500


def seed_rows(engine, activity_id: str) -> None:
    """Thousands of participants and log entries, written straight to the store (fast)."""
    with engine.store.transaction() as tx:
        for i in range(ROWS):
            tx.save_participant(ParticipantRecord(activity_id, f"p{i:05d}", f"=Name {i}",
                                                  {"draws": 1}, 1, 100, 100, 1, 100, 5), None)
            tx.insert_action(ActionRecord(activity_id, i + 1, 100 + i, "participant", f"p{i:05d}",
                                          "draw", {}, None, None, {"hit": False}, [], []))
        tx.update_activity(activity_id, seq=ROWS)


def test_csv_exports_have_a_header_and_every_row_streamed(signed_in):
    web = signed_in
    activity_id = web.live("lottery")
    seed_rows(web.engine, activity_id)
    r = web.get(f"/console/activities/{activity_id}/export/participants.csv", buffered=False)
    assert r.status_code == 200 and r.is_streamed
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["Content-Disposition"]
    chunks = list(r.response)
    assert len(chunks) == 1 + 3  # the header, then one chunk per 1,000 rows
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert rows[0] == ["Participant ID", "Name", "First action (Beijing time)",
                       "Last action (Beijing time)", "Actions", "Interaction seconds",
                       "Invited by", "Generation", "Draws today", "Draws", "Extra draws",
                       "Draws since a win", "Prizes won"]  # each variable by its label
    assert rows[1][2] == "1970-01-01 08:01:40"  # in the activity's zone, named above
    assert len(rows) == 1 + ROWS and rows[1][0] == "p00000" and rows[-1][0] == f"p{ROWS - 1:05d}"
    assert rows[1][1] == "'=Name 0"  # a shopper's name never runs as a spreadsheet formula

    r = web.get(f"/console/activities/{activity_id}/export/actions.csv", buffered=False)
    assert r.is_streamed
    chunks = list(r.response)
    assert len(chunks) == 1 + 3
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert rows[0][:7] == ["No.", "Time (Beijing time)", "Actor", "Participant ID", "Name",
                           "Action", "What happened"]
    assert rows[1][1] == "1970-01-01 08:01:40"
    assert [row[0] for row in rows[1:]] == [str(i) for i in range(1, ROWS + 1)]


def test_the_action_log_csv_reads_as_words_in_the_merchants_language(signed_in):
    """Who acted, what they did and what happened, in the console's language, before the raw
    data (JSON, money in fen) a developer may want."""
    web = signed_in
    activity_id = web.live("lottery")
    web.engine.act(activity_id, "draw", Participant("user-li", "李雷"))
    web.post(f"/console/activities/{activity_id}/stock",
             {"field": "prizes.0.stock", "add": "2000"})
    web.get("/console/activities?lang=zh")
    body = web.get(f"/console/activities/{activity_id}/export/actions.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 Chinese
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["序号", "时间（北京时间）", "执行者", "用户 ID", "昵称", "操作",
                       "发生了什么", "团/房间", "首次参与", "参数（原始数据）",
                       "结果（原始数据）", "事件（原始数据）"]
    draw, top_up = rows[1], rows[2]
    assert draw[2:6] == ["参与者", "user-li", "李雷", "抽奖"]  # the template's own title
    assert draw[8] == "是"
    assert draw[6] in ("", "中奖：Coupon")  # the prize won, if any
    assert top_up[2] == "您（商家）" and top_up[5] == "商家补充了库存"
    assert top_up[6].endswith("+2000") and top_up[8] == "否"
    # the dashboard's tiles group the digits of a stock's total as they do its value
    html = web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    assert "共 2,005" in html


def test_the_participants_csv_reads_in_the_merchants_words_money_in_yuan(signed_in):
    """A check-in pool's participants in Chinese: each variable headed by the template's own
    label, the money one in yuan with two decimals (a number Excel adds up), times local with
    the zone named in the header."""
    web = signed_in
    activity_id = web.engine.create_activity(
        web.merchant, "checkin_pool", CONFIGS["checkin_pool"], timezone="Asia/Shanghai")["id"]
    with web.engine.store.transaction() as tx:
        tx.save_participant(ParticipantRecord(
            activity_id, "u1", "李雷", {"days": 3, "last_day": "2026-11-11", "claimed": 123456},
            1, 1_794_362_400, 1_794_366_000, 3, 1_794_366_000, 40), None)
    web.get("/console/activities?lang=zh")
    body = web.get(f"/console/activities/{activity_id}/export/participants.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    header, row = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert header[2:4] == ["首次参与（北京时间）", "最近参与（北京时间）"]
    assert header[8:] == ["已签到天数", "最近签到日", "已领取（元）"]
    assert row[2] == "2026-11-11 10:00:00" and row[8:] == ["3", "2026-11-11", "1234.56"]
    web.get("/console/activities?lang=en")
    body = web.get(f"/console/activities/{activity_id}/export/participants.csv").get_data()
    header, row = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert header[8:] == ["Check-in days", "Last check-in day", "Collected (yuan)"]
    assert row[10] == "1234.56"


def test_the_winners_csv_names_its_zone_and_money_in_yuan(signed_in):
    web = signed_in
    activity_id = web.live("lottery")
    body = web.get(f"/console/activities/{activity_id}/export/fulfilment.csv").get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert header[1] == "Won at (Beijing time)" and header[7] == "Amount (yuan)"
    assert header[8] == "Redeemed at (Beijing time)"


def test_csv_export_reads_the_store_one_page_per_chunk(signed_in, monkeypatch):
    """Bounded memory: the generator holds one page at a time, reading the next page only
    when the previous chunk has been sent."""
    web = signed_in
    activity_id = web.live("lottery")
    seed_rows(web.engine, activity_id)
    reads: list[int] = []
    original = SQLiteTx.list_participants

    def counting(self, activity_id, after=None, limit=1000):
        assert limit <= 1000
        rows = original(self, activity_id, after, limit)
        reads.append(len(rows))
        return rows

    monkeypatch.setattr(SQLiteTx, "list_participants", counting)
    chunks = exports.participants_csv(web.engine, activity_id)
    next(chunks)  # the header: nothing read yet
    assert reads == []
    first = next(chunks)
    assert reads == [1000] and first.count("\r\n") == 1000
    next(chunks)
    assert reads == [1000, 1000]
    assert [c.count("\r\n") for c in chunks] == [500]
    assert reads == [1000, 1000, 500]


# settings -------------------------------------------------------------------------------------

def test_api_keys_are_created_shown_once_and_revoked(signed_in, engine):
    web = signed_in
    r = web.post("/console/settings/keys")
    assert r.status_code == 303 and r.headers["Location"].endswith("/console/settings/keys/new")
    r = web.get("/console/settings/keys/new")
    assert r.headers["Cache-Control"] == "no-store"
    key = re.search(r'value="(mck_[^"]+)"', r.get_data(as_text=True)).group(1)
    assert engine.merchant_for_key(key).id == web.merchant.id
    # a reload shows the key no more and makes no second one
    again = web.get("/console/settings/keys/new", follow_redirects=True)
    assert key not in again.get_data(as_text=True)
    assert "shown only once" in text_of(again.get_data(as_text=True))
    assert len(engine.list_api_keys(web.merchant)) == 2  # the sign-up's and this one
    assert key not in web.client.get_cookie("session").value  # sealed in the cookie
    html = web.get("/console/settings").get_data(as_text=True)
    assert key not in html and key[:8] in html
    key_id = [k["id"] for k in engine.store.transaction(write=False).__enter__()
              .list_api_keys(web.merchant.id) if key.startswith(k["prefix"])][0]
    assert f"/console/settings/keys/{key_id}/revoke" in html  # a link to a page that asks
    r = web.post(f"/console/settings/keys/{key_id}/revoke")  # without confirming: asks first
    assert r.headers["Location"].endswith(f"/console/settings/keys/{key_id}/revoke")
    asking = web.get(r.headers["Location"]).get_data(as_text=True)
    assert "cannot be undone" in asking and key[:8] in asking
    assert engine.merchant_for_key(key).id == web.merchant.id  # still works
    r = web.post(f"/console/settings/keys/{key_id}/revoke", {"confirm": "yes"})
    assert "revoked" in web.get(r.headers["Location"]).get_data(as_text=True)
    # once revoked, its page says so instead of asking again
    r = web.get(f"/console/settings/keys/{key_id}/revoke")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/settings")
    api = web.client.get("/v1/merchant/activities", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 401


def test_webhook_url_and_secret_are_saved_on_the_merchant(signed_in):
    web = signed_in
    r = web.post("/console/settings/webhook", {"webhook_url": "ftp://x", "webhook_secret": "short"})
    assert r.status_code == 422
    page = read_form(r.get_data(as_text=True), "narrow-form")
    assert page.by_id["field-webhook_url"]["aria-invalid"] == "true"
    assert page.by_id["field-webhook_secret"]["aria-invalid"] == "true"
    r = web.post("/console/settings/webhook", {"webhook_url": "https://shop.example/hooks",
                                               "webhook_secret": "0123456789abcdef!"})
    assert r.status_code == 302
    merchant = web.merchant
    assert merchant.webhook_url == "https://shop.example/hooks"
    assert merchant.webhook_secret == "0123456789abcdef!"
    web.post("/console/settings/webhook", {"webhook_url": "https://shop.example/hooks",
                                           "generate": "1"})
    assert len(web.merchant.webhook_secret) >= 16
    assert web.merchant.webhook_secret != "0123456789abcdef!"


def test_webhooks_are_turned_off_by_emptying_the_address_alone(signed_in):
    """The help says "Leave empty to send no webhooks": emptying both fields turns them off
    rather than asking for a secret that signs nothing."""
    web = signed_in
    web.post("/console/settings/webhook", {"webhook_url": "https://shop.example/hooks",
                                           "webhook_secret": "0123456789abcdef!"})
    r = web.post("/console/settings/webhook", {"webhook_url": "", "webhook_secret": ""})
    assert r.status_code == 302
    assert web.merchant.webhook_url is None
    # an address still needs a secret
    r = web.post("/console/settings/webhook", {"webhook_url": "https://shop.example/hooks",
                                               "webhook_secret": ""})
    assert r.status_code == 422


# languages ------------------------------------------------------------------------------------

def test_language_switch_shows_chinese(web):
    html = web.get("/console/login?lang=zh").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "登录" in html and "电子邮箱" in html
    # Remembered in the session.
    assert "创建商家账号" in web.get("/console/signup").get_data(as_text=True)
    web.signup()
    html = web.get("/console/activities/new").get_data(as_text=True)
    assert "选择模板" in html and "抽奖" in html and "砍价" in html  # template titles in zh
    assert "按公布的中奖概率抽取奖品" in html
    html = web.get("/console/activities/new/lottery").get_data(as_text=True)
    assert "奖品名称" in html or "奖品" in html
    html = web.get("/console/login?lang=en").get_data(as_text=True)
    assert "Log in" in html and "登录" not in html.replace('lang="zh">中文', "")


def test_accept_language_picks_chinese(web):
    html = web.get("/console/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(
        as_text=True)
    assert "登录" in html
    html = web.get("/console/login", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Log in" in html


def test_inline_errors_in_chinese(web):
    web.get("/console/login?lang=zh")
    web.signup()
    fields = read_form(web.new_form("gift")).fields
    r = web.post("/console/activities/new/gift", with_values(fields, {"config.gift_name": ""}))
    html = r.get_data(as_text=True)
    assert "此项为必填项" in html and "有问题需要处理" in html


def test_every_message_has_a_chinese_translation():
    with PO_FILE.open("rb") as f:
        catalog = read_po(f, locale="zh")
    untranslated = [m.id for m in catalog if m.id and not all(
        m.string if isinstance(m.string, tuple) else (m.string,))]
    assert untranslated == []
    assert not [m.id for m in catalog if m.id and m.fuzzy]
    # The catalog is up to date with the sources, and compiled.
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {msg[2] if isinstance(msg[2], str) else msg[2][0]
             for msg in extract_from_dir(str(CONSOLE_DIR), method_map,
                                         keywords={"_": None, "gettext": None, "_l": None,
                                                   "lazy_gettext": None,
                                                   "ngettext": (1, 2)})}
    assert found - ids == set(), "run the steps in DEVELOPERS.md to update the catalog"
    with MO_FILE.open("rb") as f:
        compiled = read_mo(f)
    assert {m.id if isinstance(m.id, str) else m.id[0] for m in compiled if m.id} == ids
    assert BABEL_CFG.is_file()


# pages without JavaScript ---------------------------------------------------------------------

def test_every_console_page_has_labelled_inputs(signed_in):
    web = signed_in
    activity_id = web.live("lottery")
    draft_id = web.create("bargain")
    for path in (f"/console/activities/{draft_id}/dashboard",
                 f"/console/activities/{draft_id}/preview", "/console/activities/new/lottery",
                 "/console/activities", "/console/activities/new",
                 "/console/activities/new/bargain", f"/console/activities/{activity_id}",
                 f"/console/activities/{activity_id}/preview",
                 f"/console/activities/{activity_id}/edit",
                 f"/console/activities/{activity_id}/dashboard", "/console/settings",
                 f"/console/activities/{activity_id}/events",
                 f"/console/activities/{draft_id}/events"):
        r = web.get(path)
        assert r.status_code == 200, path
        html = r.get_data(as_text=True)
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
            if re.search(r'type="(hidden|submit)"', tag):
                continue
            control_id = re.search(r'id="([^"]+)"', tag)
            assert control_id and control_id.group(1) in labelled, (path, tag)
        # Nothing depends on a script: no inline handlers, no inline scripts.
        assert "onclick" not in html and "<script>" not in html and "javascript:" not in html


# webhook events -------------------------------------------------------------------------------

def event_rows(html: str) -> list[dict[str, Any]]:
    """The events table: one dict per row, with whether it has a Redeliver button."""
    rows = []
    for body in re.findall(r'<tr id="event-(\d+)">(.*?)</tr>', html, re.S):
        cells = [text_of(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", body[1], re.S)]
        rows.append({"id": int(body[0]), "seq": int(cells[0]), "type": cells[1],
                     "status": cells[3], "attempts": cells[4], "last_error": cells[5],
                     "redeliver": "/redeliver" in body[1]})
    return rows


def live_bargain_with_events(web: Web, starters: int = 3) -> str:
    activity_id = web.live("bargain")
    for i in range(starters):
        r = web.engine.act(activity_id, "start", Participant(f"starter-{i}", f"S{i}"))
        assert r.status == 200, r.body
    return activity_id


def outbox_ids(engine, activity_id: str) -> list[int]:
    with engine.store.transaction(write=False) as tx:
        return [e["id"] for e in tx.list_events(activity_id, None, 0, 1000)]


def test_events_page_lists_the_activitys_events_in_order(signed_in):
    web = signed_in
    activity_id = live_bargain_with_events(web)
    # Linked from the activity and from its dashboard.
    url = f"/console/activities/{activity_id}/events"
    assert url in web.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert url in web.get(f"/console/activities/{activity_id}/dashboard").get_data(as_text=True)
    r = web.get(url)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    rows = event_rows(html)
    # the template's name for the event, with its code for a developer
    assert [row["type"] for row in rows] == ["Bargain started bargain.started"] * 3
    assert [row["id"] for row in rows] == outbox_ids(web.engine, activity_id)
    assert [row["seq"] for row in rows] == sorted(row["seq"] for row in rows)
    assert all(row["status"] == "Pending" and not row["redeliver"] for row in rows)
    assert "<script>" not in html and 'name="status"' in html
    # Chinese too.
    html = web.get(url + "?lang=zh").get_data(as_text=True)
    assert "事件" in html and "待投递" in html and "投递状态" in html


def test_events_filter_by_status_and_redeliver(signed_in, clock):
    web = signed_in
    engine = web.engine
    activity_id = live_bargain_with_events(web)
    first, second, third = outbox_ids(engine, activity_id)
    with engine.store.transaction() as tx:
        assert tx.mark_delivered(first, clock.now)
        assert tx.mark_failed(second, clock.now, clock.now + 60, "HTTP 500", dead=True)
    url = f"/console/activities/{activity_id}/events"
    by_status = {s: [row["id"] for row in event_rows(web.get(f"{url}?status={s}")
                                                     .get_data(as_text=True))]
                 for s in ("pending", "delivered", "dead", "")}
    assert by_status == {"pending": [third], "delivered": [first], "dead": [second],
                         "": [first, second, third]}
    rows = {row["id"]: row for row in event_rows(web.get(url).get_data(as_text=True))}
    assert rows[first]["status"] == "Delivered" and rows[first]["redeliver"]
    assert rows[second]["status"] == "Dead" and rows[second]["redeliver"]
    assert rows[second]["last_error"] == "HTTP 500"
    assert rows[third]["status"] == "Pending" and not rows[third]["redeliver"]
    # An unknown status shows every event.
    assert len(event_rows(web.get(f"{url}?status=bogus").get_data(as_text=True))) == 3

    # Redeliver the dead one from the filtered page: back to that page, flashed, pending again.
    r = web.post(f"{url}/{second}/redeliver", {"status": "dead"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"{url}?status=dead")
    html = web.get(r.headers["Location"]).get_data(as_text=True)
    assert "will be sent again" in html and event_rows(html) == []
    with engine.store.transaction(write=False) as tx:
        redone = tx.get_event(activity_id, second)
    assert redone["dead_at"] is None and redone["attempts"] == 0 and redone["last_error"] is None
    # The delivered one too.
    r = web.post(f"{url}/{first}/redeliver")
    assert "will be sent again" in web.get(r.headers["Location"]).get_data(as_text=True)
    rows = event_rows(web.get(url).get_data(as_text=True))
    assert [(row["status"], row["redeliver"]) for row in rows] == [("Pending", False)] * 3
    # A pending event is not sent again; an unknown one is reported.
    r = web.post(f"{url}/{first}/redeliver")
    assert "still waiting to be delivered" in web.get(r.headers["Location"]).get_data(as_text=True)
    r = web.post(f"{url}/999999/redeliver")
    assert "no such event" in web.get(r.headers["Location"]).get_data(as_text=True)
    # Without the CSRF token the form is refused.
    with engine.store.transaction() as tx:
        tx.mark_delivered(third, clock.now)
    r = web.client.post(f"{url}/{third}/redeliver")
    assert r.status_code == 400 and "expired" in r.get_data(as_text=True)
    with engine.store.transaction(write=False) as tx:
        assert tx.get_event(activity_id, third)["delivered_at"] is not None


def test_events_pages_older_and_newer(signed_in, monkeypatch):
    from magic_cube.console import events
    monkeypatch.setattr(events, "PAGE_SIZE", 2)
    web = signed_in
    activity_id = live_bargain_with_events(web, starters=5)
    ids = outbox_ids(web.engine, activity_id)
    url = f"/console/activities/{activity_id}/events"
    html = web.get(url).get_data(as_text=True)
    seen = [row["id"] for row in event_rows(html)]
    assert "Older events" not in html
    pages = 1
    while "Newer events" in html:
        newer = re.search(r'<a href="([^"]+)" rel="next">', html).group(1).replace("&amp;", "&")
        html = web.get(newer).get_data(as_text=True)
        seen += [row["id"] for row in event_rows(html)]
        pages += 1
    assert seen == ids and pages == 3
    # And back again, page by page, to the first.
    back = []
    while "Older events" in html:
        older = re.search(r'<a href="([^"]+)" rel="prev">', html).group(1).replace("&amp;", "&")
        html = web.get(older).get_data(as_text=True)
        back.append([row["id"] for row in event_rows(html)])
    assert back == [ids[2:4], ids[0:2]]


def test_another_merchant_cannot_see_or_redeliver_events(web, engine, clock):
    web.signup("a@example.com")
    theirs = live_bargain_with_events(web, starters=1)
    [event_id] = outbox_ids(engine, theirs)
    with engine.store.transaction() as tx:
        tx.mark_delivered(event_id, clock.now)
    web.logout()
    web.signup("b@example.com")
    assert web.get(f"/console/activities/{theirs}/events").status_code == 404
    r = web.post(f"/console/activities/{theirs}/events/{event_id}/redeliver")
    assert r.status_code == 404
    with engine.store.transaction(write=False) as tx:
        assert tx.get_event(theirs, event_id)["delivered_at"] is not None


def test_settings_show_the_participant_secret(signed_in):
    web = signed_in
    secret = web.merchant.participant_secret
    html = web.get("/console/settings").get_data(as_text=True)
    page = read_form(html)
    field = page.by_id["field-participant_secret"]
    assert field["value"] == secret and "readonly" in field and "name" not in field
    assert 'href="/docs"' in html and "Participant secret" in html
    html = web.get("/console/settings?lang=zh").get_data(as_text=True)
    assert "参与者密钥" in html and secret in html
