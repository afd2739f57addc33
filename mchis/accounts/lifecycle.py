"""Account lifecycle (P29): accounts end on their date, and when their holder leaves.

* An account works until the day before `User.expires_on`. From the start of that day (the
  deployment's time zone) it no longer logs in (`expiry.AccountBackend`), a session still
  open is signed out at its next request (`expiry.AccountExpiryMiddleware`), and the
  periodic job disables it for good (`accounts_expire`: `is_active=False`, reason
  "expired", audited), which also ends its sessions and revokes its electronic keys.
* A handover (`handover.py`) closes the leaver's account the same way, with reason
  "handover".

`account_close` is the system's own way of disabling an account (a date came, a handover
completed); the security administrator's disabling from the access review is
`review.account_disable`, which checks the administrator's jurisdiction.
"""

from __future__ import annotations

import secrets
import string
from datetime import date, datetime, time

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from mchis.accounts.mfa import keys_revoke_all
from mchis.accounts.models import DisabledReason, User
from mchis.accounts.sessions import sessions_end
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_record


def account_expired(user: User, *, today: date | None = None) -> bool:
    """Whether the account's end date has come (it stops working at the start of that day)."""
    expires_on = getattr(user, "expires_on", None)
    return expires_on is not None and expires_on <= (today or timezone.localdate())


def day_start(day: date) -> datetime:
    """The first instant of `day` in the deployment's time zone (an account's role assignments end then)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def password_generate() -> str:
    """An initial password: 16 characters from all four classes, from the OS's random source.

    Meets any configured password rule; the holder must change it at first login.
    """
    alphabet = string.ascii_letters + string.digits + "-_.!@#"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(16))
        if (
            any(c.islower() for c in pw)
            and any(c.isupper() for c in pw)
            and any(c.isdigit() for c in pw)
            and any(not c.isalnum() for c in pw)
        ):
            return pw


@transaction.atomic
def account_close(*, user: User, reason: str, by: User | None = None) -> bool:
    """Disable an account for `reason` (a `DisabledReason`), end its sessions and revoke its keys.

    False when it was disabled already (the earlier reason stays). `by`: who caused it
    (None: the system's periodic job).
    """
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        return False
    user.is_active = False
    user.disabled_reason = reason
    user.disabled_at = timezone.now()
    # A privilege change: any session still open rotates, then finds the account disabled.
    user.privilege_epoch = F("privilege_epoch") + 1
    user.save(update_fields=["is_active", "disabled_reason", "disabled_at", "privilege_epoch"])
    user.refresh_from_db(fields=["privilege_epoch"])
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        fields=["is_active", "disabled_reason"],
        reason=f"account disabled ({reason})",
        institution=user.institution_id,
    )
    sessions_end(user=user, reason=str(reason), by=by)
    keys_revoke_all(user=user, by=by, reason=str(reason))
    return True


def accounts_expire(*, today: date | None = None) -> int:
    """Disable every active account whose end date has come. Returns how many (the periodic job)."""
    today = today or timezone.localdate()
    due = User.objects.filter(is_active=True, expires_on__lte=today).values_list("pk", flat=True)
    return sum(account_close(user=User(pk=pk), reason=DisabledReason.EXPIRED) for pk in list(due))
