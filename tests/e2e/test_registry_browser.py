"""A clinician registers a woman and finds her again by ID number, in a real browser."""

from datetime import date

import pytest

from mchis.people.identifiers import id_make
from tests.e2e.conftest import follow, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_register_then_find_by_id_number(live_server, page, accounts):
    number = id_make(area_code="410121", born=date(1994, 8, 9), sequence=36)
    log_in(page, live_server, accounts["clinician.thc1"])
    page.click("text=人员")
    page.click("text=登记人员")
    page.select_option("#id_document_type", "resident_id")
    page.fill("#id_document_number", number)
    page.fill("#id_name", "林晓梅")
    page.fill("#id_birth_date", "1994-08-09")
    page.fill("#id_phone", "139 0000 1111")
    page.click("button[type=submit].btn-primary")
    page.wait_for_selector("text=登记成功")
    assert number in page.content() and "林晓梅" in page.content()

    follow(page, "text=人员")
    page.fill("input[name=q]", number.lower())
    follow(page, "button:has-text('搜索')")
    row = page.locator("tbody tr").first
    assert "林*梅" in row.inner_text() and number not in page.content()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors
