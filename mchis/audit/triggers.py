"""Database triggers that refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) of audit rows.

On SQLite an INSERT that would replace a row (`INSERT OR REPLACE`, `REPLACE INTO`) is refused
too: REPLACE deletes the old row without firing DELETE triggers (unless the connection has
turned on `recursive_triggers`, which nothing guarantees), so it would change a row past them.

They stop the application, a console session or a mistaken migration from changing the
trail. Someone who can drop a trigger can get past it; the MACs and seals are what detect
that (see services.py).
"""

from __future__ import annotations

AUDIT_TABLES = ("audit_auditevent", "audit_auditobjectref", "audit_auditseal")
# The primary key of each table, which is what a REPLACE would find its old row by (the
# tables have no other unique constraint).
_KEYS = {"audit_auditevent": "id", "audit_auditobjectref": "id", "audit_auditseal": "number"}
MESSAGE = "the audit trail is append-only"

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION mchis_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
"""


def _statements_create(vendor: str, table: str) -> list[str]:
    if vendor == "sqlite":
        key = _KEYS[table]
        return [
            *(
                f'CREATE TRIGGER "{table}_no_{op.lower()}" BEFORE {op} ON "{table}" '
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {op} on {table} refused'); END"
                for op in ("UPDATE", "DELETE")
            ),
            # A plain INSERT of an existing key fails anyway; this stops the REPLACE of one.
            f'CREATE TRIGGER "{table}_no_replace" BEFORE INSERT ON "{table}" '  # noqa: S608 (names from AUDIT_TABLES)
            f'WHEN EXISTS (SELECT 1 FROM "{table}" WHERE "{key}" = NEW."{key}") '
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: REPLACE on {table} refused'); END",
        ]
    if vendor == "postgresql":
        return [
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION mchis_audit_append_only()",
            f'CREATE TRIGGER "{table}_no_truncate" BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION mchis_audit_append_only()",
        ]
    raise NotImplementedError(f"audit triggers on {vendor}")


def _statements_drop(vendor: str, table: str) -> list[str]:
    if vendor == "sqlite":
        return [f'DROP TRIGGER IF EXISTS "{table}_no_{op}"' for op in ("update", "delete", "replace")]
    if vendor == "postgresql":
        return [f'DROP TRIGGER IF EXISTS "{table}_{name}" ON "{table}"' for name in ("append_only", "no_truncate")]
    raise NotImplementedError(f"audit triggers on {vendor}")


def triggers_create(connection, *, tables=AUDIT_TABLES) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
        for table in tables:
            for sql in _statements_create(connection.vendor, table):
                cursor.execute(sql)


def triggers_drop(connection, *, tables=AUDIT_TABLES) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            for sql in _statements_drop(connection.vendor, table):
                cursor.execute(sql)
