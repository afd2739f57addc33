"""A clinician registers a pregnancy, records a visit and finds the woman on her worklist, in a
real browser (issue 5, "Tests")."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from mchis.people.identifiers import id_make
from tests.e2e.conftest import follow, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_register_record_a_visit_and_find_her_on_the_worklist(live_server, page, accounts):
    today = timezone.localdate()
    number = id_make(area_code="410121", born=date(1993, 6, 7), sequence=58)
    log_in(page, live_server, accounts["clinician.thc1"])
    follow(page, "a.nav-link[href='/maternal/']")
    follow(page, "a[href='/maternal/register/']")
    page.fill("#id_document_number", number)
    page.click("button[type=submit].btn-primary")
    page.wait_for_selector("#id_lmp")
    page.fill("#id_name", "周雅琴")
    page.fill("#id_birth_date", "1993-06-07")
    page.fill("#id_phone", "139 0000 2222")
    # Due today: the EDD falls in this month whatever day the test runs.
    page.fill("#id_lmp", (today - timedelta(days=280)).isoformat())
    page.fill("#id_gravidity", "2")
    page.fill("#id_parity", "1")
    page.click("button[type=submit].btn-primary")
    page.wait_for_selector("a[href$='/visit/']")
    assert number in page.content() and "周雅琴" in page.content()  # her own page: full identity

    page.click("a[href$='/visit/']")
    page.fill("#id_systolic_bp", "300")
    page.click("button[type=submit].btn-primary")
    page.wait_for_selector(".field-error")  # impossible: refused, nothing saved
    page.fill("#id_systolic_bp", "118")
    page.fill("#id_diastolic_bp", "76")
    page.fill("#id_hb_g_l", "121")
    page.fill("#id_fetal_heart_rate", "140")
    page.click("button[type=submit].btn-primary")
    page.wait_for_selector("a[href$='/grading/']")
    assert "118/76" in page.content()

    follow(page, "a.nav-link[href='/maternal/']")
    follow(page, "a[href='?list=deliveries']")
    row = page.locator("tbody tr", has_text="周*琴")
    assert row.count() == 1
    assert number not in page.content() and "周雅琴" not in page.content()
    row.locator("a").click()
    page.wait_for_selector("a[href$='/visit/']")
    assert "周雅琴" in page.content()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


def test_triplets_are_recorded_with_javascript_off(live_server, browser, accounts):
    """The delivery form grows to three babies with its own buttons, no script needed (CSP)."""
    from mchis.accounts.models import User
    from mchis.maternal.services import pregnancy_register

    today = timezone.localdate()
    clinician = User.objects.get(username="clinician.thc1")
    p = pregnancy_register(
        actor=clinician,
        institution=clinician.institution,
        document_type="resident_id",
        document_number=id_make(area_code="410121", born=date(1992, 1, 2), sequence=64),
        name="郑雪梅",
        birth_date=date(1992, 1, 2),
        lmp=today - timedelta(weeks=35),
        gravidity=1,
        parity=0,
    ).pregnancy
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, accounts["clinician.thc1"])
        page.goto(f"{live_server.url}/maternal/{p.pk}/delivery/")
        page.fill("#id_delivered_at", f"{(today - timedelta(days=1)).isoformat()}T06:10")
        page.select_option("#id_mode", "caesarean")
        for n in (2, 3):
            page.click("button[name=babies_resize][value=add]")
            page.wait_for_selector(f"#id_baby-{n - 1}-outcome")
        assert page.input_value("#id_delivered_at").endswith("T06:10")  # kept across the posts
        for i, weight in enumerate(("2100", "1950", "2230")):
            page.select_option(f"#id_baby-{i}-outcome", "live_birth")
            page.select_option(f"#id_baby-{i}-sex", "2" if i else "1")
            page.fill(f"#id_baby-{i}-birth_weight_g", weight)
        page.click("button[type=submit].btn-primary")
        page.wait_for_url(f"{live_server.url}/maternal/{p.pk}/")
        content = page.content()
        assert all(w in content for w in ("2100", "1950", "2230"))
        assert f"/maternal/{p.pk}/discharge/" in content  # delivered without a discharge date
    finally:
        context.close()
