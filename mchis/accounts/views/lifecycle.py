"""Account lifecycle pages (P29): request an account, and handovers. Thin: the rules live in
`approval_kinds.py` (account requests, decided under `approvals:`) and `handover.py`."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from mchis.accounts.approval_kinds import ACCOUNT
from mchis.accounts.handover import (
    Side,
    handover_candidates,
    handover_confirm,
    handover_get,
    handover_may_start,
    handover_start,
    handovers_visible,
)
from mchis.accounts.roles import ROLE_INSTITUTION_KINDS, TECHNICAL_ROLES, Role
from mchis.approvals.services import approval_request
from mchis.people.forms import apply_errors

# --- account requests -----------------------------------------------------------------------


class AccountRequestForm(forms.Form):
    display_name = forms.CharField(label=gettext_lazy("name"), max_length=50)
    username = forms.CharField(label=gettext_lazy("username"), max_length=150)
    roles = forms.MultipleChoiceField(label=gettext_lazy("roles"), widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(
        label=gettext_lazy("account expires on"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reason = forms.CharField(label=gettext_lazy("reason"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, institution=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only roles that can be held at the custodian's kind of institution; technical
        # administrators are set up by the security administrator (P19).
        kind = getattr(institution, "kind", None)
        self.fields["roles"].choices = [
            (value, label)
            for value, label in Role.choices
            if value not in TECHNICAL_ROLES and kind in ROLE_INSTITUTION_KINDS[value]
        ]


def account_request(request):
    institution = request.user.institution
    form = AccountRequestForm(request.POST or None, institution=institution)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = approval_request(
                requester=request.user,
                kind=ACCOUNT,
                payload={
                    "display_name": data["display_name"],
                    "username": data["username"],
                    "roles": list(data["roles"]),
                    "expires_on": data["expires_on"].isoformat(),
                },
                reason=data["reason"],
            )
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Account requested. The MCH information officer has been told."))
            return redirect("approvals:detail", request_id=created.pk)
    return render(request, "accounts/account_request.html", {"form": form, "institution": institution})


# --- handovers --------------------------------------------------------------------------------


# Who sees the "start" button; `handover_may_start` decides for each leaver.
START_ROLES = frozenset({Role.DATA_CUSTODIAN, Role.SECURITY_ADMIN})


class HandoverStartForm(forms.Form):
    from_user = forms.ModelChoiceField(label=gettext_lazy("leaving"), queryset=None)
    to_user = forms.ModelChoiceField(label=gettext_lazy("successor"), queryset=None)
    leaving_on = forms.DateField(label=gettext_lazy("leaving on"), widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label=gettext_lazy("note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        people = handover_candidates(actor=actor)
        for name in ("from_user", "to_user"):
            self.fields[name].queryset = people
            self.fields[name].label_from_instance = lambda u: f"{u.display_name} ({u.username}) · {u.institution}"


class HandoverConfirmForm(forms.Form):
    side = forms.ChoiceField(choices=[(Side.HANDED_OVER, Side.HANDED_OVER), (Side.RECEIVED, Side.RECEIVED)])
    note = forms.CharField(label=gettext_lazy("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


def handovers(request):
    return render(
        request,
        "accounts/handovers.html",
        {
            "handovers": handovers_visible(user=request.user)[:100],
            "may_start": bool(request.user.role_names() & START_ROLES),
        },
    )


def handover_new(request):
    form = HandoverStartForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            handover = handover_start(
                actor=request.user,
                from_user=data["from_user"],
                to_user=data["to_user"],
                leaving_on=data["leaving_on"],
                note=data["note"],
            )
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Handover started; open work has moved to the successor."))
            return redirect("accounts:handover_detail", handover_id=handover.pk)
    return render(request, "accounts/handover_start.html", {"form": form})


def handover_detail(request, handover_id):
    handover = handover_get(actor=request.user, handover_id=handover_id)
    user = request.user
    open_ = handover.completed_at is None
    return render(
        request,
        "accounts/handover_detail.html",
        {
            "handover": handover,
            "moved": sorted((handover.moved or {}).items()),
            "may_confirm_handed_over": open_
            and handover.from_confirmed_at is None
            and user.pk in (handover.from_user_id, handover.started_by_id),
            "on_behalf": user.pk != handover.from_user_id,
            "may_confirm_received": open_ and handover.to_confirmed_at is None and user.pk == handover.to_user_id,
            "may_start": handover_may_start(actor=user, user=handover.from_user),
        },
    )


@require_POST
def handover_confirm_view(request, handover_id):
    form = HandoverConfirmForm(request.POST)
    if form.is_valid():
        try:
            handover_confirm(actor=request.user, handover_id=handover_id, **form.cleaned_data)
        except ValidationError as exc:
            for errors in exc.message_dict.values():
                for error in errors:
                    messages.error(request, error)
        else:
            messages.info(request, _("Confirmation recorded."))
    return redirect("accounts:handover_detail", handover_id=handover_id)
