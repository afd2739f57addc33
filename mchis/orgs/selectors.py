"""Reads of the jurisdiction tree, scoped to what the actor may see.

Institution lists are internal (L2, DESIGN.md "Data levels"): a user whose roles reach an
area sees the institutions under it; everyone else sees the institutions they work at.
"""

from __future__ import annotations

from django.db.models import Count, QuerySet

from mchis.accounts.models import User
from mchis.orgs.models import Institution, Region, RegionLevel


def institution_list_visible(*, actor: User) -> QuerySet[Institution]:
    region = actor.jurisdiction()
    qs = Institution.objects.select_related("region")
    if region is not None:
        return qs.in_region(region)
    own = {a.institution_id for a in actor.active_roles()} | ({actor.institution_id} if actor.institution_id else set())
    return qs.filter(pk__in=own)


def region_subtree_counts(*, region: Region) -> list[tuple[str, int]]:
    """How many regions of each level lie under `region` (itself excluded)."""
    rows = Region.objects.subtree(region, include_self=False).values("level").annotate(n=Count("id")).order_by("level")
    return [(RegionLevel(r["level"]).label, r["n"]) for r in rows]


def region_children(*, region: Region) -> QuerySet[Region]:
    return Region.objects.filter(parent=region).order_by("code")
