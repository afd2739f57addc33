"""Account governance pages: security agreements (P18), suspected compromise and access review
(P4), registered networks (P5), and the user's notices. Thin: each parses the request, calls
one selector or service, and renders; the rules live in the modules they call."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from mchis.accounts.agreements import (
    agreement_accept,
    agreement_current,
    agreement_institution_get,
    agreement_institutions,
    agreement_pending,
    agreement_publish,
    agreement_versions,
)
from mchis.accounts.compromise import compromise_clear, compromise_flag, compromise_reports, compromise_target_find
from mchis.accounts.networks import (
    network_add,
    network_institution_get,
    network_institutions,
    network_remove,
)
from mchis.accounts.notices import notice_list, notice_mark_read
from mchis.accounts.review import FindingKind, access_review, access_review_record, account_disable, dormant_days
from mchis.audit.middleware import source_ip
from mchis.audit.services import audit_denied
from mchis.people.forms import apply_errors

PAGE = 20


def _page(request, items, per_page: int = PAGE):
    return Paginator(items, per_page).get_page(request.GET.get("page"))


# --- security agreements (P18) ----------------------------------------------------------


class AgreementAcceptForm(forms.Form):
    agreement = forms.IntegerField(widget=forms.HiddenInput)
    accept = forms.BooleanField(
        label=gettext_lazy("I have read this agreement and accept it"),
        error_messages={"required": gettext_lazy("tick the box to accept the agreement")},
    )


class AgreementPublishForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    text = forms.CharField(label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 24}))


def agreement(request):
    """The gate page: the current agreement of the user's institution, and its acceptance."""
    user = request.user
    pending = agreement_pending(user=user)
    current = pending or agreement_current(institution=user.institution_id)
    form = AgreementAcceptForm(request.POST or None, initial={"agreement": current.pk if current else None})
    if request.method == "POST" and pending is not None and form.is_valid():
        try:
            agreement_accept(user=user, agreement_id=form.cleaned_data["agreement"], ip=source_ip(request) or None)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Thank you. Your acceptance of the security agreement is recorded."))
            target = request.GET.get("next", "")
            if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                return redirect(target)
            return redirect("home")
    accepted = None
    if current is not None and pending is None:
        accepted = current.acceptances.filter(user=user).first()
    return render(
        request,
        "accounts/agreement.html",
        {"agreement": current, "pending": pending is not None, "accepted": accepted, "form": form},
    )


def agreements(request):
    """Institutions whose agreement the user may publish, with the current version."""
    return render(
        request, "accounts/agreements.html", {"page": _page(request, agreement_institutions(actor=request.user))}
    )


def agreement_publish_view(request, institution_id: int):
    institution = agreement_institution_get(actor=request.user, institution_id=institution_id)
    current = agreement_current(institution=institution)
    initial = {"title": current.title, "text": current.text} if current else {}
    form = AgreementPublishForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            published = agreement_publish(actor=request.user, institution=institution, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(
                request,
                _("Version %(version)d published. Every user of %(institution)s must accept it before going on.")
                % {"version": published.version, "institution": institution.name},
            )
            return redirect("accounts:agreement_publish", institution_id=institution.pk)
    return render(
        request,
        "accounts/agreement_publish.html",
        {"institution": institution, "form": form, "versions": agreement_versions(institution=institution)},
    )


# --- suspected compromise (P4) ----------------------------------------------------------


class CompromiseReportForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Account (username)"), max_length=150)
    reason = forms.CharField(
        label=gettext_lazy("What happened"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy("For example: the password was seen by someone else, or the key was lost."),
    )


def compromise_report(request):
    user = request.user
    form = CompromiseReportForm(request.POST or None, initial={"username": user.username})
    if request.method == "POST" and form.is_valid():
        try:
            target = compromise_target_find(actor=user, username=form.cleaned_data["username"])
            compromise_flag(actor=user, user=target, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            if "username" in exc.message_dict:
                # Also refusals: someone probing for accounts they may not touch.
                audit_denied(
                    actor=user,
                    object_type="accounts.user",
                    reason="suspected compromise report refused",
                    extra={"username": form.cleaned_data["username"][:150]},
                )
            apply_errors(form, exc.message_dict)
        else:
            if target.pk == user.pk:
                # Their own sessions have ended; end this one in the browser too.
                logout(request)
                messages.warning(
                    request,
                    _(
                        "Your account is locked and the security administrator has been told. "
                        "They will give you a new password in person."
                    ),
                )
                return redirect("login")
            messages.warning(
                request,
                _(
                    "Account %(username)s is locked; the security administrator and the superior health "
                    "authority have been told."
                )
                % {"username": target.username},
            )
            return redirect("accounts:compromise_report")
    return render(request, "accounts/compromise_report.html", {"form": form})


def compromise_list(request):
    return render(
        request, "accounts/compromise_list.html", {"page": _page(request, compromise_reports(actor=request.user))}
    )


@require_POST
def compromise_clear_view(request, report_id: int):
    report, password = compromise_clear(actor=request.user, report_id=report_id)
    if password is None:
        messages.info(
            request,
            _("Report closed. The account %(username)s stays disabled: %(reason)s.")
            % {"username": report.user.username, "reason": report.user.get_disabled_reason_display()},
        )
        return redirect("accounts:compromise_list")
    # Rendered, not redirected: the password is shown once and stored nowhere (no-store page).
    return render(request, "accounts/compromise_cleared.html", {"report": report, "password": password})


# --- access review (P4) -----------------------------------------------------------------


def access_review_page(request):
    findings = access_review(actor=request.user)
    counts = {kind: 0 for kind in FindingKind.values}
    for f in findings:
        counts[f.kind] += 1
    kind = request.GET.get("kind", "")
    if kind not in FindingKind.values:
        kind = next((k for k in FindingKind.values if counts[k]), FindingKind.values[0])
    page = _page(request, [f for f in findings if f.kind == kind], 50)
    access_review_record(actor=request.user, findings=list(page.object_list))
    tabs = [(k, label, counts[k]) for k, label in FindingKind.choices]
    return render(
        request,
        "accounts/review.html",
        {"tabs": tabs, "kind": kind, "page": page, "dormant_days": dormant_days(), "total": len(findings)},
    )


@require_POST
def access_review_disable(request, user_id: int):
    user = account_disable(actor=request.user, user_id=user_id)
    messages.info(request, _("Account %(username)s disabled.") % {"username": user.username})
    kind = request.POST.get("kind", "")
    target = reverse("accounts:access_review")
    return redirect(f"{target}?kind={kind}" if kind in FindingKind.values else target)


# --- registered networks (P5) -----------------------------------------------------------


class NetworkForm(forms.Form):
    cidr = forms.CharField(
        label=gettext_lazy("Address range (CIDR)"),
        max_length=49,
        help_text=gettext_lazy("IPv4 or IPv6, e.g. 192.168.10.0/24 or 2001:db8:10::/48"),
    )
    label = forms.CharField(label=gettext_lazy("Label"), max_length=100, required=False)


def networks(request):
    return render(request, "accounts/networks.html", {"page": _page(request, network_institutions(actor=request.user))})


def network_edit(request, institution_id: int):
    institution = network_institution_get(actor=request.user, institution_id=institution_id)
    form = NetworkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = network_add(actor=request.user, institution=institution, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Address range %(cidr)s added.") % {"cidr": row.cidr})
            return redirect("accounts:network_edit", institution_id=institution.pk)
    return render(
        request,
        "accounts/networks_edit.html",
        {"institution": institution, "form": form, "ranges": institution.networks.order_by("cidr")},
    )


@require_POST
def network_remove_view(request, network_id: int):
    institution = network_remove(actor=request.user, network_id=network_id)
    messages.info(request, _("Address range removed."))
    return redirect("accounts:network_edit", institution_id=institution.pk)


# --- notices ----------------------------------------------------------------------------


def notices(request):
    return render(request, "accounts/notices.html", {"page": _page(request, notice_list(user=request.user))})


@require_POST
def notice_read(request, notice_id: int):
    notice_mark_read(user=request.user, notice_id=notice_id)
    return redirect("accounts:notices")


@require_POST
def notices_read_all(request):
    notice_mark_read(user=request.user)
    return redirect("accounts:notices")
