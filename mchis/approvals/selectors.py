"""Reads of approval requests, and who may decide them.

A request is visible to its requester and to its possible deciders (the holders of the
deciding role at the right place); auditors read about it through the audit trail. Anyone
else gets the same "not found" as for a request that does not exist.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from mchis.access.errors import RecordNotFound
from mchis.accounts.models import User
from mchis.accounts.roles import AREA_ROLES
from mchis.accounts.selectors import users_with_role
from mchis.approvals.models import ApprovalRequest, ApprovalState
from mchis.audit.services import audit_denied
from mchis.orgs.models import Institution, subtree_q

OBJECT_TYPE = "approvals.approvalrequest"


def _decider_q(user: User) -> Q:
    """Requests addressed to a role the user holds, at the place where they hold it."""
    q = Q(pk__in=[])
    if not user.is_authenticated or not user.is_active:
        return q
    for a in user.active_roles():
        q |= Q(decider_role=a.role, decider_institution_id=a.institution_id)
        if a.role in AREA_ROLES:
            # The request's region lies in the region of the institution where the role is held.
            q |= Q(decider_role=a.role) & subtree_q(a.institution.region_path, "decider_region__path")
    return q


def _base() -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.select_related(
        "requester", "requester_institution", "decided_by", "decider_institution", "decider_region"
    )


def approvals_visible(*, user: User) -> QuerySet[ApprovalRequest]:
    return _base().filter(Q(requester_id=user.pk) | _decider_q(user))


def approvals_awaiting(*, user: User) -> QuerySet[ApprovalRequest]:
    """Pending requests this user may decide, oldest first. Never their own."""
    return (
        _base()
        .filter(_decider_q(user), state=ApprovalState.PENDING, expires_at__gt=timezone.now())
        .exclude(ApprovalRequest.own_q(user))
        .order_by("created_at")
    )


def approvals_mine(*, user: User) -> QuerySet[ApprovalRequest]:
    """The user's own requests (including those handed over to them), newest first."""
    return _base().filter(requester_id=user.pk).order_by("-created_at")


def approval_get(*, actor: User, request_id: UUID | str) -> ApprovalRequest:
    """One request visible to the actor; otherwise RecordNotFound (after recording the denial)."""
    request = approvals_visible(user=actor).filter(pk=request_id).first()
    if request is None:
        audit_denied(actor=actor, object_type=OBJECT_TYPE, object_ids=[str(request_id)], reason="approval not visible")
        raise RecordNotFound
    return request


def approval_may_decide(*, actor: User, request: ApprovalRequest) -> bool:
    """Whether the actor holds the deciding role at the right place. Says nothing of state."""
    if request.is_own(actor):
        return False
    return ApprovalRequest.objects.filter(_decider_q(actor), pk=request.pk).exists()


def approval_deciders(*, request: ApprovalRequest) -> QuerySet[User]:
    """Everyone who may decide the request (active, holding the role at the right place)."""
    if request.decider_institution_id is not None:
        institutions = Institution.objects.filter(pk=request.decider_institution_id)
    else:
        institutions = Institution.objects.filter(region__code__in=request.decider_region.ancestor_codes())
    return users_with_role(role=request.decider_role, institutions=institutions).exclude(pk=request.requester_id)


def approval_nearest_deciders(*, request: ApprovalRequest) -> list[User]:
    """The deciders to tell about a new request: those of the nearest level that has any.

    A township centre's account request goes to the county's information officers; the city's
    and the province's may decide too but are not disturbed unless the county has nobody.
    """
    if request.decider_institution_id is not None:
        return list(approval_deciders(request=request))
    for code in reversed(request.decider_region.ancestor_codes()):
        users = list(
            users_with_role(
                role=request.decider_role, institutions=Institution.objects.filter(region__code=code)
            ).exclude(pk=request.requester_id)
        )
        if users:
            return users
    return []
