"""The registry of kinds of approval request (DESIGN "Approvals").

A kind is code, not data: it says who may ask, who decides and where that person must sit,
how the payload is checked, and what approval does. Apps declare their kinds in an
`approval_kinds` module (imported at start-up by `ApprovalsConfig.ready`)::

    approval_kind_register(
        ApprovalKind(
            name="export",
            label=_("data export"),
            requester_roles=frozenset({Role.MCH_INFO_OFFICER}),
            decider_role=Role.HEALTH_ADMIN,
            decider_scope=DeciderScope.REGION,
            clean=export_clean,
            on_approved=export_approve,
            describe=export_describe,
        )
    )

A request of a kind that is not registered is refused, so nothing can be approved that no
code knows how to carry out.

The payload is JSON kept in the approvals table, readable by the requester and the possible
deciders. It never carries clinical data: a kind that concerns a record names it through the
request's subject (type and id) and the decider opens it under that record's own policy.
Personal data of staff (a new colleague's name) is fine at this level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from mchis.accounts.roles import AREA_ROLES

if TYPE_CHECKING:
    from mchis.accounts.models import User
    from mchis.approvals.models import ApprovalRequest


class DeciderScope(models.TextChoices):
    # The decider holds the role at the requester's own institution (a leader, a custodian).
    INSTITUTION = "institution", _("at the requester's institution")
    # The decider holds an area role at an institution whose region covers the requester's
    # institution (the county MCH information officer over the county's hospitals and centres).
    REGION = "region", _("over the requester's institution")


@dataclass(frozen=True)
class ApprovalKind:
    name: str
    label: Any
    # The requester must hold one of these roles at their own institution.
    requester_roles: frozenset[str]
    decider_role: str
    decider_scope: str
    # clean(requester=, payload=) -> the cleaned payload; raises ValidationError({field: [msg]}).
    clean: Callable[..., dict]
    # on_approved(request=, decider=) performs the action, in the decision's transaction.
    on_approved: Callable[..., None]
    # describe(request=) -> [(label, value), ...] shown on the request page.
    describe: Callable[..., list[tuple[Any, Any]]]
    # grants_until(payload=) -> when what the request grants ends (None: not time-limited).
    grants_until: Callable[..., datetime | None] | None = None
    # How long a request waits for a decision before it expires (None: the site default).
    pending_for: timedelta | None = None
    # Kinds whose approval grants roles through `role_grant(approval=...)` (P19).
    grants_roles: bool = False


APPROVAL_KINDS: dict[str, ApprovalKind] = {}


def approval_kind_register(kind: ApprovalKind) -> ApprovalKind:
    if kind.name in APPROVAL_KINDS and APPROVAL_KINDS[kind.name] is not kind:
        raise ValueError(f"approval kind {kind.name!r} is registered twice")
    if kind.decider_scope not in DeciderScope.values:
        raise ValueError(f"approval kind {kind.name!r}: unknown decider scope {kind.decider_scope!r}")
    if kind.decider_scope == DeciderScope.REGION and kind.decider_role not in AREA_ROLES:
        # Only area roles reach beyond their own institution.
        raise ValueError(f"approval kind {kind.name!r}: {kind.decider_role} is not an area role")
    APPROVAL_KINDS[kind.name] = kind
    return kind


def approval_kind_get(name: str) -> ApprovalKind | None:
    return APPROVAL_KINDS.get(name)


def describe_request(request: ApprovalRequest) -> list[tuple[Any, Any]]:
    kind = approval_kind_get(request.kind)
    return kind.describe(request=request) if kind else []


def kind_label(name: str) -> Any:
    kind = approval_kind_get(name)
    return kind.label if kind else name


def requester_may_ask(kind: ApprovalKind, requester: User) -> bool:
    """Whether the requester holds one of the kind's requester roles at their own institution."""
    return requester.institution_id is not None and any(
        a.role in kind.requester_roles and a.institution_id == requester.institution_id
        for a in requester.active_roles()
    )
