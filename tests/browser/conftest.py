"""Fixtures for the dashboard's browser tests: Debian's Chromium driven by Playwright, a real
`dlrhub serve --dev` subprocess and a real HTTPS webhook receiver it trusts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import WIDTHS, Dashboard
from tests.support.cli import ServerProcess
from tests.support.databases import unavailable
from tests.support.receiver import Receiver
from tests.support.tls import make_tls

# Overridable only so that tests/browser/test_ci_guard.py can prove a missing browser fails CI.
CHROMIUM = Path(os.environ.get("DLRHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


# Module scope: while Playwright's sync API is active it owns an event loop on this thread, which
# would break asyncio.run() in fixtures of other (non-browser) tests run in the same session.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright Python package is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One server per test module; each test makes its own accounts, so tests never mix."""
    work = tmp_path_factory.mktemp("dashboard")
    tls = make_tls(work / "tls")
    env = {
        "DLRHUB_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'dlrhub.db'}",
        "DLRHUB_CA_BUNDLE": str(tls.ca_pem_path),
        "DLRHUB_SIMULATOR_DELAY_MS": "300",
        # Automatic retries far apart: a test sees a failed delivery stay failed until it acts.
        "DLRHUB_RETRY_SCHEDULE": "600,600",
        "DLRHUB_POLL_INTERVAL_S": "0.2",
        "DLRHUB_LOG_LEVEL": "warning",
    }
    with Receiver(tls=tls) as receiver, ServerProcess(env, work / "logs") as server:
        yield Dashboard(server=server, env=env, receiver=receiver)


@pytest.fixture
def page(browser: Any, dashboard: Dashboard) -> Iterator[Any]:
    dashboard.receiver.reset()
    context = browser.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    context.set_default_timeout(10_000)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()
