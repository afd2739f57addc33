"""Approval pages: what waits for my decision, my requests, and one request. Thin: the rules
are in services.py and selectors.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mchis.approvals.forms import DecisionForm
from mchis.approvals.kinds import describe_request, kind_label
from mchis.approvals.selectors import approval_get, approval_may_decide, approvals_awaiting, approvals_mine
from mchis.approvals.services import approval_decide, approval_secret_take, approval_withdraw

LIST_LIMIT = 100


def _errors_to_messages(request, exc: ValidationError) -> None:
    for errors in exc.message_dict.values():
        for error in errors:
            messages.error(request, error)


def approvals(request):
    user = request.user
    return render(
        request,
        "approvals/list.html",
        {
            "awaiting": approvals_awaiting(user=user)[:LIST_LIMIT],
            "mine": approvals_mine(user=user)[:LIST_LIMIT],
        },
    )


def detail(request, request_id):
    item = approval_get(actor=request.user, request_id=request_id)
    is_requester = item.requester_id == request.user.pk
    return render(
        request,
        "approvals/detail.html",
        {
            "item": item,
            "kind_label": kind_label(item.kind),
            "rows": describe_request(item),
            "is_requester": is_requester,
            "may_decide": item.is_pending and approval_may_decide(actor=request.user, request=item),
            "form": DecisionForm(),
        },
    )


@require_POST
def decide(request, request_id):
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            approval_decide(
                actor=request.user,
                request_id=request_id,
                approve=form.cleaned_data["decision"] == "approve",
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            _errors_to_messages(request, exc)
        else:
            messages.info(request, _("Decision recorded."))
    return redirect("approvals:detail", request_id=request_id)


@require_POST
def withdraw(request, request_id):
    try:
        approval_withdraw(actor=request.user, request_id=request_id)
    except ValidationError as exc:
        _errors_to_messages(request, exc)
    else:
        messages.info(request, _("Request withdrawn."))
    return redirect("approvals:detail", request_id=request_id)


@require_POST
def secret(request, request_id):
    """Shows the one-time value (an initial password) once; the page is not cached (no-store)."""
    try:
        value = approval_secret_take(actor=request.user, request_id=request_id)
    except ValidationError as exc:
        _errors_to_messages(request, exc)
        return redirect("approvals:detail", request_id=request_id)
    item = approval_get(actor=request.user, request_id=request_id)
    return render(request, "approvals/secret.html", {"item": item, "rows": describe_request(item), "value": value})
