"""Model instances from the rows of a hand-written statement, for the few hottest paths.

The ORM compiles a query anew on every call, and for a join of four tables that costs more
than running it. Where one statement on every request matters (the API's credential check),
the statement is written by hand over the models' own column lists (`columns`), and each
model's slice of a row becomes an instance exactly as the ORM would make it (`instance`): the
backend's and the field's converters run (dates on SQLite, UUIDs, encrypted fields), so the
rest of the code cannot tell the difference.
"""

from __future__ import annotations

from functools import cache

from django.db import connections
from django.db.models import Model


@cache
def _fields(model: type[Model]) -> tuple:
    return tuple(model._meta.concrete_fields)


@cache
def _pk_index(model: type[Model]) -> int:
    return _fields(model).index(model._meta.pk)


def columns(model: type[Model], alias: str) -> str:
    """The SELECT list of every concrete column of `model`, from the table aliased `alias`."""
    qn = connections["default"].ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in _fields(model))


def width(model: type[Model]) -> int:
    """How many values of a row `columns(model, …)` takes."""
    return len(_fields(model))


def _converters(model: type[Model], connection) -> tuple:
    # Kept on the connection: the backend's converters are methods of its `ops`.
    cache_ = connection.__dict__.setdefault("_mchis_row_converters", {})
    found = cache_.get(model)
    if found is None:
        table = model._meta.db_table
        found = cache_[model] = tuple(
            (col, tuple(connection.ops.get_db_converters(col)) + tuple(f.get_db_converters(connection)))
            for f in _fields(model)
            for col in (f.get_col(table),)
        )
    return found


def instance(model: type[Model], values, *, using: str = "default") -> Model | None:
    """The instance of `model` from its slice of a row; None when it is all NULL (a LEFT JOIN
    that found nothing: the primary key is never NULL in a real row)."""
    values = list(values)
    if values[_pk_index(model)] is None:
        return None
    connection = connections[using]
    for i, (col, converters) in enumerate(_converters(model, connection)):
        value = values[i]
        for convert in converters:
            value = convert(value, col, connection)
        values[i] = value
    return model.from_db(using, [f.attname for f in _fields(model)], values)
