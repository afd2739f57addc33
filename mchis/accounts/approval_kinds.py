"""Account requests (P29, P3, P19): the institution's data custodian asks, the county MCH
information officer decides.

The custodian names the person, the username, the roles at the custodian's own institution
(the jurisdiction follows from the institution) and the day the account ends. The decider is
an MCH information officer at an institution whose region covers the requesting institution
(the county MCH hospital's information department for the county's hospitals and centres;
the city's and province's may decide too, but only the nearest are notified).

On approval, in the decision's transaction, the account is created (`user_create`) with a
generated initial password that must be changed at first login, ends on the requested day
(`User.expires_on`, and each role assignment's `expires_at`), and receives the roles through
`role_grant(granted_by=decider, approval=request)`: the grant is recorded in the decider's
name and is allowed because the approved request covers exactly that role at that
institution for that account, not because the information officer is a security
administrator (P19: see `services.role_grant`). The initial password is kept encrypted on
the request until the requester opens it once, then wiped; the custodian hands it over in
person.

Technical administrator roles are not requested this way: those accounts are set up by the
security administrator (三员分立, P19), who answers for them.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.accounts.lifecycle import day_start, password_generate
from mchis.accounts.models import User
from mchis.accounts.roles import TECHNICAL_ROLES, Role
from mchis.accounts.services import _role_problem, role_grant, user_create
from mchis.approvals.kinds import ApprovalKind, DeciderScope, approval_kind_register

ACCOUNT = "account"


def _expires_on(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def account_request_clean(*, requester: User, payload: dict) -> dict:
    """Check an account request against the username and role rules; the cleaned payload."""
    from mchis.approvals.models import ApprovalRequest, ApprovalState

    institution = requester.institution
    errors: dict[str, list[str]] = {}
    display_name = str(payload.get("display_name") or "").strip()
    username = str(payload.get("username") or "").strip()
    roles = payload.get("roles") or []
    if isinstance(roles, str):
        roles = [roles]
    roles = list(dict.fromkeys(str(r) for r in roles))
    expires_on = _expires_on(payload.get("expires_on"))

    if not display_name:
        errors["display_name"] = [_("a name is required")]
    elif len(display_name) > 50:
        errors["display_name"] = [_("At most 50 characters.")]
    if not username:
        errors["username"] = [_("a username is required")]
    else:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            errors["username"] = list(exc.messages)
        if len(username) > 150:
            errors["username"] = [_("At most 150 characters.")]
        elif User.objects.filter(username__iexact=username).exists():
            errors["username"] = [_("username %(username)s is already in use") % {"username": username}]
        elif ApprovalRequest.objects.filter(
            kind=ACCOUNT, state=ApprovalState.PENDING, payload__username=username
        ).exists():
            errors["username"] = [_("An account with this username has been requested already.")]

    if not roles:
        errors["roles"] = [_("Choose at least one role.")]
    else:
        held: set[str] = set()
        for role in roles:
            if role in TECHNICAL_ROLES:
                problem = _("Technical administrator accounts are set up by the security administrator (P19).")
            else:
                problem = _role_problem(held=held, role=role, institution=institution)
            if problem:
                errors.setdefault("roles", []).append(problem)
            held.add(role)

    today = timezone.localdate()
    latest = today + timedelta(days=settings.MCHIS_ACCOUNT_MAX_DAYS)
    if expires_on is None:
        errors["expires_on"] = [_("Give the day the account ends.")]
    elif expires_on <= today:
        errors["expires_on"] = [_("The account must end after today.")]
    elif expires_on > latest:
        errors["expires_on"] = [_("An account may run until %(date)s at the latest.") % {"date": latest.isoformat()}]
    if errors:
        raise ValidationError(errors)
    return {"display_name": display_name, "username": username, "roles": roles, "expires_on": expires_on.isoformat()}


def account_request_approve(*, request, decider: User) -> None:
    """Create the account the approved request describes (in the decision's transaction)."""
    payload = request.payload
    institution = request.requester_institution
    expires_on = date.fromisoformat(payload["expires_on"])
    if expires_on <= timezone.localdate():
        raise ValidationError({"decision": [_("The requested account would already have ended.")]})
    password = password_generate()
    user = user_create(
        username=payload["username"],
        display_name=payload["display_name"],
        institution=institution,
        password=password,
        created_by=decider,
    )
    user.expires_on = expires_on
    # A password someone else chose is changed at the first login (P26).
    user.must_change_password = True
    user.save(update_fields=["expires_on", "must_change_password"])
    for role in payload["roles"]:
        role_grant(
            user=user,
            role=role,
            institution=institution,
            granted_by=decider,
            expires_at=day_start(expires_on),
            approval=request,
        )
    request.subject_type = "accounts.user"
    request.subject_id = str(user.pk)
    request.secret = password


def account_request_describe(*, request) -> list[tuple]:
    payload = request.payload
    roles = ", ".join(str(Role(r).label) if r in Role.values else r for r in payload.get("roles", []))
    return [
        (gettext_lazy("name"), payload.get("display_name", "")),
        (gettext_lazy("username"), payload.get("username", "")),
        (gettext_lazy("institution"), request.requester_institution.name),
        (gettext_lazy("roles"), roles),
        (gettext_lazy("account expires on"), payload.get("expires_on", "")),
    ]


def account_request_grants_until(*, payload: dict):
    return day_start(date.fromisoformat(payload["expires_on"]))


approval_kind_register(
    ApprovalKind(
        name=ACCOUNT,
        label=gettext_lazy("account request"),
        requester_roles=frozenset({Role.DATA_CUSTODIAN}),
        decider_role=Role.MCH_INFO_OFFICER,
        decider_scope=DeciderScope.REGION,
        clean=account_request_clean,
        on_approved=account_request_approve,
        describe=account_request_describe,
        grants_until=account_request_grants_until,
        grants_roles=True,
    )
)
