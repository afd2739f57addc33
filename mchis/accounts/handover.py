"""Handover (P29): when an operator leaves, their open work goes to a successor and their
account closes the same day.

Who: the institution's data custodian, or a security administrator whose jurisdiction covers
the institution, starts a handover naming the leaver, the successor (an active account of the
same institution, not the leaver, not leaving too), the leaving day and a note. Nobody starts
their own handover, nor one they would receive: someone else answers for it (P3).

Open work moves through `HANDOVER_MOVERS`: each mover moves one kind of open work from the
leaver to the successor and returns how many items moved. They run when the handover starts
(the successor takes over at once) and again when the account closes (anything the leaver
opened in between). `Handover.moved` adds up the counts by mover. Modules register their
movers at start-up::

    handover_mover_register(name="archive_loans", mover=archive_loans_move)

Registered here: custody of electronic keys (`ElectronicKey.custodian`); by the approvals app:
the leaver's pending requests. Requests waiting on the leaver as a decider need no move:
deciders are addressed by role and place, never by name.

Both sides confirm: the leaver ("handed over") and the successor ("received"). If the leaver
has gone, the person who started the handover records the leaver's confirmation on their
behalf, with a note saying so. The account closes (`lifecycle.account_close`: disabled,
reason "handover", sessions ended, keys revoked) as soon as both have confirmed, and in any
case on the leaving day, by the periodic job `handovers_due`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.access.errors import RecordNotFound
from mchis.accounts.lifecycle import account_close, account_expired
from mchis.accounts.models import DisabledReason, ElectronicKey, Handover, KeyEvent, KeyEventKind, User
from mchis.accounts.notices import notice_send
from mchis.accounts.roles import Role
from mchis.accounts.selectors import security_admin_covers, security_admin_institutions
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_denied, audit_record

OBJECT_TYPE = "accounts.handover"
NOTICE_KIND = "handover"

Mover = Callable[..., int]
# name -> mover(from_user=, to_user=, handover=) -> number of items moved.
HANDOVER_MOVERS: dict[str, Mover] = {}


def handover_mover_register(*, name: str, mover: Mover) -> None:
    if HANDOVER_MOVERS.get(name, mover) is not mover:
        raise ValueError(f"handover mover {name!r} is registered twice")
    HANDOVER_MOVERS[name] = mover


def keys_custody_move(*, from_user: User, to_user: User, handover: Handover) -> int:
    """The key-register entries the leaver kept as custodian (P28) pass to the successor."""
    keys = list(ElectronicKey.objects.filter(custodian=from_user).values_list("pk", flat=True))
    if not keys:
        return 0
    ElectronicKey.objects.filter(pk__in=keys).update(custodian=to_user)
    KeyEvent.objects.bulk_create(
        KeyEvent(key_id=pk, kind=KeyEventKind.TRANSFERRED, by=handover.started_by, note=f"handover {handover.pk}")
        for pk in keys
    )
    audit_record(
        action=AuditAction.SECURITY,
        actor=handover.started_by,
        object_type="accounts.electronickey",
        object_ids=[str(pk) for pk in keys],
        fields=["custodian"],
        reason=f"handover {handover.pk}: key custody moved from user {from_user.pk} to user {to_user.pk}",
    )
    return len(keys)


handover_mover_register(name="keys", mover=keys_custody_move)


# --- who may do what ----------------------------------------------------------------------


def handover_may_start(*, actor: User, user: User) -> bool:
    """The leaver's institution's data custodian, or a security administrator over it; never the leaver."""
    if actor.pk == user.pk or user.institution_id is None:
        return False
    custodian = any(
        a.role == Role.DATA_CUSTODIAN and a.institution_id == user.institution_id for a in actor.active_roles()
    )
    return custodian or security_admin_covers(actor=actor, institution=user.institution)


def handover_candidates(*, actor: User) -> QuerySet[User]:
    """Active accounts the actor may name as leaver or successor (their institutions' staff)."""
    custodian_of = [a.institution_id for a in actor.active_roles() if a.role == Role.DATA_CUSTODIAN]
    return (
        User.objects.filter(is_active=True, api_client__isnull=True)
        .filter(Q(institution_id__in=custodian_of) | Q(institution__in=security_admin_institutions(actor=actor)))
        .select_related("institution")
        .order_by("institution__name", "display_name", "username")
    )


def handovers_visible(*, user: User) -> QuerySet[Handover]:
    """The handovers a user takes part in, started, or oversees (custodian, security administrator)."""
    custodian_of = [a.institution_id for a in user.active_roles() if a.role == Role.DATA_CUSTODIAN]
    return (
        Handover.objects.filter(
            Q(from_user=user)
            | Q(to_user=user)
            | Q(started_by=user)
            | Q(from_user__institution_id__in=custodian_of)
            | Q(from_user__institution__in=security_admin_institutions(actor=user))
        )
        .select_related("from_user", "to_user", "started_by", "from_user__institution")
        .order_by("-started_at")
    )


def handover_get(*, actor: User, handover_id: int) -> Handover:
    handover = handovers_visible(user=actor).filter(pk=handover_id).first()
    if handover is None:
        audit_denied(actor=actor, object_type=OBJECT_TYPE, object_ids=[str(handover_id)], reason="handover not visible")
        raise RecordNotFound
    return handover


# --- writes -------------------------------------------------------------------------------


def _notify(*, recipients, handover: Handover, title) -> None:
    # Composed once, in the deployment's language (Notice.title).
    with translation.override(settings.LANGUAGE_CODE):
        notice_send(
            recipients=recipients,
            kind=NOTICE_KIND,
            title=str(title) % {"name": handover.from_user.display_name or handover.from_user.username},
            url=reverse("accounts:handover_detail", args=[handover.pk]),
        )


def _move(handover: Handover) -> dict[str, int]:
    moved = dict(handover.moved or {})
    now_moved: dict[str, int] = {}
    for name, mover in HANDOVER_MOVERS.items():
        count = mover(from_user=handover.from_user, to_user=handover.to_user, handover=handover)
        moved[name] = moved.get(name, 0) + count
        now_moved[name] = count
    handover.moved = moved
    return now_moved


def handover_start(*, actor: User, from_user: User, to_user: User, leaving_on: date, note: str = "") -> Handover:
    """Start a handover: check the two people, move the open work now, tell both."""
    if not handover_may_start(actor=actor, user=from_user):
        audit_denied(
            actor=actor, object_type="accounts.user", object_ids=[str(from_user.pk)], reason="handover: not allowed"
        )
        if actor.pk == from_user.pk:
            raise ValidationError({"from_user": [_("Someone else starts the handover of the person leaving.")]})
        raise ValidationError({"from_user": [_("You may not start a handover for this person.")]})
    errors: dict[str, list[str]] = {}
    if not from_user.is_active:
        errors["from_user"] = [_("This account is disabled already.")]
    elif Handover.objects.filter(from_user=from_user, completed_at__isnull=True).exists():
        errors["from_user"] = [_("A handover for this person is open already.")]
    if to_user.pk == from_user.pk:
        errors["to_user"] = [_("The successor cannot be the person leaving.")]
    elif to_user.pk == actor.pk:
        # The starter may confirm for a leaver who has gone: were they also the successor,
        # one person would give both confirmations and close the account alone (P3, P19).
        errors["to_user"] = [_("Whoever starts a handover cannot be its successor: ask another keeper to start it.")]
    elif to_user.institution_id is None or to_user.institution_id != from_user.institution_id:
        errors["to_user"] = [_("The successor must work at the same institution.")]
    elif not to_user.is_active or account_expired(to_user):
        errors["to_user"] = [_("The successor's account is not active.")]
    elif Handover.objects.filter(from_user=to_user, completed_at__isnull=True).exists():
        errors["to_user"] = [_("The successor is leaving too.")]
    if leaving_on is None:
        errors["leaving_on"] = [_("Give the leaving day.")]
    elif leaving_on < timezone.localdate():
        errors["leaving_on"] = [_("The leaving day cannot be in the past.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        handover = Handover.objects.create(
            from_user=from_user,
            to_user=to_user,
            started_by=actor,
            leaving_on=leaving_on,
            note=(note or "").strip(),
        )
        moved = _move(handover)
        handover.save(update_fields=["moved"])
        audit_record(
            action=AuditAction.SECURITY,
            actor=actor,
            object_type=OBJECT_TYPE,
            object_ids=[str(handover.pk)],
            fields=["from_user", "to_user", "leaving_on"],
            reason=f"handover started: user {from_user.pk} to user {to_user.pk}",
            institution=from_user.institution_id,
            extra={"moved": moved, "leaving_on": leaving_on.isoformat()},
        )
        _notify(
            recipients=[from_user, to_user],
            handover=handover,
            title=gettext_lazy("Handover of %(name)s: please confirm"),
        )
    return handover


class Side:
    HANDED_OVER = "handed_over"
    RECEIVED = "received"


def handover_confirm(*, actor: User, handover_id: int, side: str, note: str = "") -> Handover:
    """One side confirms. The leaver's side may be confirmed by the starter on their behalf, with a note."""
    handover = handover_get(actor=actor, handover_id=handover_id)
    note = (note or "").strip()
    on_behalf = False
    if side == Side.RECEIVED:
        if actor.pk != handover.to_user_id:
            raise ValidationError({"side": [_("Only the successor confirms receiving.")]})
    elif side == Side.HANDED_OVER:
        if actor.pk != handover.from_user_id:
            if actor.pk != handover.started_by_id:
                raise ValidationError(
                    {"side": [_("Only the person leaving, or whoever started the handover, confirms.")]}
                )
            on_behalf = True
            if not note:
                raise ValidationError({"note": [_("Say why you confirm on behalf of the person leaving.")]})
    else:
        raise ValidationError({"side": [_("Choose what you confirm.")]})
    with transaction.atomic():
        handover = (
            Handover.objects.select_for_update(of=("self",))
            .select_related("from_user", "to_user", "started_by")
            .get(pk=handover.pk)
        )
        if handover.completed_at is not None:
            raise ValidationError({"side": [_("This handover is complete.")]})
        now = timezone.now()
        field = "from_confirmed_at" if side == Side.HANDED_OVER else "to_confirmed_at"
        if getattr(handover, field) is not None:
            raise ValidationError({"side": [_("This has been confirmed already.")]})
        setattr(handover, field, now)
        if note:
            who = actor.display_name or actor.username
            if on_behalf:
                line = _("%(date)s %(who)s confirmed on behalf of the person leaving: %(note)s")
            else:
                line = _("%(date)s %(who)s: %(note)s")
            entry = line % {"date": timezone.localtime(now).strftime("%Y-%m-%d %H:%M"), "who": who, "note": note}
            handover.note = f"{handover.note}\n{entry}".strip()
        handover.save(update_fields=[field, "note"])
        audit_record(
            action=AuditAction.SECURITY,
            actor=actor,
            object_type=OBJECT_TYPE,
            object_ids=[str(handover.pk)],
            fields=[field],
            reason=f"handover {side}" + (" (on behalf of the leaver)" if on_behalf else ""),
            institution=handover.from_user.institution_id,
        )
        if handover.from_confirmed_at and handover.to_confirmed_at:
            handover.completed_at = now
            handover.save(update_fields=["completed_at"])
            _close_account(handover, by=actor)
    return handover


def _close_account(handover: Handover, *, by: User | None) -> None:
    """Move what the leaver opened since the start, then close their account (in the caller's transaction)."""
    moved = _move(handover)
    handover.save(update_fields=["moved"])
    account_close(user=handover.from_user, reason=DisabledReason.HANDOVER, by=by)
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type=OBJECT_TYPE,
        object_ids=[str(handover.pk)],
        fields=["moved"],
        reason="handover: leaver's account closed",
        institution=handover.from_user.institution_id,
        extra={"moved": moved},
    )


def handovers_due(*, today: date | None = None) -> int:
    """Close the accounts of leavers whose leaving day has come (the periodic job). Returns how many.

    The handover itself stays open until both sides have confirmed (P29 wants both recorded).
    """
    today = today or timezone.localdate()
    due = Handover.objects.filter(completed_at__isnull=True, leaving_on__lte=today, from_user__is_active=True)
    closed = 0
    for pk in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            handover = (
                Handover.objects.select_for_update(of=("self",))
                .select_related("from_user", "to_user", "started_by")
                .get(pk=pk)
            )
            if handover.from_user.is_active:
                _close_account(handover, by=None)
                closed += 1
    return closed
