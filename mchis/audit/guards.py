"""Django commands that would erase the audit trail run on test databases only (P10: the
trail cannot be switched off).

The triggers refuse UPDATE, DELETE and TRUNCATE of audit rows, but two of Django's own
commands get around them: `flush` (see the `flush` command) and `migrate audit <earlier>`,
whose reversed migrations drop or rebuild the audit tables. A database Django created for
tests may do both.
"""

from __future__ import annotations

import os

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections


def is_test_database(connection) -> bool:
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        return True
    test_name = connection.settings_dict.get("TEST", {}).get("NAME")
    return os.path.basename(name).startswith("test_") or (bool(test_name) and name == test_name)


def refuse_unapplying_audit(sender, *, plan=None, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """`pre_migrate` receiver: no audit migration is unapplied outside a test database."""
    if not any(backwards and migration.app_label == "audit" for migration, backwards in plan or ()):
        return
    if not is_test_database(connections[using]):
        raise CommandError(
            "unapplying audit migrations would drop or rebuild the audit tables and erase the trail (P10); "
            "this runs on test databases only"
        )
