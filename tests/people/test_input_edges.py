"""Registry input rules at their edges: what a bad value gets is an error naming the field
and the rule, and nothing is stored (P2, P20; GB 11643, GB/T 2260)."""

import importlib
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from mchis.crypto.keyring import keyring
from mchis.people.identifiers import id_check_char, id_make
from mchis.people.models import Person
from mchis.people.selectors import person_find_by_phone
from mchis.people.services import person_register

pytestmark = pytest.mark.django_db

BORN = date(1995, 2, 3)
NUMBER = id_make(area_code="410121", born=BORN, sequence=88)


def register(actor, **overrides):
    values = {
        "document_type": "resident_id",
        "document_number": NUMBER,
        "name": "王秀英",
        "sex": 2,
        "birth_date": BORN,
        "phone": "138-0013-8000",
        "address": "安平县某镇某村3号",
    }
    values.update(overrides)
    return person_register(actor=actor, institution=actor.institution, **values)


def person_count():
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM people_person")
        return cursor.fetchone()[0]


def refused(actor, field: str, **overrides) -> str:
    """The error of `field` for a registration with `overrides`; asserts nothing was stored."""
    before = person_count()
    with pytest.raises(ValidationError) as exc:
        register(actor, **overrides)
    assert person_count() == before
    assert field in exc.value.message_dict, exc.value.message_dict
    return " ".join(exc.value.message_dict[field])


@pytest.mark.parametrize("name", ["王\x07秀英", "王\n秀英", "\u200b", "\u202e英秀王", "王\u2028秀英"])
def test_a_name_with_control_or_invisible_characters_is_refused(actors, name):
    assert "control or invisible" in refused(actors["clinician.thc1"], "name", name=name)


def test_an_address_too_long_or_with_control_characters_is_refused(actors):
    clinician = actors["clinician.thc1"]
    assert "at most 200" in refused(clinician, "address", address="某" * 201)
    assert "control or invisible" in refused(clinician, "address", address="某村\x1b[2J3号")


def test_a_document_number_of_another_type_too_long_or_with_control_characters_is_refused(actors):
    clinician = actors["clinician.thc1"]
    assert "at most 40" in refused(clinician, "document_number", document_type="passport", document_number="E" * 41)
    assert "control or invisible" in refused(
        clinician, "document_number", document_type="passport", document_number="E12\x0034567"
    )


@pytest.mark.parametrize("area", ["000000", "990101", "100101"])
def test_a_resident_id_whose_address_code_is_no_province_is_refused(actors, area):
    number = id_make(area_code=area, born=BORN, sequence=88)
    assert "province" in refused(actors["clinician.thc1"], "document_number", document_number=number)


def test_birth_dates_before_1900_are_refused(actors):
    clinician = actors["clinician.thc1"]
    old = date(1899, 12, 31)
    number = id_make(area_code="410121", born=old, sequence=88)
    assert "1900" in refused(clinician, "birth_date", document_number=number, birth_date=old)
    first17 = "41012100010101088"  # born 0001-01-01: a real date, not a real birth date
    ancient = date(1, 1, 1)
    assert "1900" in refused(
        clinician, "birth_date", document_number=first17 + id_check_char(first17), birth_date=ancient
    )
    assert "1900" in refused(
        clinician, "birth_date", document_type="passport", document_number="E12345678", birth_date=date(1850, 1, 1)
    )


def test_a_birth_date_in_1900_is_accepted(actors):
    born = date(1900, 1, 1)
    _person, created = register(
        actors["clinician.thc1"], document_number=id_make(area_code="410121", born=born, sequence=88), birth_date=born
    )
    assert created


@pytest.mark.parametrize("phone", ["1-----", "1 - - - - -", "12-34", "+1"])
def test_a_phone_with_too_few_digits_is_refused(actors, phone):
    assert "6 to 20 digits" in refused(actors["clinician.thc1"], "phone", phone=phone)


@pytest.mark.parametrize("phone", ["+86 138 0013 8000", "+86-138-0013-8000", "＋８６１３８００１３８０００"])
def test_a_mobile_number_given_with_the_country_code_is_the_same_number(actors, phone):
    clinician = actors["clinician.thc1"]
    person, _ = register(clinician)
    assert [v.id for v in person_find_by_phone(actor=clinician, phone=phone, purpose="care")] == [person.pk]
    child, _ = register(
        clinician,
        document_type="none",
        document_number="",
        name="王秀英之女",
        birth_date=timezone.localdate() - timedelta(days=300),
        phone=phone,
    )
    assert child.phone == "13800138000"
    found = person_find_by_phone(actor=clinician, phone="13800138000", purpose="care")
    assert {v.id for v in found} == {person.pk, child.pk}


def test_landline_and_foreign_numbers_keep_their_country_code(actors):
    person, _ = register(actors["clinician.thc1"], phone="+852 9123 4567")
    assert person.phone == "+85291234567"
    person, _ = register(
        actors["clinician.thc1"],
        document_number=id_make(area_code="410121", born=BORN, sequence=90),
        phone="+86 10 1234 5678",
    )
    assert person.phone == "+861012345678"


def test_mobile_numbers_stored_with_the_country_code_before_are_found_again(actors):
    renormalise = importlib.import_module("mchis.people.migrations.0006_national_mobile_numbers").renormalise
    clinician = actors["clinician.thc1"]
    person, _ = register(clinician)
    # As the code before stored "+86 138 0013 8000": with the country code, indexed so.
    ring = keyring()
    field, index = Person._meta.get_field("phone"), Person._meta.get_field("phone_bidx")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE people_person SET phone = %s, phone_bidx = %s WHERE id = %s",
            [
                ring.encrypt(field.encode("+8613800138000"), field.aad(field.row_text(person.pk))),
                ring.blind_index("+8613800138000", purpose=index.index_purpose),
                person.pk.hex,
            ],
        )
    assert person_find_by_phone(actor=clinician, phone="13800138000", purpose="care") == []

    state = MigrationExecutor(connection).loader.project_state(("people", "0006_national_mobile_numbers"))
    renormalise(state.apps, None)

    found = person_find_by_phone(actor=clinician, phone="+86 138 0013 8000", purpose="care")
    assert [v.id for v in found] == [person.pk] and found[0].phone == "13800138000"


def test_the_page_names_the_field_and_rule_in_chinese(login):
    client = login("clinician.thc1")
    before = person_count()
    response = client.post(
        "/people/register/",
        {
            "document_type": "resident_id",
            "document_number": id_make(area_code="000000", born=BORN, sequence=88),
            "name": "王\u200b秀英",
            "sex": "2",
            "birth_date": BORN.isoformat(),
            "phone": "1-----",
        },
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "省级代码" in html and "不可见" in html and "6 至 20 位数字" in html
    assert person_count() == before
