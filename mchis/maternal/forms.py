"""Forms of the maternal pages: they parse input only; the services validate and decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from mchis.maternal.models import (
    BirthOutcome,
    Breastfeeding,
    CaseCloseReason,
    DeliveryMode,
    EndReason,
    Finding,
    InfectionResult,
    MaternalOutcome,
    PlaceType,
    PostpartumKind,
    Presentation,
    ReferralOutcome,
    ReferralReason,
    RiskColour,
    UrineProtein,
)
from mchis.people.models import DocumentType

# HTML date inputs take ISO dates whatever the language of the page.
DATE = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


def _int(label, **kw):
    return forms.IntegerField(label=label, required=kw.pop("required", False), **kw)


def _dec(label, **kw):
    return forms.DecimalField(label=label, required=False, max_digits=7, decimal_places=1, **kw)


def _blank(choices):
    return [("", "—"), *choices]


class FindForm(forms.Form):
    document_type = forms.ChoiceField(label=_("document type"), choices=DocumentType.choices)
    document_number = forms.CharField(label=_("document number"), max_length=40)


class IdentityForm(forms.Form):
    """The woman's identity, when the registry does not know her yet."""

    name = forms.CharField(label=_("name"), max_length=50, required=False)
    birth_date = forms.DateField(label=_("birth date"), widget=DATE, required=False)
    phone = forms.CharField(label=_("phone"), max_length=30, required=False)
    address = forms.CharField(label=_("address"), max_length=200, required=False)


class EpisodeForm(forms.Form):
    lmp = forms.DateField(label=_("last menstrual period"), widget=DATE, required=False)
    ultrasound_on = forms.DateField(label=_("early ultrasound date"), widget=DATE, required=False)
    ultrasound_ga_days = _int(_("gestational age at the scan (days)"))
    gravidity = forms.IntegerField(label=_("gravidity"), min_value=0)
    parity = forms.IntegerField(label=_("parity"), min_value=0)
    prior_abortions = _int(_("prior abortions"))
    prior_preterm_births = _int(_("prior preterm births"))
    prior_perinatal_deaths = _int(_("prior perinatal deaths"))
    prior_birth_defects = _int(_("prior birth defects"))
    prior_ectopic = _int(_("prior ectopic pregnancies"))
    prior_caesareans = _int(_("prior caesarean sections"))
    prior_uterine_surgeries = _int(_("prior uterine surgeries"))
    last_uterine_surgery_on = forms.DateField(label=_("last uterine surgery"), widget=DATE, required=False)
    height_cm = _dec(_("height (cm)"))
    pre_pregnancy_weight_kg = _dec(_("pre-pregnancy weight (kg)"))

    COUNTS = (
        "prior_abortions",
        "prior_preterm_births",
        "prior_perinatal_deaths",
        "prior_birth_defects",
        "prior_ectopic",
        "prior_caesareans",
        "prior_uterine_surgeries",
    )

    def service_values(self) -> dict:
        values = dict(self.cleaned_data)
        for name in self.COUNTS:
            values[name] = values[name] or 0
        return values


class VisitForm(forms.Form):
    visit_on = forms.DateField(label=_("visit date"), widget=DATE)
    systolic_bp = _int(_("systolic blood pressure (mmHg)"))
    diastolic_bp = _int(_("diastolic blood pressure (mmHg)"))
    weight_kg = _dec(_("weight (kg)"))
    fundal_height_cm = _dec(_("fundal height (cm)"))
    abdominal_circumference_cm = _dec(_("abdominal circumference (cm)"))
    fetal_heart_rate = _int(_("fetal heart rate (bpm)"))
    presentation = forms.ChoiceField(label=_("presentation"), choices=_blank(Presentation.choices), required=False)
    fetuses = _int(_("fetuses"))
    hb_g_l = _int(_("haemoglobin (g/L)"))
    urine_protein = forms.ChoiceField(label=_("urine protein"), choices=_blank(UrineProtein.choices), required=False)
    platelets = _int(_("platelets (10⁹/L)"))
    conditions = forms.MultipleChoiceField(label=_("conditions"), required=False, choices=())
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, condition_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["conditions"].choices = condition_choices
        self.fields["conditions"].widget.attrs["size"] = 6


class GradingForm(forms.Form):
    colour = forms.ChoiceField(label=_("colour"), choices=RiskColour.choices)
    purple = forms.BooleanField(label=_("purple (infectious disease)"), required=False)
    reason = forms.CharField(
        label=_("reason (required when raising the proposal)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # Grading from a visit: the proposal is computed from that visit, dated its day.
    visit_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    postpartum_visit_id = forms.UUIDField(required=False, widget=forms.HiddenInput)


class DeliveryForm(forms.Form):
    delivered_at = forms.DateTimeField(
        label=_("delivered at"), widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"})
    )
    place_type = forms.ChoiceField(label=_("place"), choices=PlaceType.choices)
    mode = forms.ChoiceField(label=_("mode"), choices=DeliveryMode.choices)
    blood_loss_ml = _int(_("blood loss (ml)"))
    maternal_outcome = forms.ChoiceField(label=_("mother's outcome"), choices=MaternalOutcome.choices)
    discharged_on = forms.DateField(label=_("discharged on"), widget=DATE, required=False)
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class BabyForm(forms.Form):
    """One baby; the delivery page shows as many as were born (`BabyFormSet`)."""

    outcome = forms.ChoiceField(label=_("outcome"), choices=_blank(BirthOutcome.choices), required=False)
    sex = forms.TypedChoiceField(
        label=_("sex"), choices=[("", "—"), (1, _("male")), (2, _("female"))], coerce=int, required=False
    )
    birth_weight_g = _int(_("birth weight (g)"))
    length_cm = _dec(_("length (cm)"))
    apgar_1 = _int(_("Apgar at 1 minute"))
    apgar_5 = _int(_("Apgar at 5 minutes"))


# At most as many babies as the service accepts; the page adds and removes forms without script.
MAX_BABIES = 6
BabyFormSet = forms.formset_factory(
    BabyForm, extra=0, min_num=1, max_num=MAX_BABIES, absolute_max=MAX_BABIES, validate_max=True
)


class PostpartumForm(forms.Form):
    visit_on = forms.DateField(label=_("visit date"), widget=DATE)
    kind = forms.ChoiceField(label=_("kind"), choices=PostpartumKind.choices)
    systolic_bp = _int(_("systolic blood pressure (mmHg)"))
    diastolic_bp = _int(_("diastolic blood pressure (mmHg)"))
    weight_kg = _dec(_("weight (kg)"))
    hb_g_l = _int(_("haemoglobin (g/L)"))
    breastfeeding = forms.ChoiceField(label=_("breastfeeding"), choices=_blank(Breastfeeding.choices), required=False)
    finding = forms.ChoiceField(label=_("finding"), choices=_blank(Finding.choices), required=False)
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class TransferRequestForm(forms.Form):
    to_institution_id = forms.TypedChoiceField(label=_("receiving institution"), coerce=int, choices=())
    reason_text = forms.CharField(label=_("reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, institutions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_institution_id"].choices = [(i.pk, i.name) for i in institutions]


# --- changes to the episode and to what is recorded in it ------------------------------------------


def _version():
    """The episode's version when the form was opened: a change made meanwhile by someone else
    is refused (VersionConflict), not overwritten."""
    return forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class EpisodeEditForm(EpisodeForm):
    """Corrections to the dating, obstetric history, height, weight and conditions."""

    conditions = forms.MultipleChoiceField(label=_("conditions"), required=False, choices=())
    version = _version()

    def __init__(self, *args, condition_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["conditions"].choices = condition_choices
        self.fields["conditions"].widget.attrs["size"] = 6

    def service_values(self) -> dict:
        values = super().service_values()
        values.pop("version")
        return values


class EpisodeCloseForm(forms.Form):
    reason = forms.ChoiceField(label=_("reason"), choices=_blank(EndReason.choices))
    on = forms.DateField(label=_("ended on"), widget=DATE)
    version = _version()


class InfectionResultsForm(forms.Form):
    """PMTCT screening (L5). A blank choice leaves the recorded result as it is."""

    hiv = forms.ChoiceField(label=_("HIV"), choices=_blank(InfectionResult.choices), required=False)
    syphilis = forms.ChoiceField(label=_("syphilis"), choices=_blank(InfectionResult.choices), required=False)
    hbsag = forms.ChoiceField(label=_("hepatitis B (HBsAg)"), choices=_blank(InfectionResult.choices), required=False)
    version = _version()

    def service_values(self) -> dict:
        return {k: self.cleaned_data[k] or None for k in ("hiv", "syphilis", "hbsag")}


class DischargeForm(forms.Form):
    discharged_on = forms.DateField(label=_("discharged on"), widget=DATE)
    version = _version()


class CaseReportForm(forms.Form):
    reported_at = forms.DateTimeField(
        label=_("reported at (empty: now)"),
        required=False,
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )


class CaseCloseForm(forms.Form):
    # A case closes with its episode by itself: that reason is not chosen here.
    reason = forms.ChoiceField(
        label=_("reason"),
        choices=_blank([c for c in CaseCloseReason.choices if c[0] != CaseCloseReason.EPISODE_CLOSED]),
    )
    note = forms.CharField(
        label=_("note (required for other reasons)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReferralForm(forms.Form):
    to_institution_id = forms.TypedChoiceField(label=_("referred to"), coerce=int, choices=())
    referred_on = forms.DateField(label=_("referred on"), widget=DATE)
    reason = forms.ChoiceField(label=_("reason"), choices=_blank(ReferralReason.choices))
    reason_text = forms.CharField(
        label=_("details (required for other reasons)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, institutions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_institution_id"].choices = _blank([(i.pk, i.name) for i in institutions])


class ReferralOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label=_("outcome"), choices=_blank([c for c in ReferralOutcome.choices if c[0]]))
    outcome_on = forms.DateField(label=_("outcome date"), widget=DATE)
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class TransferCancelForm(forms.Form):
    note = forms.CharField(label=_("note"), required=False, max_length=500)
