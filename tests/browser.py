"""What every browser test shares: Debian's Chromium driven by Playwright (never a downloaded
browser), a real server (werkzeug in a thread, on 127.0.0.1 and a free port) with the app on a
SQLite file, contexts at phone and desktop sizes, and screenshots in test-output/screenshots/.

    from browser import browser, live_server, shot, new_page  # noqa: F401  (fixtures)

Without /usr/bin/chromium (or Playwright) the tests are skipped on a developer's machine and
fail when CI=true.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from magic_cube.app import create_app

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LOCALES = {"en": "en-US", "zh": "zh-CN"}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium; `make test` does it)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests cannot run in CI: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


class LiveServer:
    """The app behind a real HTTP server in this process."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.engine = app.extensions["magic_cube"]
        self.httpd = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.thread.join(5)
        self.engine.store.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: Any, catalog: Any, browser: Any) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("browser") / "browser.db"
    app = create_app({"CATALOG": catalog, "TESTING": True,
                      "SETTINGS": {"database_url": f"sqlite:///{db}",
                                   "long_poll_interval": 0.2}})
    running = LiveServer(app)
    yield running
    running.close()


def new_page(browser: Any, lang: str = "en", viewport: dict[str, int] | None = None) -> Any:
    """A page in a fresh context (its own storage: another phone, another friend)."""
    context = browser.new_context(viewport=viewport or PHONE, locale=LOCALES[lang],
                                  extra_http_headers={"Accept-Language": LOCALES[lang]})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def scroll_width(page: Any) -> int:
    """How wide the page really is: wider than the viewport means a horizontal scroll."""
    return int(page.evaluate("document.documentElement.scrollWidth"))
