"""High-risk case management (专案管理): report a case to the district MCH institution by its
deadline, close it; refer the woman elsewhere and record what became of the referral."""

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mchis.maternal import services
from mchis.maternal.forms import CaseCloseForm, CaseReportForm, ReferralForm, ReferralOutcomeForm
from mchis.maternal.views.common import back, care_institutions, item, posted, submit, writable_episode
from mchis.orgs.models import Institution

CASE = "maternal.highriskcase"
REFERRAL = "maternal.referral"


@require_http_methods(["GET", "POST"])
def case_report(request, pregnancy_id, case_id):
    """The case was reported (by default to the county's MCH institution, now)."""
    p = writable_episode(request, pregnancy_id)
    case = item(request, p.high_risk_cases, case_id, object_type=CASE)
    form = CaseReportForm(posted(request))
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.high_risk_case_report,
            success=_("The high-risk case is recorded as reported."),
            case_id=case.id,
            reported_at=form.cleaned_data["reported_at"],
        )
        if change is not None:
            return back(p.id)
    return render(
        request,
        "maternal/case_form.html",
        {"p": p, "form": form, "case": case, "now": timezone.now(), "action": "report"},
    )


@require_http_methods(["GET", "POST"])
def case_close(request, pregnancy_id, case_id):
    p = writable_episode(request, pregnancy_id)
    case = item(request, p.high_risk_cases, case_id, object_type=CASE)
    form = CaseCloseForm(posted(request))
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.high_risk_case_close,
            success=_("The high-risk case is closed."),
            case_id=case.id,
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
        if change is not None:
            return back(p.id)
    return render(
        request,
        "maternal/case_form.html",
        {"p": p, "form": form, "case": case, "now": timezone.now(), "action": "close"},
    )


@require_http_methods(["GET", "POST"])
def referral_new(request, pregnancy_id):
    """Refer her (a high-risk woman to the county hospital, for delivery…): the receiving
    institution then shares the episode and may record care in it."""
    p = writable_episode(request, pregnancy_id)
    form = ReferralForm(
        posted(request),
        institutions=care_institutions(request.user, with_city=True),
        initial={"referred_on": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.referral_record,
            success=_("Referral recorded."),
            pregnancy_id=p.id,
            **form.cleaned_data,
        )
        if change is not None:
            return back(p.id)
    return render(request, "maternal/referral_form.html", {"p": p, "form": form})


@require_http_methods(["GET", "POST"])
def referral_outcome(request, pregnancy_id, referral_id):
    """What became of a referral: either side records it."""
    p = writable_episode(request, pregnancy_id)
    referral = item(request, p.referrals, referral_id, object_type=REFERRAL)
    form = ReferralOutcomeForm(posted(request), initial={"outcome_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.referral_outcome_record,
            success=_("Referral outcome recorded."),
            referral_id=referral.id,
            **form.cleaned_data,
        )
        if change is not None:
            return back(p.id)
    ids = [referral.values["from_institution_id"], referral.values["to_institution_id"]]
    names = dict(Institution.objects.filter(pk__in=ids).values_list("pk", "name"))
    return render(
        request,
        "maternal/referral_outcome_form.html",
        {
            "p": p,
            "form": form,
            "referral": referral,
            "from_name": names.get(ids[0], ""),
            "to_name": names.get(ids[1], ""),
        },
    )
