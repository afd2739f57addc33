"""Machine clients: creation, revocation and the check of a credential on every request.

A client is bound to one institution and one clinical role (P15, P19) and acts through its own
account (`ApiClient.user`): an active user with no usable password (it can never log in),
its name, institution and one role assignment that ends when the client expires. The policy
layer (`actor_reaches`, `visible_to`), the selectors and the audit trail therefore treat a
reporting system exactly like a clinician of that institution, with no special case.
Revocation disables that account as well, and the credential check reads the client row on
every request, so a revocation takes effect at the very next request.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.accounts.lifecycle import account_close
from mchis.accounts.lockout import (
    failure_record,
    failures_clear,
    lockout_active,
    lockout_minutes_left,
    subject_ip,
)
from mchis.accounts.models import DisabledReason, RoleAssignment, User
from mchis.accounts.roles import CLINICAL_ROLES, Role
from mchis.accounts.services import _role_problem, role_grant
from mchis.api.credentials import (
    authorization_value,
    secret_check_dummy,
    secret_hash,
    secret_matches,
    secret_new,
    token_parse,
)
from mchis.api.models import ApiClient
from mchis.audit.models import AuditAction, AuditOutcome
from mchis.audit.services import audit_record
from mchis.ops import rows
from mchis.orgs.models import Institution

# Roles a machine client may hold. Reporting systems do clinical work at one institution;
# the other roles decide approvals, publish or review, which a named person answers for (P3),
# and technical roles see no health data at all (P19).
CLIENT_ROLES = CLINICAL_ROLES
USERNAME_PREFIX = "apiclient:"
# `last_used_at` is written at most this often: not one UPDATE per request.
LAST_USED_EVERY = timedelta(minutes=1)


def apiclient_max_days() -> int:
    return max(1, int(settings.MCHIS_API_CLIENT_MAX_DAYS))


def subject_client(client_id: uuid.UUID | str) -> str:
    return f"client:{client_id}"


@dataclass(frozen=True)
class NewCredentials:
    client: ApiClient
    # Shown once; never stored.
    authorization: str


@transaction.atomic
def apiclient_create(
    *,
    institution: Institution,
    role: str,
    name: str = "",
    expires_days: int | None = None,
    created_by: User | None = None,
    extra: dict | None = None,
) -> NewCredentials:
    """A new client of `institution` holding `role`, and its credential (shown once).

    `created_by` None: an operator at the console (the audit event's `extra` may say who).
    Errors are a ValidationError keyed by argument.
    """
    errors: dict[str, list[str]] = {}
    name = (name or "").strip() or _("%(institution)s reporting system") % {"institution": institution.name}
    if len(name) > 100:
        errors["name"] = [_("the name is at most 100 characters")]
    if role not in Role.values:
        errors["role"] = [_("unknown role %(role)s") % {"role": role}]
    elif role not in CLIENT_ROLES:
        errors["role"] = [
            _("an API client holds a clinical role (%(roles)s): other roles are held by named persons (P3, P19)")
            % {"roles": ", ".join(sorted(CLIENT_ROLES))}
        ]
    elif problem := _role_problem(held=set(), role=role, institution=institution):
        errors["role"] = [problem]
    if not institution.is_active:
        errors["institution"] = [_("the institution %(code)s is not active") % {"code": institution.code}]
    days = apiclient_max_days() if expires_days is None else expires_days
    if not 1 <= days <= apiclient_max_days():
        errors["expires_days"] = [
            _("an API client's credential lasts from 1 to %(max)d days (MCHIS_API_CLIENT_MAX_DAYS)")
            % {"max": apiclient_max_days()}
        ]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    client_id = uuid.uuid4()
    expires_at = now + timedelta(days=days)
    user = User(username=f"{USERNAME_PREFIX}{client_id}", display_name=name[:50], institution=institution)
    user.set_unusable_password()
    user.save()
    # The role ends with the credential: even a forgotten check could not act past expiry.
    role_grant(user=user, role=role, institution=institution, granted_by=created_by, expires_at=expires_at)
    secret = secret_new()
    client = ApiClient.objects.create(
        id=client_id,
        name=name,
        institution=institution,
        role=role,
        user=user,
        secret_hash=secret_hash(client_id=client_id, secret=secret),
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        action=AuditAction.SECURITY,
        actor=created_by,
        object_type="api.apiclient",
        object_ids=[str(client.pk)],
        fields=["name", "institution", "role", "secret_hash", "expires_at"],
        reason="API client created",
        institution=institution,
        extra={"role": role, "user": user.pk, "expires_at": expires_at.isoformat(), **(extra or {})},
    )
    return NewCredentials(client=client, authorization=authorization_value(client_id=client_id, secret=secret))


@transaction.atomic
def apiclient_revoke(
    *, client_id: uuid.UUID | str, revoked_by: User | None = None, extra: dict | None = None
) -> tuple[ApiClient, bool]:
    """End a client's credential at once. Returns (client, whether it was active until now).

    Raises ApiClient.DoesNotExist for an unknown id. Revoking twice changes nothing.
    """
    try:
        client = ApiClient.objects.select_for_update().select_related("user").get(pk=client_id)
    except (ValueError, ValidationError):
        raise ApiClient.DoesNotExist from None
    if client.revoked_at is not None:
        return client, False
    client.revoked_at = timezone.now()
    client.revoked_by = revoked_by
    client.save(update_fields=["revoked_at", "revoked_by"])
    # The account goes too: even a path that skipped the client check reaches nothing.
    account_close(user=client.user, reason=DisabledReason.ADMINISTRATOR, by=revoked_by)
    audit_record(
        action=AuditAction.SECURITY,
        actor=revoked_by,
        object_type="api.apiclient",
        object_ids=[str(client.pk)],
        fields=["revoked_at", "revoked_by"],
        reason="API client revoked",
        institution=client.institution_id,
        extra=extra,
    )
    return client, True


# --- the check on every request -----------------------------------------------------------


class CredentialRefused(Exception):
    """The request's credential does not authenticate. `message` is safe to show the caller."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.message = message
        self.reason = reason


def _refused(*, reason: str, client: ApiClient | None, claimed: uuid.UUID | None) -> None:
    audit_record(
        action=AuditAction.LOGIN_FAILED,
        actor=client.user if client is not None else None,
        outcome=AuditOutcome.FAILED,
        object_type="api.apiclient" if claimed else "",
        object_ids=[str(claimed)] if claimed else [],
        reason=f"API credential refused: {reason}",
        institution=client.institution_id if client is not None else None,
    )


def apiclient_authenticate(*, token: str, source_ip: str) -> ApiClient:
    """The client whose credential `token` is (the text after "Bearer "), or CredentialRefused.

    Lockout (P7) as for logins: failures count against the client id and the source address;
    while either is locked the credential is refused without being checked, so the right
    secret does not help. A wrong secret and an unknown id get the same answer and take the
    same time. Revoked and expired credentials are refused (they do not count as failures:
    their holder proved the secret). Every refusal is audited.
    """
    invalid = _("Invalid API credentials.")
    parsed = token_parse(token)
    address = subject_ip(source_ip)
    if parsed is None:
        locked = lockout_active(subjects=[address])
        if locked is None:
            failure_record(subjects=[address])
        _refused(reason="malformed", client=None, claimed=None)
        raise CredentialRefused(invalid, reason="malformed")
    client_id, secret = parsed
    subjects = [subject_client(client_id), address]
    now = timezone.now()
    client, locked, failed_before = _client_load(client_id=client_id, subjects=subjects, now=now)
    lockout = lockout_active(subjects=subjects) if locked else None
    if lockout is not None:
        _refused(reason="locked out", client=client, claimed=client_id)
        raise CredentialRefused(
            _("Too many failed attempts: try again in %(minutes)d minutes.")
            % {"minutes": lockout_minutes_left(lockout)},
            reason="locked out",
        )
    if client is None:
        secret_check_dummy(client_id=client_id, secret=secret)
    if client is None or not secret_matches(stored=client.secret_hash, client_id=client_id, secret=secret):
        failure_record(subjects=subjects)
        _refused(reason="wrong secret" if client else "unknown client", client=client, claimed=client_id)
        raise CredentialRefused(invalid, reason="wrong secret")
    if client.revoked_at is not None or not client.user.is_active:
        _refused(reason="revoked", client=client, claimed=client_id)
        raise CredentialRefused(_("These API credentials have been revoked."), reason="revoked")
    if client.expires_at <= now:
        _refused(reason="expired", client=client, claimed=client_id)
        raise CredentialRefused(_("These API credentials have expired."), reason="expired")
    # Only the client's own failures are forgotten, never the address's (as for logins).
    if failed_before:
        failures_clear(subjects=[subject_client(client_id)])
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_EVERY:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


# One statement answers everything the check needs, on every API call: the client with its
# account and institution, the account's current role assignments (what the policy layer
# reads next), whether a lockout is in force on the client or the address, and whether the
# client has failures to forget. Written by hand: compiling the equivalent ORM queries cost
# more than running them (bench/suite_maternal_api.py).
_CLIENT_SQL = None
# The models whose columns a row of the statement holds, in order.
_CLIENT_ROW = (ApiClient, User, Institution, RoleAssignment, Institution)


def _client_sql() -> str:
    global _CLIENT_SQL
    if _CLIENT_SQL is None:
        # Only the models' own column names go into the text; every value is a parameter.
        _CLIENT_SQL = f"""
SELECT {rows.columns(ApiClient, "c")}, {rows.columns(User, "u")}, {rows.columns(Institution, "i")},
       {rows.columns(RoleAssignment, "ra")}, {rows.columns(Institution, "rai")},
       (SELECT COUNT(*) FROM accounts_lockout l
         WHERE l.subject IN (%s, %s) AND l.until > %s AND l.lifted_at IS NULL) AS locks,
       (SELECT COUNT(*) FROM (SELECT 1 FROM accounts_loginfailure f WHERE f.subject = %s LIMIT 1) AS one) AS failed
  FROM (SELECT 1 AS probe) AS probe
  LEFT JOIN api_apiclient c ON c.id = %s
  LEFT JOIN accounts_user u ON u.id = c.user_id
  LEFT JOIN orgs_institution i ON i.id = c.institution_id
  LEFT JOIN accounts_roleassignment ra
         ON ra.user_id = c.user_id AND (ra.expires_at IS NULL OR ra.expires_at > %s)
  LEFT JOIN orgs_institution rai ON rai.id = ra.institution_id
 ORDER BY ra.role"""  # noqa: S608
    return _CLIENT_SQL


def _client_load(*, client_id, subjects: list[str], now) -> tuple[ApiClient | None, bool, bool]:
    """(client with `user`, `institution` and the user's active roles loaded, or None;
    whether a lockout is in force on `subjects` (the client's and the address's); whether the
    client has recorded failures)."""
    connection = connections["default"]
    when = connection.ops.adapt_datetimefield_value(now)
    pk = ApiClient._meta.pk.get_db_prep_value(client_id, connection)
    client_subject, address = subjects
    with connection.cursor() as cursor:
        cursor.execute(_client_sql(), [client_subject, address, when, client_subject, pk, when])
        found = cursor.fetchall()
    ends = list(itertools.accumulate(rows.width(m) for m in _CLIENT_ROW))

    def part(row, k):
        return row[(ends[k - 1] if k else 0) : ends[k]]

    first = found[0]
    locked, failed = bool(first[-2]), bool(first[-1])
    client = rows.instance(ApiClient, part(first, 0))
    if client is None:
        return None, locked, failed
    user = rows.instance(User, part(first, 1))
    institution = rows.instance(Institution, part(first, 2))
    assignments = []
    for row in found:
        assignment = rows.instance(RoleAssignment, part(row, 3))
        if assignment is not None:
            assignment.institution = rows.instance(Institution, part(row, 4))
            assignment.user = user
            assignments.append(assignment)
    user._active_roles = assignments
    if user.institution_id == institution.pk:
        user.institution = institution
    client.user, client.institution = user, institution
    return client, locked, failed
