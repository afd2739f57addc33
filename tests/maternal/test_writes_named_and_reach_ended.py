"""A write's audit event names every field it recorded, the free text included (never its
value), as visits, deliveries, referrals and case closures do; a page's refusal names the
record asked for; and a write that ends the writer's reach does not end on a 404 (P10)."""

from datetime import timedelta

import pytest

from mchis.audit.models import AuditEvent
from mchis.maternal.services import postpartum_visit_record, risk_grade
from tests.maternal.test_delivery import deliver

pytestmark = pytest.mark.django_db

NOTE = "产妇诉伤口疼痛，丈夫陪同"


def _write_event(p) -> AuditEvent:
    return AuditEvent.objects.filter(action="update", object_type="maternal.pregnancy", object_ids=str(p.pk)).latest(
        "id"
    )


def test_a_postpartum_visit_note_is_named_in_its_audit_event(actors, register, today):
    clinician = actors["clinician.thc1"]
    p = register(weeks=46, lmp=today - timedelta(days=310), registered_on=today - timedelta(days=200)).pregnancy
    delivered = today - timedelta(days=20)
    deliver(clinician, p, delivered, discharged_on=delivered + timedelta(days=3))
    postpartum_visit_record(
        actor=clinician, pregnancy_id=p.pk, visit_on=delivered + timedelta(days=8), kind="home_visit", note=NOTE
    )
    event = _write_event(p)
    assert "postpartum_visit.note" in event.field_name_list
    assert NOTE not in f"{event.field_names} {event.extra} {event.reason}"


def test_the_reason_of_a_raised_grading_is_named_in_its_audit_event(actors, register):
    clinician = actors["clinician.thc1"]
    p = register().pregnancy
    risk_grade(actor=clinician, pregnancy_id=p.pk, colour="orange", reason=NOTE)
    event = _write_event(p)
    assert "risk_grading.reason" in event.field_name_list
    assert NOTE not in f"{event.field_names} {event.extra} {event.reason}"


# --- pages: a refused record id is on the trail ----------------------------------------------------


def test_grading_from_a_visit_that_is_not_the_episode_s_is_a_denial_on_the_trail(login, actors, register, today):
    """A visit that is not one of the episode's answers 404 and, like a case or referral of
    another episode (`item`), the refusal names it (P10)."""
    import uuid

    from mchis.maternal.services import visit_record

    clinician = actors["clinician.thc1"]
    p = register(weeks=24).pregnancy
    elsewhere = register("clinician.other", weeks=24).pregnancy
    foreign = visit_record(actor=actors["clinician.other"], pregnancy_id=elsewhere.pk, visit_on=today).visit
    client = login("clinician.thc1")
    for asked in (foreign.pk, uuid.uuid4()):
        last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        assert client.get(f"/maternal/{p.pk}/grading/?visit={asked}").status_code == 404
        denials = AuditEvent.objects.filter(id__gt=last, action="deny", actor=clinician)
        assert [(e.object_type, e.object_ids) for e in denials] == [("maternal.antenatalvisit", str(asked))]
    # Text that is no id is refused alike, and not copied into the trail.
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    assert client.get(f"/maternal/{p.pk}/grading/?visit=a b").status_code == 404
    denials = AuditEvent.objects.filter(id__gt=last, action="deny", actor=clinician)
    assert [(e.object_type, e.object_ids) for e in denials] == [("maternal.antenatalvisit", "")]


def test_a_referral_hospital_recording_a_maternal_death_is_not_sent_to_a_not_found_page(login, actors, register, today):
    """The death closes the episode and ends the referral: the page that recorded it sends the
    hospital's clinician to the worklist, not to the episode it no longer reaches (a 404 right
    after saving reads as a failure, and puts a refusal on the trail that never was one)."""
    from mchis.maternal.models import Delivery
    from mchis.maternal.services import referral_record

    hospital = actors["clinician.mch"]
    p = register(weeks=39).pregnancy
    referral_record(
        actor=actors["clinician.thc1"],
        pregnancy_id=p.pk,
        to_institution_id=hospital.institution_id,
        referred_on=today,
        reason="delivery",
    )
    client = login("clinician.mch")
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    response = client.post(
        f"/maternal/{p.pk}/delivery/",
        {
            "delivered_at": f"{(today - timedelta(days=1)).isoformat()}T08:30",
            "place_type": "institution",
            "mode": "caesarean",
            "maternal_outcome": "died",
            "baby-TOTAL_FORMS": "1",
            "baby-INITIAL_FORMS": "0",
            "baby-0-outcome": "live_birth",
            "baby-0-sex": "2",
            "baby-0-birth_weight_g": "3000",
        },
    )
    assert response.status_code == 302
    assert Delivery.unscoped.filter(pregnancy_id=p.pk).count() == 1
    assert client.get(response["Location"]).status_code == 200
    assert not AuditEvent.objects.filter(id__gt=last, action="deny").exists()
