"""The browser tests' fixtures: Debian's Chromium (headless) driven by Playwright, on the
session's one stack (tests/conftest.py ``stack``, with the app and the test accounts of
tests/e2e/accounts.yaml).

Every browser test gets :class:`Browser` (``browser``): a new page at phone size
(390×844) or any other, signed in as a test account; :meth:`Browser.check_accessible`
runs axe-core in the page and fails on a serious or critical violation; and
:meth:`Browser.screenshot` saves the page under ``reports/browser/``. Reuse them for every
page: ``browser.page(user="mgr-field")``, then ``check_accessible`` and ``screenshot``.

Chromium and axe-core come from ``tools/install.sh browser`` (installed once per
machine, cached); Playwright never downloads a browser.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import harness

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
REPORTS = harness.ROOT / "reports" / "browser"
ACCOUNTS = harness.ROOT / "tests" / "e2e" / "accounts.yaml"
# Headless Chromium in a container: no sandbox (no user namespaces), no GPU, and nothing
# that phones home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions"]


def test_passwords() -> dict[str, str]:
    """Each test account's password by user name (tests/e2e/accounts.yaml)."""
    seed = yaml.safe_load(ACCOUNTS.read_text())
    org = yaml.safe_load((ACCOUNTS.parent / seed["org_file"]).read_text())["org"]
    passwords = {f"mgr-{t['id']}": seed["passwords"]["manager"] for t in org["teams"]}
    passwords |= {r["id"]: seed["passwords"]["rep"] for r in org["reps"]}
    passwords |= {a["username"]: a["password"] for a in seed["accounts"]}
    return passwords


@dataclass(frozen=True)
class Tools:
    chromium: str
    axe_js: Path


@pytest.fixture(scope="session")
def browser_tools() -> Tools:
    """Chromium and axe-core, installed by the project's own script (once per machine)."""
    done = subprocess.run([str(harness.ROOT / "tools" / "install.sh"), "browser"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"tools/install.sh browser failed:\n{done.stdout}\n{done.stderr}"
    chromium, modules = done.stdout.strip().splitlines()[-2:]
    return Tools(chromium, Path(modules) / "axe-core" / "axe.min.js")


@pytest.fixture(scope="module")
def chromium(browser_tools: Tools, stack: harness.Stack) -> Iterator[Any]:
    """One headless Chromium per test module (Playwright gives it a fresh temporary
    profile); each page gets a new context, so no two sign-ins share cookies.

    Playwright's sync API runs an event loop in this thread while it lives: the stack
    (whose set-up calls ``asyncio.run``) is started first, and Playwright stops with the
    module, before the next module's fixtures run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_tools.chromium, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Browser:
    """Pages of the app, signed in as test accounts, with the checks every page gets."""

    chromium: Any
    app_url: str
    tools: Tools
    passwords: dict[str, str] = field(default_factory=test_passwords)
    contexts: list[Any] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def page(self, user: str | None = None, viewport: dict[str, int] = PHONE) -> Any:
        """A new page (its own cookies) at ``viewport``; signed in as ``user`` when given."""
        context = self.chromium.new_context(viewport=viewport, base_url=self.app_url, locale="en-GB",
                                            timezone_id="UTC")
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("response", lambda r: self._time(r))
        if user is not None:
            self.sign_in(page, user)
        return page

    def sign_in(self, page: Any, user: str, password: str | None = None) -> None:
        page.goto("/signin")
        page.get_by_label("User name").fill(user)
        page.get_by_label("Password").fill(password if password is not None else self.passwords[user])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    def _time(self, response: Any) -> None:
        timing = response.headers.get("server-timing", "")
        if timing.startswith("app;dur="):
            path = response.url.removeprefix(self.app_url)
            self.timings.append((f"{response.request.method} {path.split('?')[0]}", float(timing[8:])))

    def check_accessible(self, page: Any, what: str) -> None:
        """axe-core in the page: no serious or critical violation (WCAG 2 A/AA rules and best practices)."""
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(path=str(self.tools.axe_js))
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }""")
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe-core on {what}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
                                                           for v in bad)

    def screenshot(self, page: Any, name: str) -> Path:
        """The page as it looks, under reports/browser/<name>.png (the whole page)."""
        REPORTS.mkdir(parents=True, exist_ok=True)
        path = REPORTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@pytest.fixture
def browser(chromium: Any, stack: harness.Stack, browser_tools: Tools) -> Iterator[Browser]:
    """Pages of the session's app; each test's pages closed after it, their server times printed."""
    kit = Browser(chromium, stack.url("app"), browser_tools)
    started = time.monotonic()
    yield kit
    kit.close()
    if kit.timings:
        print(f"\n[browser] server time per page (ms), {len(kit.timings)} responses in "
              f"{time.monotonic() - started:.1f}s:")
        for what, ms in kit.timings:
            print(f"  {ms:7.1f}  {what}")
