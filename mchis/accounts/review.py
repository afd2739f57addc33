"""Access review (P4): "check the permission system often".

`access_review` lists what a periodic review looks for, per account:

* dormant: no login for `MCHIS_DORMANT_DAYS` (90) days, or never since it was created that long ago;
* expired: the account's end date has passed but it is still active;
* no second factor: no electronic key in use (P28), where one is required (`MCHIS_MFA_REQUIRED_ROLES`);
* unusual role: a role held at a kind or level of institution it does not belong to
  (`roles.ROLE_INSTITUTION_KINDS`, `ROLE_MIN_LEVELS`: data imported or granted before a rule
  existed), or a combination separation of duties forbids (P19);
* agreement not accepted: the current security agreement of the account's institution (P18),
  or none published by the institution at all.

Only active accounts are reviewed: a disabled one is already out of reach. The page shows a
security administrator their jurisdiction and lets them disable an account from it;
`mchis access-review` prints the same findings for a region or the whole installation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.access.errors import RecordNotFound
from mchis.access.levels import HEALTH_DATA_ROLES
from mchis.accounts.lifecycle import account_close
from mchis.accounts.mfa import mfa_required_roles
from mchis.accounts.models import (
    AgreementAcceptance,
    DisabledReason,
    ElectronicKey,
    KeyState,
    RoleAssignment,
    SecurityAgreement,
    User,
)
from mchis.accounts.roles import ROLE_INSTITUTION_KINDS, ROLE_MIN_LEVELS, TECHNICAL_ROLES, Role
from mchis.accounts.selectors import security_admin_covers, security_admin_institutions
from mchis.audit.services import audit_record
from mchis.orgs.models import InstitutionKind, Region, RegionLevel, subtree_q


class FindingKind(models.TextChoices):
    DORMANT = "dormant", gettext_lazy("dormant accounts")
    EXPIRED = "expired", gettext_lazy("expired accounts still active")
    NO_SECOND_FACTOR = "no_second_factor", gettext_lazy("accounts without an electronic key in use")
    UNUSUAL_ROLE = "unusual_role", gettext_lazy("roles unusual for the institution")
    AGREEMENT = "agreement_not_accepted", gettext_lazy("current security agreement not accepted")


@dataclass(frozen=True)
class Finding:
    kind: str
    user_id: int
    username: str
    display_name: str
    institution_code: str
    institution: str
    detail: str

    @property
    def kind_label(self) -> str:
        return str(FindingKind(self.kind).label)

    def as_dict(self) -> dict:
        return asdict(self)


def dormant_days() -> int:
    return int(getattr(settings, "MCHIS_DORMANT_DAYS", 90))


def _day(value: datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d") if value else ""


def _role_problems(assignments: list[RoleAssignment]) -> list[str]:
    """Why each held role is out of place, in words (P17, P19)."""
    problems: list[str] = []
    held = {a.role for a in assignments}
    for a in assignments:
        role = Role(a.role).label if a.role in Role.values else a.role
        institution = a.institution
        if a.role not in ROLE_INSTITUTION_KINDS:
            problems.append(_("unknown role %(role)s") % {"role": a.role})
            continue
        if institution.kind not in ROLE_INSTITUTION_KINDS[a.role]:
            problems.append(
                _("%(role)s held at a %(kind)s (%(institution)s)")
                % {"role": role, "kind": InstitutionKind(institution.kind).label, "institution": institution.name}
            )
        levels = ROLE_MIN_LEVELS.get(a.role)
        if levels and institution.region.level not in levels:
            problems.append(
                _("%(role)s is a county-level role, held at %(level)s level (%(institution)s)")
                % {"role": role, "level": RegionLevel(institution.region.level).label, "institution": institution.name}
            )
    if len(held & TECHNICAL_ROLES) > 1:
        problems.append(_("holds more than one of the system, security and audit administrator roles (P19)"))
    if held & TECHNICAL_ROLES and held & HEALTH_DATA_ROLES:
        problems.append(
            _("holds a technical administrator role together with a role cleared for health data above L2 (P19)")
        )
    return problems


def _region_of(region: Region | str | None) -> Region | None:
    if region is None or isinstance(region, Region):
        return region
    found = Region.objects.filter(code=region).first()
    if found is None:
        raise ValueError(f"no region with code {region}")
    return found


def access_review(
    *, actor: User | None = None, region: Region | str | None = None, today: date | None = None
) -> list[Finding]:
    """Findings about active accounts: in `actor`'s security-administrator jurisdiction when
    given (nothing for anyone else), within `region` when given, else everywhere."""
    today = today or timezone.localdate()
    region = _region_of(region)
    # Machine clients' accounts are reviewed with `mchis apiclient list` (state, expiry, last
    # use): they have no password, second factor or agreement to find missing.
    users = User.objects.filter(is_active=True, api_client__isnull=True)
    if actor is not None:
        users = users.filter(institution__in=security_admin_institutions(actor=actor))
    if region is not None:
        users = users.filter(subtree_q(region.path, "institution__region_path"))
    now = timezone.now()
    current = SecurityAgreement.objects.filter(institution_id=OuterRef("institution_id")).order_by("-version")
    users = (
        users.select_related("institution")
        .annotate(
            has_key=Exists(ElectronicKey.objects.filter(user=OuterRef("pk"), state=KeyState.ACTIVE)),
            agreement_id=Subquery(current.values("pk")[:1]),
            agreement_version=Subquery(current.values("version")[:1]),
            agreement_published=Subquery(current.values("published_at")[:1]),
        )
        .annotate(
            agreement_accepted=Exists(
                AgreementAcceptance.objects.filter(user=OuterRef("pk"), agreement_id=OuterRef("agreement_id"))
            )
        )
        .prefetch_related(
            Prefetch(
                "role_assignments",
                queryset=RoleAssignment.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .select_related("institution", "institution__region")
                .order_by("role"),
                to_attr="review_roles",
            )
        )
        .order_by(F("institution__region_path").asc(nulls_first=True), "institution__name", "username")
    )
    days = dormant_days()
    # Where the deployment requires a key only for some roles, only their holders are findings.
    needs_key = mfa_required_roles()
    cutoff = timezone.make_aware(datetime.combine(today - timedelta(days=days), time.min))
    findings: list[Finding] = []

    def add(kind: str, user: User, detail: str) -> None:
        inst = user.institution
        findings.append(
            Finding(
                kind=kind,
                user_id=user.pk,
                username=user.username,
                display_name=user.display_name,
                institution_code=inst.code if inst else "",
                institution=inst.name if inst else "",
                detail=detail,
            )
        )

    for user in users:
        if user.last_login is not None and user.last_login < cutoff:
            add(
                FindingKind.DORMANT,
                user,
                _("last login %(date)s (more than %(days)d days ago)") % {"date": _day(user.last_login), "days": days},
            )
        elif user.last_login is None and user.date_joined < cutoff:
            add(
                FindingKind.DORMANT,
                user,
                _("never logged in since the account was created on %(date)s") % {"date": _day(user.date_joined)},
            )
        if user.expires_on is not None and user.expires_on <= today:
            add(FindingKind.EXPIRED, user, _("expired on %(date)s") % {"date": user.expires_on.isoformat()})
        if not user.has_key and (needs_key is None or needs_key & {a.role for a in user.review_roles}):
            add(FindingKind.NO_SECOND_FACTOR, user, _("no electronic key in use (P28)"))
        for problem in _role_problems(user.review_roles):
            add(FindingKind.UNUSUAL_ROLE, user, problem)
        if user.agreement_id is not None and not user.agreement_accepted:
            add(
                FindingKind.AGREEMENT,
                user,
                _("version %(version)d published on %(date)s not accepted")
                % {"version": user.agreement_version, "date": _day(user.agreement_published)},
            )
        elif user.institution_id is not None and user.agreement_id is None:
            # P18 is not in force there: with nothing published, nothing holds the account.
            add(FindingKind.AGREEMENT, user, _("the institution has published no security agreement"))
    order = {kind: i for i, kind in enumerate(FindingKind.values)}
    findings.sort(key=lambda f: order[f.kind])  # stable: within a kind, the users' order
    return findings


def access_review_record(*, actor: User | None, findings: list[Finding], region: str = "") -> None:
    """Audit that a review was run and which accounts it showed."""
    audit_record(
        action="read",
        actor=actor,
        object_type="accounts.user",
        object_ids=sorted({str(f.user_id) for f in findings}),
        purpose="access review",
        extra={"region": region, "findings": len(findings)} if region else {"findings": len(findings)},
    )


def findings_by_kind(findings: list[Finding]) -> list[tuple[str, str, list[Finding]]]:
    """(kind, label, findings) for every kind, in a fixed order, empty kinds included."""
    return [(kind, str(label), [f for f in findings if f.kind == kind]) for kind, label in FindingKind.choices]


@transaction.atomic
def account_disable(*, actor: User, user_id: int, reason: str = DisabledReason.ACCESS_REVIEW) -> User:
    """Disable an account from the access review: it can no longer log in, its sessions end and
    its keys are revoked (one mechanism with expiry and handover: `lifecycle.account_close`)."""
    user = User.objects.select_related("institution").filter(pk=user_id).first()
    if user is None or user.pk == actor.pk or not security_admin_covers(actor=actor, institution=user.institution):
        raise RecordNotFound
    account_close(user=user, reason=reason, by=actor)
    user.refresh_from_db()
    return user
