"""Delivery, the babies in the person registry, postpartum care and the 42-day check (issue 5,
"Delivery" and "Postpartum")."""

from datetime import datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from mchis.maternal.models import DeliveryBaby, HighRiskCase, Pregnancy, PregnancyShare
from mchis.maternal.selectors import delivery_get, pregnancy_get
from mchis.maternal.services import (
    Baby,
    delivery_discharge_record,
    delivery_record,
    postpartum_visit_record,
    referral_record,
    risk_grade,
)
from mchis.people.models import Person, PersonLink

pytestmark = pytest.mark.django_db

LIVE_GIRL = {"outcome": "live_birth", "sex": 2, "birth_weight_g": 3200, "length_cm": 50, "apgar_1": 9, "apgar_5": 10}


def at(day, hour=10):
    """10 o'clock that day, or now if that is still to come today."""
    return min(timezone.make_aware(datetime.combine(day, time(hour, 0))), timezone.now())


def persons() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM people_person")
        return cursor.fetchone()[0]


@pytest.fixture
def term(register):
    """A woman at 39 weeks."""
    return register(weeks=39).pregnancy


def deliver(actor, p, day, **overrides):
    values = {
        "delivered_at": at(day),
        "place_type": "institution",
        "institution_id": actor.institution_id,
        "mode": "spontaneous",
        "blood_loss_ml": 200,
        "babies": [LIVE_GIRL],
    }
    values.update(overrides)
    return delivery_record(actor=actor, pregnancy_id=p.pk, **values)


def test_a_live_born_baby_becomes_a_child_linked_to_the_mother(actors, term, today):
    clinician = actors["clinician.thc1"]
    result = deliver(clinician, term, today - timedelta(days=1))
    (child,) = result.children
    assert child.document_type == "none" and child.document_number is None
    assert (child.sex, child.birth_date) == (2, today - timedelta(days=1))
    assert child.name == "王秀英之女" and child.address == "安平县某镇某村3号"
    (baby,) = result.babies
    assert (baby.child_id, baby.birth_weight_g, baby.length_cm, baby.apgar_1, baby.apgar_5) == (
        child.pk,
        3200,
        50,
        9,
        10,
    )
    # The link to the mother: the baby's record in her delivery.
    mother = DeliveryBaby.objects.visible_to(clinician).get(child=child).delivery.pregnancy.person_id
    assert mother == term.person_id
    assert PersonLink.objects.filter(person=child, institution=clinician.institution).exists()
    p = Pregnancy.objects.visible_to(clinician).get(pk=term.pk)
    assert (p.state, p.delivered_on, p.next_contact) == ("delivered", today - timedelta(days=1), "pp_home")
    assert result.delivery.gestational_days == 39 * 7 - 1


def test_twins_and_a_stillbirth(actors, term, today):
    clinician = actors["clinician.thc1"]
    before = persons()
    result = deliver(
        clinician,
        term,
        today,
        mode="caesarean",
        blood_loss_ml=1200,
        babies=[
            Baby(outcome="live_birth", sex=1, birth_weight_g=2400, apgar_1=6, apgar_5=8),
            Baby(outcome="live_birth", sex=2, birth_weight_g=2300, apgar_1=8, apgar_5=9),
            {"outcome": "stillbirth", "sex": 1, "birth_weight_g": 1900},
        ],
    )
    assert [c.name for c in result.children] == ["王秀英之长子", "王秀英之次女"]
    assert persons() == before + 2  # the stillborn baby is recorded without a person
    assert [b.child_id is None for b in result.babies] == [False, False, True]
    warned = {w.field for w in result.warnings}
    assert {"blood_loss_ml", "babies.0.birth_weight_g", "babies.0.apgar_1", "babies.1.birth_weight_g"} <= warned
    assert sorted(result.delivery.unusual) == sorted(warned)


def test_the_owner_is_linked_to_a_baby_born_at_the_referral_hospital(actors, term, today):
    township, county = actors["clinician.thc1"], actors["clinician.mch"]
    referral_record(
        actor=township,
        pregnancy_id=term.pk,
        to_institution_id=county.institution_id,
        referred_on=today,
        reason="delivery",
    )
    result = deliver(county, term, today)
    (child,) = result.children
    links = set(PersonLink.objects.filter(person=child).values_list("institution_id", flat=True))
    assert links == {county.institution_id, township.institution_id}
    # The township centre (owner) sees the delivery recorded by the hospital.
    assert delivery_get(actor=township, pregnancy_id=term.pk, purpose="care").institution_id == county.institution_id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"babies": []}, "babies"),
        ({"babies": [{**LIVE_GIRL, "birth_weight_g": 299}]}, "babies.0.birth_weight_g"),
        ({"babies": [{**LIVE_GIRL, "apgar_5": 11}]}, "babies.0.apgar_5"),
        ({"babies": [{**LIVE_GIRL, "birth_weight_g": None}]}, "babies.0.birth_weight_g"),
        ({"babies": [{**LIVE_GIRL, "sex": 3}]}, "babies.0.sex"),
        ({"blood_loss_ml": 10001}, "blood_loss_ml"),
        ({"place_type": "home"}, "institution_id"),
        ({"place_type": "institution", "institution_id": None}, "institution_id"),
        ({"mode": "natural"}, "mode"),
    ],
)
def test_refused_deliveries_save_nothing(actors, term, today, overrides, field):
    before = persons()
    with pytest.raises(ValidationError) as exc:
        deliver(actors["clinician.thc1"], term, today, **overrides)
    assert field in exc.value.message_dict, exc.value.message_dict
    assert persons() == before
    p = Pregnancy.objects.visible_to(actors["clinician.thc1"]).get(pk=term.pk)
    assert (p.state, p.version) == ("active", 1)


def test_a_delivery_before_20_weeks_is_refused_and_before_28_warned(actors, register, today):
    clinician = actors["clinician.thc1"]
    early = register(weeks=19).pregnancy
    with pytest.raises(ValidationError) as exc:
        deliver(clinician, early, today)
    assert "20 weeks" in exc.value.message_dict["delivered_at"][0]
    preterm = register(weeks=26).pregnancy
    result = deliver(clinician, preterm, today, babies=[{**LIVE_GIRL, "birth_weight_g": 900}])
    assert "delivered_at" in {w.field for w in result.warnings}


def test_a_delivery_is_recorded_once(actors, term, today):
    deliver(actors["clinician.thc1"], term, today)
    with pytest.raises(ValidationError):
        deliver(actors["clinician.thc1"], term, today)


def test_postpartum_home_visit_then_the_42_day_check_closes_the_episode(actors, register, today):
    clinician = actors["clinician.thc1"]
    p = register(weeks=46, lmp=today - timedelta(days=310), registered_on=today - timedelta(days=200)).pregnancy
    delivered = today - timedelta(days=44)
    deliver(clinician, p, delivered, discharged_on=delivered + timedelta(days=3))
    case = risk_grade(actor=clinician, pregnancy_id=p.pk, colour="orange", reason="产后高血压").high_risk_case
    home = postpartum_visit_record(
        actor=clinician,
        pregnancy_id=p.pk,
        visit_on=delivered + timedelta(days=10),
        kind="home_visit",
        systolic_bp=118,
        diastolic_bp=76,
        breastfeeding="exclusive",
    )
    assert home.visit.contact == "pp_home" and home.visit.days_postpartum == 10 and not home.closed
    assert Pregnancy.objects.visible_to(clinician).get(pk=p.pk).next_contact == "pp42"
    with pytest.raises(ValidationError) as exc:
        postpartum_visit_record(
            actor=clinician, pregnancy_id=p.pk, visit_on=delivered + timedelta(days=41), kind="check_42"
        )
    assert "day 42" in exc.value.message_dict["visit_on"][0]
    check = postpartum_visit_record(
        actor=clinician, pregnancy_id=p.pk, visit_on=delivered + timedelta(days=42), kind="check_42", finding="normal"
    )
    assert check.closed and check.visit.contact == "pp42"
    closed = Pregnancy.objects.visible_to(clinician).get(pk=p.pk)
    assert (closed.state, closed.ended_on) == ("closed", delivered + timedelta(days=42))
    assert (closed.next_contact, closed.next_contact_due) == ("", None)
    assert not HighRiskCase.objects.visible_to(clinician).get(pk=case.pk).is_open
    with pytest.raises(ValidationError):
        postpartum_visit_record(actor=clinician, pregnancy_id=p.pk, visit_on=today, kind="home_visit")
    view = pregnancy_get(actor=clinician, pregnancy_id=p.pk, purpose="care")
    assert [v.kind for v in view.postpartum_visits] == ["home_visit", "check_42"]
    assert [c.status for c in view.schedule] == ["done", "done"]


def test_a_late_home_visit_is_accepted_with_a_warning(actors, term, today):
    clinician = actors["clinician.thc1"]
    deliver(clinician, term, today - timedelta(days=12))
    result = postpartum_visit_record(actor=clinician, pregnancy_id=term.pk, visit_on=today, kind="home_visit")
    assert result.visit.contact == "" and "one week" in result.warnings[0].message


def test_the_discharge_starts_the_home_visit_week(actors, term, today):
    clinician = actors["clinician.thc1"]
    deliver(clinician, term, today - timedelta(days=3))
    p = Pregnancy.objects.visible_to(clinician).get(pk=term.pk)
    assert p.next_contact_due == today - timedelta(days=3) + timedelta(days=7)
    delivery_discharge_record(actor=clinician, pregnancy_id=term.pk, discharged_on=today)
    p = Pregnancy.objects.visible_to(clinician).get(pk=term.pk)
    assert (p.next_contact_start, p.next_contact_due) == (today, today + timedelta(days=7))


def test_a_maternal_death_ends_the_episode(actors, term, today):
    clinician = actors["clinician.thc1"]
    referral_record(
        actor=clinician,
        pregnancy_id=term.pk,
        to_institution_id=actors["clinician.mch"].institution_id,
        referred_on=today,
        reason="emergency",
    )
    deliver(clinician, term, today, maternal_outcome="died")
    p = Pregnancy.objects.visible_to(clinician).get(pk=term.pk)
    assert (p.state, p.end_reason, p.next_contact_due) == ("ended", "maternal_death", None)
    assert not PregnancyShare.objects.filter(pregnancy=term, ended_at__isnull=True).exists()
    assert Person.objects.visible_to(clinician).filter(pk__in=[term.person_id]).exists()
