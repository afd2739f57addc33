"""The purpose of use recorded with a read of personal data is the reader's (P5): a page or
API call meant for care, opened by a county information officer, is a data quality review in
the audit trail, not "care" (tests/maternal/test_pages.py shows it on a page)."""

import pytest

from mchis.access.levels import ROLE_CLEARANCE, Level
from mchis.access.purposes import ROLE_PURPOSES, Purpose, purpose_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("username", "wanted", "recorded"),
    [
        ("clinician.thc1", Purpose.CARE, "care"),
        ("clinician.thc1", Purpose.REGISTRATION, "registration"),
        ("pmtct.mch", Purpose.CARE, "care"),
        ("info.mch", Purpose.CARE, "quality_review"),
        ("info.mch", Purpose.REGISTRATION, "quality_review"),
        ("custodian.thc1", Purpose.CARE, "quality_review"),
        ("leader.thc1", Purpose.CARE, "supervision"),
        ("inspector.county", Purpose.CARE, "supervision"),
        ("healthadmin.county", Purpose.CARE, ""),
        ("auditadmin", Purpose.CARE, ""),
    ],
)
def test_a_read_is_for_what_the_reader_s_role_reads_for(actors, username, wanted, recorded):
    assert purpose_for(actors[username], wanted=wanted) == recorded


def test_every_role_cleared_for_case_data_has_a_purpose_and_no_other_role_has_one():
    assert set(ROLE_PURPOSES) == {role for role, level in ROLE_CLEARANCE.items() if level >= Level.L3}
