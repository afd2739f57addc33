"""The policy layer: one object per resource answers "may this actor do this to that row?"
both for one object (`can_<action>`) and for a queryset (`filter_<action>`), from one
definition (DESIGN "The one path to protected data").

An actor's reach is computed from their current role assignments: each assignment covers
either its institution (institution roles) or its institution's region and everything under
it (area roles), with the clearance of its role (`levels.ROLE_CLEARANCE`). A break-glass
grant adds one person for a few hours at the actor's clinical clearance.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db.models import BooleanField, ExpressionWrapper, Model, Q, QuerySet, Value
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from mchis.access.levels import ROLE_CLEARANCE, WRITER_ROLES, Level
from mchis.accounts.roles import AREA_ROLES, Role


@dataclass(frozen=True)
class Reach:
    """What one role assignment covers."""

    role: str
    clearance: Level
    institution_id: int
    institution_path: str
    # Area roles: the path of the region they reach (their institution's region).
    region_path: str | None


def actor_reaches(actor) -> list[Reach]:
    """The actor's reaches, cached on the user object for the request."""
    cached = getattr(actor, "_reaches", None)
    if cached is None:
        cached = []
        if actor is not None and actor.is_authenticated and actor.is_active:
            for a in actor.active_roles():
                cached.append(
                    Reach(
                        role=a.role,
                        clearance=ROLE_CLEARANCE[a.role],
                        institution_id=a.institution_id,
                        institution_path=a.institution.region_path,
                        region_path=a.institution.region_path if a.role in AREA_ROLES else None,
                    )
                )
        actor._reaches = cached
    return cached


def clinical_clearance(actor) -> Level | None:
    """The highest clearance among the actor's writer (clinical) roles, wherever held."""
    levels = [r.clearance for r in actor_reaches(actor) if r.role in WRITER_ROLES]
    return max(levels) if levels else None


class Withheld:
    """A field above the actor's clearance: shown as withheld, never silently dropped (P17)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return str(_("withheld"))

    def __repr__(self) -> str:
        return "WITHHELD"


WITHHELD = Withheld()


class ResourcePolicy(abc.ABC):
    """Subclass per protected resource; set the class attributes and the two scope hooks."""

    model: ClassVar[type[Model]]
    # Clearance needed to learn that a record exists and see its lowest-level fields.
    record_level: ClassVar[Level] = Level.L3
    # Level of each field shown to users; fields not listed are at `record_level`.
    field_levels: ClassVar[dict[str, Level]] = {}
    label: ClassVar[str | Promise] = ""

    # --- hooks ----------------------------------------------------------------------------
    @abc.abstractmethod
    def scope_q(self, reach: Reach) -> Q:
        """Rows this reach covers (as a filter)."""

    @abc.abstractmethod
    def covers(self, reach: Reach, obj: Model) -> bool:
        """Whether this reach covers `obj` (the same rule as scope_q, for one object)."""

    def grant_q(self, actor) -> Q:
        """Rows opened to the actor by an active break-glass grant."""
        return Q(pk__in=[])

    def granted(self, actor, obj: Model) -> bool:
        return False

    # --- answers --------------------------------------------------------------------------
    def clearance(self, actor, obj: Model) -> Level | None:
        """The actor's clearance for this object, or None when it is out of reach.

        Rows loaded through `filter_view` for this actor carry the answer of every reach as
        annotations (one query for rows and rights); other objects are checked one by one.
        """
        reaches = actor_reaches(actor)
        if getattr(obj, "_policy_actor", None) == actor.pk:
            levels = [r.clearance for i, r in enumerate(reaches) if getattr(obj, f"_reach_{i}", False)]
            grant = bool(getattr(obj, "_granted", False))
        else:
            levels = [r.clearance for r in reaches if self.covers(r, obj)]
            grant = None
        grant_level = clinical_clearance(actor)
        if grant_level is not None and (not levels or grant_level > max(levels)):
            if grant is None:
                grant = self.granted(actor, obj)
            if grant:
                levels.append(grant_level)
        return max(levels) if levels else None

    def through_grant(self, actor, obj: Model) -> bool:
        """Whether the actor sees `obj` only because of a break-glass grant: no reach of theirs
        covers it at its level. Its reads are then for an emergency (P5), whatever the page
        they came from is for."""
        reaches = actor_reaches(actor)
        if getattr(obj, "_policy_actor", None) == actor.pk:  # loaded through filter_view
            covered = any(getattr(obj, f"_reach_{i}", False) for i in range(len(reaches)))
            return not covered and bool(getattr(obj, "_granted", False))
        if any(r.clearance >= self.record_level and self.covers(r, obj) for r in reaches):
            return False
        return clinical_clearance(actor) is not None and self.granted(actor, obj)

    def can_view(self, actor, obj: Model) -> bool:
        level = self.clearance(actor, obj)
        return level is not None and level >= self.record_level

    def filter_view(self, actor, queryset: QuerySet) -> QuerySet:
        """Rows the actor may see, each annotated with which of the actor's reaches cover it."""
        annotations: dict[str, Any] = {}
        q = Q(pk__in=[])
        for i, reach in enumerate(actor_reaches(actor)):
            if reach.clearance >= self.record_level:
                annotations[f"_reach_{i}"] = ExpressionWrapper(self.scope_q(reach), output_field=BooleanField())
                q |= Q(**{f"_reach_{i}": True})
        if clinical_clearance(actor) is not None:
            annotations["_granted"] = ExpressionWrapper(self.grant_q(actor), output_field=BooleanField())
            q |= Q(_granted=True)
        if not annotations:
            return queryset.none()
        return queryset.annotate(_policy_actor=Value(actor.pk), **annotations).filter(q)

    def can_change(self, actor, obj: Model) -> bool:
        """Writers (clinical roles) of a covering institution, or under a break-glass grant."""
        if any(r.role in WRITER_ROLES and self.covers(r, obj) for r in actor_reaches(actor)):
            return True
        return clinical_clearance(actor) is not None and self.granted(actor, obj)

    def can_create_at(self, actor, institution_id: int) -> bool:
        return any(r.role in WRITER_ROLES and r.institution_id == institution_id for r in actor_reaches(actor))

    def filter_audit_subject(self, actor, queryset: QuerySet) -> QuerySet:
        """Rows whose ids an audit administrator may gather to answer "who saw this person's
        records" (P10, P19): every row, for their ids and foreign keys only. Callers take
        `values_list` of those and nothing else, so nothing is decrypted or shown; which events
        the auditor then sees is the audit trail's own jurisdiction. Everyone else: nothing."""
        if any(r.role == Role.AUDIT_ADMIN for r in actor_reaches(actor)):
            return queryset
        return queryset.none()

    def field_level(self, name: str) -> Level:
        return self.field_levels.get(name, self.record_level)

    def redact(self, actor, obj: Model, fields: list[str]) -> dict[str, Any]:
        """Field values the actor may see; `WITHHELD` for the others.

        Values above the clearance are not even decrypted.
        """
        level = self.clearance(actor, obj) or Level.L1
        return {name: getattr(obj, name) if self.field_level(name) <= level else WITHHELD for name in fields}


class UnscopedQuery(RuntimeError):
    """A protected model was queried without an actor."""
