"""Managers of protected models: no query without an actor (DESIGN "The one path")."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock

from django.db import connections, models
from django.db.models.query import RawQuerySet

from mchis.access.policy import UnscopedQuery, actor_reaches, clinical_clearance
from mchis.ops import rows

# Compiled lookups kept per manager (one per actor and query shape; see `visible_lookup`).
LOOKUP_CACHE_SIZE = 2000
# Placeholder UUIDs of a compiled lookup on a UUID column (no real id is near them: uuid7 ids
# start with a timestamp, uuid4 ids carry a version nibble these do not).
LOOKUP_UUID_MARK = 0x1F1F_1F1F_0000_0000_0000_0000_0000_0000


class ProtectedManager(models.Manager):
    """The default manager of a protected model.

    `Model.objects.all()` (or any query that does not start from `visible_to`) raises, so a
    forgotten policy check fails loudly instead of leaking rows. `visible_to(actor, action=…)`
    returns the rows the resource's policy lets through. Jobs and migrations use the model's
    `unscoped` manager; `tests/access/test_unscoped.py` fails when other code does.
    """

    def __init__(self, policy_path: str):
        super().__init__()
        self.policy_path = policy_path

    def get_queryset(self):
        raise UnscopedQuery(
            f"{self.model._meta.label} is protected: query it with "
            f"{self.model.__name__}.objects.visible_to(actor, action=…) (see mchis/access)"
        )

    def policy(self):
        # Policies hold no state: one instance per manager, not an import and object per query.
        cached = self.__dict__.get("_policy")
        if cached is None:
            from django.utils.module_loading import import_string

            cached = self.__dict__["_policy"] = import_string(self.policy_path)()
        return cached

    def visible_to(self, actor, *, action: str = "view") -> models.QuerySet:
        base = super().get_queryset()
        return getattr(self.policy(), f"filter_{action}")(actor, base)

    def visible_lookup(
        self,
        actor,
        *,
        action: str = "view",
        field: str,
        values: Sequence[str],
        order_by: Sequence[str] = (),
        limit: int | None = None,
        for_update: bool = False,
    ) -> list[models.Model]:
        """`visible_to(actor, action=…).filter(<field>__in=values).order_by(…)[:limit]`, as a list
        (locked with `select_for_update(of=("self",))` when `for_update`: call it in a transaction).

        The same rows, through the same policy filter, but the SQL is compiled once per actor
        and query shape and reused with new values. Compiling the policy's query (one EXISTS
        per role assignment, the break-glass subquery) costs several times more than running
        it on an indexed column, and identifier lookups are the hottest read of the system.
        The cache key holds everything the policy's SQL depends on (the actor's role reaches
        and clinical clearance; the policy reads no clock or request state at compile time:
        times are compared in SQL), so a role change or a new grant compiles anew.
        """
        values = list(values)
        if not values:
            return []
        key = (
            action,
            getattr(actor, "pk", None),
            tuple(actor_reaches(actor)),
            clinical_clearance(actor),
            field,
            len(values),
            tuple(order_by),
            limit,
            for_update,
        )
        cache = self._lookup_cache()
        with self._lookup_lock():
            compiled = cache.get(key)
            if compiled is not None:
                cache.move_to_end(key)
        if compiled is None:
            compiled = self._lookup_compile(actor, action, field, len(values), order_by, limit, for_update)
            with self._lookup_lock():
                cache[key] = compiled
                while len(cache) > LOOKUP_CACHE_SIZE:
                    cache.popitem(last=False)
        sql, params, slots, extras = compiled
        if sql == "":
            return []  # the policy lets nothing through for this actor
        if sql is None:
            # The shape did not compile to a reusable statement: run it through the ORM.
            qs = self.visible_to(actor, action=action).filter(**{f"{field}__in": values}).order_by(*order_by)
            if for_update:
                qs = qs.select_for_update(of=("self",))
            return list(qs[:limit] if limit is not None else qs)
        bound = list(params)
        prep = self._lookup_prep(field)
        for position, index in slots:
            bound[position] = prep(values[index])
        if extras is None:
            return list(RawQuerySet(sql, model=self.model, params=bound, using=self.db))
        with connections[self.db].cursor() as cursor:
            cursor.execute(sql, bound)
            found = cursor.fetchall()
        width = rows.width(self.model)
        out = []
        for row in found:
            obj = rows.instance(self.model, row[:width], using=self.db)
            for name, value in zip(extras, row[width:], strict=True):
                setattr(obj, name, value)  # the policy's annotations, as RawQuerySet sets them
            out.append(obj)
        return out

    def _lookup_cache(self) -> OrderedDict:
        return self.__dict__.setdefault("_lookups", OrderedDict())

    def _lookup_lock(self) -> Lock:
        return self.__dict__.setdefault("_lookups_lock", Lock())

    def _lookup_field(self, field: str) -> models.Field:
        return self.model._meta.pk if field == "pk" else self.model._meta.get_field(field)

    def _lookup_prep(self, field: str):
        """How a looked-up value becomes a statement parameter: UUIDs as the backend stores them
        (a malformed one raises ValidationError, as the ORM does); other values as given (the
        callers pass index values, already what the column holds)."""
        model_field = self._lookup_field(field)
        if isinstance(model_field, models.UUIDField):
            connection = connections[self.db]
            return lambda value: model_field.get_db_prep_value(value, connection)
        return lambda value: value

    def _lookup_compile(self, actor, action, field, count, order_by, limit, for_update=False):
        # Compile with unique placeholder values, then find where each one landed among the
        # statement's parameters. Anything unexpected (a value folded into the SQL text,
        # found twice, or missing) falls back to the ORM for this shape.
        if isinstance(self._lookup_field(field), models.UUIDField):
            marks = [uuid.UUID(int=LOOKUP_UUID_MARK + i) for i in range(count)]
        else:
            marks = [f"\x1fmchis-lookup-{field}-{i}\x1f" for i in range(count)]
        qs = self.visible_to(actor, action=action).filter(**{f"{field}__in": marks}).order_by(*order_by)
        if for_update:
            qs = qs.select_for_update(of=("self",))
        if limit is not None:
            qs = qs[:limit]
        if qs.query.is_empty():
            return ("", (), (), None)
        compiler = qs.query.get_compiler(using=self.db)
        sql, params = compiler.as_sql()
        # Rows of the model's columns, in order, then named annotations (the policy's) become
        # instances without RawQuerySet's per-call column matching (mchis.ops.rows); any
        # other shape goes through RawQuerySet (`extras` None).
        concrete = list(self.model._meta.concrete_fields)
        selected = compiler.select
        extras = None
        if [getattr(col, "target", None) for col, _sql, _alias in selected[: len(concrete)]] == concrete and all(
            alias for _col, _sql, alias in selected[len(concrete) :]
        ):
            extras = tuple(alias for _col, _sql, alias in selected[len(concrete) :])
        prep = self._lookup_prep(field)
        slots = []
        for index, mark in enumerate(marks):
            prepared = prep(mark)
            positions = [i for i, p in enumerate(params) if p == prepared]
            if len(positions) != 1 or str(mark) in sql or getattr(mark, "hex", "\x00") in sql:
                return (None, (), (), None)
            slots.append((positions[0], index))
        return (sql, tuple(params), tuple(slots), extras)
