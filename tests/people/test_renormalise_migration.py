"""people 0004: numbers stored in full-width forms before NFKC normalisation are found again."""

import importlib
from datetime import date

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from mchis.crypto.keyring import keyring
from mchis.people.identifiers import id_make
from mchis.people.models import Person
from mchis.people.selectors import person_find_by_phone
from mchis.people.services import person_register

pytestmark = pytest.mark.django_db

renormalise = importlib.import_module("mchis.people.migrations.0004_renormalise_numbers").renormalise
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def as_stored_before(person: Person, **values: str) -> None:
    """Store `values` as the code before NFKC did: the text as typed, indexed as typed."""
    ring = keyring()
    with connection.cursor() as cursor:
        for name, text in values.items():
            field, index = Person._meta.get_field(name), Person._meta.get_field(f"{name}_bidx")
            token = ring.encrypt(field.encode(text), field.aad(field.row_text(person.pk)))
            cursor.execute(
                f"UPDATE people_person SET {field.column} = %s, {index.column} = %s WHERE id = %s",  # noqa: S608
                [token, ring.blind_index(text, purpose=index.index_purpose), person.pk.hex],
            )


def register(clinician, number: str, **more):
    return person_register(
        actor=clinician,
        institution=clinician.institution,
        document_type="resident_id",
        document_number=number,
        name="王秀英",
        sex=2,
        birth_date=date(1995, 2, 3),
        **more,
    )


def test_full_width_numbers_stored_before_are_found_and_not_registered_twice(actors):
    clinician = actors["clinician.thc1"]
    number = id_make(area_code="410121", born=date(1995, 2, 3), sequence=88)
    person, _ = register(clinician, number, phone="13800138000")
    as_stored_before(person, document_number=number.translate(FULL), phone="13800138000".translate(FULL))
    assert person_find_by_phone(actor=clinician, phone="13800138000", purpose="care") == []

    state = MigrationExecutor(connection).loader.project_state(("people", "0004_renormalise_numbers"))
    renormalise(state.apps, None)

    found = person_find_by_phone(actor=clinician, phone="１３８００１３８０００", purpose="care")
    assert [v.id for v in found] == [person.pk]
    assert (found[0].document_number, found[0].phone) == (number, "13800138000")
    again, created = register(clinician, number)
    assert not created and again.pk == person.pk
