"""Lockout after repeated failures (P7; GB/T 22239 "login-failure handling").

One rule for every kind of credential: web logins, second-factor codes and (later) API
client credentials. A failure is recorded against one or more *subjects*:

* `user:<username, lowercased>`: the account name tried, whether or not it exists, so the
  answer never tells which names exist (and a lock on a name works the same either way);
  lowercased so that changing letter case does not buy fresh attempts;
* `ip:<address>`: the source address. It doubles as the rate limit across account names:
  one address trying many names is locked after the same number of failures;
* `otp:<user id>`: second-factor attempts of a signed-in account;
* `client:<id>`: an API client credential.

`MCHIS_LOCKOUT_FAILURES` failures of one subject within `MCHIS_LOCKOUT_WINDOW_MINUTES` lock
it for `MCHIS_LOCKOUT_MINUTES`. During a lock the caller refuses the attempt without checking
the credential, so the right password does not help. Failures that led to a lock are
consumed by it (a new lock needs a new series of failures), and a success clears the
account's failures, never the address's: otherwise one valid account would let its holder
reset the address's count between guesses against others.

This is our own small service rather than django-axes (which DESIGN.md names): one rule
for passwords, second factors and API clients, written to our audit trail in the same
transaction, with a lift action for the security administrator (docs/architecture.md).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from mchis.accounts.models import Lockout, LoginFailure, User
from mchis.accounts.roles import Role
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_record

SUBJECT_MAX = 200
# How long lifted and expired lockouts stay on the security administrator's list.
RECENT = timedelta(days=7)


def subject_user(username: str) -> str:
    return f"user:{(username or '').strip().lower()}"[:SUBJECT_MAX]


def subject_ip(address: str) -> str:
    return f"ip:{address or 'unknown'}"[:SUBJECT_MAX]


def lockout_limit() -> int:
    return max(1, int(settings.MCHIS_LOCKOUT_FAILURES))


def lockout_window() -> timedelta:
    return timedelta(minutes=int(settings.MCHIS_LOCKOUT_WINDOW_MINUTES))


def lockout_duration() -> timedelta:
    return timedelta(minutes=int(settings.MCHIS_LOCKOUT_MINUTES))


def _clean(subjects: list[str]) -> list[str]:
    if isinstance(subjects, str):
        raise ValueError("subjects is a list of subject strings, not one string")
    return list(dict.fromkeys(s[:SUBJECT_MAX] for s in subjects if s))


def lockout_active(*, subjects: list[str]) -> Lockout | None:
    """The lockout in force on any of `subjects` (the one lasting longest), or None."""
    subjects = _clean(subjects)
    if not subjects:
        return None
    return (
        Lockout.objects.filter(subject__in=subjects, until__gt=timezone.now(), lifted_at__isnull=True)
        .order_by("-until")
        .first()
    )


def lockout_minutes_left(lockout: Lockout) -> int:
    """Whole minutes until the lock ends, rounded up (at least 1)."""
    seconds = (lockout.until - timezone.now()).total_seconds()
    return max(1, -(-int(seconds) // 60))


@transaction.atomic
def failure_record(*, subjects: list[str]) -> Lockout | None:
    """Record one failed attempt against each subject; lock those that reached the limit.

    Returns the lockout now in force for any of the subjects (None: attempts remain).
    """
    subjects = _clean(subjects)
    now = timezone.now()
    since = now - lockout_window()
    # Failures older than the window never count again; pruning here keeps the table as
    # small as the window (one indexed range delete, no periodic job needed).
    LoginFailure.objects.filter(at__lt=since).delete()
    limit = lockout_limit()
    for subject in subjects:
        if lockout_active(subjects=[subject]) is not None:
            # Attempts during a lock are refused before the credential is checked; one
            # recorded anyway must not extend the lock.
            continue
        # Lock the subject's recent failure rows: on PostgreSQL a concurrent failure waits
        # here and then counts ours, so simultaneous attempts cannot all stay under the
        # limit. (On SQLite every write transaction is serialised already; the very first
        # failures have no row to lock, which is harmless below the limit.)
        list(LoginFailure.objects.select_for_update().filter(subject=subject, at__gte=since).values_list("pk"))
        LoginFailure.objects.create(subject=subject, at=now)
        count = LoginFailure.objects.filter(subject=subject, at__gte=since).count()
        if count >= limit:
            _lock(subject=subject, failures=count, now=now)
    return lockout_active(subjects=subjects)


def _lock(*, subject: str, failures: int, now) -> Lockout:
    lockout = Lockout.objects.create(subject=subject, locked_at=now, until=now + lockout_duration(), failures=failures)
    # The failures are consumed by this lock: after it ends, a new series starts from zero.
    LoginFailure.objects.filter(subject=subject).delete()
    audit_record(
        action=AuditAction.SECURITY,
        actor=None,
        object_type="accounts.lockout",
        object_ids=[str(lockout.pk)],
        fields=["subject", "until"],
        reason=f"locked after {failures} failures",
        institution=_subject_institution_id(subject),
        extra={"subject": subject, "until": lockout.until.isoformat(), "failures": failures},
    )
    return lockout


def failures_clear(*, subjects: list[str]) -> None:
    """Forget the subjects' recorded failures (after a success). Locks in force stay."""
    subjects = _clean(subjects)
    if subjects:
        LoginFailure.objects.filter(subject__in=subjects).delete()


# --- the security administrator's view ------------------------------------------------


def _subject_accounts(subjects: list[str]) -> dict[str, list[User]]:
    """The accounts a user or second-factor subject names (none for addresses and clients)."""
    names = {s[5:] for s in subjects if s.startswith("user:")}
    ids = {s[4:] for s in subjects if s.startswith("otp:") and s[4:].isdigit()}
    found: dict[str, list[User]] = {}
    if names or ids:
        users = (
            User.objects.annotate(lower_name=Lower("username"))
            .filter(Q(lower_name__in=names) | Q(pk__in=[int(i) for i in ids]))
            .select_related("institution")
        )
        for user in users:
            if user.lower_name in names:
                found.setdefault(f"user:{user.lower_name}", []).append(user)
            found.setdefault(f"otp:{user.pk}", []).append(user)
    return found


def _subject_institution_id(subject: str) -> int | None:
    accounts = _subject_accounts([subject]).get(subject, [])
    return accounts[0].institution_id if len(accounts) == 1 else None


def _covers(actor: User, accounts: list[User]) -> bool:
    """Whether the actor's jurisdiction covers every account the subject names.

    A subject naming no account (an address, an API client, a name that exists nowhere) is
    visible to every security administrator: it reveals nothing about any account.
    """
    if Role.SECURITY_ADMIN not in actor.role_names():
        return False
    if not accounts:
        return True
    region = actor.jurisdiction()
    if region is None:
        return False
    return all(a.institution is not None and a.institution.region_path.startswith(region.path) for a in accounts)


def lockouts_visible(*, actor: User, include_recent: bool = True) -> list[Lockout]:
    """Lockouts in force and (with include_recent) those of the last RECENT days, newest
    first, limited to what the actor, a security administrator, may see and lift."""
    if Role.SECURITY_ADMIN not in actor.role_names():
        return []
    now = timezone.now()
    q = Q(until__gt=now, lifted_at__isnull=True)
    if include_recent:
        q |= Q(locked_at__gte=now - RECENT)
    rows = list(Lockout.objects.filter(q).select_related("lifted_by").order_by("-locked_at")[:500])
    accounts = _subject_accounts([r.subject for r in rows])
    visible = []
    for row in rows:
        if _covers(actor, accounts.get(row.subject, [])):
            row.accounts = accounts.get(row.subject, [])
            row.in_force = row.lifted_at is None and row.until > now
            visible.append(row)
    return visible


def lockout_may_lift(*, actor: User, lockout: Lockout) -> bool:
    return _covers(actor, _subject_accounts([lockout.subject]).get(lockout.subject, []))


def lockouts_in_force(subjects: list[str] | None = None) -> QuerySet[Lockout]:
    qs = Lockout.objects.filter(until__gt=timezone.now(), lifted_at__isnull=True)
    return qs.filter(subject__in=_clean(subjects)) if subjects is not None else qs


@transaction.atomic
def lockout_lift(*, lockout: Lockout, by: User) -> None:
    """End a lock before its time and forget the subject's failures. Audited.

    Only a security administrator whose jurisdiction covers the account(s) the subject
    names may lift it; others get the same answer as for a lockout that does not exist.
    """
    from mchis.access.errors import RecordNotFound

    lockout = Lockout.objects.select_for_update().get(pk=lockout.pk)
    if not lockout_may_lift(actor=by, lockout=lockout):
        raise RecordNotFound
    if lockout.lifted_at is not None or lockout.until <= timezone.now():
        return
    lockout.lifted_at = timezone.now()
    lockout.lifted_by = by
    lockout.save(update_fields=["lifted_at", "lifted_by"])
    LoginFailure.objects.filter(subject=lockout.subject).delete()
    audit_record(
        action=AuditAction.SECURITY,
        actor=by,
        object_type="accounts.lockout",
        object_ids=[str(lockout.pk)],
        fields=["lifted_at", "lifted_by"],
        reason="lockout lifted",
        extra={"subject": lockout.subject},
    )
