"""Reads about accounts: who holds which role where (used to address notices and approvals)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from mchis.accounts.models import User
from mchis.accounts.roles import Role
from mchis.orgs.models import Institution, InstitutionKind, Region, subtree_q


def users_with_role(*, role: str, institutions: QuerySet[Institution] | list[Institution]) -> QuerySet[User]:
    """Active persons holding `role` (unexpired) at one of `institutions` (machine clients'
    accounts never: they neither decide nor read notices)."""
    now = timezone.now()
    return (
        User.objects.filter(
            is_active=True,
            api_client__isnull=True,
            role_assignments__role=role,
            role_assignments__institution__in=institutions,
        )
        .filter(Q(role_assignments__expires_at__isnull=True) | Q(role_assignments__expires_at__gt=now))
        .distinct()
    )


def institution_custodians(institution: Institution) -> QuerySet[User]:
    """The institution's data custodians (保密责任人, P3)."""
    return users_with_role(role=Role.DATA_CUSTODIAN, institutions=[institution])


def _covering_institutions(region: Region) -> QuerySet[Institution]:
    """Institutions whose region is `region` or one of its ancestors."""
    return Institution.objects.filter(region__code__in=region.ancestor_codes())


def security_admins_over(institution: Institution) -> QuerySet[User]:
    """Security administrators whose jurisdiction covers the institution."""
    return users_with_role(role=Role.SECURITY_ADMIN, institutions=_covering_institutions(institution.region))


def superior_health_authority(institution: Institution) -> QuerySet[User]:
    """Health-administration users of the authority above the institution (P4, P9).

    For a hospital or health centre that is the health commission of its own county (the
    nearest health administration at or above its region); for a health commission, the
    one above it.
    """
    authorities = Institution.objects.filter(
        kind=InstitutionKind.HEALTH_ADMINISTRATION,
        region__code__in=institution.region.ancestor_codes(),
    ).exclude(pk=institution.pk)
    nearest = authorities.select_related("region").order_by("-region__level").first()
    if nearest is None:
        return User.objects.none()
    return users_with_role(role=Role.HEALTH_ADMIN, institutions=[nearest])


def security_admin_regions(*, actor: User) -> list[Region]:
    """The regions where `actor` holds the security-administrator role (their jurisdiction)."""
    return [a.institution.region for a in actor.active_roles() if a.role == Role.SECURITY_ADMIN]


def security_admin_covers(*, actor: User, institution: Institution | None) -> bool:
    """Whether `institution` lies in the security administrator's jurisdiction."""
    if institution is None:
        return False
    return any(institution.region_path.startswith(r.path) for r in security_admin_regions(actor=actor))


def security_admin_institutions(*, actor: User) -> QuerySet[Institution]:
    """Every institution in the security administrator's jurisdiction (none for anyone else)."""
    regions = security_admin_regions(actor=actor)
    if not regions:
        return Institution.objects.none()
    q = Q()
    for region in regions:
        q |= subtree_q(region.path, "region_path")
    return Institution.objects.filter(q)
