"""Browser tests: Playwright driving Debian's Chromium (never a browser a test tool downloads)."""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("MCHIS_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; the live server's ORM calls
    # from the test thread itself are synchronous, which Django must be told is intended.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.console_errors = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    yield page
    context.close()


@pytest.fixture
def accounts(transactional_db, settings):
    """The small demo county, loaded through the real generator: credentials by username."""
    from mchis.demo.generator import demo_load, demo_plan

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return {c["username"]: c for c in demo_load(demo_plan("small"))}


def log_in(page, live_server, account) -> list[str]:
    """The whole login in the browser, as a person does it: password, the authenticator app's
    code (P28), then the institution's security agreement when one is pending (P18).
    Returns the paths of the pages passed through before home."""
    from tests.conftest import totp_code_fresh

    passed: list[str] = []
    page.goto(live_server.url + "/accounts/login/")
    page.fill("#id_username", account["username"])
    page.fill("#id_password", account["password"])
    page.click("button[type=submit].w-100")
    page.wait_for_load_state()
    if page.url.endswith("/accounts/keys/verify/"):
        passed.append("/accounts/keys/verify/")
        page.fill("#id_code", totp_code_fresh(username=account["username"], secret=account["totp_secret"]))
        page.click("button[type=submit].w-100")
        page.wait_for_load_state()
    if page.url.endswith("/accounts/agreement/"):
        passed.append("/accounts/agreement/")
        page.check("#id_accept")
        page.click("#agreement-accept")
    page.wait_for_url(live_server.url + "/")
    return passed


def follow(page, selector) -> None:
    """Click a link or a submit button that loads another page, and return once it has loaded.
    Reading the page straight after a bare click can catch the document between the two
    pages (an empty content, or the old page's rows)."""
    with page.expect_navigation():
        page.click(selector)
