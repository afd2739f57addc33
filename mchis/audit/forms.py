from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.accounts.models import User
from mchis.audit.models import AuditAction
from mchis.audit.selectors import EventFilter
from mchis.orgs.selectors import institution_list_visible


class DateInput(forms.DateInput):
    input_type = "date"


class EventFilterForm(forms.Form):
    start = forms.DateField(label=_("From"), required=False, widget=DateInput)
    end = forms.DateField(label=_("To"), required=False, widget=DateInput)
    institution = forms.ModelChoiceField(
        label=_("Institution"), queryset=None, required=False, empty_label=_("All institutions")
    )
    action = forms.ChoiceField(label=_("Action"), required=False)
    actor = forms.CharField(label=_("Username"), required=False, max_length=150)
    object_type = forms.CharField(label=_("Object type"), required=False, max_length=100)
    object_id = forms.CharField(label=_("Object id"), required=False, max_length=64)

    def __init__(self, *args, actor: User, required: tuple[str, ...] = (), omit: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        for name in omit:
            del self.fields[name]
        self.fields["institution"].queryset = institution_list_visible(actor=actor)
        self.fields["action"].choices = [("", _("All actions")), *AuditAction.choices]
        for name in required:
            self.fields[name].required = True
        for f in self.fields.values():
            select = isinstance(f, forms.ChoiceField)
            f.widget.attrs["class"] = "form-select form-select-sm" if select else "form-control form-control-sm"

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", _("the end date is before the start date"))
        return data

    def event_filter(self) -> EventFilter:
        data = self.cleaned_data
        tz = timezone.get_current_timezone()

        def day_start(day):
            return timezone.make_aware(datetime.combine(day, time.min), tz)

        institution = data.get("institution")
        return EventFilter(
            start=day_start(data["start"]) if data.get("start") else None,
            # The end date is included: events before the next day's midnight.
            end=day_start(data["end"] + timedelta(days=1)) if data.get("end") else None,
            institution_id=institution.pk if institution else None,
            action=data.get("action") or "",
            username=(data.get("actor") or "").strip(),
            object_type=(data.get("object_type") or "").strip(),
            object_id=(data.get("object_id") or "").strip(),
        )

    def used(self) -> dict[str, str]:
        """The filters in use, as text (recorded with the audit of this read)."""
        return {k: str(v.pk if hasattr(v, "pk") else v) for k, v in self.cleaned_data.items() if v not in (None, "")}


class PersonLookupForm(forms.Form):
    """Whose records: the auditor gives her document number (from a complaint, a request of
    hers, an incident) and why they look, which is kept with the lookup's own audit event."""

    document_number = forms.CharField(label=_("Document number"), max_length=40)
    reason = forms.CharField(
        label=_("Reason for the lookup"),
        max_length=200,
        min_length=4,
        help_text=_("For example the complaint or incident number. Recorded in the audit trail."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for f in self.fields.values():
            f.widget.attrs["class"] = "form-control form-control-sm"
        # The number is not kept by the browser's form history.
        self.fields["document_number"].widget.attrs["autocomplete"] = "off"
