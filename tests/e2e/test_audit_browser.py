"""An auditor answers a complaint in a real browser: who looked at this woman's records (P10)?"""

from datetime import date

import pytest

from mchis.accounts.models import User
from mchis.audit.models import AuditEvent
from mchis.people.identifiers import id_make
from mchis.people.selectors import person_find_by_document
from mchis.people.services import person_register
from tests.e2e.conftest import follow, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_auditor_finds_who_looked_at_her_records_by_her_number(live_server, page, accounts):
    number = id_make(area_code="410121", born=date(1992, 4, 5), sequence=48)
    clinician = User.objects.get(username="clinician.thc1")
    person_register(
        actor=clinician,
        institution=clinician.institution,
        document_type="resident_id",
        document_number=number,
        name="周丽娟",
        sex=2,
        birth_date=date(1992, 4, 5),
    )
    person_find_by_document(actor=clinician, document_number=number, purpose="care")

    log_in(page, live_server, accounts["auditadmin"])
    follow(page, "a[href='/audit/']")
    follow(page, "a[href='/audit/person/']")
    page.fill("#id_document_number", number.lower())
    page.fill("#id_reason", "投诉 2026-118")
    follow(page, "button:has-text('查找')")

    rows = page.locator("tbody tr")
    assert rows.count() >= 3  # her registration, the clinician's lookup, the auditor's own
    text = page.locator("tbody").inner_text()
    assert "clinician.thc1" in text and "auditadmin" in text
    # Metadata only: neither her name nor her number is on the auditor's page or in its URL.
    assert "周丽娟" not in page.content() and number not in page.content() and number not in page.url
    assert AuditEvent.objects.filter(actor_username="auditadmin", reason="投诉 2026-118").exists()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors
