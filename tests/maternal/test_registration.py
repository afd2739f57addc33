"""Registration (建册): dating, history, the woman found not duplicated, one open episode (P14, P15)."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from mchis.access.errors import NotAllowed
from mchis.audit.models import AuditEvent
from mchis.maternal.models import Pregnancy
from mchis.maternal.services import pregnancy_register, pregnancy_update, visit_record
from mchis.people.models import PersonLink

pytestmark = pytest.mark.django_db


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 (test table names)
        return cursor.fetchone()[0]


def test_registration_dates_the_pregnancy_from_the_lmp(register, today):
    reg = register(weeks=10)
    p = reg.pregnancy
    assert p.dating_basis == "lmp"
    assert p.edd == p.lmp + timedelta(days=280)
    assert p.owner_institution == p.registering_institution
    assert (p.state, p.version, p.next_contact) == ("active", 1, "anc1")
    assert p.next_contact_due == p.lmp + timedelta(days=90)  # 12+6


def test_an_early_ultrasound_dates_it_when_given(register, today):
    scan = today - timedelta(days=7)
    reg = register(lmp=None, ultrasound_on=scan, ultrasound_ga_days=63)
    assert reg.pregnancy.dating_basis == "ultrasound"
    assert reg.pregnancy.edd == scan + timedelta(days=280 - 63)
    assert reg.warnings == []


def test_an_lmp_far_from_the_scan_and_a_late_scan_are_warned_about(register, today):
    scan = today - timedelta(days=1)
    reg = register(lmp=today - timedelta(days=120), ultrasound_on=scan, ultrasound_ga_days=105)
    assert {w.field for w in reg.warnings} == {"lmp", "ultrasound_ga_days"}
    assert reg.pregnancy.edd == scan + timedelta(days=175)


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"lmp": None}, "lmp", "last menstrual period or an early ultrasound"),
        ({"lmp": None, "ultrasound_on": date(2026, 1, 1)}, "ultrasound_ga_days", "gestational age"),
        ({"ultrasound_ga_days": 20, "ultrasound_on": date(2026, 1, 1)}, "ultrasound_ga_days", "between 35 and 160"),
        ({"weeks": 44}, "lmp", "under 43 weeks"),
        ({"weeks": -1}, "lmp", "future"),
        ({"gravidity": 0}, "gravidity", "at least 1"),
        ({"gravidity": 2, "parity": 1, "prior_abortions": 1}, "parity", "previous pregnancies (1)"),
        ({"gravidity": 3, "parity": 1, "prior_preterm_births": 2}, "prior_preterm_births", "parity"),
        ({"gravidity": 2, "parity": 1, "prior_caesareans": 2}, "prior_caesareans", "parity"),
        ({"last_uterine_surgery_on": date(2024, 1, 1)}, "last_uterine_surgery_on", "no previous caesarean"),
        ({"height_cm": 250}, "height_cm", "between 120 and 200"),
        ({"conditions": ["asthma", "flu"]}, "conditions", "flu"),
        ({"birth_date": date(2020, 1, 1)}, "birth_date", None),
        ({"name": ""}, "name", "required"),
    ],
)
def test_refusals_name_the_field_and_save_nothing(actors, register, overrides, field, text):
    persons, pregnancies, events = count("people_person"), count("maternal_pregnancy"), AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        register(**overrides)
    messages = exc.value.message_dict
    assert field in messages, messages
    if text:
        assert any(text in m for m in messages[field]), messages[field]
    assert (count("people_person"), count("maternal_pregnancy"), AuditEvent.objects.count()) == (
        persons,
        pregnancies,
        events,
    )


def test_a_man_s_id_number_is_refused(actors, register, number, today):
    from mchis.people.identifiers import id_make

    male = id_make(area_code="410121", born=date(1990, 1, 1), sequence=1)
    with pytest.raises(ValidationError) as exc:
        register(document_number=male, born=date(1990, 1, 1), birth_date=date(1990, 1, 1))
    assert "sex" in exc.value.message_dict


def test_a_woman_already_registered_in_the_county_is_found_not_duplicated(actors, register, number):
    """She is in the registry at a township centre; the county MCH hospital registers her pregnancy."""
    from mchis.people.services import person_register

    doc = number()
    person, _ = person_register(
        actor=actors["clinician.thc1"],
        institution=actors["clinician.thc1"].institution,
        document_type="resident_id",
        document_number=doc,
        name="王秀英",
        sex=2,
        birth_date=date(1995, 3, 4),
    )
    before = count("people_person")
    reg = register("clinician.mch", document_number=doc.lower() if doc.endswith("X") else doc, name="王秀英")
    assert not reg.person_created and reg.person.pk == person.pk and reg.pregnancy.person_id == person.pk
    assert count("people_person") == before
    assert set(PersonLink.objects.filter(person=person).values_list("institution_id", flat=True)) == {
        actors["clinician.thc1"].institution_id,
        actors["clinician.mch"].institution_id,
    }


def test_registration_by_person_id(actors, persons, register, today):
    reg = pregnancy_register(
        actor=actors["clinician.thc1"],
        institution=actors["clinician.thc1"].institution,
        person_id=persons["P_b"].pk,
        lmp=today - timedelta(weeks=8),
        gravidity=1,
        parity=0,
    )
    assert reg.pregnancy.person_id == persons["P_b"].pk and not reg.person_created


def test_a_second_open_episode_is_refused_even_at_another_institution(actors, register, number):
    doc = number()
    first = register("clinician.thc1", document_number=doc)
    pregnancies = count("maternal_pregnancy")
    with pytest.raises(ValidationError) as exc:
        register("clinician.thc2", document_number=doc)
    assert "person" in exc.value.message_dict and "transfer" in exc.value.message_dict["person"][0]
    assert count("maternal_pregnancy") == pregnancies
    # Nor was she linked to the second centre: the whole registration rolled back.
    assert not PersonLink.objects.filter(person=first.person, institution=actors["clinician.thc2"].institution).exists()


def test_the_database_refuses_two_open_episodes_too(actors, register):
    reg = register()
    p = reg.pregnancy
    twin = Pregnancy(
        person=p.person,
        owner_institution=p.owner_institution,
        owner_region_path=p.owner_region_path,
        registering_institution=p.owner_institution,
        registered_by=p.registered_by,
        registered_on=p.registered_on,
        dating_basis="lmp",
        edd=p.edd,
        gravidity=1,
        parity=0,
    )
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


def test_a_new_pregnancy_after_the_episode_closed_is_allowed(actors, register, number, today):
    from mchis.maternal.services import pregnancy_close

    doc = number()
    first = register(document_number=doc)
    pregnancy_close(actor=actors["clinician.thc1"], pregnancy_id=first.pregnancy.pk, reason="miscarriage", on=today)
    second = register(document_number=doc, weeks=6)
    assert second.person.pk == first.person.pk and second.pregnancy.pk != first.pregnancy.pk


def test_only_clinicians_of_the_institution_register(actors, register):
    with pytest.raises(NotAllowed):
        register("leader.thc1")
    with pytest.raises(NotAllowed):
        pregnancy_register(
            actor=actors["clinician.thc1"],
            institution=actors["clinician.thc2"].institution,
            person_id=None,
            gravidity=1,
            parity=0,
        )
    assert AuditEvent.objects.filter(action="deny", object_type="maternal.pregnancy").count() == 2


def test_registration_is_audited_with_field_names_only(actors, register):
    reg = register(conditions=["asthma"])
    event = AuditEvent.objects.filter(action="create", object_type="maternal.pregnancy").latest("id")
    assert event.object_id_list == [str(reg.pregnancy.pk)]
    assert {"person", "lmp", "edd", "gravidity", "conditions"} <= set(event.field_name_list)
    assert "asthma" not in event.field_names + event.extra


def test_a_new_dating_moves_the_edd_the_visits_and_their_contacts(actors, register, today):
    reg = register(weeks=14)
    clinician = actors["clinician.thc1"]
    visit = visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today).visit
    assert visit.contact == ""  # 14 weeks: between the first and second windows
    # An ultrasound shows she is two weeks less advanced: today is 12 weeks, the first check.
    change = pregnancy_update(
        actor=clinician,
        pregnancy_id=reg.pregnancy.pk,
        expected_version=2,
        ultrasound_on=today,
        ultrasound_ga_days=84,
    )
    p = change.obj
    assert p.dating_basis == "ultrasound" and p.edd == today + timedelta(days=196)
    visit.refresh_from_db()
    assert (visit.gestational_days, visit.contact) == (84, "anc1")
    assert p.contacts_done == ["anc1"] and p.next_contact == "anc2"
    assert change.pregnancy_version == 3


def test_unknown_fields_cannot_be_updated(actors, register):
    reg = register()
    with pytest.raises(ValidationError) as exc:
        pregnancy_update(actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, owner_institution=1)
    assert "owner_institution" in exc.value.message_dict
