"""Forms of the maternal pages: they parse input only; the services validate and decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from mchis.maternal.models import (
    BirthOutcome,
    Breastfeeding,
    DeliveryMode,
    Finding,
    MaternalOutcome,
    PlaceType,
    PostpartumKind,
    Presentation,
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
    outcome = forms.ChoiceField(label=_("outcome"), choices=_blank(BirthOutcome.choices), required=False)
    sex = forms.TypedChoiceField(
        label=_("sex"), choices=[("", "—"), (1, _("male")), (2, _("female"))], coerce=int, required=False
    )
    birth_weight_g = _int(_("birth weight (g)"))
    length_cm = _dec(_("length (cm)"))
    apgar_1 = _int(_("Apgar at 1 minute"))
    apgar_5 = _int(_("Apgar at 5 minutes"))


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
