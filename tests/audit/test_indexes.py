"""The auditor's questions are index lookups on SQLite and PostgreSQL, not scans of the trail."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from mchis.audit.models import AuditEvent, AuditObjectRef

pytestmark = pytest.mark.django_db


def plan(qs) -> str:
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " ".join(str(row) for row in cursor.fetchall())
        # On tiny tables the planner prefers a sequential scan; forbid it to see whether an
        # index can serve the query at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return " ".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("object", "audit_ref_object"),
        ("actor", "audit_event_actor"),
        ("time", "audit_event_at"),
        ("institution", "audit_event_institution"),
        ("action", "audit_event_action"),
    ],
)
def test_lookups_use_an_index(read_event, name, index):
    read_event("P-1")
    now = timezone.now()
    queries = {
        "object": AuditObjectRef.objects.filter(object_type="people.person", object_id="P-1").values("event_id"),
        "actor": AuditEvent.objects.filter(actor_id=3).order_by("-id")[:50],
        "time": AuditEvent.objects.filter(at__gte=now - timedelta(hours=1), at__lt=now).values("id"),
        "institution": AuditEvent.objects.filter(institution_id=3).order_by("-id")[:50],
        "action": AuditEvent.objects.filter(action="deny").order_by("-id")[:50],
    }
    text = plan(queries[name])
    assert index in text, text


def test_who_saw_a_record_is_driven_by_the_object_index(read_event):
    read_event("P-1")
    refs = AuditObjectRef.objects.filter(object_type="people.person", object_id="P-1")
    text = plan(AuditEvent.objects.filter(id__in=refs.values("event_id")).order_by("-id")[:50])
    assert "audit_ref_object" in text, text


def test_object_index_rows_are_written_without_a_foreign_key_check():
    """The event and its object index rows are written by one statement, never changed
    (triggers), and `audit verify` names rows whose event does not exist: a foreign key would
    only add a check at every commit (on PostgreSQL a trigger run and a row lock per event)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, AuditObjectRef._meta.db_table)
    assert not [name for name, info in found.items() if info["foreign_key"]]
    # The event's rows are still found through an index (verify, the auditor pages).
    assert found["audit_ref_event"]["columns"] == ["event_id", "id"]
    assert found["audit_ref_object"]["columns"] == ["object_type", "object_id", "event_id"]
