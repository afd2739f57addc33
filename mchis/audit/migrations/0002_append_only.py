"""Triggers that refuse UPDATE and DELETE of audit rows (mchis.audit.triggers)."""

from django.db import migrations

from mchis.audit.triggers import triggers_create, triggers_drop

TABLES = ("audit_auditevent", "audit_auditobjectref", "audit_auditseal")


def create(apps, schema_editor):
    triggers_create(schema_editor.connection, tables=TABLES)


def drop(apps, schema_editor):
    triggers_drop(schema_editor.connection, tables=TABLES)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
