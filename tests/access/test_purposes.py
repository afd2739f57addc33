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


def _selectors_taking_a_purpose():
    import importlib
    import inspect
    import pkgutil

    import mchis

    for info in pkgutil.walk_packages(mchis.__path__, "mchis."):
        if not info.name.endswith(".selectors"):
            continue
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_"):
                if "purpose" in inspect.signature(fn).parameters:
                    yield f"{info.name}.{name}", fn


def test_every_selector_that_takes_a_purpose_checks_it():
    found = dict(_selectors_taking_a_purpose())
    assert "mchis.people.selectors.person_get" in found and "mchis.maternal.selectors.pregnancy_get" in found
    unchecked = [name for name, fn in found.items() if not getattr(fn, "reads_for_purpose", False)]
    assert not unchecked, unchecked


@pytest.mark.parametrize(
    ("username", "purpose", "key"), [("info.mch", "care", "P_a"), ("leader.thc1", "quality_review", "P_b")]
)
def test_a_read_for_a_purpose_not_among_the_reader_s_is_refused_as_not_found(actors, persons, username, purpose, key):
    from mchis.access.errors import RecordNotFound
    from mchis.audit.models import AuditEvent
    from mchis.people.selectors import person_get

    actor = actors[username]
    person = persons[key]  # in the reader's reach
    with pytest.raises(RecordNotFound):
        person_get(actor=actor, person_id=person.pk, purpose=purpose)
    denial = AuditEvent.objects.filter(actor=actor, action="deny").latest("id")
    assert denial.purpose == purpose and "purpose" in denial.reason
    assert not AuditEvent.objects.filter(actor=actor, action="read").exists()
    # The reader's own purpose opens the same record.
    assert person_get(actor=actor, person_id=person.pk, purpose=purpose_for(actor)).id == person.pk
