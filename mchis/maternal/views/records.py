"""Forms that record care in an episode: antenatal visits, risk grading (also from one visit),
the delivery with any number of babies, the discharge, postpartum visits."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from mchis.access.policy import WITHHELD
from mchis.access.purposes import purpose_for
from mchis.crypto.ids import id_parse
from mchis.maternal import selectors, services
from mchis.maternal.forms import (
    MAX_BABIES,
    BabyForm,
    BabyFormSet,
    DeliveryForm,
    DischargeForm,
    GradingForm,
    PostpartumForm,
    VisitForm,
)
from mchis.maternal.models import MaternalOutcome
from mchis.maternal.risk import condition_catalogue
from mchis.maternal.views.common import back, posted, refused, require, submit, warned, writable_episode
from mchis.people.forms import apply_errors


def _onward(request, pregnancy_id):
    """Where a saved record sends the user: back to the pregnancy, unless the write ended their
    reach (a referral hospital's maternal death or 42-day check closes the episode and its
    share), when the pregnancy page would answer 404 as if nothing had been saved."""
    if selectors.pregnancy_writable(actor=request.user, pregnancy_id=pregnancy_id):
        return back(pregnancy_id)
    return redirect("maternal:worklist")


def _form_page(request, pregnancy_id, template, form, **context):
    """A form that records in the episode: shown only to those who may (else not found)."""
    return render(request, template, {"p": writable_episode(request, pregnancy_id), "form": form, **context})


def condition_choices() -> list[tuple[str, str]]:
    return [(c["code"], f"{c['code']} {c['label']}") for c in condition_catalogue()]


def visit_new(request, pregnancy_id):
    form = VisitForm(posted(request), condition_choices=condition_choices(), initial={"visit_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        values = {k: (v if v is not None else None) for k, v in form.cleaned_data.items()}
        try:
            result = refused(services.visit_record, actor=request.user, pregnancy_id=pregnancy_id, **values)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Visit recorded."))
            warned(request, result.warnings)
            return back(pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/visit_form.html", form)


def _graded_visit(request):
    """The visit a grading is computed from: ?visit= / ?postpartum_visit= on the link, the
    hidden fields of the form once posted."""
    source = request.POST if request.method == "POST" else request.GET
    if request.method == "POST":
        return source.get("visit_id") or None, source.get("postpartum_visit_id") or None
    return source.get("visit") or None, source.get("postpartum_visit") or None


def _ids(value) -> list[str]:
    """The record id a query asked for, when it is one: other text is not written to the trail."""
    return [str(pk)] if (pk := id_parse(value)) else []


def grading_new(request, pregnancy_id):
    """The rules propose, the clinician confirms or raises. From a visit row, the proposal is
    the one of that visit (its measurements, its day) and the grading is recorded against it."""
    visit_id, postpartum_visit_id = _graded_visit(request)
    try:
        proposal = selectors.risk_proposal_get(
            actor=request.user,
            pregnancy_id=pregnancy_id,
            purpose=purpose_for(request.user),
            visit_id=visit_id,
            postpartum_visit_id=postpartum_visit_id,
        )
    except ValidationError as exc:
        # No such visit in this episode (or not one the actor sees): as for any absent record,
        # and the refusal names the visit asked for, as one of a case or referral does (P10).
        if "postpartum_visit_id" in exc.message_dict:
            require(request, False, object_ids=_ids(postpartum_visit_id), object_type="maternal.postpartumvisit")
        require(request, False, object_ids=_ids(visit_id), object_type="maternal.antenatalvisit")
    form = GradingForm(
        posted(request),
        initial={
            "colour": proposal.colour,
            "purple": proposal.purple,
            "visit_id": visit_id,
            "postpartum_visit_id": postpartum_visit_id,
        },
    )
    if request.method == "POST" and form.is_valid():
        result = submit(
            request,
            form,
            services.risk_grade,
            success=_("Risk grading recorded."),
            pregnancy_id=pregnancy_id,
            colour=form.cleaned_data["colour"],
            purple=form.cleaned_data["purple"],
            reason=form.cleaned_data["reason"],
            visit_id=visit_id,
            postpartum_visit_id=postpartum_visit_id,
        )
        if result is not None:
            if result.case_opened:
                messages.warning(request, _("A high-risk case was opened; report it by its deadline."))
            return back(pregnancy_id)
    p = writable_episode(request, pregnancy_id)
    visit = next((v for v in [*p.visits, *p.postpartum_visits] if str(v.id) in (visit_id, postpartum_visit_id)), None)
    return render(request, "maternal/grading_form.html", {"p": p, "form": form, "proposal": proposal, "visit": visit})


# --- delivery ----------------------------------------------------------------------------------------


def _raw(data, form_class, prefix: str = "") -> dict:
    """What was typed into a form, to show it again unvalidated (adding or removing a baby)."""
    name = (prefix + "-") if prefix else ""
    return {f: data.get(name + f) for f in form_class.base_fields if data.get(name + f) not in (None, "")}


def _babies_expected(request, p) -> int:
    """How many baby forms the page opens with: ?babies=N, else the fetuses of the last visit
    that counted them, else one."""
    try:
        n = int(request.GET["babies"])
    except (KeyError, ValueError):
        counted = [v.fetuses for v in p.visits if v.fetuses not in (None, WITHHELD)]
        n = counted[-1] if counted else 1
    return min(max(n, 1), MAX_BABIES)


def delivery_new(request, pregnancy_id):
    """The delivery and each baby born: as many babies as needed (up to 6), added and removed
    with buttons that post the page back without saving, so it works without script."""
    p = writable_episode(request, pregnancy_id)
    if request.method != "POST":
        form = DeliveryForm()
        babies = BabyFormSet(prefix="baby", initial=[{}] * _babies_expected(request, p))
    else:
        form = DeliveryForm(request.POST)
        babies = BabyFormSet(request.POST, prefix="baby")
        resize = request.POST.get("babies_resize")
        if resize in ("add", "remove") and babies.management_form.is_valid():
            count = babies.total_form_count()
            new = min(max(count + (1 if resize == "add" else -1), 1), MAX_BABIES)
            form = DeliveryForm(initial=_raw(request.POST, DeliveryForm))
            babies = BabyFormSet(
                prefix="baby",
                initial=[_raw(request.POST, BabyForm, f"baby-{i}") for i in range(min(count, new))]
                + [{}] * max(new - count, 0),
            )
        elif form.is_valid() and babies.is_valid():
            if saved := _delivery_save(request, pregnancy_id, form, babies):
                # Her death closes the episode, and with it a referral hospital's share.
                died = saved.delivery.maternal_outcome == MaternalOutcome.DIED
                return _onward(request, pregnancy_id) if died else back(pregnancy_id)
    return render(
        request,
        "maternal/delivery_form.html",
        {"p": p, "form": form, "babies": babies, "max_babies": MAX_BABIES},
    )


def _delivery_save(request, pregnancy_id, form, babies) -> services.DeliveryResult | None:
    # A baby form left empty is no baby (a twin form opened by mistake); the service numbers
    # the babies given, so its errors are mapped back to the forms they came from.
    given = [(i, b.cleaned_data) for i, b in enumerate(babies.forms) if b.has_changed()]
    try:
        result = refused(
            services.delivery_record,
            actor=request.user,
            pregnancy_id=pregnancy_id,
            institution_id=_delivery_institution(request.user, form.cleaned_data["place_type"]),
            babies=[data for _i, data in given],
            **form.cleaned_data,
        )
    except ValidationError as exc:
        rest = {}
        for name, msgs in exc.message_dict.items():
            parts = name.split(".")
            if len(parts) == 3 and parts[0] == "babies" and parts[1].isdigit() and int(parts[1]) < len(given):
                apply_errors(babies.forms[given[int(parts[1])][0]], {parts[2]: msgs})
            else:
                rest[name] = msgs
        apply_errors(form, rest)
        return None
    messages.info(
        request,
        _("Delivery recorded; %(n)s live-born babies registered as children.") % {"n": len(result.children)},
    )
    warned(request, result.warnings)
    return result


def _delivery_institution(user, place_type: str):
    # Delivered in an institution: the one recording it (a referral institution records its own).
    return user.institution.pk if place_type == "institution" else None


@require_http_methods(["GET", "POST"])
def discharge_new(request, pregnancy_id):
    """The discharge date, when the delivery was recorded without it: it starts the week of
    the postpartum home visit."""
    p = writable_episode(request, pregnancy_id)
    form = DischargeForm(posted(request), initial={"discharged_on": timezone.localdate(), "version": p.version})
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.delivery_discharge_record,
            success=_("Discharge recorded."),
            pregnancy_id=p.id,
            discharged_on=form.cleaned_data["discharged_on"],
            expected_version=form.cleaned_data["version"],
        )
        if change is not None:
            return back(p.id)
    return render(request, "maternal/discharge_form.html", {"p": p, "form": form})


def postpartum_new(request, pregnancy_id):
    form = PostpartumForm(posted(request), initial={"visit_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            result = refused(
                services.postpartum_visit_record, actor=request.user, pregnancy_id=pregnancy_id, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Postpartum visit recorded."))
            if result.closed:
                messages.info(request, _("The 42-day check closed the episode."))
            warned(request, result.warnings)
            return _onward(request, pregnancy_id) if result.closed else back(pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/postpartum_form.html", form)
