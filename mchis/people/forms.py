from django import forms
from django.utils.translation import gettext_lazy as _

from mchis.access.models import BreakGlassReason
from mchis.people.models import TEXT_MAX_LENGTH, DocumentType, Sex


class PersonSearchForm(forms.Form):
    q = forms.CharField(label=_("ID number or phone"), max_length=40)


class PersonRegisterForm(forms.Form):
    document_type = forms.ChoiceField(label=_("document type"), choices=DocumentType.choices)
    document_number = forms.CharField(
        label=_("document number"), max_length=TEXT_MAX_LENGTH["document_number"], required=False
    )
    name = forms.CharField(label=_("name"), max_length=TEXT_MAX_LENGTH["name"])
    sex = forms.TypedChoiceField(label=_("sex"), choices=Sex.choices, coerce=int, initial=Sex.FEMALE)
    birth_date = forms.DateField(label=_("birth date"), widget=forms.DateInput(attrs={"type": "date"}))
    phone = forms.CharField(label=_("phone"), max_length=30, required=False)
    address = forms.CharField(label=_("address"), max_length=TEXT_MAX_LENGTH["address"], required=False)


class BreakGlassForm(forms.Form):
    document_number = forms.CharField(label=_("document number"), max_length=40)
    reason = forms.ChoiceField(label=_("reason"), choices=BreakGlassReason.choices)
    reason_text = forms.CharField(label=_("explanation"), widget=forms.Textarea(attrs={"rows": 3}))


class BreakGlassReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("review"), choices=[("justified", _("justified")), ("not_justified", _("not justified"))]
    )
    note = forms.CharField(label=_("review note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


def apply_errors(form: forms.Form, errors: dict[str, list[str]]) -> None:
    """Show a service's ValidationError on the form, field by field."""
    for name, messages in errors.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)
