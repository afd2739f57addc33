"""AuditObjectRef.event without a database constraint (the model says why).

On PostgreSQL this drops the foreign key: every event stops paying a deferred check at commit
(a trigger run and a row lock on the event). SQLite cannot drop a foreign key in place and
rebuilds the table, which drops the append-only triggers of 0002: they are put back after the
rebuild, and after the rebuild of going backwards too.
"""

import django.db.models.deletion
from django.db import migrations, models

from mchis.audit.triggers import triggers_create, triggers_drop

TABLES = ("audit_auditobjectref",)


def triggers_again(apps, schema_editor):
    # Drop first: on PostgreSQL, and on SQLite when nothing was rebuilt, they are still there.
    triggers_drop(schema_editor.connection, tables=TABLES)
    triggers_create(schema_editor.connection, tables=TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_seal_time_index"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, triggers_again),
        migrations.AlterField(
            model_name="auditobjectref",
            name="event",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="refs",
                to="audit.auditevent",
            ),
        ),
        migrations.RunPython(triggers_again, migrations.RunPython.noop),
    ]
