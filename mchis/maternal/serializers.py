"""REST representations of maternal care (issue 5, item 8).

Output serializers render the selectors' view objects (`PregnancyView`, `RecordView`,
`PregnancyRow`): a field above the actor's clearance is `null` and named in `withheld` (P17:
the PMTCT results, L5, for everyone but a PMTCT officer). Input serializers check types and
choices only; the plausible ranges and the clinical rules are the services', whose
ValidationError names the field and the rule (answered 400), and whose warnings (unusual but
possible values) come back in the body as `warnings: [{field, message}]`.
"""

from __future__ import annotations

from rest_framework import serializers

from mchis.api.conventions import RedactedSerializer
from mchis.maternal.models import (
    BirthOutcome,
    Breastfeeding,
    DatingBasis,
    DeliveryMode,
    Finding,
    InfectionResult,
    MaternalOutcome,
    PlaceType,
    PostpartumKind,
    PregnancyState,
    Presentation,
    RiskColour,
    UrineProtein,
)
from mchis.people.models import DocumentType, Sex

VERSION_HELP = 'The episode\'s version; the ETag is this number in quotes ("3").'


def _dec(max_digits: int = 5, places: int = 1, **kw):
    return serializers.DecimalField(max_digits=max_digits, decimal_places=places, coerce_to_string=False, **kw)


def _out_dec(**kw):
    return _dec(read_only=True, allow_null=True, **kw)


def _codes(**kw):
    return serializers.ListField(child=serializers.CharField(max_length=40), **kw)


class WarningSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field whose value is unusual (accepted and kept).")
    message = serializers.CharField(help_text="Why, in the client's language.")


# --- episodes -------------------------------------------------------------------------------------


class PregnancySerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    version = serializers.IntegerField(read_only=True, help_text=VERSION_HELP)
    person_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The woman in /api/v1/persons/.")
    owner_institution_id = serializers.IntegerField(read_only=True, allow_null=True)
    registering_institution_id = serializers.IntegerField(read_only=True, allow_null=True)
    registered_on = serializers.DateField(read_only=True, allow_null=True)
    lmp = serializers.DateField(read_only=True, allow_null=True)
    ultrasound_on = serializers.DateField(read_only=True, allow_null=True)
    ultrasound_ga_days = serializers.IntegerField(read_only=True, allow_null=True)
    dating_basis = serializers.ChoiceField(choices=DatingBasis.choices, read_only=True, allow_null=True)
    edd = serializers.DateField(read_only=True, allow_null=True, help_text="Expected delivery date.")
    gravidity = serializers.IntegerField(read_only=True, allow_null=True)
    parity = serializers.IntegerField(read_only=True, allow_null=True)
    prior_abortions = serializers.IntegerField(read_only=True, allow_null=True)
    prior_preterm_births = serializers.IntegerField(read_only=True, allow_null=True)
    prior_perinatal_deaths = serializers.IntegerField(read_only=True, allow_null=True)
    prior_birth_defects = serializers.IntegerField(read_only=True, allow_null=True)
    prior_ectopic = serializers.IntegerField(read_only=True, allow_null=True)
    prior_caesareans = serializers.IntegerField(read_only=True, allow_null=True)
    prior_uterine_surgeries = serializers.IntegerField(read_only=True, allow_null=True)
    last_uterine_surgery_on = serializers.DateField(read_only=True, allow_null=True)
    height_cm = _out_dec(max_digits=4)
    pre_pregnancy_weight_kg = _out_dec(max_digits=4)
    conditions = _codes(read_only=True, allow_null=True)
    hiv_result = serializers.ChoiceField(
        choices=InfectionResult.choices, read_only=True, allow_null=True, help_text="L5 (PMTCT officers)"
    )
    syphilis_result = serializers.ChoiceField(
        choices=InfectionResult.choices, read_only=True, allow_null=True, help_text="L5 (PMTCT officers)"
    )
    hbsag_result = serializers.ChoiceField(
        choices=InfectionResult.choices, read_only=True, allow_null=True, help_text="L5 (PMTCT officers)"
    )
    state = serializers.ChoiceField(choices=PregnancyState.choices, read_only=True, allow_null=True)
    delivered_on = serializers.DateField(read_only=True, allow_null=True)
    ended_on = serializers.DateField(read_only=True, allow_null=True)
    end_reason = serializers.CharField(read_only=True, allow_null=True)
    risk_colour = serializers.ChoiceField(choices=RiskColour.choices, read_only=True, allow_null=True)
    risk_purple = serializers.BooleanField(read_only=True, allow_null=True)
    risk_graded_on = serializers.DateField(read_only=True, allow_null=True)
    next_contact = serializers.CharField(read_only=True, allow_null=True, help_text="anc1…anc5, pp_home, pp_42")
    next_contact_start = serializers.DateField(read_only=True, allow_null=True)
    next_contact_due = serializers.DateField(read_only=True, allow_null=True)


class PregnancyWrittenSerializer(PregnancySerializer):
    """The episode after a write, with the warnings of the values accepted as unusual."""

    person_created = serializers.BooleanField(
        read_only=True, required=False, help_text="Registration only: false when she was found in the county."
    )
    warnings = WarningSerializer(many=True, read_only=True)


class PregnancyRowSerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    version = serializers.IntegerField(read_only=True, help_text=VERSION_HELP)
    person_id = serializers.UUIDField(read_only=True)
    name_masked = serializers.CharField(read_only=True, allow_null=True, help_text="张*梅 (P20); null below L4.")
    document_masked = serializers.CharField(
        read_only=True, allow_null=True, help_text="4101**********1234 (P20); null below L4."
    )
    owner_institution_id = serializers.IntegerField(read_only=True)
    state = serializers.ChoiceField(choices=PregnancyState.choices, read_only=True)
    edd = serializers.DateField(read_only=True)
    gestational_days = serializers.IntegerField(read_only=True, allow_null=True, help_text="Today; antenatal only.")
    risk_colour = serializers.ChoiceField(choices=RiskColour.choices, read_only=True)
    risk_purple = serializers.BooleanField(read_only=True)
    next_contact = serializers.CharField(read_only=True)
    next_contact_start = serializers.DateField(read_only=True, allow_null=True)
    next_contact_due = serializers.DateField(read_only=True, allow_null=True)
    overdue = serializers.BooleanField(read_only=True)


class PregnancyPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Episodes in all pages.")
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = PregnancyRowSerializer(many=True)


class _Episode(serializers.Serializer):
    lmp = serializers.DateField(required=False, allow_null=True, help_text="Last menstrual period.")
    ultrasound_on = serializers.DateField(required=False, allow_null=True, help_text="Date of the early ultrasound.")
    ultrasound_ga_days = serializers.IntegerField(
        required=False, allow_null=True, help_text="Gestational age at the scan, in days."
    )
    gravidity = serializers.IntegerField()
    parity = serializers.IntegerField()
    prior_abortions = serializers.IntegerField(required=False)
    prior_preterm_births = serializers.IntegerField(required=False)
    prior_perinatal_deaths = serializers.IntegerField(required=False)
    prior_birth_defects = serializers.IntegerField(required=False)
    prior_ectopic = serializers.IntegerField(required=False)
    prior_caesareans = serializers.IntegerField(required=False)
    prior_uterine_surgeries = serializers.IntegerField(required=False)
    last_uterine_surgery_on = serializers.DateField(required=False, allow_null=True)
    height_cm = _dec(max_digits=4, required=False, allow_null=True)
    pre_pregnancy_weight_kg = _dec(max_digits=4, required=False, allow_null=True)
    conditions = _codes(required=False, help_text="Coded conditions of the risk table.")


class PregnancyRegisterSerializer(_Episode):
    """The woman by `person_id` (already in the registry) or by her identity, which is looked
    up by document number in the county first (found, not duplicated)."""

    person_id = serializers.UUIDField(required=False, allow_null=True)
    document_type = serializers.ChoiceField(choices=DocumentType.choices, required=False)
    document_number = serializers.CharField(max_length=40, required=False, allow_blank=True)
    name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    registered_on = serializers.DateField(required=False, allow_null=True)


class PregnancyUpdateSerializer(_Episode):
    """Only the fields sent change (dating, obstetric history, height, weight, conditions)."""

    gravidity = serializers.IntegerField(required=False)
    parity = serializers.IntegerField(required=False)


# --- antenatal visits -------------------------------------------------------------------------------


class VisitSerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    visit_on = serializers.DateField(read_only=True)
    gestational_days = serializers.IntegerField(read_only=True, allow_null=True)
    contact = serializers.CharField(read_only=True, allow_null=True, help_text="The contact fulfilled; '' extra.")
    institution_id = serializers.IntegerField(read_only=True, allow_null=True)
    recorded_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    recorded_at = serializers.DateTimeField(read_only=True, allow_null=True)
    systolic_bp = serializers.IntegerField(read_only=True, allow_null=True)
    diastolic_bp = serializers.IntegerField(read_only=True, allow_null=True)
    weight_kg = _out_dec(max_digits=4)
    height_cm = _out_dec(max_digits=4)
    fundal_height_cm = _out_dec(max_digits=3)
    abdominal_circumference_cm = _out_dec(max_digits=4)
    fetal_heart_rate = serializers.IntegerField(read_only=True, allow_null=True)
    presentation = serializers.CharField(read_only=True, allow_null=True)
    fetuses = serializers.IntegerField(read_only=True, allow_null=True)
    hb_g_l = serializers.IntegerField(read_only=True, allow_null=True)
    urine_protein = serializers.CharField(read_only=True, allow_null=True)
    platelets = serializers.IntegerField(read_only=True, allow_null=True)
    conditions = _codes(read_only=True, allow_null=True)
    unusual = _codes(read_only=True, allow_null=True, help_text="Fields accepted with a warning.")
    note = serializers.CharField(read_only=True, allow_null=True, help_text="L4")


class VisitWrittenSerializer(VisitSerializer):
    pregnancy_version = serializers.IntegerField(read_only=True, help_text="The episode's new version (the ETag).")
    warnings = WarningSerializer(many=True, read_only=True)


class VisitListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    pregnancy_version = serializers.IntegerField(help_text="The episode's version (the ETag).")
    results = VisitSerializer(many=True)


class VisitCreateSerializer(serializers.Serializer):
    visit_on = serializers.DateField()
    systolic_bp = serializers.IntegerField(required=False, allow_null=True, help_text="mmHg")
    diastolic_bp = serializers.IntegerField(required=False, allow_null=True, help_text="mmHg")
    weight_kg = _dec(max_digits=5, required=False, allow_null=True)
    height_cm = _dec(max_digits=5, required=False, allow_null=True)
    fundal_height_cm = _dec(max_digits=5, required=False, allow_null=True)
    abdominal_circumference_cm = _dec(max_digits=5, required=False, allow_null=True)
    fetal_heart_rate = serializers.IntegerField(required=False, allow_null=True, help_text="bpm")
    presentation = serializers.ChoiceField(choices=Presentation.choices, required=False, allow_blank=True)
    fetuses = serializers.IntegerField(required=False, allow_null=True)
    hb_g_l = serializers.IntegerField(required=False, allow_null=True, help_text="g/L")
    urine_protein = serializers.ChoiceField(choices=UrineProtein.choices, required=False, allow_blank=True)
    platelets = serializers.IntegerField(required=False, allow_null=True, help_text="10⁹/L")
    conditions = _codes(required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


# --- risk grading -----------------------------------------------------------------------------------


class FiredRuleSerializer(serializers.Serializer):
    code = serializers.CharField()
    colour = serializers.CharField(required=False)
    label = serializers.CharField(required=False)


class GradingSerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    visit_id = serializers.UUIDField(read_only=True, allow_null=True)
    postpartum_visit_id = serializers.UUIDField(read_only=True, allow_null=True)
    assessed_on = serializers.DateField(read_only=True, allow_null=True)
    graded_at = serializers.DateTimeField(read_only=True, allow_null=True)
    graded_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    institution_id = serializers.IntegerField(read_only=True, allow_null=True)
    table_version = serializers.CharField(read_only=True, allow_null=True)
    proposed_colour = serializers.ChoiceField(choices=RiskColour.choices, read_only=True, allow_null=True)
    proposed_purple = serializers.BooleanField(read_only=True, allow_null=True)
    rules_fired = _codes(read_only=True, allow_null=True)
    rules_fired_confidential = _codes(read_only=True, allow_null=True, help_text="L5")
    infections_used = serializers.BooleanField(read_only=True, allow_null=True)
    purple_carried = serializers.BooleanField(read_only=True, allow_null=True)
    colour = serializers.ChoiceField(choices=RiskColour.choices, read_only=True, allow_null=True)
    purple = serializers.BooleanField(read_only=True, allow_null=True)
    reason = serializers.CharField(read_only=True, allow_null=True, help_text="L4")
    fired = FiredRuleSerializer(many=True, read_only=True, help_text="The rules that fired, with colour and label.")


class GradingWrittenSerializer(GradingSerializer):
    pregnancy_version = serializers.IntegerField(read_only=True)
    case_opened = serializers.BooleanField(read_only=True, help_text="A high-risk case was opened by this grading.")
    high_risk_case_id = serializers.UUIDField(read_only=True, allow_null=True, help_text="The open case, if any.")
    remarks = serializers.ListField(child=serializers.CharField(), read_only=True)


class GradingListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    pregnancy_version = serializers.IntegerField()
    results = GradingSerializer(many=True)


class GradingCreateSerializer(serializers.Serializer):
    colour = serializers.ChoiceField(
        choices=RiskColour.choices, required=False, allow_null=True, help_text="Omitted: confirm the proposal."
    )
    purple = serializers.BooleanField(required=False, allow_null=True)
    reason = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="Required when raising the proposal."
    )
    visit_id = serializers.UUIDField(required=False, allow_null=True)
    postpartum_visit_id = serializers.UUIDField(required=False, allow_null=True)
    assessed_on = serializers.DateField(required=False, allow_null=True)


# --- delivery -------------------------------------------------------------------------------------


class BabySerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    order = serializers.IntegerField(read_only=True)
    outcome = serializers.ChoiceField(choices=BirthOutcome.choices, read_only=True, allow_null=True)
    sex = serializers.ChoiceField(choices=Sex.choices, read_only=True, allow_null=True)
    birth_weight_g = serializers.IntegerField(read_only=True, allow_null=True)
    length_cm = _out_dec(max_digits=3)
    apgar_1 = serializers.IntegerField(read_only=True, allow_null=True)
    apgar_5 = serializers.IntegerField(read_only=True, allow_null=True)
    child_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="A live-born baby's record in /api/v1/persons/."
    )


class DeliverySerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    delivered_at = serializers.DateTimeField(read_only=True, allow_null=True)
    gestational_days = serializers.IntegerField(read_only=True, allow_null=True)
    place_type = serializers.ChoiceField(choices=PlaceType.choices, read_only=True, allow_null=True)
    institution_id = serializers.IntegerField(read_only=True, allow_null=True)
    mode = serializers.ChoiceField(choices=DeliveryMode.choices, read_only=True, allow_null=True)
    blood_loss_ml = serializers.IntegerField(read_only=True, allow_null=True)
    maternal_outcome = serializers.ChoiceField(choices=MaternalOutcome.choices, read_only=True, allow_null=True)
    discharged_on = serializers.DateField(read_only=True, allow_null=True)
    unusual = _codes(read_only=True, allow_null=True)
    note = serializers.CharField(read_only=True, allow_null=True, help_text="L4")
    recorded_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    recorded_at = serializers.DateTimeField(read_only=True, allow_null=True)
    babies = BabySerializer(many=True, read_only=True)


class DeliveryWrittenSerializer(DeliverySerializer):
    pregnancy_version = serializers.IntegerField(read_only=True)
    warnings = WarningSerializer(many=True, read_only=True)


class BabyCreateSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=BirthOutcome.choices)
    sex = serializers.ChoiceField(choices=Sex.choices, help_text="GB/T 2261.1: 1 male, 2 female, 0 unknown")
    birth_weight_g = serializers.IntegerField(required=False, allow_null=True)
    length_cm = _dec(max_digits=4, required=False, allow_null=True)
    apgar_1 = serializers.IntegerField(required=False, allow_null=True)
    apgar_5 = serializers.IntegerField(required=False, allow_null=True)


class DeliveryCreateSerializer(serializers.Serializer):
    delivered_at = serializers.DateTimeField(help_text="With its time zone (ISO 8601).")
    place_type = serializers.ChoiceField(choices=PlaceType.choices)
    institution_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="When place_type is institution."
    )
    mode = serializers.ChoiceField(choices=DeliveryMode.choices)
    blood_loss_ml = serializers.IntegerField(required=False, allow_null=True)
    maternal_outcome = serializers.ChoiceField(choices=MaternalOutcome.choices, required=False)
    babies = BabyCreateSerializer(many=True, help_text="Every baby, live-born or stillborn, in birth order.")
    discharged_on = serializers.DateField(required=False, allow_null=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)


# --- postpartum ------------------------------------------------------------------------------------


class PostpartumVisitSerializer(RedactedSerializer):
    id = serializers.UUIDField(read_only=True)
    visit_on = serializers.DateField(read_only=True)
    kind = serializers.ChoiceField(choices=PostpartumKind.choices, read_only=True, allow_null=True)
    days_postpartum = serializers.IntegerField(read_only=True, allow_null=True)
    contact = serializers.CharField(read_only=True, allow_null=True)
    institution_id = serializers.IntegerField(read_only=True, allow_null=True)
    recorded_by_id = serializers.IntegerField(read_only=True, allow_null=True)
    recorded_at = serializers.DateTimeField(read_only=True, allow_null=True)
    systolic_bp = serializers.IntegerField(read_only=True, allow_null=True)
    diastolic_bp = serializers.IntegerField(read_only=True, allow_null=True)
    weight_kg = _out_dec(max_digits=4)
    hb_g_l = serializers.IntegerField(read_only=True, allow_null=True)
    breastfeeding = serializers.CharField(read_only=True, allow_null=True)
    finding = serializers.CharField(read_only=True, allow_null=True)
    conditions = _codes(read_only=True, allow_null=True)
    unusual = _codes(read_only=True, allow_null=True)
    note = serializers.CharField(read_only=True, allow_null=True, help_text="L4")


class PostpartumVisitWrittenSerializer(PostpartumVisitSerializer):
    pregnancy_version = serializers.IntegerField(read_only=True)
    closed = serializers.BooleanField(read_only=True, help_text="The 42-day check closed the episode.")
    warnings = WarningSerializer(many=True, read_only=True)


class PostpartumVisitListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    pregnancy_version = serializers.IntegerField()
    results = PostpartumVisitSerializer(many=True)


class PostpartumVisitCreateSerializer(serializers.Serializer):
    visit_on = serializers.DateField()
    kind = serializers.ChoiceField(choices=PostpartumKind.choices)
    systolic_bp = serializers.IntegerField(required=False, allow_null=True)
    diastolic_bp = serializers.IntegerField(required=False, allow_null=True)
    weight_kg = _dec(max_digits=5, required=False, allow_null=True)
    hb_g_l = serializers.IntegerField(required=False, allow_null=True)
    breastfeeding = serializers.ChoiceField(choices=Breastfeeding.choices, required=False, allow_blank=True)
    finding = serializers.ChoiceField(choices=Finding.choices, required=False, allow_blank=True)
    conditions = _codes(required=False)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True)
