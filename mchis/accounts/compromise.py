"""Suspected compromise of an account (P4).

"On suspicion that an account or password leaked: change it at once and report to the
superior health authority" (v1 §4, v3 §4). Whoever suspects it flags the account, and the
system does the rest at once, in one transaction: the account is locked, its sessions are
ended (a holder who is signed in is out with their next click), its electronic keys are
revoked, a new password is required, the report is recorded and audited, and the superior
health authority, the institution's custodians and the security administrators over it get
a notice.

Who may flag: anybody their own account or an account of their own institution (the
colleague at the next desk is the one who notices); a custodian an account of the
institution they keep; a security administrator any account in their jurisdiction. A wrong
or out-of-reach username gets the same answer as an unknown one.

Clearing is the security administrator's: they set a new initial password, hand it over in
person (it is shown once), and re-enable the account. At the next login the holder must
change that password and enrol a new key (their old keys stay revoked).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from mchis.access.errors import RecordNotFound
from mchis.accounts.lifecycle import password_generate
from mchis.accounts.mfa import keys_revoke_all
from mchis.accounts.models import CompromiseReport, DisabledReason, User
from mchis.accounts.notices import notice_send
from mchis.accounts.passwords import password_set
from mchis.accounts.roles import Role
from mchis.accounts.selectors import (
    institution_custodians,
    security_admin_covers,
    security_admin_institutions,
    security_admins_over,
    superior_health_authority,
)
from mchis.accounts.sessions import sessions_end
from mchis.audit.services import audit_record

REASON_MAX = 2000


def compromise_can_flag(*, actor: User, user: User) -> bool:
    if actor.pk == user.pk:
        return True
    if user.institution_id is not None and user.institution_id == actor.institution_id:
        return True
    if any(a.role == Role.DATA_CUSTODIAN and a.institution_id == user.institution_id for a in actor.active_roles()):
        return True
    return security_admin_covers(actor=actor, institution=user.institution)


def compromise_target_find(*, actor: User, username: str) -> User:
    """The account named `username` if `actor` may flag it; the same error otherwise."""
    user = User.objects.select_related("institution").filter(username=(username or "").strip()).first()
    if user is None or not compromise_can_flag(actor=actor, user=user):
        raise ValidationError({"username": [_("no account by this name that you may report")]})
    return user


def compromise_reports(*, actor: User) -> QuerySet[CompromiseReport]:
    """Reports about accounts in the security administrator's jurisdiction, open ones first."""
    return (
        CompromiseReport.objects.filter(user__institution__in=security_admin_institutions(actor=actor))
        .select_related("user", "user__institution", "reported_by", "cleared_by")
        .order_by(F("cleared_at").desc(nulls_first=True), "-reported_at")
    )


def _end_sessions_and_keys(*, user: User, by: User) -> None:
    sessions_end(user=user, reason="suspected compromise", by=by)
    keys_revoke_all(user=user, by=by, reason="suspected compromise")


def _notify(*, user: User, report: CompromiseReport, actor: User) -> int:
    institution = user.institution
    if institution is None:
        return 0
    # Notices are composed once, in the deployment's language (Notice.title).
    with translation.override(settings.LANGUAGE_CODE):
        title = _("Suspected compromise: account %(username)s (%(name)s) of %(institution)s locked") % {
            "username": user.username,
            "name": user.display_name,
            "institution": institution.name,
        }
        body = _(
            "Reported by %(reporter)s at %(time)s. The account is locked, its sessions ended and its "
            "electronic keys revoked until a security administrator clears it (P4).\nWhat happened: %(reason)s"
        ) % {
            "reporter": f"{actor.display_name} ({actor.username})",
            "time": timezone.localtime(report.reported_at).strftime("%Y-%m-%d %H:%M"),
            "reason": report.reason,
        }
    # Neither the locked account nor the reporter (who knows) is told.
    skip = {user.pk, actor.pk}
    others = [u for u in superior_health_authority(institution) if u.pk not in skip]
    others += [u for u in institution_custodians(institution) if u.pk not in skip]
    admins = [u for u in security_admins_over(institution) if u.pk not in skip]
    admin_ids = {u.pk for u in admins}
    n = notice_send(
        recipients=admins, kind="compromise", title=title, body=body, url=reverse("accounts:compromise_list")
    )
    n += notice_send(recipients=[u for u in others if u.pk not in admin_ids], kind="compromise", title=title, body=body)
    return n


@transaction.atomic
def compromise_flag(*, actor: User, user: User, reason: str) -> CompromiseReport:
    """Lock `user` at once as suspected compromised and tell those who must know (P4)."""
    reason = (reason or "").strip()
    if not compromise_can_flag(actor=actor, user=user):
        raise ValidationError({"username": [_("no account by this name that you may report")]})
    if not reason:
        raise ValidationError({"reason": [_("say what happened: what makes you suspect the account leaked")]})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": [_("at most %(n)d characters") % {"n": REASON_MAX}]})
    user = User.objects.select_for_update(of=("self",)).select_related("institution").get(pk=user.pk)
    if CompromiseReport.objects.filter(user=user, cleared_at__isnull=True).exists():
        raise ValidationError(
            {
                "username": [
                    _("this account is already locked as suspected compromise and awaits its security administrator")
                ]
            }
        )
    now = timezone.now()
    if user.is_active:
        user.is_active = False
        user.disabled_reason = DisabledReason.COMPROMISED
        user.disabled_at = now
    # else: already disabled for another reason (handover, expiry...), which stays the reason:
    # clearing the report must not re-enable an account that was closed for good.
    user.must_change_password = True
    user.privilege_epoch = F("privilege_epoch") + 1
    user.save(update_fields=["is_active", "disabled_reason", "disabled_at", "must_change_password", "privilege_epoch"])
    user.refresh_from_db(fields=["privilege_epoch"])
    _end_sessions_and_keys(user=user, by=actor)
    report = CompromiseReport.objects.create(user=user, reported_by=actor, reported_at=now, reason=reason)
    audit_record(
        action="security",
        actor=actor,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        fields=["is_active", "disabled_reason", "must_change_password"],
        reason="suspected compromise: account locked, sessions ended, keys revoked",
        institution=user.institution_id,
        extra={"report": report.pk},
    )
    _notify(user=user, report=report, actor=actor)
    return report


@transaction.atomic
def compromise_clear(*, actor: User, report_id: int) -> tuple[CompromiseReport, str | None]:
    """Re-enable a flagged account with a new initial password; returns it to show once
    (None when the account was closed meanwhile for another reason and stays closed).

    Only a security administrator over the account, never for their own account. The holder
    must change the password at the next login (`must_change_password`) and enrol a new
    electronic key (theirs were revoked when it was flagged).
    """
    report = (
        CompromiseReport.objects.select_for_update(of=("self",))
        .select_related("user", "user__institution")
        .filter(pk=report_id, cleared_at__isnull=True)
        .first()
    )
    if (
        report is None
        or report.user_id == actor.pk
        or not security_admin_covers(actor=actor, institution=report.user.institution)
    ):
        raise RecordNotFound
    user = User.objects.select_for_update().get(pk=report.user_id)
    now = timezone.now()
    if not user.is_active and user.disabled_reason != DisabledReason.COMPROMISED:
        # Closed meanwhile for another reason (handover, expiry, review): the reports are
        # settled, the account stays closed and gets no new password.
        return _reports_close(actor=actor, user=user, report=report, now=now, reenabled=False), None
    password = password_generate()
    # Policy, history, "must change at next login", sessions and its own audit event.
    password_set(user=user, password=password, by=actor)
    user.is_active = True
    user.disabled_reason = ""
    user.disabled_at = None
    user.save(update_fields=["is_active", "disabled_reason", "disabled_at"])
    _reports_close(actor=actor, user=user, report=report, now=now, reenabled=True)
    with translation.override(settings.LANGUAGE_CODE):
        notice_send(
            recipients=[user],
            kind="compromise_cleared",
            title=_("Your account was re-enabled after a suspected compromise"),
            body=_("Change the initial password you were given and enrol a new electronic key."),
        )
    report.refresh_from_db()
    return report, password


def _reports_close(*, actor: User, user: User, report: CompromiseReport, now, reenabled: bool) -> CompromiseReport:
    # Every open report of this account is settled by the same clearing.
    cleared = list(CompromiseReport.objects.filter(user=user, cleared_at__isnull=True).values_list("pk", flat=True))
    CompromiseReport.objects.filter(pk__in=cleared).update(cleared_at=now, cleared_by=actor)
    audit_record(
        action="security",
        actor=actor,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        fields=["password", "is_active", "disabled_reason", "must_change_password"] if reenabled else [],
        reason=(
            "suspected compromise cleared: new initial password set, account re-enabled"
            if reenabled
            else f"suspected compromise report closed; account stays disabled ({user.disabled_reason})"
        ),
        institution=user.institution_id,
        extra={"reports": cleared},
    )
    report.refresh_from_db()
    return report
