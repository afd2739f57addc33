"""Hand-written statements over the models' own fields, for the few hottest paths.

The ORM compiles a query anew on every call, and for a join of four tables that costs more
than running it. Where one statement on every request matters (the API's credential check),
the statement is written by hand over the models' own column lists (`columns`), and each
model's slice of a row becomes an instance exactly as the ORM would make it (`instance`): the
backend's and the field's converters run (dates on SQLite, UUIDs, encrypted fields), so the
rest of the code cannot tell the difference.

Writes the same way: `insert` writes a new instance with the values `save()` would write
(every field's `pre_save` and `get_db_prep_save`: defaults, timestamps, encryption, blind
indexes) in one statement built once per model, optionally skipping a row that a unique
constraint refuses; `insert_together` writes a new row and the rows that depend on it (an
audit event among them) all or nothing, on PostgreSQL in one statement. `cursor` is a cursor
kept per connection for such statements.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from typing import Protocol

from django.db import connections, transaction
from django.db.models import AutoField, BigAutoField, Model, SmallAutoField


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


def cursor(connection):
    """A cursor of `connection` kept for its hot statements: opening one costs about as much
    as a one-row INSERT. A new one when the connection was reopened; Django's own, new each
    time, when statements are being recorded (DEBUG, a test capturing queries), so that they
    are recorded too. Callers do not close it."""
    connection = connections[connection.alias]  # the connection itself, not the `django.db.connection` proxy
    if connection.queries_logged:
        return connection.cursor()
    kept = connection.__dict__.get("_mchis_kept_cursor")
    if kept is None or kept[0] is not connection.connection:
        connection.ensure_connection()
        kept = connection.__dict__["_mchis_kept_cursor"] = (connection.connection, connection.cursor())
    return kept[1]


@cache
def _insert_plan(model: type[Model], vendor: str, skip_conflicts: bool) -> tuple[str, tuple, bool]:
    meta = model._meta
    auto = isinstance(meta.pk, AutoField | BigAutoField | SmallAutoField)
    fields = tuple(f for f in _fields(model) if not (auto and f is meta.pk))
    qn = connections["default"].ops.quote_name
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608 (names from the model)
        f"VALUES ({', '.join(['%s'] * len(fields))})"
        f"{' ON CONFLICT DO NOTHING' if skip_conflicts else ''} RETURNING {qn(meta.pk.column)}"
    )
    return sql, fields, auto


def _values(obj: Model, fields: tuple, connection) -> list:
    """What `save()` would write for a new `obj`: each field's `pre_save` (defaults, timestamps,
    encryption, blind indexes), then its database value."""
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def insert(obj: Model, *, skip_conflicts: bool = False, using: str = "default") -> bool:
    """INSERT the new instance `obj` as `obj.save()` would, in one prepared statement.

    Sends no model signals (use it on models without receivers) and does not validate (the
    services validate before they write). With `skip_conflicts`, a row that a unique
    constraint refuses is not written and the result is False (`ON CONFLICT DO NOTHING`, on
    PostgreSQL after waiting for a transaction that holds the same values to end); otherwise
    True. A primary key the database assigns is set on `obj`.
    """
    connection = connections[using]
    sql, fields, auto = _insert_plan(type(obj), connection.vendor, skip_conflicts)
    c = cursor(connection)
    c.execute(sql, _values(obj, fields, connection))
    row = c.fetchone()
    if row is None:
        return False
    if auto:
        setattr(obj, obj._meta.pk.attname, row[0])
    obj._state.adding = False
    obj._state.db = using
    return True


class Together(Protocol):
    """Something `insert_together` writes beside model instances (the audit event of the rows:
    `mchis.audit.services.audit_pending`)."""

    together_key: Hashable  # equal keys (of one class), equal SQL

    @classmethod
    def together_sql(cls, key: Hashable, name: str, source: str) -> str:
        """The WITH members that write it once for each row of `source`, named after `name`."""

    def together_params(self, connection) -> list: ...

    def insert(self, connection) -> None: ...

    def written(self) -> None:
        """Called once the statement that wrote it succeeded."""


@cache
def _member_plan(model: type[Model], name: str, source: str) -> tuple[str, tuple, bool]:
    meta = model._meta
    auto = isinstance(meta.pk, AutoField | BigAutoField | SmallAutoField)
    fields = tuple(f for f in _fields(model) if not (auto and f is meta.pk))
    connection = connections["default"]
    qn = connection.ops.quote_name
    # Typed placeholders: in INSERT … SELECT the columns do not type the parameters.
    sql = (
        f"{name} AS (INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608
        f"SELECT {', '.join(f'%s::{f.db_type(connection)}' for f in fields)} FROM {source} "
        f"RETURNING {qn(meta.pk.column)})"
    )
    return sql, fields, auto


@cache
def _together_plan(first: type[Model], rest: tuple, skip_conflicts: bool) -> tuple[str, list]:
    """The statement, and per item of `rest` its model plan (None for a `Together`)."""
    qn = connections["default"].ops.quote_name
    first_sql = _insert_plan(first, "postgresql", skip_conflicts)[0]
    members, plans = [f"w0 AS ({first_sql})"], []
    returned = [("w0", first)]
    for i, key in enumerate(rest, start=1):
        if isinstance(key, type) and issubclass(key, Model):
            sql, fields, auto = _member_plan(key, f"w{i}", "w0")
            members.append(sql)
            plans.append((fields, auto))
            returned.append((f"w{i}", key))
        else:
            members.append(key[0].together_sql(key[1], f"w{i}", "w0"))
            plans.append(None)
    # One row (every new row's key) when the first row was written, none when it was skipped.
    keys = ", ".join(f"{n}.{qn(m._meta.pk.column)}" for n, m in returned)
    names = ", ".join(n for n, _m in returned)
    return f"WITH {', '.join(members)} SELECT {keys} FROM {names}", plans  # noqa: S608 (names from the models)


def insert_together(
    first: Model, *rest: Model | Together, skip_conflicts: bool = False, using: str = "default"
) -> bool:
    """INSERT `first` and, only if it was written, the new rows `rest` (model instances, or a
    `Together` such as an audit event), all or nothing.

    On PostgreSQL one statement (data-modifying WITH clauses): a registration that writes a
    person, her link and its audit event costs one round trip, and outside a transaction it
    is a transaction of its own, committed by that one statement. Elsewhere one INSERT after
    another in the caller's transaction (or a new one). `first` must carry its primary key
    already (a UUID default), since the others may refer to it. With `skip_conflicts`, when a
    unique constraint refuses `first`, nothing is written and the result is False.
    """
    if first.pk is None:
        raise ValueError("insert_together: the first row needs its primary key before the INSERT")
    connection = connections[using]
    if connection.vendor != "postgresql":
        with transaction.atomic(using=using, savepoint=False):
            if not insert(first, skip_conflicts=skip_conflicts, using=using):
                return False
            for item in rest:
                if isinstance(item, Model):
                    insert(item, using=using)
                else:
                    item.insert(connection)
    else:
        keys = tuple(type(i) if isinstance(i, Model) else (type(i), i.together_key) for i in rest)
        sql, plans = _together_plan(type(first), keys, skip_conflicts)
        _sql, first_fields, _auto = _insert_plan(type(first), connection.vendor, skip_conflicts)
        params = _values(first, first_fields, connection)
        for item, plan in zip(rest, plans, strict=True):
            if plan is None:
                params += item.together_params(connection)
            else:
                params += _values(item, plan[0], connection)
        c = cursor(connection)
        c.execute(sql, params)
        row = c.fetchone()
        if row is None:
            return False
        written = iter(row[1:])
        for item, plan in zip(rest, plans, strict=True):
            if plan is not None:
                pk = next(written)
                if plan[1]:
                    setattr(item, item._meta.pk.attname, pk)
                item._state.adding, item._state.db = False, using
        first._state.adding, first._state.db = False, using
    for item in rest:
        if not isinstance(item, Model):
            item.written()
    return True
