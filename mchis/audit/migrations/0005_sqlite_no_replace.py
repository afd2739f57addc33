"""On SQLite, triggers that refuse an INSERT replacing an audit row (mchis.audit.triggers):
REPLACE deletes the old row without firing the DELETE triggers of 0002."""

from django.db import migrations

from mchis.audit.triggers import AUDIT_TABLES, triggers_create, triggers_drop


def triggers_again(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL's triggers already refuse what a REPLACE would do
    # Drop first: 0002's are there.
    triggers_drop(schema_editor.connection, tables=AUDIT_TABLES)
    triggers_create(schema_editor.connection, tables=AUDIT_TABLES)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_ref_event_without_constraint")]

    # Backwards they stay: no write of the application replaces an audit row.
    operations = [migrations.RunPython(triggers_again, migrations.RunPython.noop)]
