"""Writes to accounts and roles. One transaction each; errors keyed by field."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from mchis.accounts.models import RoleAssignment, User
from mchis.accounts.roles import CLINICAL_ROLES, ROLE_INSTITUTION_KINDS, ROLE_MIN_LEVELS, TECHNICAL_ROLES, Role
from mchis.audit.services import audit_record
from mchis.orgs.models import Institution, InstitutionKind, RegionLevel


@transaction.atomic
def user_create(
    *, username: str, display_name: str, institution: Institution, password: str, created_by: User | None = None
) -> User:
    username = (username or "").strip()
    errors: dict[str, list[str]] = {}
    if not username:
        errors["username"] = [_("a username is required")]
    elif User.objects.filter(username=username).exists():
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
    user.save()
    audit_record(
        action="security",
        actor=created_by,
        object_type="accounts.user",
        object_ids=[str(user.pk)],
        fields=["username", "display_name", "institution", "password"],
        reason="account created",
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
    if (role in TECHNICAL_ROLES and held & CLINICAL_ROLES) or (role in CLINICAL_ROLES and held & TECHNICAL_ROLES):
        return _("a technical administrator cannot hold a clinical role (P19)")
    return None


@transaction.atomic
def role_grant(
    *,
    user: User,
    role: str,
    institution: Institution,
    granted_by: User | None = None,
    expires_at: datetime | None = None,
) -> RoleAssignment:
    # Lock the user row so two concurrent grants cannot both pass the P19 check.
    user = User.objects.select_for_update().get(pk=user.pk)
    held = set(user.role_assignments.values_list("role", flat=True))
    if problem := _role_problem(held=held, role=role, institution=institution):
        raise ValidationError({"role": [problem]})
    if granted_by is not None and granted_by.pk == user.pk:
        raise ValidationError({"role": [_("nobody changes their own roles (P19)")]})
    assignment, _created = RoleAssignment.objects.update_or_create(
        user=user, role=role, institution=institution, defaults={"granted_by": granted_by, "expires_at": expires_at}
    )
    audit_record(
        action="security",
        actor=granted_by,
        object_type="accounts.roleassignment",
        object_ids=[str(assignment.pk)],
        fields=["role", "institution", "expires_at"],
        reason=f"role {role} granted to user {user.pk}",
        institution=institution,
    )
    return assignment
