from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection

from mchis.audit import services
from mchis.audit.context import audit_context
from mchis.audit.services import audit_record, audit_seal, reads_collect
from mchis.audit.triggers import triggers_drop


@pytest.fixture
def request_reads():
    """A request's context collecting reads, as AuditContextMiddleware sets it up."""
    with audit_context(path="/maternal/x/") as ctx:
        reads_collect(ctx)
        yield ctx


@pytest.fixture
def read_event():
    """Record a read of people.person ids: read_event("a", "b", actor=None)."""

    def _read(*ids: str, actor=None, purpose: str = "care"):
        return audit_record(
            action="read",
            actor=actor,
            object_type="people.person",
            object_ids=list(ids),
            fields=["name"],
            purpose=purpose,
        )

    return _read


@pytest.fixture
def with_id():
    """Write the next event under a chosen id, as a transaction that drew its id earlier
    and commits only now would."""

    def _with_id(event_id: int, **kwargs):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(services, "_event_id_next", lambda connection=None: event_id)
            event = audit_record(**{"action": "read", "object_type": "people.person", "object_ids": ["x"], **kwargs})
        if connection.vendor == "postgresql":
            # The sequence must not hand out that id again (SQLite's max(id) + 1 cannot).
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_get_serial_sequence('audit_auditevent', 'id')")
                seq = cursor.fetchone()[0]
                cursor.execute(f"SELECT setval('{seq}', GREATEST(%s, (SELECT last_value FROM {seq})))", [event_id])  # noqa: S608
            services.audit_ids_forget()
        return event

    return _with_id


def seal_now():
    return audit_seal(safety_delay=timedelta(0))


@pytest.fixture
def attacker():
    """Raw SQL against the audit tables after dropping the append-only triggers.

    The test's transaction rolls back at the end, triggers included (DDL is transactional on
    SQLite and PostgreSQL)."""
    triggers_drop(connection)

    def _sql(sql: str, params=()):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    return _sql
