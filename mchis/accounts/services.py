"""Writes to accounts and roles. One transaction each; errors keyed by field."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.access.levels import HEALTH_DATA_ROLES
from mchis.accounts.models import RoleAssignment, User
from mchis.accounts.passwords import password_history_add
from mchis.accounts.roles import ROLE_INSTITUTION_KINDS, ROLE_MIN_LEVELS, TECHNICAL_ROLES, Role
from mchis.accounts.selectors import security_admin_covers
from mchis.accounts.sessions import privilege_epoch_bump
from mchis.audit.services import audit_record
from mchis.orgs.models import Institution, InstitutionKind, RegionLevel

if TYPE_CHECKING:
    from mchis.approvals.models import ApprovalRequest


@transaction.atomic
def user_create(
    *,
    username: str,
    display_name: str,
    institution: Institution,
    password: str,
    created_by: User | None = None,
    extra: dict | None = None,
) -> User:
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = [_("a username is required")]
    elif User.objects.filter(username__iexact=username).exists():
        # Case-insensitively: lockouts count per name in lower case, and "Bob" and "bob" would
        # lock each other out (and be taken for one another by people reading the trail).
        errors["username"] = [_("username %(username)s is already in use") % {"username": username}]
    if not (display_name or "").strip():
        errors["display_name"] = [_("a name is required")]
    user = User(username=username, display_name=(display_name or "").strip(), institution=institution)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    # P26: a password chosen by someone else is changed at the first login. Accounts made by
    # the system itself (demo, set-up commands: no `created_by`) start with a fresh password.
    if created_by is not None and created_by.pk != user.pk:
        user.must_change_password = True
    else:
        user.password_changed_at = timezone.now()
    user.save()
    password_history_add(user=user)
    audit_record(
        action="security",
        actor=created_by,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        fields=["username", "display_name", "institution", "password"],
        reason="account created",
        extra=extra,
    )
    return user


def _role_problem(*, held: set[str], role: str, institution: Institution) -> str | None:
    if role not in Role.values:
        return _("unknown role %(role)s") % {"role": role}
    if institution.kind not in ROLE_INSTITUTION_KINDS[role]:
        return _("the role %(role)s cannot be held at a %(kind)s") % {
            "role": Role(role).label,
            "kind": InstitutionKind(institution.kind).label,
        }
    levels = ROLE_MIN_LEVELS.get(role)
    if levels and institution.region.level not in levels:
        return _("the role %(role)s is held at county level or above, not at a %(level)s") % {
            "role": Role(role).label,
            "level": RegionLevel(institution.region.level).label,
        }
    # Separation of duties (P19).
    if role in TECHNICAL_ROLES and (held & TECHNICAL_ROLES) - {role}:
        return _("system, security and audit administrator roles are mutually exclusive (P19)")
    # Technical administrators see no health data (P19): a technical role never sits beside
    # a role cleared above L2 (clinical roles, data custodian, leader, MCH information
    # officer, inspector), whichever of the two comes first.
    if role in TECHNICAL_ROLES:
        clash = sorted(held & HEALTH_DATA_ROLES)
        technical, other = role, clash[0] if clash else None
    elif role in HEALTH_DATA_ROLES:
        clash = sorted(held & TECHNICAL_ROLES)
        technical, other = (clash[0] if clash else None), role
    else:
        technical = other = None
    if technical and other:
        return _(
            "technical administrators see no health data (P19): the role %(technical)s cannot be held with "
            "%(other)s, which is cleared for health data above L2"
        ) % {"technical": Role(technical).label, "other": Role(other).label}
    return None


@transaction.atomic
def role_grant(
    *,
    user: User,
    role: str,
    institution: Institution,
    granted_by: User | None = None,
    expires_at: datetime | None = None,
    approval: ApprovalRequest | None = None,
    extra: dict | None = None,
) -> RoleAssignment:
    """Grant `role` at `institution` to `user` (P19).

    `granted_by` None: the system itself (set-up commands, the demo); only the role rules
    apply. Otherwise nobody changes their own roles, and the grantor is either

    * a security administrator whose jurisdiction covers both the institution and the
      user's own institution (`_grant_rights_problem`), or
    * the decider of an approved request of a role-granting kind (`approval`: an account
      request approved by the MCH information officer), which must name exactly this role,
      institution and account (`_approval_grant_problem`). The grant is recorded in the
      decider's name, and the audit event names the request.
    """
    # Lock the user row so two concurrent grants cannot both pass the P19 check.
    user = User.objects.select_for_update().get(pk=user.pk)
    held = set(user.role_assignments.values_list("role", flat=True))
    if problem := _role_problem(held=held, role=role, institution=institution):
        raise ValidationError({"role": [problem]})
    if granted_by is not None:
        if granted_by.pk == user.pk:
            raise ValidationError({"role": [_("nobody changes their own roles (P19)")]})
        if approval is not None:
            problem = _approval_grant_problem(
                approval=approval, granted_by=granted_by, user=user, role=role, institution=institution
            )
        else:
            problem = _grant_rights_problem(granted_by=granted_by, user=user, institution=institution)
        if problem:
            raise ValidationError({"role": [problem]})
    assignment, _created = RoleAssignment.objects.update_or_create(
        user=user, role=role, institution=institution, defaults={"granted_by": granted_by, "expires_at": expires_at}
    )
    # A privilege change: the holder's sessions get a new id at their next request (P26).
    privilege_epoch_bump(user=user)
    audit_record(
        action="security",
        actor=granted_by,
        object_type="accounts.roleassignment",
        object_ids=[str(assignment.pk)],
        fields=["role", "institution", "expires_at"],
        reason=f"role {role} granted to user {user.pk}",
        institution=institution,
        extra={**(extra or {}), **({"approval": str(approval.pk)} if approval is not None else {})},
    )
    return assignment


def _grant_rights_problem(*, granted_by: User, user: User, institution: Institution) -> str | None:
    """P19: only a security administrator changes roles, and only inside their jurisdiction.

    The jurisdiction is the region subtree of the institutions where they hold the security
    administrator role. Both the institution of the role and the user's own institution must
    lie in it, so a county's administrator changes nothing at the city or in the next
    county. This also keeps them from granting beyond their own rights: every role they can
    grant, the technical ones included (another security administrator), is held inside
    their own region, never above or beside it.
    """
    if Role.SECURITY_ADMIN not in granted_by.role_names():
        return _("only a security administrator grants or revokes roles (P19)")
    if not security_admin_covers(actor=granted_by, institution=institution):
        return _("%(institution)s is outside your jurisdiction (P19)") % {"institution": institution.name}
    if user.institution_id is not None and not security_admin_covers(actor=granted_by, institution=user.institution):
        return _("this person's institution is outside your jurisdiction (P19)")
    return None


def _approval_grant_problem(
    *, approval: ApprovalRequest, granted_by: User, user: User, role: str, institution: Institution
) -> str | None:
    """A grant made by carrying out an approved request: the request must cover it exactly.

    Read again from the database (state and decider as stored), so that only a request
    really approved by `granted_by` opens this path.
    """
    from mchis.approvals.kinds import approval_kind_get
    from mchis.approvals.models import ApprovalRequest, ApprovalState

    kind = approval_kind_get(approval.kind)
    stored = ApprovalRequest.objects.filter(
        pk=approval.pk, state=ApprovalState.APPROVED, decided_by_id=granted_by.pk
    ).first()
    if (
        kind is None
        or not kind.grants_roles
        or stored is None
        or role not in (stored.payload.get("roles") or [])
        or stored.payload.get("username") != user.username
        or stored.requester_institution_id != institution.pk
    ):
        return _("this grant is not covered by an approved request (P19)")
    return None


@transaction.atomic
def role_revoke(*, assignment: RoleAssignment, revoked_by: User | None = None, reason: str = "") -> None:
    """Take a role away (P19: the same rules as granting). The holder's sessions rotate."""
    user = User.objects.select_for_update().get(pk=assignment.user_id)
    assignment = RoleAssignment.objects.select_related("institution").get(pk=assignment.pk, user=user)
    if revoked_by is not None:
        if revoked_by.pk == user.pk:
            raise ValidationError({"role": [_("nobody changes their own roles (P19)")]})
        if problem := _grant_rights_problem(granted_by=revoked_by, user=user, institution=assignment.institution):
            raise ValidationError({"role": [problem]})
    pk, role, institution = assignment.pk, assignment.role, assignment.institution
    # Deleted, not end-dated: `role_grant` checks separation of duties against every row
    # a user has, and the audit trail keeps the history of grants and revocations.
    assignment.delete()
    privilege_epoch_bump(user=user)
    audit_record(
        action="security",
        actor=revoked_by,
        object_type="accounts.roleassignment",
        object_ids=[str(pk)],
        fields=["role", "institution"],
        reason=f"role {role} revoked from user {user.pk}" + (f": {reason}" if reason else ""),
        institution=institution,
    )


# Roles an installation's operator may give from the command line (`mchis account create`):
# the accounts that must exist before anyone can sign in to request or approve others (the
# security administrator and the other technical administrators, the MCH information officers
# who decide account requests, the data custodians who file them). Every other role is
# requested by the institution's custodian and approved (P29).
SETUP_ROLES = frozenset({*TECHNICAL_ROLES, Role.MCH_INFO_OFFICER, Role.DATA_CUSTODIAN})


@transaction.atomic
def account_setup(
    *, username: str, display_name: str, institution_code: str, roles: list[str], expires_on: date, extra: dict
) -> tuple[User, str]:
    """An account with its roles, made by the installation's operator: returns it and its
    initial password, which the holder must change at the first sign-in (P26) before
    enrolling an electronic key (P28). All or nothing; audited as made by the system, with
    `extra` (the operating-system account)."""
    from mchis.accounts.lifecycle import day_start, password_generate

    errors: dict[str, list[str]] = {}
    institution = Institution.objects.select_related("region").filter(code=institution_code).first()
    if institution is None:
        errors["institution"] = [_("no institution has the code %(code)s") % {"code": institution_code}]
    roles = list(dict.fromkeys(roles))
    if not roles:
        errors["roles"] = [_("Choose at least one role.")]
    for role in roles:
        if role in Role.values and role not in SETUP_ROLES:
            errors.setdefault("roles", []).append(
                _("%(role)s accounts are requested by the institution's data custodian and approved (P29)")
                % {"role": Role(role).label}
            )
    today = timezone.localdate()
    latest = today + timedelta(days=settings.MCHIS_ACCOUNT_MAX_DAYS)
    if expires_on <= today:
        errors["expires_on"] = [_("The account must end after today.")]
    elif expires_on > latest:
        errors["expires_on"] = [_("An account may run until %(date)s at the latest.") % {"date": latest.isoformat()}]
    if errors:
        raise ValidationError(errors)
    password = password_generate()
    user = user_create(
        username=username, display_name=display_name, institution=institution, password=password, extra=extra
    )
    # A password someone else chose is changed at the first sign-in (P26).
    user.expires_on = expires_on
    user.must_change_password = True
    user.password_changed_at = None
    user.save(update_fields=["expires_on", "must_change_password", "password_changed_at"])
    for role in roles:
        role_grant(user=user, role=role, institution=institution, expires_at=day_start(expires_on), extra=extra)
    return user, password
