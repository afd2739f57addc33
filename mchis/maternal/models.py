"""Maternal care (孕产妇保健): the pregnancy episode and everything recorded in it (P14, P15, P17).

A `Pregnancy` is one episode of one woman of the person registry, from registration (建册) to
the 42-day check, owned by one institution at a time. Its antenatal visits, risk gradings,
high-risk case, referrals, transfers, delivery (with the babies) and postpartum visits hang off
it and are reached only through it: each child model's policy asks the pregnancy's question
(`mchis.maternal.policy`).

What the worklists need is kept on the pregnancy row itself (denormalised by the services, in
the transaction that changes it): the owner's region path, the current risk colour and purple
flag, and the next schedule contact with its window. The worklists are then range scans on
composite indexes that start with the owner (institution or region path), on SQLite and
PostgreSQL alike, whatever the size of the province.

The risk rule tables (`RiskRuleTable`, `RiskRule`) are reference data, not personal data, and
are ordinary models: versioned, seeded from the 2017 tables by a data migration, and a
deployment may install a new version (`mchis.maternal.risk.risk_table_install`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.access.managers import ProtectedManager
from mchis.crypto.fields import EncryptedCharField, EncryptedJSONField, EncryptedTextField
from mchis.crypto.ids import uuid7
from mchis.orgs.models import PathField
from mchis.people.models import Sex

POLICY = "mchis.maternal.policy."


class PregnancyState(models.TextChoices):
    ACTIVE = "active", _("antenatal")
    DELIVERED = "delivered", _("delivered (postpartum care)")
    CLOSED = "closed", _("closed after the 42-day check")
    ENDED = "ended", _("ended without delivery")
    MOVED_OUT = "moved_out", _("moved out of the area")


# Episodes still in care: the worklists show only these, and a woman has at most one.
OPEN_STATES = (PregnancyState.ACTIVE, PregnancyState.DELIVERED)


class EndReason(models.TextChoices):
    MISCARRIAGE = "miscarriage", _("miscarriage")
    INDUCED_ABORTION = "induced_abortion", _("induced abortion")
    ECTOPIC = "ectopic", _("ectopic pregnancy")
    MATERNAL_DEATH = "maternal_death", _("maternal death")
    MOVED_OUT = "moved_out", _("moved out of the area")
    OTHER = "other", _("other")


class DatingBasis(models.TextChoices):
    LMP = "lmp", _("last menstrual period")
    ULTRASOUND = "ultrasound", _("early ultrasound")


class RiskColour(models.TextChoices):
    """The four graded colours; purple (infectious disease) is a flag beside them."""

    GREEN = "green", _("green (low risk)")
    YELLOW = "yellow", _("yellow (general risk)")
    ORANGE = "orange", _("orange (higher risk)")
    RED = "red", _("red (high risk)")


COLOUR_RANK = {RiskColour.GREEN: 0, RiskColour.YELLOW: 1, RiskColour.ORANGE: 2, RiskColour.RED: 3}
# Colours that open high-risk case management (专案管理), with purple.
HIGH_RISK_COLOURS = (RiskColour.ORANGE, RiskColour.RED)


class RuleColour(models.TextChoices):
    YELLOW = "yellow", _("yellow")
    ORANGE = "orange", _("orange")
    RED = "red", _("red")
    PURPLE = "purple", _("purple")


class Presentation(models.TextChoices):
    CEPHALIC = "cephalic", _("cephalic")
    BREECH = "breech", _("breech")
    TRANSVERSE = "transverse", _("transverse")
    OBLIQUE = "oblique", _("oblique")
    UNDETERMINED = "undetermined", _("not yet determined")


# Presentations that count as malpresentation (胎位不正) from 36 weeks.
MALPRESENTATIONS = (Presentation.BREECH, Presentation.TRANSVERSE, Presentation.OBLIQUE)


class UrineProtein(models.TextChoices):
    NEGATIVE = "negative", "-"
    TRACE = "trace", "±"
    ONE = "1+", "+"
    TWO = "2+", "++"
    THREE = "3+", "+++"
    FOUR = "4+", "++++"


class InfectionResult(models.TextChoices):
    POSITIVE = "positive", _("positive")
    NEGATIVE = "negative", _("negative")
    UNKNOWN = "unknown", _("not tested or unknown")


class Pregnancy(models.Model):
    """One pregnancy episode of one woman (建册 to the 42-day check)."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    person = models.ForeignKey(
        "people.Person", verbose_name=_("woman"), on_delete=models.PROTECT, related_name="pregnancies"
    )
    # The institution responsible for her care now (P15); changes only by an accepted transfer.
    # No index of its own: the composite worklist indexes start with it.
    owner_institution = models.ForeignKey(
        "orgs.Institution",
        verbose_name=_("responsible institution"),
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
    )
    # Copy of the owner's region path: jurisdiction filters need no join through the tree.
    owner_region_path = PathField(_("region path"), max_length=255, editable=False)
    registering_institution = models.ForeignKey(
        "orgs.Institution", verbose_name=_("registered at"), on_delete=models.PROTECT, related_name="+"
    )
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    registered_on = models.DateField(_("registration date"))
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now, editable=False)

    # Dating: gestational age comes from the LMP or an early ultrasound; the EDD follows.
    lmp = models.DateField(_("last menstrual period"), null=True, blank=True)
    ultrasound_on = models.DateField(_("dating ultrasound date"), null=True, blank=True)
    ultrasound_ga_days = models.PositiveSmallIntegerField(
        _("gestational age at the scan (days)"), null=True, blank=True
    )
    dating_basis = models.CharField(_("dated by"), max_length=12, choices=DatingBasis.choices)
    edd = models.DateField(_("expected delivery date"))

    # Obstetric history (孕产史). Gravidity counts this pregnancy.
    gravidity = models.PositiveSmallIntegerField(_("gravidity"))
    parity = models.PositiveSmallIntegerField(_("parity"))
    prior_abortions = models.PositiveSmallIntegerField(_("previous abortions (all kinds)"), default=0)
    prior_preterm_births = models.PositiveSmallIntegerField(_("previous preterm births"), default=0)
    prior_perinatal_deaths = models.PositiveSmallIntegerField(_("previous perinatal deaths"), default=0)
    prior_birth_defects = models.PositiveSmallIntegerField(_("previous births with defects"), default=0)
    prior_ectopic = models.PositiveSmallIntegerField(_("previous ectopic pregnancies"), default=0)
    prior_caesareans = models.PositiveSmallIntegerField(_("previous caesarean sections"), default=0)
    prior_uterine_surgeries = models.PositiveSmallIntegerField(
        _("other uterine operations (myomectomy, cornual pregnancy…)"), default=0
    )
    last_uterine_surgery_on = models.DateField(_("date of the last uterine operation"), null=True, blank=True)
    height_cm = models.DecimalField(_("height (cm)"), max_digits=4, decimal_places=1, null=True, blank=True)
    pre_pregnancy_weight_kg = models.DecimalField(
        _("weight before pregnancy (kg)"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    # Conditions known at registration or found since that persist (codes of the risk rules).
    conditions = models.JSONField(_("conditions"), default=list, blank=True)

    # PMTCT screening results (L5): encrypted, read and written only with L5 clearance.
    hiv_result = EncryptedCharField(_("HIV test"), max_length=16, null=True, blank=True)
    syphilis_result = EncryptedCharField(_("syphilis test"), max_length=16, null=True, blank=True)
    hbsag_result = EncryptedCharField(_("hepatitis B surface antigen"), max_length=16, null=True, blank=True)

    state = models.CharField(_("state"), max_length=12, choices=PregnancyState.choices, default=PregnancyState.ACTIVE)
    delivered_on = models.DateField(_("delivery date"), null=True, blank=True)
    ended_on = models.DateField(_("closed or ended on"), null=True, blank=True)
    end_reason = models.CharField(_("ended because"), max_length=20, choices=EndReason.choices, blank=True)

    # Denormalised from the latest grading (RiskGrading): the worklists read these.
    risk_colour = models.CharField(_("risk colour"), max_length=8, choices=RiskColour.choices, blank=True)
    risk_purple = models.BooleanField(_("infectious disease (purple)"), default=False)
    risk_graded_on = models.DateField(_("last graded on"), null=True, blank=True)

    # Denormalised schedule state (mchis.maternal.schedule): contacts fulfilled, the latest
    # visit, and the next contact with its window. next_contact_due is NULL once the episode
    # has no next contact (closed, ended), which keeps those rows out of every due-date range.
    contacts_done = models.JSONField(default=list, blank=True, editable=False)
    last_visit_on = models.DateField(null=True, blank=True, editable=False)
    next_contact = models.CharField(_("next contact"), max_length=8, blank=True)
    next_contact_start = models.DateField(_("next contact from"), null=True, blank=True)
    next_contact_due = models.DateField(_("next contact due by"), null=True, blank=True)

    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Bumped by every change to the episode or anything recorded in it: the API's ETag.
    version = models.PositiveIntegerField(default=1, editable=False)

    # For jobs, migrations and benchmarks only (tests/access/test_unscoped.py enforces it).
    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "PregnancyPolicy")

    class Meta:
        verbose_name = _("pregnancy")
        verbose_name_plural = _("pregnancies")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        constraints = [
            # A woman has one open episode at a time (the services say so in words first).
            models.UniqueConstraint(
                fields=["person"], condition=Q(state__in=OPEN_STATES), name="pregnancy_one_open_per_person"
            ),
            models.CheckConstraint(condition=Q(gravidity__gte=1), name="pregnancy_gravidity_positive"),
        ]
        indexes = [
            # Worklists: (owner, due date) ranges; see mchis/maternal/selectors.py.
            models.Index(fields=["owner_institution", "next_contact_due"], name="pregnancy_due_by_institution"),
            models.Index(fields=["owner_region_path", "next_contact_due"], name="pregnancy_due_by_region"),
            models.Index(fields=["owner_region_path", "state", "edd"], name="pregnancy_edd_by_region"),
            models.Index(fields=["owner_region_path", "state", "risk_colour"], name="pregnancy_risk_by_region"),
            models.Index(fields=["owner_institution", "registered_at"], name="pregnancy_by_institution"),
        ]

    def __str__(self) -> str:
        return f"pregnancy {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class PregnancyShare(models.Model):
    """Another institution taking part in the care of an episode it does not own.

    A referral shares the episode with the institution she is referred to until the episode
    ends; a transfer request shares it with the receiving institution until it is accepted,
    rejected or cancelled. Holds no personal data (like `PersonLink`), so it is not protected.
    """

    class Kind(models.TextChoices):
        REFERRAL = "referral", _("referral")
        TRANSFER = "transfer", _("transfer request")

    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.CASCADE, related_name="shares")
    institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    institution_region_path = PathField(max_length=255, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source_id = models.UUIDField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["pregnancy", "institution"], name="pregnancy_share_lookup"),
            models.Index(fields=["institution", "ended_at"], name="pregnancy_share_incoming"),
        ]

    def __str__(self) -> str:
        return f"{self.pregnancy_id} shared with {self.institution_id} ({self.kind})"


class AntenatalVisit(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.PROTECT, related_name="visits")
    visit_on = models.DateField(_("visit date"))
    gestational_days = models.PositiveSmallIntegerField(_("gestational age (days)"))
    # The schedule contact this visit fulfils ("" for a visit outside any open window).
    contact = models.CharField(_("schedule contact"), max_length=8, blank=True)
    institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    systolic_bp = models.PositiveSmallIntegerField(_("systolic blood pressure (mmHg)"), null=True, blank=True)
    diastolic_bp = models.PositiveSmallIntegerField(_("diastolic blood pressure (mmHg)"), null=True, blank=True)
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=4, decimal_places=1, null=True, blank=True)
    height_cm = models.DecimalField(_("height (cm)"), max_digits=4, decimal_places=1, null=True, blank=True)
    fundal_height_cm = models.DecimalField(
        _("fundal height (cm)"), max_digits=3, decimal_places=1, null=True, blank=True
    )
    abdominal_circumference_cm = models.DecimalField(
        _("abdominal circumference (cm)"), max_digits=4, decimal_places=1, null=True, blank=True
    )
    fetal_heart_rate = models.PositiveSmallIntegerField(_("fetal heart rate (bpm)"), null=True, blank=True)
    presentation = models.CharField(_("presentation"), max_length=12, choices=Presentation.choices, blank=True)
    fetuses = models.PositiveSmallIntegerField(_("number of fetuses"), null=True, blank=True)
    hb_g_l = models.PositiveSmallIntegerField(_("haemoglobin (g/L)"), null=True, blank=True)
    urine_protein = models.CharField(_("urine protein"), max_length=8, choices=UrineProtein.choices, blank=True)
    platelets = models.PositiveSmallIntegerField(_("platelets (10^9/L)"), null=True, blank=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    # Measurements accepted with a plausibility warning (for data-quality review).
    unusual = models.JSONField(default=list, blank=True, editable=False)
    note = EncryptedTextField(_("note"), null=True, blank=True)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "AntenatalVisitPolicy")

    class Meta:
        verbose_name = _("antenatal visit")
        verbose_name_plural = _("antenatal visits")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        indexes = [models.Index(fields=["pregnancy", "visit_on"], name="antenatal_visit_by_pregnancy")]

    def __str__(self) -> str:
        return f"antenatal visit {self.pk}"

    @property
    def gestational_week(self) -> int:
        return self.gestational_days // 7


class RiskRuleTable(models.Model):
    """One version of the risk grading rules (the 2017 tables, or a deployment's own)."""

    version = models.CharField(_("version"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    source = models.TextField(_("source"), blank=True)
    effective_from = models.DateField(_("effective from"))
    is_active = models.BooleanField(_("active"), default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("risk rule table")
        verbose_name_plural = _("risk rule tables")
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="risk_table_one_active")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.version})"


class RiskRule(models.Model):
    """A condition of a rule table: its colour, labels, and a predicate over recorded facts.

    The predicate is data (see `mchis.maternal.risk`): `{"fact": "age", "op": ">=", "value": 35}`,
    `{"fact": "hb_g_l", "op": "between", "min": 60, "max": 110}`, `{"condition": "asthma"}`,
    and `{"all": [...]}` / `{"any": [...]}` / `{"not": ...}`.
    """

    table = models.ForeignKey(RiskRuleTable, on_delete=models.CASCADE, related_name="rules")
    code = models.CharField(_("code"), max_length=32)
    colour = models.CharField(_("colour"), max_length=8, choices=RuleColour.choices)
    section = models.CharField(_("section"), max_length=32, blank=True)
    label_zh = models.CharField(_("label (Chinese)"), max_length=300)
    label_en = models.CharField(_("label (English)"), max_length=300)
    predicate = models.JSONField(_("predicate"))
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("risk rule")
        verbose_name_plural = _("risk rules")
        ordering = ["table", "position"]
        constraints = [models.UniqueConstraint(fields=["table", "code"], name="risk_rule_code_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.label_en}"


class RiskGrading(models.Model):
    """One dated grading: what the rules proposed, and what the clinician confirmed."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.PROTECT, related_name="gradings")
    # The contact the grading was made at (an antenatal or a postpartum visit), if any.
    visit = models.ForeignKey(AntenatalVisit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    postpartum_visit = models.ForeignKey(
        "PostpartumVisit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assessed_on = models.DateField(_("assessed on"))
    graded_at = models.DateTimeField(default=timezone.now, editable=False)
    graded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    table = models.ForeignKey(RiskRuleTable, on_delete=models.PROTECT, related_name="+")
    table_version = models.CharField(_("rule table version"), max_length=32)
    proposed_colour = models.CharField(_("proposed colour"), max_length=8, choices=RiskColour.choices)
    proposed_purple = models.BooleanField(_("purple proposed"), default=False)
    # Codes of the rules that fired. Rules reading PMTCT results (L5) are kept apart, encrypted.
    rules_fired = models.JSONField(_("rules that fired"), default=list)
    rules_fired_confidential = EncryptedJSONField(_("rules that fired on PMTCT results"), null=True, blank=True)
    infections_used = models.BooleanField(_("PMTCT results used"), default=False)
    purple_carried = models.BooleanField(_("purple carried from the previous grading"), default=False)
    colour = models.CharField(_("confirmed colour"), max_length=8, choices=RiskColour.choices)
    purple = models.BooleanField(_("purple"), default=False)
    reason = EncryptedTextField(_("reason for raising"), null=True, blank=True)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "RiskGradingPolicy")

    class Meta:
        verbose_name = _("risk grading")
        verbose_name_plural = _("risk gradings")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        indexes = [models.Index(fields=["pregnancy", "graded_at"], name="risk_grading_by_pregnancy")]

    def __str__(self) -> str:
        return f"risk grading {self.pk}"

    @property
    def raised(self) -> bool:
        return COLOUR_RANK[self.colour] > COLOUR_RANK[self.proposed_colour] or (
            self.purple and not self.proposed_purple
        )


class CaseCloseReason(models.TextChoices):
    RISK_RESOLVED = "risk_resolved", _("risk resolved")
    EPISODE_CLOSED = "episode_closed", _("episode closed")
    TRANSFERRED = "transferred", _("managed elsewhere")
    OTHER = "other", _("other")


class HighRiskCase(models.Model):
    """High-risk case management (专案管理), opened by an orange, red or purple grading."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.PROTECT, related_name="high_risk_cases")
    grading = models.ForeignKey(RiskGrading, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(_("opened at"))
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The highest colour seen while the case is open.
    colour = models.CharField(_("colour"), max_length=8, choices=RiskColour.choices)
    purple = models.BooleanField(_("purple"), default=False)
    report_due_at = models.DateTimeField(_("report due by"))
    reported_at = models.DateTimeField(_("reported at"), null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reported_to = models.ForeignKey(
        "orgs.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_reason = models.CharField(_("closed because"), max_length=16, choices=CaseCloseReason.choices, blank=True)
    note = EncryptedTextField(_("note"), null=True, blank=True)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "HighRiskCasePolicy")

    class Meta:
        verbose_name = _("high-risk case")
        verbose_name_plural = _("high-risk cases")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(
                fields=["pregnancy"], condition=Q(closed_at__isnull=True), name="high_risk_case_one_open"
            )
        ]
        indexes = [models.Index(fields=["pregnancy", "opened_at"], name="high_risk_case_by_pregnancy")]

    def __str__(self) -> str:
        return f"high-risk case {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def report_overdue(self) -> bool:
        return self.reported_at is None and self.closed_at is None and timezone.now() > self.report_due_at


class ReferralReason(models.TextChoices):
    HIGH_RISK = "high_risk", _("high-risk management")
    DELIVERY = "delivery", _("delivery")
    SPECIALIST = "specialist", _("specialist consultation")
    EMERGENCY = "emergency", _("emergency")
    OTHER = "other", _("other")


class ReferralOutcome(models.TextChoices):
    PENDING = "", _("pending")
    ARRIVED = "arrived", _("arrived and seen")
    ADMITTED = "admitted", _("admitted")
    RETURNED = "returned", _("treated and referred back")
    DELIVERED = "delivered", _("delivered there")
    DECLINED = "declined", _("declined by the woman")
    NOT_ARRIVED = "not_arrived", _("did not arrive")


class Referral(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.PROTECT, related_name="referrals")
    from_institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    to_institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    referred_on = models.DateField(_("referred on"))
    reason = models.CharField(_("reason"), max_length=12, choices=ReferralReason.choices)
    reason_text = EncryptedTextField(_("details"), null=True, blank=True)
    high_risk_case = models.ForeignKey(
        HighRiskCase, null=True, blank=True, on_delete=models.PROTECT, related_name="referrals"
    )
    outcome = models.CharField(_("outcome"), max_length=12, choices=ReferralOutcome.choices, blank=True)
    outcome_on = models.DateField(_("outcome date"), null=True, blank=True)
    outcome_note = EncryptedTextField(_("outcome note"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "ReferralPolicy")

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        indexes = [models.Index(fields=["pregnancy", "referred_on"], name="referral_by_pregnancy")]

    def __str__(self) -> str:
        return f"referral {self.pk}"


class TransferState(models.TextChoices):
    PENDING = "pending", _("waiting for the receiving institution")
    ACCEPTED = "accepted", _("accepted")
    REJECTED = "rejected", _("rejected")
    CANCELLED = "cancelled", _("cancelled")


class Transfer(models.Model):
    """She moves: the receiving institution accepts, and ownership and history follow."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.PROTECT, related_name="transfers")
    from_institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    to_institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(_("state"), max_length=10, choices=TransferState.choices, default=TransferState.PENDING)
    reason_text = EncryptedTextField(_("reason"), null=True, blank=True)
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = EncryptedTextField(_("decision note"), null=True, blank=True)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "TransferPolicy")

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        constraints = [
            models.UniqueConstraint(
                fields=["pregnancy"], condition=Q(state="pending"), name="transfer_one_pending_per_pregnancy"
            )
        ]
        indexes = [
            models.Index(fields=["pregnancy", "requested_at"], name="transfer_by_pregnancy"),
            models.Index(fields=["to_institution", "state"], name="transfer_incoming"),
        ]

    def __str__(self) -> str:
        return f"transfer {self.pk}"


class PlaceType(models.TextChoices):
    INSTITUTION = "institution", _("health institution")
    HOME = "home", _("home")
    ON_THE_WAY = "on_the_way", _("on the way")
    OTHER = "other", _("other place")


class DeliveryMode(models.TextChoices):
    SPONTANEOUS = "spontaneous", _("spontaneous vaginal delivery")
    ASSISTED = "assisted", _("assisted vaginal delivery (forceps, vacuum, breech)")
    CAESAREAN = "caesarean", _("caesarean section")


class MaternalOutcome(models.TextChoices):
    WELL = "well", _("well")
    COMPLICATIONS = "complications", _("complications")
    DIED = "died", _("died")


class Delivery(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.OneToOneField(Pregnancy, on_delete=models.PROTECT, related_name="delivery")
    delivered_at = models.DateTimeField(_("delivered at"))
    gestational_days = models.PositiveSmallIntegerField(_("gestational age (days)"))
    place_type = models.CharField(_("place"), max_length=12, choices=PlaceType.choices)
    institution = models.ForeignKey(
        "orgs.Institution", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mode = models.CharField(_("mode"), max_length=12, choices=DeliveryMode.choices)
    blood_loss_ml = models.PositiveIntegerField(_("blood loss (ml)"), null=True, blank=True)
    maternal_outcome = models.CharField(_("mother's outcome"), max_length=16, choices=MaternalOutcome.choices)
    discharged_on = models.DateField(_("discharged on"), null=True, blank=True)
    unusual = models.JSONField(default=list, blank=True, editable=False)
    note = EncryptedTextField(_("note"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "DeliveryPolicy")

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        default_manager_name = "objects"
        base_manager_name = "unscoped"

    def __str__(self) -> str:
        return f"delivery {self.pk}"


class BirthOutcome(models.TextChoices):
    LIVE_BIRTH = "live_birth", _("live birth")
    STILLBIRTH = "stillbirth", _("stillbirth")


class DeliveryBaby(models.Model):
    """One baby of a delivery. A live-born baby is also a child in the person registry."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="babies")
    order = models.PositiveSmallIntegerField(_("birth order"))
    outcome = models.CharField(_("outcome"), max_length=12, choices=BirthOutcome.choices)
    sex = models.PositiveSmallIntegerField(_("sex"), choices=Sex.choices)
    birth_weight_g = models.PositiveSmallIntegerField(_("birth weight (g)"), null=True, blank=True)
    length_cm = models.DecimalField(_("length (cm)"), max_digits=3, decimal_places=1, null=True, blank=True)
    apgar_1 = models.PositiveSmallIntegerField(_("Apgar score at 1 minute"), null=True, blank=True)
    apgar_5 = models.PositiveSmallIntegerField(_("Apgar score at 5 minutes"), null=True, blank=True)
    # The child's record in the person registry (live births only): the link to the mother.
    child = models.OneToOneField("people.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="birth")

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "DeliveryBabyPolicy")

    class Meta:
        verbose_name = _("baby")
        verbose_name_plural = _("babies")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["delivery", "order"], name="delivery_baby_order_unique")]

    def __str__(self) -> str:
        return f"baby {self.pk}"


class PostpartumKind(models.TextChoices):
    HOME_VISIT = "home_visit", _("postpartum home visit")
    CHECK_42 = "check_42", _("42-day check")


class Breastfeeding(models.TextChoices):
    EXCLUSIVE = "exclusive", _("exclusive")
    PARTIAL = "partial", _("partial")
    NONE = "none", _("none")


class Finding(models.TextChoices):
    NORMAL = "normal", _("no abnormality")
    ABNORMAL = "abnormal", _("abnormal")


class PostpartumVisit(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    pregnancy = models.ForeignKey(Pregnancy, on_delete=models.PROTECT, related_name="postpartum_visits")
    visit_on = models.DateField(_("visit date"))
    kind = models.CharField(_("kind"), max_length=12, choices=PostpartumKind.choices)
    days_postpartum = models.PositiveSmallIntegerField(_("days after delivery"))
    contact = models.CharField(_("schedule contact"), max_length=8, blank=True)
    institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    systolic_bp = models.PositiveSmallIntegerField(_("systolic blood pressure (mmHg)"), null=True, blank=True)
    diastolic_bp = models.PositiveSmallIntegerField(_("diastolic blood pressure (mmHg)"), null=True, blank=True)
    weight_kg = models.DecimalField(_("weight (kg)"), max_digits=4, decimal_places=1, null=True, blank=True)
    hb_g_l = models.PositiveSmallIntegerField(_("haemoglobin (g/L)"), null=True, blank=True)
    breastfeeding = models.CharField(_("breastfeeding"), max_length=10, choices=Breastfeeding.choices, blank=True)
    finding = models.CharField(_("finding"), max_length=10, choices=Finding.choices, blank=True)
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    unusual = models.JSONField(default=list, blank=True, editable=False)
    note = EncryptedTextField(_("note"), null=True, blank=True)

    unscoped = models.Manager()
    objects = ProtectedManager(POLICY + "PostpartumVisitPolicy")

    class Meta:
        verbose_name = _("postpartum visit")
        verbose_name_plural = _("postpartum visits")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        indexes = [models.Index(fields=["pregnancy", "visit_on"], name="postpartum_visit_by_pregnancy")]

    def __str__(self) -> str:
        return f"postpartum visit {self.pk}"
