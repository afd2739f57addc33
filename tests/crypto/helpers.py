"""Helpers for the crypto tests: read and write columns past the ORM."""

from __future__ import annotations

from django.db import connection

RESULTS = {"hbsag": "negative", "hiv": None, "notes": ["初诊", "复诊"], "weeks": 12}


def _sql(template: str, model, field_name: str) -> str:
    """A statement on one column of one row, identifiers quoted from the model's metadata."""
    quote = connection.ops.quote_name
    field = model._meta.get_field(field_name)
    return template.format(table=quote(model._meta.db_table), col=quote(field.column), pk=quote(model._meta.pk.column))


def column(model, field_name: str, pk) -> str | None:
    """The raw column content, read past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute(
            _sql("SELECT {col} FROM {table} WHERE {pk} = %s", model, field_name),
            [model._meta.pk.get_db_prep_value(pk, connection)],
        )
        return cursor.fetchone()[0]


def set_column(model, field_name: str, pk, value) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _sql("UPDATE {table} SET {col} = %s WHERE {pk} = %s", model, field_name),
            [value, model._meta.pk.get_db_prep_value(pk, connection)],
        )
