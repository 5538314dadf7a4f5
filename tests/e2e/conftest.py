"""Browser fixtures: the test app served on a real socket, and Debian's headless Chromium.

The fixture names avoid pytest-playwright's own (`browser`, `context`, `page`), which would
launch a browser build downloaded by `playwright install`; here it is /usr/bin/chromium.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from werkzeug.serving import make_server

from app.auth.models import User
from tests.conftest import TEST_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TIMEOUT_MS = 10_000
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without Debian's Chromium every browser test is skipped, saying how to get it."""
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    )
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _server_url(app: Flask) -> Iterator[str]:
    """The session's app on 127.0.0.1, a free port, in a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask, _server_url: str) -> Iterator[str]:
    """The base URL of the running app, with CSRF on for this test.

    The other tests post forms without tokens (CSRF off in the test config); browser tests
    exercise the real forms, tokens included. The flag is read per request, so it is set
    per test and restored, and the tests that run after the e2e ones are unaffected.
    """
    previous = app.config["WTF_CSRF_ENABLED"]
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield _server_url
    finally:
        app.config["WTF_CSRF_ENABLED"] = previous


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Playwright]:
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="session")
def chromium_browser(_playwright: Playwright) -> Iterator[Browser]:
    browser = _playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def web(chromium_browser: Browser, live_server: str) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page per test, rooted at the live server."""
    context = chromium_browser.new_context(
        base_url=live_server, locale="en-GB", timezone_id="Europe/Rome"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(web: Page) -> Callable[[str], None]:
    """Save one screenshot of the current page as test-artifacts/<name>.png."""

    def _shot(name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        web.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return _shot


@pytest.fixture
def sign_in(web: Page) -> Callable[[User], Page]:
    """Sign in through the real login form and land on the contact list."""

    def _sign_in(user: User) -> Page:
        web.goto("/login")
        web.get_by_label("Email").fill(user.email)
        web.get_by_label("Password").fill(TEST_PASSWORD)
        web.get_by_role("button", name="Sign in").click()
        web.wait_for_url("**/contacts")
        return web

    return _sign_in
