"""Database triggers refuse to change or remove audit rows, on SQLite and PostgreSQL (P10)."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from mchis.audit.models import AuditEvent, AuditObjectRef, AuditSeal

from .conftest import seal_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(read_event):
    read_event("p1", "p2")
    seal_now()


def refused(action):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        action()


def raw(sql):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql)

    return run


@pytest.mark.parametrize("model", [AuditEvent, AuditObjectRef, AuditSeal])
def test_orm_updates_and_deletes_are_refused(trail, model):
    column = {"AuditEvent": "reason", "AuditObjectRef": "object_id", "AuditSeal": "gaps"}[model.__name__]
    refused(lambda: model.objects.update(**{column: "changed"}))
    refused(lambda: model.objects.all().delete())


@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditobjectref", "audit_auditseal"])
def test_raw_sql_updates_and_deletes_are_refused(trail, table):
    column = {"audit_auditevent": "reason", "audit_auditobjectref": "object_id", "audit_auditseal": "gaps"}[table]
    refused(raw(f"UPDATE {table} SET {column} = 'changed'"))  # noqa: S608
    refused(raw(f"DELETE FROM {table}"))  # noqa: S608


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE is PostgreSQL's")
@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditobjectref", "audit_auditseal"])
def test_truncate_is_refused(table):
    from mchis.audit.services import audit_record

    # An event with an object index row, so both tables hold a row to lose (the index rows
    # carry no foreign key: nothing but the trigger stands in the way).
    audit_record(action="read", object_type="people.person", object_ids=["p1"], fields=["name"])
    seal_now()
    refused(raw(f"TRUNCATE {table} CASCADE"))


def test_instances_refuse_to_be_saved_again_or_deleted(trail):
    event = AuditEvent.objects.first()
    event.reason = "changed"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_the_rows_are_unchanged_after_the_attempts(trail):
    before = list(AuditEvent.objects.values())
    for action in (raw("UPDATE audit_auditevent SET reason = 'x'"), raw("DELETE FROM audit_auditevent")):
        with pytest.raises(DatabaseError), transaction.atomic():
            action()
    assert list(AuditEvent.objects.values()) == before


def test_flush_refuses_a_database_that_is_not_a_test_database(settings):
    from mchis.audit.guards import is_test_database

    class Fake:
        vendor = "postgresql"
        settings_dict = {"NAME": "mchis", "TEST": {}}

    assert is_test_database(connection)
    assert not is_test_database(Fake())


def test_every_audit_table_keeps_its_triggers_after_all_migrations():
    # A later migration that makes SQLite rebuild a table (changing a field) would drop them.
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        else:
            cursor.execute(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal"
            )
        triggers = cursor.fetchall()
    # SQLite: UPDATE, DELETE and REPLACE (test_replace_into.py); PostgreSQL: row and TRUNCATE.
    expected = 3 if connection.vendor == "sqlite" else 2
    for table in ("audit_auditevent", "audit_auditobjectref", "audit_auditseal"):
        assert len([name for t, name in triggers if t == table]) == expected, (table, triggers)


def refs_foreign_keys() -> list[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "audit_auditobjectref")
    return [name for name, info in found.items() if info["foreign_key"]]


@pytest.mark.django_db(transaction=True)
def test_the_migration_that_drops_the_object_index_foreign_key_leaves_the_rows_append_only(read_event):
    """audit 0004 drops AuditObjectRef.event's foreign key, which SQLite does by rebuilding the
    table, and the rebuild drops the table's triggers: both ways, the rows it holds stay
    refused to UPDATE and DELETE on the database this runs on (P10)."""
    read_event("p1", "p2")
    before = list(AuditObjectRef.objects.order_by("id").values_list("id", "event_id", "object_id"))
    executor = MigrationExecutor(connection)
    latest = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "audit"]
    try:
        executor.migrate([("audit", "0003_seal_time_index")])
        assert refs_foreign_keys()
        refused(raw("UPDATE audit_auditobjectref SET object_id = 'changed'"))
        refused(raw("DELETE FROM audit_auditobjectref"))
    finally:
        executor.loader.build_graph()
        executor.migrate(latest)
    assert latest == [("audit", "0005_sqlite_no_replace")]
    assert refs_foreign_keys() == []
    refused(raw("UPDATE audit_auditobjectref SET object_id = 'changed'"))
    refused(raw("DELETE FROM audit_auditobjectref"))
    after = list(AuditObjectRef.objects.order_by("id").values_list("id", "event_id", "object_id"))
    assert after == before


def test_migrate_refuses_to_unapply_audit_migrations_outside_a_test_database(installation):
    """`migrate audit <earlier>` would drop or rebuild the audit tables, which the triggers
    cannot stop (P10): on a real database (here a fresh SQLite file of its own) it is refused
    before anything changes."""
    installation.run("keys", "init")
    installation.run("migrate", "--no-input")
    refused_run = installation.run("migrate", "audit", "0003_seal_time_index", check=False)
    assert refused_run.returncode != 0 and "erase the trail" in refused_run.stderr
    assert "[X] 0004_ref_event_without_constraint" in installation.run("showmigrations", "audit").stdout
    # Forward migrations are not its business.
    installation.run("migrate", "--no-input")


def test_on_a_test_database_audit_migrations_may_be_unapplied(db):
    from django.db.migrations.loader import MigrationLoader

    from mchis.audit.guards import refuse_unapplying_audit

    migration = MigrationLoader(connection).get_migration("audit", "0004_ref_event_without_constraint")
    assert refuse_unapplying_audit(None, plan=[(migration, True)], using=connection.alias) is None
