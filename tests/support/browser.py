"""Driving the dashboard in a real browser (Playwright's page objects): the server under test,
signing in, waiting for a page to show something, and screenshots that check every control
is labelled."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cli import ServerProcess, run_cli
from .receiver import Receiver

__all__ = [
    "SCREENSHOTS",
    "WIDTHS",
    "Dashboard",
    "capture",
    "reload_until",
    "sign_in",
    "waba_number",
]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
WIDTHS = {"desktop": 1280, "phone": 390}


@dataclass
class Dashboard:
    """The running server, its environment (for the CLI) and the receiver it delivers to."""

    server: ServerProcess
    env: dict[str, str]
    receiver: Receiver

    @property
    def url(self) -> str:
        return self.server.base_url + "/dashboard"

    def cli(self, *args: str) -> str:
        done = run_cli(*args, env=self.env)
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    def new_account(self, waba: str | None = None) -> tuple[str, str]:
        """A fresh account: (account id, API key); optionally with a WhatsApp number."""
        created = json.loads(self.cli("accounts", "create", f"ui-{uuid.uuid4().hex[:8]}", "--json"))
        if waba is not None:
            self.cli("accounts", "add-waba", created["accountId"], waba)
        return created["accountId"], created["apiKey"]


def sign_in(page: Any, dashboard: Dashboard, api_key: str, landing: str = "/webhooks") -> None:
    """Sign in from wherever the browser is (the sign-in page or a page that redirected there)."""
    if "/dashboard/login" not in page.url:
        page.goto(dashboard.url + "/login")
    page.get_by_label("API key").fill(api_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard" + landing)


def waba_number() -> str:
    """A WhatsApp business number no other test uses (numbers are unique across accounts)."""
    return "+1555" + "".join(random.choice("0123456789") for _ in range(7))


def reload_until(page: Any, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Reload the page until `condition()` holds (the dashboard does not push updates)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:g} s on {page.url}")
        page.wait_for_timeout(300)
        page.reload()


# Every visible form control must have an accessible name (a <label> or an aria-label).
_UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button'))
  .filter(c => c.offsetParent !== null)
  .filter(c => !(c.labels && c.labels.length) && !c.getAttribute('aria-label')
               && !(c.tagName === 'BUTTON' && c.textContent.trim()))
  .map(c => c.outerHTML.slice(0, 120))"""


def capture(page: Any, name: str) -> None:
    """Screenshot the current page at desktop and phone widths, asserting that every control is
    labelled and that nothing overflows sideways."""
    unlabelled = page.evaluate(_UNLABELLED)
    assert not unlabelled, f"{name}: controls without a label: {unlabelled}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    try:
        for label, width in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": 900})
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= width, f"{name} overflows at {width} px: {scroll_width} px wide"
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}-{width}.png"), full_page=True)
    finally:
        page.set_viewport_size(original)
