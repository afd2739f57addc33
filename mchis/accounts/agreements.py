"""Security agreements (安全协议, P18): versioned texts per institution, accepted by its users.

"Each institution signs a security agreement with its information staff" (v4 §5). The
newest published version of an institution's agreement applies; nobody of that institution
reaches anything but the agreement page until they have accepted it (`gate_agreement`), and
publishing a new version holds everyone again. An acceptance records when and from which
address; the acceptance and the publication are both audited.

Who publishes: the institution's data custodian or leader (they sign for the institution),
or a security administrator whose jurisdiction covers it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.access.errors import RecordNotFound
from mchis.accounts.gates import Gate
from mchis.accounts.models import AgreementAcceptance, SecurityAgreement, User
from mchis.accounts.roles import Role
from mchis.accounts.selectors import security_admin_covers, security_admin_institutions
from mchis.audit.services import audit_record
from mchis.orgs.models import Institution

# Roles that sign the agreement on the institution's side (P3, P18).
PUBLISHER_ROLES = frozenset({Role.DATA_CUSTODIAN, Role.LEADER})

TITLE_MAX = 200
TEXT_MIN = 20


# --- reads ------------------------------------------------------------------------------


def agreement_current(*, institution: Institution | int | None) -> SecurityAgreement | None:
    """The newest published version of the institution's agreement (None: it has none)."""
    if institution is None:
        return None
    institution_id = getattr(institution, "pk", institution)
    return SecurityAgreement.objects.filter(institution_id=institution_id).order_by("-version").first()


def agreement_pending(*, user: User) -> SecurityAgreement | None:
    """The agreement `user` must accept before anything else, or None.

    One query: the institution's newest version and whether this user accepted it. Users
    without an institution, and institutions without an agreement, have nothing to accept.
    """
    if user.institution_id is None:
        return None
    accepted = AgreementAcceptance.objects.filter(agreement=OuterRef("pk"), user_id=user.pk)
    newest = (
        SecurityAgreement.objects.filter(institution_id=user.institution_id)
        .annotate(accepted=Exists(accepted))
        .order_by("-version")
        .first()
    )
    if newest is None or newest.accepted:
        return None
    return newest


def agreement_can_publish(*, actor: User, institution: Institution) -> bool:
    if any(a.role in PUBLISHER_ROLES and a.institution_id == institution.pk for a in actor.active_roles()):
        return True
    return security_admin_covers(actor=actor, institution=institution)


def agreement_institutions(*, actor: User) -> QuerySet[Institution]:
    """Institutions whose agreement `actor` may publish, with the current version and how
    many of their active users have accepted it."""
    own = [a.institution_id for a in actor.active_roles() if a.role in PUBLISHER_ROLES]
    qs = Institution.objects.filter(Q(pk__in=own) | Q(pk__in=security_admin_institutions(actor=actor).values("pk")))
    newest = SecurityAgreement.objects.filter(institution=OuterRef("pk")).order_by("-version")
    accepted = (
        AgreementAcceptance.objects.filter(
            agreement__institution=OuterRef("pk"),
            agreement__version=OuterRef("current_version"),
            user__institution=OuterRef("pk"),
            user__is_active=True,
        )
        .order_by()
        .values("agreement__institution")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        qs.select_related("region")
        .annotate(current_version=Subquery(newest.values("version")[:1]))
        .annotate(accepted_count=Subquery(accepted[:1]))
        .annotate(user_count=Count("users", filter=Q(users__is_active=True), distinct=True))
        .order_by("region_path", "name")
    )


def agreement_institution_get(*, actor: User, institution_id: int) -> Institution:
    """An institution whose agreement the actor may publish; otherwise not found (no oracle)."""
    institution = Institution.objects.select_related("region").filter(pk=institution_id).first()
    if institution is None or not agreement_can_publish(actor=actor, institution=institution):
        raise RecordNotFound
    return institution


def agreement_versions(*, institution: Institution) -> QuerySet[SecurityAgreement]:
    return (
        SecurityAgreement.objects.filter(institution=institution)
        .select_related("published_by")
        .annotate(acceptance_count=Count("acceptances"))
        .order_by("-version")
    )


# --- writes -----------------------------------------------------------------------------


def _clean(*, title: str, text: str) -> tuple[str, str]:
    title, text = (title or "").strip(), (text or "").strip()
    errors: dict[str, list[str]] = {}
    if not title:
        errors["title"] = [_("a title is required")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [_("the title is at most %(n)d characters") % {"n": TITLE_MAX}]
    if len(text) < TEXT_MIN:
        errors["text"] = [_("the agreement text is at least %(n)d characters") % {"n": TEXT_MIN}]
    if errors:
        raise ValidationError(errors)
    return title, text


@transaction.atomic
def agreement_publish(*, actor: User, institution: Institution, title: str, text: str) -> SecurityAgreement:
    """Publish the next version (previous + 1); every user of the institution must accept it."""
    if not agreement_can_publish(actor=actor, institution=institution):
        raise RecordNotFound
    title, text = _clean(title=title, text=text)
    # Lock the institution row: two publishers at once must not both compute the same number.
    Institution.objects.select_for_update().filter(pk=institution.pk).first()
    latest = SecurityAgreement.objects.filter(institution=institution).aggregate(v=Max("version"))["v"] or 0
    try:
        with transaction.atomic():
            agreement = SecurityAgreement.objects.create(
                institution=institution, version=latest + 1, title=title, text=text, published_by=actor
            )
    except IntegrityError:
        raise ValidationError({"text": [_("another version was published meanwhile; reload and try again")]}) from None
    audit_record(
        action="security",
        actor=actor,
        object_type="accounts.securityagreement",
        object_ids=[str(agreement.pk)],
        fields=["title", "text", "version"],
        reason=f"security agreement version {agreement.version} published",
        institution=institution,
    )
    return agreement


@transaction.atomic
def agreement_accept(*, user: User, agreement_id: int, ip: str | None) -> AgreementAcceptance:
    """Record that `user` accepted the agreement they were shown (P18).

    Only the current version of the user's own institution can be accepted: if a newer one
    was published while they read, they must read that one.
    """
    current = agreement_current(institution=user.institution_id)
    if current is None or current.pk != agreement_id:
        raise ValidationError(
            {"agreement": [_("this is not the current version of your institution's agreement; read it again")]}
        )
    acceptance, created = AgreementAcceptance.objects.get_or_create(
        agreement=current, user=user, defaults={"accepted_at": timezone.now(), "ip": ip or None}
    )
    if created:
        audit_record(
            action="security",
            actor=user,
            object_type="accounts.securityagreement",
            object_ids=[str(current.pk)],
            reason=f"security agreement version {current.version} accepted",
            institution=current.institution_id,
        )
    return acceptance


@transaction.atomic
def agreement_publish_initial(*, institutions: list[Institution], actor: User | None = None) -> int:
    """Version 1 of the standard agreement for each institution that has none (set-up, demo)."""
    have = set(SecurityAgreement.objects.filter(institution__in=institutions).values_list("institution_id", flat=True))
    rows = [
        SecurityAgreement(
            institution=i,
            version=1,
            title=agreement_default_title(institution_name=i.name),
            text=agreement_default_text(institution_name=i.name),
            published_by=actor,
        )
        for i in institutions
        if i.pk not in have
    ]
    created = SecurityAgreement.objects.bulk_create(rows, batch_size=500)
    if created:
        audit_record(
            action="security",
            actor=actor,
            object_type="accounts.securityagreement",
            object_ids=[str(a.pk) for a in created if a.pk is not None],
            fields=["title", "text", "version"],
            reason=f"standard security agreement version 1 published for {len(created)} institutions",
        )
    return len(created)


# --- the gate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pending:
    agreement: SecurityAgreement | None


def agreement_pending_for_request(request) -> SecurityAgreement | None:
    """`agreement_pending` for the signed-in user, computed once per request."""
    cached = getattr(request, "_mchis_agreement_pending", None)
    if cached is None:
        cached = _Pending(agreement_pending(user=request.user))
        request._mchis_agreement_pending = cached
    return cached.agreement


def gate_agreement(request) -> Gate | None:
    """Holds a user of an institution with a published agreement until they accept its
    newest version (P18). Listed after the password and second-factor gates: the agreement
    is signed by a person already proven to hold the account."""
    if agreement_pending_for_request(request) is None:
        return None
    return Gate(
        url_name="accounts:agreement",
        message=_("Read and accept your institution's security agreement before using the system (P18)."),
    )


# --- the standard text ------------------------------------------------------------------


def agreement_default_title(*, institution_name: str) -> str:
    return f"{institution_name}妇幼卫生信息安全保密协议"[:TITLE_MAX]


# The county policy (seed, POLICY.md P1–P33) restated as the duties one user signs for.
_DEFAULT_TEXT = """甲方：{institution}
乙方：本单位妇幼卫生信息系统使用人员（以本人账号登录并确认本协议者）

为加强妇幼卫生信息安全管理，保护孕产妇和儿童的个人信息，根据《中华人民共和国统计法》《中华人民共和国保守国家秘密法》《中华人民共和国个人信息保护法》及本县妇幼卫生信息保密（安全）制度，甲乙双方签订本协议。

一、乙方严格执行国家有关信息保密和信息发布管理的法律法规，遵守本单位妇幼卫生信息保密责任制，服从保密责任人的管理。

二、乙方只在本人职责和权限范围内、为工作目的使用妇幼卫生信息系统（孕产妇保健、儿童保健、妇幼卫生监测、孕期艾滋病、梅毒和乙肝监测及个人信息），不查看、不修改无权限的信息，按数据分级管理的要求处理不同级别的资料。

三、乙方不泄露、不外借、不转移任何数据信息；未经卫生行政部门批准，不对外提供信息系统中的任何信息，不调用或拷贝数据另作他用；日常分析的数据妥善保管，不随意丢弃，不通过网络传播。

四、乙方不得对外泄露孕产妇及儿童的个人信息，确因工作需要查看完整身份信息的，仅限于当前任务所需。

五、乙方的用户名、密码和电子钥匙仅限本人使用，不得告知他人或转借；密码按规定设置并定期修改；电子钥匙丢失应立即报告并申请注销、补办。

六、乙方发现或怀疑本人或他人账号、密码、电子钥匙已泄露或被盗用，应立即在系统中报告“疑似泄露”，更改密码，并向本单位领导和上级卫生主管部门报告。

七、乙方使用专用计算机处理妇幼卫生信息，安装正版杀毒软件，定期清除浏览器临时文件，不安装与工作无关的软件，不访问与工作无关或来历不明的网站；外来移动存储介质未经许可、未经查杀不得接入。

八、纸质资料和存储介质存放于加锁文件柜，借阅履行登记手续，归还后及时签收归档；重要电子文件加密保存。

九、涉及国家秘密的信息资料，未经上级领导批准不得查阅，不得对外发布；涉密计算机不接入互联网及其他公共信息网络；涉密资料只通过机要途径传递，不使用普通邮政或快递。

十、发生异常情况，乙方应立即向领导报告；涉嫌违法犯罪的，保护好现场并配合向公安机关报案。

十一、乙方调离或更换岗位时，及时办理账号注销和资料、电子钥匙的移交手续。

十二、妇幼卫生监测和年报的主要指标只由同级卫生行政部门对外公布，乙方不得擅自对外发布或提供任何妇幼卫生信息和资料。

十三、乙方知悉：本人在系统中的操作均被记录并接受审计和督导检查；违反本协议的，甲方将依照有关规定追究责任，触犯法律的依法承担法律责任。

十四、本协议自乙方在系统中确认之日起生效，甲方发布新版本后须重新确认。"""


def agreement_default_text(*, institution_name: str) -> str:
    return _DEFAULT_TEXT.format(institution=institution_name)
