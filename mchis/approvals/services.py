"""Writes to approval requests: ask, decide, withdraw, expire (DESIGN "Approvals").

Rules every kind inherits:

* a request of an unregistered kind is refused;
* nobody decides their own request (P19), one they filed included after a handover moved
  it to their successor; only a holder of the deciding role at the right place decides;
  anyone else is told "not found";
* a decision is final; a pending request expires after its time and can no longer be
  decided;
* the kind's `on_approved` runs in the decision's transaction: if it fails, the request stays
  pending and nothing it would have done remains;
* every step writes an audit event in its own transaction (refusals are recorded outside the
  refused action's transaction, so they are kept), and deciders (on a new request) and the
  requester (on its closing) receive an in-app notice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.access.errors import RecordNotFound
from mchis.accounts.models import Handover, User
from mchis.accounts.notices import notice_send
from mchis.approvals.kinds import ApprovalKind, DeciderScope, approval_kind_get, kind_label, requester_may_ask
from mchis.approvals.models import ApprovalRequest, ApprovalState
from mchis.approvals.selectors import OBJECT_TYPE, approval_get, approval_may_decide, approval_nearest_deciders
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_denied, audit_record

NOTICE_KIND = "approval"


def approval_pending_for(kind: ApprovalKind) -> timedelta:
    return kind.pending_for or timedelta(days=settings.MCHIS_APPROVAL_PENDING_DAYS)


def _notify(*, recipients, request: ApprovalRequest, title: str) -> None:
    # Notices are written once for all readers, in the site's default language (Notice.title).
    with translation.override(settings.LANGUAGE_CODE):
        notice_send(
            recipients=recipients,
            kind=NOTICE_KIND,
            title=str(title) % {"kind": kind_label(request.kind)},
            url=reverse("approvals:detail", args=[request.pk]),
        )


def _audit(*, request: ApprovalRequest, actor: User | None, step: str, action: str = AuditAction.APPROVAL, **extra):
    audit_record(
        action=action,
        actor=actor,
        object_type=OBJECT_TYPE,
        object_ids=[str(request.pk)],
        fields=["state"],
        reason=f"approval {request.kind} {step}",
        institution=request.requester_institution_id if actor is None else None,
        extra={"kind": request.kind, "state": request.state, **extra},
    )


def approval_request(
    *,
    requester: User,
    kind: str,
    payload: dict,
    reason: str,
    subject_type: str = "",
    subject_id: str = "",
) -> ApprovalRequest:
    """File a request of a registered kind; its deciders are told."""
    spec = approval_kind_get(kind)
    if spec is None:
        audit_denied(
            actor=requester, object_type=OBJECT_TYPE, reason="approval of an unknown kind", extra={"kind": kind}
        )
        raise ValidationError({"kind": [_("There is no such kind of request.")]})
    if not requester_may_ask(spec, requester):
        audit_denied(actor=requester, object_type=OBJECT_TYPE, reason="approval: requester role", extra={"kind": kind})
        raise ValidationError(
            {"kind": [_("Your roles at your institution do not allow this request: %(kind)s.") % {"kind": spec.label}]}
        )
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why this is needed.")]
    try:
        cleaned = spec.clean(requester=requester, payload=dict(payload or {}))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    institution = requester.institution
    with transaction.atomic():
        now = timezone.now()
        request = ApprovalRequest(
            kind=kind,
            subject_type=subject_type,
            subject_id=str(subject_id or ""),
            payload=cleaned,
            requester=requester,
            filed_by=requester,
            requester_institution=institution,
            decider_role=spec.decider_role,
            decider_institution=institution if spec.decider_scope == DeciderScope.INSTITUTION else None,
            decider_region=institution.region if spec.decider_scope == DeciderScope.REGION else None,
            reason=reason,
            created_at=now,
            expires_at=now + approval_pending_for(spec),
            grants_until=spec.grants_until(payload=cleaned) if spec.grants_until else None,
        )
        request.save(force_insert=True)
        _audit(request=request, actor=requester, step="requested", decider_role=spec.decider_role)
        _notify(
            recipients=approval_nearest_deciders(request=request),
            request=request,
            title=gettext_lazy("A request waits for your decision: %(kind)s"),
        )
    return request


def approval_decide(*, actor: User, request_id: UUID | str, approve: bool, note: str = "") -> ApprovalRequest:
    """Approve or reject a pending request. Final; approval performs the kind's action at once."""
    request = approval_get(actor=actor, request_id=request_id)
    if request.is_own(actor):
        audit_denied(actor=actor, object_type=OBJECT_TYPE, object_ids=[str(request.pk)], reason="own request")
        raise ValidationError({"decision": [_("Nobody decides their own request.")]})
    if not approval_may_decide(actor=actor, request=request):
        # Visible to the actor only as its requester, handled above; kept for safety.
        audit_denied(actor=actor, object_type=OBJECT_TYPE, object_ids=[str(request.pk)], reason="not a decider")
        raise RecordNotFound
    note = (note or "").strip()
    if not approve and not note:
        raise ValidationError({"note": [_("Say why the request is rejected.")]})
    if request.state == ApprovalState.PENDING and request.expires_at <= timezone.now():
        _approval_expire_one(request_id=request.pk, now=timezone.now())
        raise ValidationError({"decision": [_("This request has expired and can no longer be decided.")]})
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().select_related("requester_institution").get(pk=request.pk)
        now = timezone.now()
        if request.state != ApprovalState.PENDING:
            raise ValidationError(
                {"decision": [_("This request is closed (%(state)s).") % {"state": request.get_state_display()}]}
            )
        if request.expires_at <= now:
            raise ValidationError({"decision": [_("This request has expired and can no longer be decided.")]})
        spec = approval_kind_get(request.kind)
        if spec is None:
            raise ValidationError({"decision": [_("There is no such kind of request.")]})
        request.state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
        request.decided_by = actor
        request.decided_at = now
        request.decision_note = note
        # Saved before the action so that the action sees an approved request decided by the
        # actor (role_grant checks exactly that, P19); a failing action rolls both back.
        request.save()
        if approve:
            spec.on_approved(request=request, decider=actor)
            request.save()
        _audit(request=request, actor=actor, step=request.state)
        _notify(
            recipients=[request.requester],
            request=request,
            title=gettext_lazy("Your request was approved: %(kind)s")
            if approve
            else gettext_lazy("Your request was rejected: %(kind)s"),
        )
    return request


def approval_withdraw(*, actor: User, request_id: UUID | str) -> ApprovalRequest:
    """The requester takes back a pending request."""
    request = approval_get(actor=actor, request_id=request_id)
    if request.requester_id != actor.pk:
        audit_denied(actor=actor, object_type=OBJECT_TYPE, object_ids=[str(request.pk)], reason="withdraw: not mine")
        raise ValidationError({"decision": [_("Only the requester withdraws a request.")]})
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != ApprovalState.PENDING:
            raise ValidationError(
                {"decision": [_("This request is closed (%(state)s).") % {"state": request.get_state_display()}]}
            )
        request.state = ApprovalState.WITHDRAWN
        request.decided_at = timezone.now()
        request.save()
        _audit(request=request, actor=actor, step="withdrawn")
    return request


def approval_secret_take(*, actor: User, request_id: UUID | str) -> str:
    """The one-time value an approval produced (an initial password), for the requester alone.

    Returned once, then wiped: the custodian hands it over in person and nobody, the
    database's readers included, can see it afterwards.
    """
    request = approval_get(actor=actor, request_id=request_id)
    if request.requester_id != actor.pk:
        audit_denied(actor=actor, object_type=OBJECT_TYPE, object_ids=[str(request.pk)], reason="secret: not mine")
        raise RecordNotFound
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != ApprovalState.APPROVED or not request.has_secret:
            raise ValidationError({"secret": [_("This has already been shown, or there is nothing to show.")]})
        value = request.secret
        request.secret = None
        request.secret_shown_at = timezone.now()
        request.save(update_fields=["secret", "secret_shown_at"])
        audit_record(
            action=AuditAction.SECURITY,
            actor=actor,
            object_type=OBJECT_TYPE,
            object_ids=[str(request.pk)],
            fields=["secret"],
            reason="one-time value shown to the requester and wiped",
        )
    return value


def _approval_expire_one(*, request_id, now: datetime) -> bool:
    with transaction.atomic():
        request = ApprovalRequest.objects.select_for_update().filter(pk=request_id).first()
        if request is None or request.state != ApprovalState.PENDING or request.expires_at > now:
            return False
        request.state = ApprovalState.EXPIRED
        request.decided_at = now
        request.save()
        _audit(request=request, actor=None, step="expired")
        _notify(
            recipients=[request.requester],
            request=request,
            title=gettext_lazy("Your request expired undecided: %(kind)s"),
        )
    return True


def approvals_expire(*, now: datetime | None = None) -> int:
    """Expire pending requests past their time; wipe one-time values never collected.

    Run by the periodic job `approvals_expire_job` (tasks.py). Returns how many requests expired.
    """
    now = now or timezone.now()
    due = ApprovalRequest.objects.filter(state=ApprovalState.PENDING, expires_at__lte=now)
    expired = sum(_approval_expire_one(request_id=pk, now=now) for pk in due.values_list("pk", flat=True))
    # An initial password not collected within the pending period is wiped: the account then
    # needs a new password from the security administrator, which is safer than a stored one.
    stale = ApprovalRequest.objects.filter(
        state=ApprovalState.APPROVED,
        secret__isnull=False,
        decided_at__lte=now - timedelta(days=settings.MCHIS_APPROVAL_PENDING_DAYS),
    )
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            request = ApprovalRequest.objects.select_for_update().get(pk=pk)
            request.secret = None
            request.save(update_fields=["secret"])
            audit_record(
                action=AuditAction.SECURITY,
                object_type=OBJECT_TYPE,
                object_ids=[str(pk)],
                fields=["secret"],
                reason="one-time value never collected, wiped",
                institution=request.requester_institution_id,
            )
    return expired


def approvals_move(*, from_user: User, to_user: User, handover: Handover) -> int:
    """Handover mover (P29): the leaver's open requests, and uncollected one-time values, go to the successor.

    Requests waiting on the leaver as a decider need no move: deciders are addressed by role.
    """
    open_requests = ApprovalRequest.objects.filter(requester=from_user, state=ApprovalState.PENDING) | (
        ApprovalRequest.objects.filter(
            requester=from_user, state=ApprovalState.APPROVED, secret__isnull=False, secret_shown_at__isnull=True
        )
    )
    ids = [str(pk) for pk in open_requests.values_list("pk", flat=True)]
    if not ids:
        return 0
    ApprovalRequest.objects.filter(pk__in=ids).update(requester=to_user)
    audit_record(
        action=AuditAction.SECURITY,
        actor=handover.started_by,
        object_type=OBJECT_TYPE,
        object_ids=ids,
        fields=["requester"],
        reason=f"handover {handover.pk}: requests of user {from_user.pk} moved to user {to_user.pk}",
    )
    return len(ids)
