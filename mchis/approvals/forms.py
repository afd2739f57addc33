from django import forms
from django.utils.translation import gettext_lazy as _


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("decision"), choices=[("approve", _("approve")), ("reject", _("reject"))])
    note = forms.CharField(label=_("decision note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
