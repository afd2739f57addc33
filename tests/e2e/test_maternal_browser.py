"""A clinician registers a pregnancy, records a visit and finds the woman on her worklist, in a
real browser (issue 5, "Tests")."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from mchis.demo.generator import demo_load, demo_plan
from mchis.people.identifiers import id_make
from tests.e2e.conftest import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def accounts(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return {c["username"]: c for c in demo_load(demo_plan("small"))}


def test_register_record_a_visit_and_find_her_on_the_worklist(live_server, page, accounts):
    today = timezone.localdate()
    number = id_make(area_code="410121", born=date(1993, 6, 7), sequence=58)
    log_in(page, live_server, accounts["clinician.thc1"])
    page.click("a.nav-link[href='/maternal/']")
    page.click("a[href='/maternal/register/']")
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

    page.click("a.nav-link[href='/maternal/']")
    page.click("a[href='?list=deliveries']")
    row = page.locator("tbody tr", has_text="周*琴")
    assert row.count() == 1
    assert number not in page.content() and "周雅琴" not in page.content()
    row.locator("a").click()
    page.wait_for_selector("a[href$='/visit/']")
    assert "周雅琴" in page.content()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors
