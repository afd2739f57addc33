"""SQLite's REPLACE cannot change an audit row past the append-only triggers (P10).

REPLACE deletes the row it conflicts with, and SQLite fires DELETE triggers for that only
when the connection has turned on `recursive_triggers`: without a trigger of its own, an
`INSERT OR REPLACE` of an existing id would rewrite any event, index row or seal.
"""

import pytest
from django.db import DatabaseError, connection, transaction

from mchis.audit.models import AuditEvent, AuditObjectRef, AuditSeal
from mchis.audit.services import audit_record

from .conftest import seal_now

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="REPLACE is SQLite's"),
]


def columns(model, without: str) -> str:
    return ", ".join(f.column for f in model._meta.concrete_fields if f.column != without)


@pytest.fixture
def trail(read_event):
    kept = read_event("p1").id
    denial = audit_record(action="deny", object_type="people.person", object_ids=["p2"], reason="HTTP 403").id
    seal_now()
    read_event("p3")
    seal_now()
    return kept, denial


def snapshot():
    return [list(model.objects.order_by("pk").values_list()) for model in (AuditEvent, AuditObjectRef, AuditSeal)]


@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_an_event_cannot_be_replaced_by_another(trail, verb):
    kept, denial = trail
    before = snapshot()
    event_columns = columns(AuditEvent, "id")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        # The denial overwritten by a copy of an ordinary read (which then fails its MAC, but
        # the denial itself is gone).
        cursor.execute(
            f"{verb} INTO audit_auditevent (id, {event_columns}) "  # noqa: S608
            f"SELECT %s, {event_columns} FROM audit_auditevent WHERE id = %s",
            [denial, kept],
        )
    assert snapshot() == before


def test_an_object_index_row_cannot_be_replaced(trail):
    before = snapshot()
    row = AuditObjectRef.objects.order_by("id").first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT OR REPLACE INTO audit_auditobjectref (id, event_id, object_type, object_id) "
            "VALUES (%s, %s, %s, %s)",
            [row.id, row.event_id, row.object_type, "someone-else"],
        )
    assert snapshot() == before


def test_a_seal_cannot_be_replaced(trail):
    before = snapshot()
    seal_columns = columns(AuditSeal, "number")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT OR REPLACE INTO audit_auditseal (number, {seal_columns}) "  # noqa: S608
            f"SELECT 1, {seal_columns} FROM audit_auditseal WHERE number = 2"
        )
    assert snapshot() == before


def test_new_rows_are_still_written(trail, read_event):
    # The trigger looks the new key up: events and their index rows (whose ids SQLite assigns) go in.
    event = read_event("p4", "p5")
    assert list(AuditObjectRef.objects.filter(event_id=event.id).values_list("object_id", flat=True)) == ["p4", "p5"]
    assert seal_now()
