"""A real browser logs in and moves around the shell, under the strict CSP."""

import pytest

from tests.e2e.conftest import follow, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_log_in_see_jurisdiction_and_switch_language(live_server, page, accounts):
    page.goto(live_server.url + "/")
    assert page.url.startswith(live_server.url + "/accounts/login/")
    assert page.locator(".demo-banner").is_visible()
    # Password, electronic key, then the security agreement the demo publishes (P18, P28).
    assert log_in(page, live_server, accounts["info.mch"]) == ["/accounts/keys/verify/", "/accounts/agreement/"]
    assert "妇幼信息管理员" in page.content()

    follow(page, "text=本机构")
    assert accounts["info.mch"]["institution_code"] in page.content()

    follow(page, "text=辖区机构")
    page.select_option("select[name=kind]", "township_health_centre")
    follow(page, "text=筛选")
    assert page.locator("tbody tr").count() >= 1
    assert "乡镇卫生院" in page.locator("tbody").inner_text()

    page.click("button[lang=en]")
    page.wait_for_selector("text=Log out")
    assert page.locator("html").get_attribute("lang") == "en"

    # Bootstrap loaded from our own server, no CSP violation reported by the browser.
    assert page.evaluate("getComputedStyle(document.querySelector('.navbar')).display") == "flex"
    assert page.evaluate("typeof htmx") == "object"
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_an_english_browser_gets_chinese_until_it_switches(live_server, browser, accounts):
    # The browser asks for English (Accept-Language: en-US); the system is Chinese by default.
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        page.goto(live_server.url + "/accounts/login/")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        assert page.locator("h1").inner_text() == "登录"
        page.click("button[lang=en]")
        page.wait_for_selector("html[lang=en]")
        assert page.locator("h1").inner_text() == "Log in"
        # The choice stays for the next pages.
        page.goto(live_server.url + "/accounts/login/")
        assert page.locator("html").get_attribute("lang") == "en"
    finally:
        context.close()


CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_api_docs_render_under_the_strict_csp(live_server, page, accounts):
    # Registered before any document loads, so a violation during the docs' start-up is caught.
    page.context.add_init_script(CSP_VIOLATIONS)
    log_in(page, live_server, accounts["info.mch"])
    page.goto(live_server.url + "/api/v1/docs/")
    # Swagger UI drew the schema it fetched: the title and the operations of a resource.
    page.wait_for_selector(".swagger-ui .info .title")
    assert "mchis API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".swagger-ui .opblock-tag")
    assert page.locator(".swagger-ui .opblock-tag", has_text="institutions").first.is_visible()
    assert page.evaluate("window.cspViolations") == []
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors
    # The page's own look, from the stylesheet served by our server (not an inline <style>).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
