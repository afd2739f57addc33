"""The episode's version: bumped once by every change, checked when the caller sends one (the
API's ETag / If-Match: a stale version changes nothing)."""

from datetime import timedelta

import pytest

from mchis.audit.models import AuditEvent
from mchis.maternal.errors import VersionConflict
from mchis.maternal.models import AntenatalVisit, Pregnancy
from mchis.maternal.services import (
    pregnancy_update,
    referral_record,
    risk_grade,
    transfer_request,
    visit_record,
)

pytestmark = pytest.mark.django_db


def version(actor, p) -> int:
    return Pregnancy.objects.visible_to(actor).get(pk=p.pk).version


def test_every_change_bumps_the_version_once(actors, register, today):
    thc1 = actors["clinician.thc1"]
    p = register().pregnancy
    assert version(thc1, p) == 1
    result = visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today, expected_version=1)
    assert result.pregnancy_version == version(thc1, p) == 2
    assert risk_grade(actor=thc1, pregnancy_id=p.pk, expected_version=2).pregnancy_version == 3
    assert pregnancy_update(actor=thc1, pregnancy_id=p.pk, expected_version=3, gravidity=2).pregnancy_version == 4
    change = referral_record(
        actor=thc1,
        pregnancy_id=p.pk,
        to_institution_id=actors["clinician.mch"].institution_id,
        referred_on=today,
        reason="specialist",
    )
    assert change.pregnancy_version == 5
    # Nothing to change: no new version.
    assert pregnancy_update(actor=thc1, pregnancy_id=p.pk, gravidity=2).pregnancy_version == 5


def test_a_stale_version_changes_nothing(actors, register, today):
    thc1 = actors["clinician.thc1"]
    p = register().pregnancy
    visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today)
    events = AuditEvent.objects.count()
    with pytest.raises(VersionConflict) as exc:
        visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today, hb_g_l=100, expected_version=1)
    assert (exc.value.current, exc.value.expected) == (2, 1)
    assert AntenatalVisit.objects.visible_to(thc1).filter(pregnancy_id=p.pk).count() == 1
    for call in (
        lambda: risk_grade(actor=thc1, pregnancy_id=p.pk, expected_version=1),
        lambda: pregnancy_update(actor=thc1, pregnancy_id=p.pk, expected_version=1, parity=0),
        lambda: transfer_request(
            actor=thc1,
            pregnancy_id=p.pk,
            to_institution_id=actors["clinician.thc2"].institution_id,
            expected_version=1,
        ),
    ):
        with pytest.raises(VersionConflict):
            call()
    assert version(thc1, p) == 2 and AuditEvent.objects.count() == events


def test_the_version_is_bumped_by_each_of_two_writers_in_turn(actors, register, today):
    thc1 = actors["clinician.thc1"]
    p = register().pregnancy
    seen = version(thc1, p)
    visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today - timedelta(days=1), expected_version=seen)
    with pytest.raises(VersionConflict):
        visit_record(actor=thc1, pregnancy_id=p.pk, visit_on=today, expected_version=seen)
