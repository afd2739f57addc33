"""A column given a value the write path never stores is named by `audit verify` (P10).

Someone who can drop the triggers can also drop a NOT NULL constraint, and SQLite keeps
whatever storage class it is given. Neither may make a changed event pass: on PostgreSQL a
NULL vanished from the canonical text with its separator, so a value moved into its
neighbour column kept the MAC (an action NULL and an outcome "deny<US>denied" hid a refusal
from "all denials"); on SQLite a BLOB prints as the text it replaced but no longer equals
it in a query. Nor may such a value make verify fail with a traceback instead of a name.
"""

import pytest
from django.db import connection

from mchis.audit.context import audit_context
from mchis.audit.integrity import EVENT_FIELDS
from mchis.audit.models import AuditEvent
from mchis.audit.services import audit_record
from mchis.audit.verify import audit_verify

from .conftest import seal_now

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's concat_ws")
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's storage classes")


@pytest.fixture
def trail(read_event):
    """(read, denial, read): the denial in the middle, all sealed."""
    ids = (
        read_event("p1").id,
        audit_record(action="deny", object_type="people.person", object_ids=["p2"], reason="HTTP 403").id,
        read_event("p3").id,
    )
    seal_now()
    assert audit_verify().ok
    return ids


def model_field(name: str):
    return AuditEvent._meta.get_field(name.removesuffix("_id") if name in ("actor_id", "institution_id") else name)


def events_allow_null(attacker) -> None:
    """Drop NOT NULL from the event table's columns (SQLite: rebuild the table without it)."""
    if connection.vendor == "postgresql":
        for name in (*EVENT_FIELDS[1:], "mac"):
            column = model_field(name).column
            attacker(f"ALTER TABLE audit_auditevent ALTER COLUMN {column} DROP NOT NULL")
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_auditevent'")
        (ddl,) = cursor.fetchone()
    loose = ddl.replace('"audit_auditevent"', '"events_loose"').replace(" NOT NULL", "")
    assert '"id" integer PRIMARY KEY' in loose
    attacker(loose)
    attacker("INSERT INTO events_loose SELECT * FROM audit_auditevent")
    attacker("DROP TABLE audit_auditevent")
    attacker("ALTER TABLE events_loose RENAME TO audit_auditevent")


def named(event_id: int) -> str:
    result = audit_verify()
    assert not result.ok, "tampering went unnoticed"
    assert result.first.event_id == event_id, result.first
    return result.first.message


@postgresql_only
def test_a_denial_moved_into_its_outcome_column_is_named(trail, attacker):
    _read, denial, _ = trail
    events_allow_null(attacker)
    attacker("ALTER TABLE audit_auditevent ALTER COLUMN outcome TYPE varchar(40)")
    attacker(
        "UPDATE audit_auditevent SET action = NULL, outcome = action || chr(31) || outcome WHERE id = %s", [denial]
    )
    assert not AuditEvent.objects.filter(action="deny").exists()
    assert "MAC" in named(denial)


@postgresql_only
def test_a_source_address_moved_into_the_request_id_is_named(trail, attacker):
    with audit_context(path="/people/", source_ip="10.9.8.7"):
        read = audit_record(action="read", object_type="people.person", object_ids=["p4"]).id
    seal_now()
    events_allow_null(attacker)
    attacker(
        "UPDATE audit_auditevent SET source_ip = NULL, request_id = source_ip || chr(31) || request_id WHERE id = %s",
        [read],
    )
    assert "MAC" in named(read)


# Actor and institution may be NULL (nobody signed in; no institution): NULL is a value of theirs.
NOT_NULL = [c for c in [*EVENT_FIELDS[1:], "mac"] if c not in ("actor_id", "institution_id")]


@pytest.mark.parametrize("column", NOT_NULL)
def test_a_null_in_any_column_that_holds_none_is_named(trail, attacker, column):
    _read, denial, _ = trail
    events_allow_null(attacker)
    attacker(f"UPDATE audit_auditevent SET {model_field(column).column} = NULL WHERE id = %s", [denial])  # noqa: S608
    named(denial)


@pytest.mark.parametrize("column", ["actor_id", "institution_id"])
def test_an_actor_or_institution_given_to_an_event_without_one_is_named(trail, attacker, column):
    _read, denial, _ = trail  # the denial of a visitor nobody knows: neither is set
    attacker(f"UPDATE audit_auditevent SET {model_field(column).column} = 12345 WHERE id = %s", [denial])  # noqa: S608
    named(denial)


@sqlite_only
def test_a_denial_stored_as_a_blob_is_named(trail, attacker):
    _read, denial, _ = trail
    attacker("UPDATE audit_auditevent SET action = CAST(action AS BLOB) WHERE id = %s", [denial])
    assert not AuditEvent.objects.filter(action="deny").exists()
    assert "MAC" in named(denial)


@sqlite_only
@pytest.mark.parametrize("column", ["at", "actor_id", "institution_id", "reason", "object_ids", "mac"])
def test_a_blob_in_any_column_is_named(trail, attacker, column):
    read = trail[0]
    # Any value as the BLOB of its own text: printed, it is the same text (NULL as "").
    attacker(
        f"UPDATE audit_auditevent SET {column} = CAST(COALESCE(CAST({column} AS TEXT), '') AS BLOB) WHERE id = %s",  # noqa: S608
        [read],
    )
    named(read)


@sqlite_only
def test_a_number_where_text_is_stored_is_named_not_a_crash(trail, attacker):
    read = trail[0]
    attacker("UPDATE audit_auditevent SET user_agent = 7 WHERE id = %s", [read])  # stored as '7' (TEXT affinity)
    attacker("UPDATE audit_auditevent SET at = 20260301 WHERE id = %s", [read])  # stored as an integer
    named(read)
