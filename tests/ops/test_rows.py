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


# --- insert_together: a registration's rows and its audit event, all or nothing ----------------


def registration(actor, **overrides):
    """A new person, her link and the audit event of the registration (P10: written with them)."""
    from mchis.audit.services import audit_pending

    person = new_person(actor.institution, **overrides)
    link = PersonLink(
        person=person,
        institution=actor.institution,
        institution_region_path=actor.institution.region_path,
        created_by=actor,
    )
    event = audit_pending(
        action="create", actor=actor, object_type="people.person", object_ids=[str(person.pk)], fields=["name"]
    )
    return person, link, event


def test_insert_together_writes_every_row_and_the_event(actors):
    from mchis.audit.models import AuditEvent, AuditObjectRef
    from mchis.audit.services import event_mac

    actor = actors["clinician.thc1"]
    person, link, event = registration(actor)
    with CaptureQueriesContext(connection) as queries:
        assert rows.insert_together(person, link, event) is True
    if connection.vendor == "postgresql":
        # One statement, one round trip; besides it at most the refill of the connection's
        # block of event ids, drawn once per 32 events or after ten seconds (audit.services).
        written = [q["sql"] for q in queries if "nextval" not in q["sql"]]
        assert len(written) == 1 and len(queries) <= 2, [q["sql"] for q in queries]
    assert Person.unscoped.get(pk=person.pk).name == "李春花"
    assert link.pk is not None and PersonLink.objects.get(pk=link.pk).person_id == person.pk
    stored = AuditEvent.objects.get(object_ids=str(person.pk))
    assert (stored.action, stored.actor_id, stored.institution_id) == ("create", actor.pk, actor.institution_id)
    assert stored.mac == event_mac(stored)  # the MAC covers the id drawn when it was written
    assert list(AuditObjectRef.objects.filter(event=stored).values_list("object_id", flat=True)) == [str(person.pk)]


def test_insert_together_writes_nothing_when_the_first_row_is_refused(actors):
    """P20: her number is registered in the county already: no second person, no link, no event."""
    from mchis.audit.context import AuditContext, context_enter, context_exit
    from mchis.audit.models import AuditEvent

    actor = actors["clinician.thc1"]
    rows.insert(new_person(actor.institution))
    ctx = AuditContext()
    token = context_enter(ctx)
    try:
        person, link, event = registration(actor)
        assert rows.insert_together(person, link, event, skip_conflicts=True) is False
    finally:
        context_exit(token)
    assert not Person.unscoped.filter(pk=person.pk).exists()
    assert not PersonLink.objects.filter(person_id=person.pk).exists()
    assert not AuditEvent.objects.filter(object_ids=str(person.pk)).exists()
    assert ctx.events == 0  # the request wrote no event, so the API will write its own


@pytest.mark.django_db(transaction=True)
def test_insert_together_is_all_or_nothing_when_a_later_row_fails(actors):
    """A link to an institution that does not exist: the statement (PostgreSQL) or the
    transaction (SQLite) fails as a whole, and neither the person nor the event remains."""
    from django.db import IntegrityError

    from mchis.audit.models import AuditEvent

    actor = actors["clinician.thc1"]
    person, link, event = registration(actor)
    link.institution_id = 10**9
    with pytest.raises(IntegrityError):
        rows.insert_together(person, link, event)
    assert not Person.unscoped.filter(pk=person.pk).exists()
    assert not AuditEvent.objects.filter(object_ids=str(person.pk)).exists()


def test_insert_together_needs_the_first_rows_key(actors):
    link = PersonLink(institution=actors["clinician.thc1"].institution)
    with pytest.raises(ValueError, match="primary key"):
        rows.insert_together(link)
