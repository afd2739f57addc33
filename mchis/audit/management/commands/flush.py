"""Django's `flush`, able to empty the audit tables of a TEST database only.

The triggers refuse DELETE (SQLite's flush) and TRUNCATE (PostgreSQL's), which is right for
every real database: emptying it would erase the audit trail (P10). Django's test framework
flushes its own throw-away test database after each transactional test, so for a database
Django created for tests this drops the triggers around the flush and puts them back.
"""

from django.core.management.base import CommandError
from django.core.management.commands.flush import Command as DjangoFlush
from django.db import connections

from mchis.audit.guards import is_test_database
from mchis.audit.triggers import triggers_create, triggers_drop


class Command(DjangoFlush):
    def handle(self, **options):
        connection = connections[options["database"]]
        if not is_test_database(connection):
            raise CommandError("flush would erase the audit trail (P10); it runs on test databases only")
        triggers_drop(connection)
        try:
            super().handle(**options)
        finally:
            triggers_create(connection)
