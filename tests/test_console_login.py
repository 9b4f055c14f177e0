"""Failed console logins are throttled per email *and* client address: whoever knows a
merchant's email can lock only their own address out, never the merchant's (docs/operations.md,
"Console logins"). Each browser below is a Flask test client with its own cookies and its own
REMOTE_ADDR."""

from __future__ import annotations

import re
from typing import Any

import pytest
from stores import store_fixture

from magic_cube.app import create_app
from magic_cube.engine.accounts import LOCK_SECONDS, MAX_ACCOUNT_FAILURES, MAX_FAILURES

EMAIL, PASSWORD = "tea@example.com", "correct horse"


class Browser:
    """One person's browser at one address."""

    def __init__(self, app: Any, address: str, headers: dict[str, str] | None = None) -> None:
        self.client = app.test_client()
        self.environ = {"REMOTE_ADDR": address}
        self.headers = headers or {}

    def login(self, password: str, email: str = EMAIL) -> Any:
        page = self.client.get("/console/login", environ_base=self.environ,
                               headers=self.headers).get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, "no CSRF token on the login page"
        return self.client.post("/console/login", environ_base=self.environ,
                                headers=self.headers,
                                data={"csrf_token": token.group(1), "email": email,
                                      "password": password})


@pytest.fixture
def owner_account(engine):
    engine.sign_up("Tea House", EMAIL, PASSWORD)


def locked(response: Any) -> int:
    """The Retry-After of a 429 login page."""
    assert response.status_code == 429, response.status_code
    assert "Too many failed logins" in response.get_data(as_text=True)
    return int(response.headers["Retry-After"])


def fail(browser: Browser, times: int, email: str = EMAIL) -> None:
    for _ in range(times):
        assert browser.login("wrong guess", email).status_code == 401


def test_an_attacker_locks_out_only_their_own_address(app, owner_account):
    attacker = Browser(app, "203.0.113.66")
    fail(attacker, MAX_FAILURES - 1)
    assert locked(attacker.login("wrong guess")) == LOCK_SECONDS
    # Locked: from that address even the right password is refused, without being checked.
    assert locked(attacker.login(PASSWORD)) == LOCK_SECONDS
    owner = Browser(app, "198.51.100.7")
    r = owner.login(PASSWORD)
    assert r.status_code == 302 and r.headers["Location"].startswith("/console/")
    assert owner.client.get("/console/activities").status_code == 200


def test_retry_after_counts_down_and_the_lock_ends(app, owner_account, clock):
    owner = Browser(app, "198.51.100.7")
    fail(owner, MAX_FAILURES - 1)
    locked(owner.login("wrong guess"))
    clock.advance(600)
    assert locked(owner.login(PASSWORD)) == LOCK_SECONDS - 600
    clock.advance(LOCK_SECONDS - 600)
    assert owner.login(PASSWORD).status_code == 302


def test_a_guess_spread_over_many_addresses_locks_those_not_a_fresh_one(app, owner_account):
    # Just under each address's own limit, from enough addresses to reach the email's ceiling.
    addresses = [f"203.0.113.{n}" for n in range(1, 100)]
    bots: list[Browser] = []
    spent = 0
    while spent < MAX_ACCOUNT_FAILURES:
        bot = Browser(app, addresses[len(bots)])
        tries = min(MAX_FAILURES - 1, MAX_ACCOUNT_FAILURES - spent)
        fail(bot, tries - 1)
        last = bot.login("wrong guess")
        spent += tries
        bots.append(bot)
    assert locked(last) == LOCK_SECONDS  # the guess that reached the ceiling
    # Every address that has failed is refused now, even with the right password ...
    assert locked(bots[0].login(PASSWORD)) > 0
    # ... and a new address gets one try: a wrong one locks it too, ...
    newcomer = Browser(app, "192.0.2.1")
    assert locked(newcomer.login("wrong guess")) == LOCK_SECONDS
    assert locked(newcomer.login(PASSWORD)) > 0
    # ... but the owner at an address that has not failed gets in.
    r = Browser(app, "198.51.100.7").login(PASSWORD)
    assert r.status_code == 302


def test_one_ipv6_subscriber_is_one_address(app, owner_account):
    for n in range(1, MAX_FAILURES):
        fail(Browser(app, f"2001:db8:1:2::{n}"), 1)
    assert locked(Browser(app, "2001:db8:1:2:ffff::9").login("wrong guess")) == LOCK_SECONDS
    assert locked(Browser(app, "2001:db8:1:2::1").login(PASSWORD)) > 0
    assert Browser(app, "2001:db8:1:3::1").login(PASSWORD).status_code == 302


def test_behind_a_trusted_proxy_the_client_address_counts(tmp_path, catalog, clock):
    app = create_app({"CATALOG": catalog, "TESTING": True, "CLOCK": clock, "SETTINGS": {
        "database_url": f"sqlite:///{tmp_path}/proxied.db", "trusted_proxies": 1}})
    try:
        app.extensions["magic_cube"].sign_up("Tea House", EMAIL, PASSWORD)
        proxy = "10.0.0.2"  # every request comes from the proxy
        attacker = Browser(app, proxy, {"X-Forwarded-For": "203.0.113.66"})
        fail(attacker, MAX_FAILURES - 1)
        locked(attacker.login("wrong guess"))
        owner = Browser(app, proxy, {"X-Forwarded-For": "198.51.100.7"})
        assert owner.login(PASSWORD).status_code == 302
    finally:
        app.extensions["magic_cube"].store.close()


def test_an_unknown_email_is_throttled_like_a_known_one(app):
    stranger = Browser(app, "203.0.113.5")
    fail(stranger, MAX_FAILURES - 1, "nobody@example.com")
    assert locked(stranger.login("wrong guess", email="nobody@example.com")) == LOCK_SECONDS


def test_a_success_forgets_only_that_addresses_failures(app, owner_account, engine):
    owner, other = Browser(app, "198.51.100.7"), Browser(app, "198.51.100.8")
    fail(owner, MAX_FAILURES - 1)
    fail(other, MAX_FAILURES - 1)
    assert owner.login(PASSWORD).status_code == 302
    with engine.store.transaction(write=False) as tx:
        assert tx.get_login_failures(EMAIL, "198.51.100.7") is None
        assert tx.get_login_failures(EMAIL, "198.51.100.8")[0] == MAX_FAILURES - 1
        assert tx.get_login_failures(EMAIL)[0] == 2 * (MAX_FAILURES - 1)  # every address


def test_stale_failures_are_forgotten_but_a_lock_is_kept_while_it_holds(app, engine, clock,
                                                                         owner_account):
    fail(Browser(app, "198.51.100.7"), 1)
    attacker = Browser(app, "203.0.113.66")
    fail(attacker, MAX_FAILURES - 1)
    clock.advance(LOCK_SECONDS - 1)
    locked(attacker.login("wrong guess"))  # locked from now on, for LOCK_SECONDS
    clock.advance(2)
    assert engine.purge_login_failures(clock.now) == 1  # the owner's single old failure
    with engine.store.transaction(write=False) as tx:
        assert tx.get_login_failures(EMAIL, "198.51.100.7") is None
        assert tx.get_login_failures(EMAIL, "203.0.113.66") is not None
    clock.advance(LOCK_SECONDS)
    assert engine.purge_login_failures(clock.now) == 2  # the attacker's and the email's


store = store_fixture()


def test_the_store_counts_each_address_apart_and_forgets_stale_counts(store):
    t0, window = 1_000_000, LOCK_SECONDS
    with store.transaction() as tx:
        for address in ("198.51.100.7", "198.51.100.7", "203.0.113.9", ""):
            tx.add_login_failure(EMAIL, t0, t0 - window, 2, t0 + window, address)
        assert tx.get_login_failures(EMAIL, "198.51.100.7") == (2, t0, t0 + window)
        assert tx.get_login_failures(EMAIL, "203.0.113.9") == (1, t0, None)
        assert tx.get_login_failures(EMAIL) == (1, t0, None)
        tx.clear_login_failures(EMAIL, "203.0.113.9")
        assert tx.get_login_failures(EMAIL, "203.0.113.9") is None
        assert tx.get_login_failures(EMAIL) is not None
        # Stale and unlocked: forgotten; still locked: kept until the lock ends.
        assert tx.purge_login_failures(t0 + 1, t0 + 1) == 1
        assert tx.purge_login_failures(t0 + 1, t0 + window) == 1
        assert tx.get_login_failures(EMAIL, "198.51.100.7") is None
