"""Hand-written statements over the models' own fields (`mchis/ops/rows.py`)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mchis.audit.services import audit_record
from mchis.ops import rows
from mchis.people.identifiers import id_make
from mchis.people.models import Person, PersonLink

pytestmark = pytest.mark.django_db


def new_person(institution, **overrides):
    values = {
        "document_type": "resident_id",
        "document_number": id_make(area_code="410121", born=date(1993, 4, 5), sequence=40),
        "name": "李春花",
        "sex": 2,
        "birth_date": date(1993, 4, 5),
        "phone": "139 0000 1111",
        "address": "安平县某镇",
        "county_path": institution.region_path,
        "registered_by": institution,
    }
    return Person(**values | overrides)


def test_insert_writes_what_save_would(actors):
    institution = actors["clinician.thc1"].institution
    by_insert, by_save = new_person(institution), new_person(institution, document_number=None, phone=None)
    assert rows.insert(by_insert) is True
    by_save.save()
    assert not by_insert._state.adding
    stored = Person.unscoped.get(pk=by_insert.pk)
    # Encrypted with the row id, indexed, stamped: readable exactly as a saved row is.
    assert (stored.name, stored.birth_date, stored.phone) == ("李春花", date(1993, 4, 5), "139 0000 1111")
    field = Person._meta.get_field("document_number_bidx")
    assert stored.document_number_bidx == field.index_of(by_insert.document_number)
    assert stored.created_at is not None and stored.updated_at is not None
    assert Person.unscoped.get(pk=by_save.pk).name == "李春花"


def test_insert_sets_a_primary_key_the_database_assigns(actors):
    actor = actors["clinician.thc1"]
    person = new_person(actor.institution)
    rows.insert(person)
    link = PersonLink(
        person=person,
        institution=actor.institution,
        institution_region_path=actor.institution.region_path,
        created_by=actor,
    )
    assert link.pk is None and rows.insert(link) is True
    assert PersonLink.objects.get(pk=link.pk).person_id == person.pk


def test_a_kept_cursor_is_reused(db):
    assert rows.cursor(connection) is rows.cursor(connection)


@pytest.mark.django_db(transaction=True)
def test_a_reopened_connection_gets_a_new_cursor():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("Django keeps an in-memory SQLite test database open across close()")
    first = rows.cursor(connection)
    connection.close()
    connection.ensure_connection()
    kept = rows.cursor(connection)
    assert kept is not first
    kept.execute("SELECT 1")
    assert kept.fetchone()[0] == 1


def test_statements_on_the_kept_cursor_are_recorded_when_statements_are_recorded(db):
    with CaptureQueriesContext(connection) as seen:
        audit_record(action="read", object_type="people.person", object_ids=["p1"])
    assert any("audit_auditevent" in q["sql"] for q in seen.captured_queries)
