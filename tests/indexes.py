"""The indexes of a table as the running database has them (SQLite or PostgreSQL), for tests
that count what every INSERT writes and look at query plans."""

from __future__ import annotations

from typing import NamedTuple

from django.db import connection


class TableIndex(NamedTuple):
    name: str
    columns: tuple[str, ...]
    unique: bool
    partial: bool
    # PostgreSQL's varchar_pattern_ops/text_pattern_ops ("_like" indexes for LIKE 'x%').
    pattern_ops: bool

    @property
    def shape(self) -> tuple[tuple[str, ...], bool, bool, bool]:
        """Everything but the name (names differ between the databases, e.g. SQLite's autoindexes)."""
        return self.columns, self.unique, self.partial, self.pattern_ops


def table_indexes(table: str) -> list[TableIndex]:
    """Every index of `table` except the primary key's."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"PRAGMA index_list({connection.ops.quote_name(table)})")
            found = []
            for _seq, name, unique, origin, partial in cursor.fetchall():
                if origin == "pk":
                    continue
                cursor.execute(f"PRAGMA index_info({connection.ops.quote_name(name)})")
                columns = tuple(column for _n, _cid, column in sorted(cursor.fetchall()))
                found.append(TableIndex(name, columns, bool(unique), bool(partial), False))
            return found
        cursor.execute(
            "SELECT i.relname, "
            "  array(SELECT a.attname FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) "
            "        JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n), "
            "  x.indisunique, x.indpred IS NOT NULL, pg_get_indexdef(x.indexrelid) "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
            [table],
        )
        return [
            TableIndex(name, tuple(columns), unique, partial, "_pattern_ops" in definition)
            for name, columns, unique, partial, definition in cursor.fetchall()
        ]


def index_shapes(table: str) -> set[tuple[tuple[str, ...], bool, bool, bool]]:
    return {index.shape for index in table_indexes(table)}


def query_plan(qs) -> str:
    """The plan of a queryset, one string. On PostgreSQL with sequential scans off: on tiny test
    tables the planner prefers them, and the question is whether an index can serve the query."""
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return " | ".join(row[0] for row in cursor.fetchall())
