"""The console in a real browser (Debian's Chromium, driven by Playwright), on the console that
`lead-router demo` serves last: signing in, every page, finding a demo lead, testing a lead,
a draft from edit to apply, and what a viewer, an anonymous visitor and a forged request get.

LEAD_ROUTER_SCREENSHOTS=<folder> saves a full-page PNG of each page there (the README's).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest
from consolekit import ConsoleLogins, running
from streamkit import settings_env

from processor.demo.leads import sample_leads
from processor.settings import Settings

pytestmark = pytest.mark.integration

playwright_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is not installed: pip install -e '.[dev]' (make test does)",
)
Browser = playwright_api.Browser
Page = playwright_api.Page
expect = playwright_api.expect

CHROMIUM = Path(os.environ.get("LEAD_ROUTER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The machine may have no network: without these Chromium keeps calling home and failing.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LEADS = 300
WAIT_MS = 20_000
DELIVERED_PARTNER = "metro-manhattan"
SCREENSHOTS = os.environ.get("LEAD_ROUTER_SCREENSHOTS")


@pytest.fixture(scope="module")
def console(
    module_stream_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleLogins]:
    """The demo's console, on the test broker, for the whole module; SIGTERM ends it (exit 0)."""
    settings = module_stream_settings.with_changes(
        receipts_topic=f"receipts-{module_stream_settings.kafka.group_id}"
    )
    env = settings_env(settings)
    del env["LEAD_ROUTER_METRICS_PORT"]
    env["LEAD_ROUTER_CONSOLE_PORT"] = "0"
    folder = tmp_path_factory.mktemp("demo")
    with running(["demo", "--leads", str(LEADS), "--bad-records", "3"], env, folder) as demo:
        logins = demo.console(timeout=300)
        yield logins
        assert demo.terminate() == 0, demo.stderr.read_text()[-3000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make test` installs it (apt-get install chromium "
            "chromium-driver, as root or with sudo); LEAD_ROUTER_CHROMIUM names another"
        )
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def anonymous(browser: Browser) -> Iterator[Page]:
    """A page of a fresh browser context: no cookies, no session."""
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def editor(anonymous: Page, console: ConsoleLogins) -> Page:
    sign_in(anonymous, console, *console.editor)
    return anonymous


@pytest.fixture
def viewer(anonymous: Page, console: ConsoleLogins) -> Page:
    sign_in(anonymous, console, *console.viewer)
    return anonymous


def sign_in(page: Page, console: ConsoleLogins, name: str, password: str) -> None:
    page.goto(f"{console.url}/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#sign-in")
    expect(page.locator("#signed-in-as")).to_contain_text(name)


def screenshot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def wait_indexed(page: Page, console: ConsoleLogins, decisions: int) -> None:
    """Polls the Health page until the console's index holds ``decisions`` decisions."""
    deadline = time.monotonic() + 60
    indexed = 0
    while indexed < decisions:
        assert time.monotonic() < deadline, f"the index holds {indexed} of {decisions} decisions"
        page.goto(f"{console.url}/health")
        indexed = int(page.locator("#decisions-indexed").inner_text())
        if indexed < decisions:
            page.wait_for_timeout(250)


def test_signing_in_works_over_plain_http_on_loopback(editor: Page, console: ConsoleLogins) -> None:
    """The session cookie is Secure; Chromium keeps it for http://127.0.0.1 all the same."""
    cookies = editor.context.cookies(console.url)
    assert [c["secure"] for c in cookies if c["name"] == "lead_router_console"] == [True]
    editor.goto(f"{console.url}/health")
    expect(editor.locator("h1")).to_have_text("Health")


@pytest.mark.parametrize(
    ("path", "heading", "shot"),
    [
        ("/routing", "Routing", "routing"),
        ("/test", "Test a lead", "test"),
        ("/logs", "Distribution logs", "logs"),
        ("/receipts", "Receipts", "receipts"),
        ("/health", "Health", "health"),
    ],
)
def test_each_page_opens_with_its_heading(
    editor: Page, console: ConsoleLogins, path: str, heading: str, shot: str
) -> None:
    if path == "/health":
        wait_indexed(editor, console, LEADS)
    editor.goto(console.url + path)
    expect(editor.locator("h1")).to_contain_text(heading)
    screenshot(editor, shot)


def test_health_shows_the_demo_rules_its_index_and_dead_letters(
    editor: Page, console: ConsoleLogins
) -> None:
    wait_indexed(editor, console, LEADS)
    expect(editor.locator("#version-in-force")).to_have_text(re.compile(r"\d+"))
    expect(editor.locator("#lag-total")).to_have_text("0")
    expect(editor.locator("table#dead-letters tbody tr")).not_to_have_count(0)
    editor.locator("table#dead-letters a").first.click()
    expect(editor.locator("h2#leadrouterdeadletterratehigh")).to_be_visible()


def test_a_demo_lead_is_found_by_id_and_by_partner(editor: Page, console: ConsoleLogins) -> None:
    lead_id = next(islice(sample_leads(LEADS), 0, None))["lead_id"]
    wait_indexed(editor, console, LEADS)
    editor.goto(f"{console.url}/logs")
    editor.fill("#search-lead", lead_id)
    editor.click("#search-button")
    expect(editor.locator("#log-results")).to_contain_text(lead_id)
    editor.goto(f"{console.url}/logs")
    editor.fill("#search-partner", DELIVERED_PARTNER)
    editor.click("#search-button")
    expect(editor.locator("#log-results")).to_contain_text(DELIVERED_PARTNER)
    editor.locator("#log-results a[href^='/leads/']").first.click()
    expect(editor.locator("h1")).to_be_visible()
    assert "/leads/" in editor.url
    screenshot(editor, "lead")


def test_testing_a_lead_explains_its_decision(editor: Page, console: ConsoleLogins) -> None:
    editor.goto(f"{console.url}/test")
    expect(editor.locator("#lead-json")).not_to_be_empty()
    editor.click("#test-lead")
    expect(editor.locator("#outcome")).to_have_text(
        re.compile("routed|fallback|unroutable|duplicate|rejected")
    )
    expect(editor.locator("#explanation")).not_to_be_empty()


def test_an_editor_edits_a_draft_sees_its_what_if_and_applies_it(
    editor: Page, console: ConsoleLogins
) -> None:
    editor.on("dialog", lambda dialog: dialog.accept())  # Apply asks to confirm
    editor.goto(f"{console.url}/draft")
    draft = editor.locator("#draft-text").input_value()
    raised = re.sub(r"leads: 3\b", "leads: 6", draft, count=1)  # Prime Lending's daily cap
    assert raised != draft, draft[:2000]
    editor.fill("#draft-text", raised)
    editor.click("#save-draft")
    expect(editor.locator("#draft-text")).to_have_value(raised)
    editor.click("#validate-draft")
    expect(editor.locator("main")).to_contain_text("valid")
    editor.fill("#what-if-span", "24h")
    editor.click("#what-if")
    expect(editor.locator("#what-if-changes")).to_be_visible(timeout=60_000)
    screenshot(editor, "what-if")
    editor.click("#apply-draft")
    expect(editor.locator("main")).to_contain_text("applied")
    editor.goto(f"{console.url}/routing/history")
    expect(editor.locator("table#history")).to_contain_text(console.editor[0])
    screenshot(editor, "history")


def test_a_viewer_cannot_apply(viewer: Page, console: ConsoleLogins) -> None:
    viewer.goto(f"{console.url}/draft")
    apply = viewer.locator("#apply-draft")
    assert apply.count() == 0 or apply.is_disabled()
    token = viewer.locator("input[name=csrf_token]").first.get_attribute("value")
    answer = viewer.request.post(
        f"{console.url}/draft/apply", form={"csrf_token": token or "", "text": "profiles: []"}
    )
    assert answer.status == 403


def test_an_anonymous_visitor_gets_the_login_page(anonymous: Page, console: ConsoleLogins) -> None:
    anonymous.goto(f"{console.url}/logs?lead_id=x")
    expect(anonymous.locator("h1")).to_have_text("Sign in")
    assert anonymous.url == f"{console.url}/login?next=%2Flogs%3Flead_id%3Dx"


def test_a_post_without_the_csrf_token_is_refused(editor: Page, console: ConsoleLogins) -> None:
    answer = editor.request.post(f"{console.url}/logout", form={"next": "/"})
    assert answer.status == 403
    assert "Refused" in answer.text()
    editor.goto(f"{console.url}/health")  # still signed in: the forged sign-out did nothing
    expect(editor.locator("h1")).to_have_text("Health")


def test_chromium_is_the_distributions() -> None:
    """The browser tests must run Debian's Chromium, never a downloaded one."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    assert shutil.which(str(CHROMIUM)) is not None
