"""Pages of maternal care (issue 5): thin views over the maternal selectors and services.

Identifiers travel by POST only (P20); lists show them masked; the woman's full identity is
read on her pregnancy page alone, through the registry's audited selector.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.levels import WRITER_ROLES
from mchis.access.policy import WITHHELD
from mchis.access.purposes import Purpose
from mchis.accounts.roles import AREA_ROLES, ROLE_INSTITUTION_KINDS, Role
from mchis.maternal import selectors, services
from mchis.maternal.forms import (
    BabyForm,
    DeliveryForm,
    EpisodeForm,
    FindForm,
    GradingForm,
    IdentityForm,
    PostpartumForm,
    TransferRequestForm,
    VisitForm,
)
from mchis.maternal.risk import condition_catalogue
from mchis.orgs.models import Institution, Region, RegionLevel
from mchis.people.forms import apply_errors
from mchis.people.selectors import person_find_by_document, person_get

CARE = Purpose.CARE


def _is_writer(user) -> bool:
    return bool(WRITER_ROLES & user.role_names())


def _page_number(request) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def _refused(fn, **kwargs):
    """Call a service; NotAllowed reads as not found (no existence oracle)."""
    try:
        return fn(**kwargs)
    except NotAllowed:
        raise RecordNotFound from None


def _warned(request, warnings) -> None:
    for w in warnings:
        messages.warning(request, _("Saved with a warning: %(message)s") % {"message": w.message})


# --- worklists ---------------------------------------------------------------------------------

WORKLISTS = {
    "due": (gettext_lazy("Visits due this week"), selectors.worklist_visits_due),
    "overdue": (gettext_lazy("Overdue"), selectors.worklist_overdue),
    "high_risk": (gettext_lazy("High risk"), selectors.worklist_high_risk),
    "deliveries": (gettext_lazy("Deliveries expected this month"), selectors.worklist_deliveries_expected),
    "postpartum": (gettext_lazy("Postpartum visits due"), selectors.worklist_postpartum_due),
}
COLOURS = ["yellow", "orange", "red", "purple"]


def _purpose(user) -> str:
    """Clinicians read for care; area roles (the county's information office, inspectors)
    read their region's lists for review."""
    return CARE if _is_writer(user) or not (AREA_ROLES & user.role_names()) else Purpose.QUALITY_REVIEW


def _townships(user) -> list[Region]:
    if not (AREA_ROLES & user.role_names()) or user.institution is None:
        return []
    return list(Region.objects.subtree(user.institution.region).filter(level=RegionLevel.TOWNSHIP).order_by("code"))


def worklist(request):
    tab = request.GET.get("list", "due")
    if tab not in WORKLISTS:
        tab = "due"
    townships = _townships(request.user)
    township = request.GET.get("township") or None
    if township and township not in {t.code for t in townships}:
        raise Http404
    colour = request.GET.get("colour") or None
    if colour not in (None, *COLOURS):
        colour = None
    kwargs = {
        "actor": request.user,
        "purpose": _purpose(request.user),
        "township": township,
        "page": _page_number(request),
    }
    if tab == "high_risk":
        kwargs["colour"] = colour
    try:
        page = WORKLISTS[tab][1](**kwargs)
    except ValidationError:
        raise Http404 from None
    counts = None
    if tab == "high_risk":
        counts = selectors.worklist_high_risk_counts(
            actor=request.user, purpose=_purpose(request.user), township=township
        )
    return render(
        request,
        "maternal/worklist.html",
        {
            "tabs": [(key, label) for key, (label, _fn) in WORKLISTS.items()],
            "tab": tab,
            "title": WORKLISTS[tab][0],
            "page": page,
            "townships": townships,
            "township": township or "",
            "colours": COLOURS,
            "colour": colour or "",
            "counts": counts,
            "can_write": _is_writer(request.user),
        },
    )


# --- registration ------------------------------------------------------------------------------


def register(request):
    """Step 1: the ID number (POST). Step 2: the episode, for the woman found or new."""
    institution = request.user.institution
    find = FindForm(request.POST if request.POST.get("step") == "find" else None)
    found = None
    identity = episode = None
    if request.method == "POST" and request.POST.get("step") == "find":
        if find.is_valid():
            found = person_find_by_document(
                actor=request.user, document_number=find.cleaned_data["document_number"], purpose=CARE
            )
            identity, episode = IdentityForm(), EpisodeForm()
    elif request.method == "POST" and request.POST.get("step") == "register":
        find = FindForm(request.POST)
        identity, episode = IdentityForm(request.POST), EpisodeForm(request.POST)
        person_id = request.POST.get("person_id") or None
        if person_id:
            found = _found_again(request, person_id)
        if all(f.is_valid() for f in (find, identity, episode)):
            values = episode.service_values()
            if found is None:
                values.update(find.cleaned_data, **identity.cleaned_data)
            try:
                result = _refused(
                    services.pregnancy_register,
                    actor=request.user,
                    institution=institution,
                    person_id=found.id if found else None,
                    **values,
                )
            except ValidationError as exc:
                _errors_spread(exc.message_dict, find, identity, episode)
            else:
                messages.info(
                    request,
                    _("Pregnancy registered.")
                    if result.person_created
                    else _("Pregnancy registered; the woman was already in the county registry, not duplicated."),
                )
                _warned(request, result.warnings)
                return redirect("maternal:pregnancy", pregnancy_id=result.pregnancy.pk)
    return render(
        request,
        "maternal/register.html",
        {"find": find, "found": found, "identity": identity, "episode": episode, "institution": institution},
    )


def _found_again(request, person_id):
    try:
        return person_get(actor=request.user, person_id=person_id, purpose=CARE)
    except RecordNotFound:
        return None


def _errors_spread(errors: dict, *forms) -> None:
    """Each message next to its field, on whichever form has it; the rest above the forms."""
    rest = {}
    for name, messages_ in errors.items():
        form = next((f for f in forms if name in f.fields), None)
        if form is None:
            rest[name] = messages_
        else:
            apply_errors(form, {name: messages_})
    if rest:
        apply_errors(forms[-1], {k: [f"{k}: {m}" if k != "person" else m for m in v] for k, v in rest.items()})


# --- the pregnancy page ------------------------------------------------------------------------


def pregnancy(request, pregnancy_id):
    view = selectors.pregnancy_get(actor=request.user, pregnancy_id=pregnancy_id, purpose=CARE)
    person = None
    if view.values["person_id"] is not WITHHELD:
        try:
            person = person_get(actor=request.user, person_id=view.values["person_id"], purpose=CARE)
        except RecordNotFound:
            person = None
    # Institution names are reference data (L2): the ids come from what the selector showed.
    keys = ("owner_institution_id", "institution_id", "from_institution_id", "to_institution_id")
    ids = {rec.values.get(k) for rec in [view, *view.visits, *view.referrals, *view.transfers] for k in keys}
    institutions = {i.pk: i.name for i in Institution.objects.filter(pk__in={i for i in ids if isinstance(i, int)})}
    return render(
        request,
        "maternal/pregnancy.html",
        {
            "p": view,
            "person": person,
            "institutions": institutions,
            "can_write": _is_writer(request.user),
            "today": timezone.localdate(),
            "open": view.values["state"] in ("active", "delivered"),
        },
    )


def _episode(request, pregnancy_id):
    """The episode as the actor sees it (404 when out of reach), for a form's header."""
    return selectors.pregnancy_get(actor=request.user, pregnancy_id=pregnancy_id, purpose=CARE)


def _form_page(request, pregnancy_id, template, form, **context):
    return render(request, template, {"p": _episode(request, pregnancy_id), "form": form, **context})


def visit_new(request, pregnancy_id):
    choices = [(c["code"], f"{c['code']} {c['label']}") for c in condition_catalogue()]
    form = VisitForm(request.POST or None, condition_choices=choices, initial={"visit_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        values = {k: (v if v is not None else None) for k, v in form.cleaned_data.items()}
        try:
            result = _refused(services.visit_record, actor=request.user, pregnancy_id=pregnancy_id, **values)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Visit recorded."))
            _warned(request, result.warnings)
            return redirect("maternal:pregnancy", pregnancy_id=pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/visit_form.html", form)


def grading_new(request, pregnancy_id):
    proposal = selectors.risk_proposal_get(actor=request.user, pregnancy_id=pregnancy_id, purpose=CARE)
    form = GradingForm(request.POST or None, initial={"colour": proposal.colour, "purple": proposal.purple})
    if request.method == "POST" and form.is_valid():
        try:
            result = _refused(
                services.risk_grade,
                actor=request.user,
                pregnancy_id=pregnancy_id,
                colour=form.cleaned_data["colour"],
                purple=form.cleaned_data["purple"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Risk grading recorded."))
            if result.case_opened:
                messages.warning(request, _("A high-risk case was opened; report it by its deadline."))
            return redirect("maternal:pregnancy", pregnancy_id=pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/grading_form.html", form, proposal=proposal)


def delivery_new(request, pregnancy_id):
    form = DeliveryForm(request.POST or None)
    babies = [BabyForm(request.POST or None, prefix=f"baby{i}") for i in range(2)]
    if request.method == "POST" and form.is_valid() and all(b.is_valid() for b in babies):
        given = [b.cleaned_data for b in babies if b.cleaned_data.get("outcome")]
        try:
            result = _refused(
                services.delivery_record,
                actor=request.user,
                pregnancy_id=pregnancy_id,
                institution_id=_delivery_institution(request.user, form.cleaned_data["place_type"]),
                babies=given,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            rest = {}
            for name, msgs in exc.message_dict.items():
                parts = name.split(".")
                if len(parts) == 3 and parts[0] == "babies" and parts[1].isdigit() and int(parts[1]) < len(babies):
                    apply_errors(babies[int(parts[1])], {parts[2]: msgs})
                else:
                    rest[name] = msgs
            apply_errors(form, rest)
        else:
            messages.info(request, _("Delivery recorded."))
            _warned(request, result.warnings)
            return redirect("maternal:pregnancy", pregnancy_id=pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/delivery_form.html", form, babies=babies)


def _delivery_institution(user, place_type: str):
    # Delivered in an institution: the one recording it (a referral institution records its own).
    return user.institution.pk if place_type == "institution" else None


def postpartum_new(request, pregnancy_id):
    form = PostpartumForm(request.POST or None, initial={"visit_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            result = _refused(
                services.postpartum_visit_record, actor=request.user, pregnancy_id=pregnancy_id, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Postpartum visit recorded."))
            if result.closed:
                messages.info(request, _("The 42-day check closed the episode."))
            _warned(request, result.warnings)
            return redirect("maternal:pregnancy", pregnancy_id=pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/postpartum_form.html", form)


# --- transfers ---------------------------------------------------------------------------------


def transfer_new(request, pregnancy_id):
    mine = request.user.institution
    # Care institutions of the same county and below, other than her own (reference data, L2).
    county = mine.region
    while county.level > RegionLevel.COUNTY:
        county = county.parent
    institutions = (
        Institution.objects.filter(
            region__in=Region.objects.subtree(county), kind__in=ROLE_INSTITUTION_KINDS[Role.CLINICIAN]
        )
        .exclude(pk=mine.pk)
        .order_by("code")
    )
    form = TransferRequestForm(request.POST or None, institutions=institutions)
    if request.method == "POST" and form.is_valid():
        try:
            _refused(services.transfer_request, actor=request.user, pregnancy_id=pregnancy_id, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc.message_dict)
        else:
            messages.info(request, _("Transfer requested; the receiving institution must accept it."))
            return redirect("maternal:pregnancy", pregnancy_id=pregnancy_id)
    return _form_page(request, pregnancy_id, "maternal/transfer_form.html", form)


def transfers_incoming(request):
    transfers = selectors.transfer_list_incoming(actor=request.user, purpose=CARE)
    return render(request, "maternal/transfers.html", {"transfers": transfers, "can_write": _is_writer(request.user)})


def transfer_decide(request, transfer_id):
    if request.method != "POST":
        return redirect("maternal:transfers")
    decision = request.POST.get("decision")
    note = request.POST.get("note", "")
    try:
        if decision == "accept":
            change = _refused(services.transfer_accept, actor=request.user, transfer_id=transfer_id, note=note)
            messages.info(request, _("Transfer accepted: the pregnancy is now managed here."))
            return redirect("maternal:pregnancy", pregnancy_id=change.obj.pregnancy_id)
        if decision == "reject":
            _refused(services.transfer_reject, actor=request.user, transfer_id=transfer_id, note=note)
            messages.info(request, _("Transfer rejected."))
        else:
            raise RecordNotFound
    except ValidationError as exc:
        for msgs in exc.message_dict.values():
            for m in msgs:
                messages.error(request, m)
    return redirect("maternal:transfers")
