"""Worklists and registration (建册)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.access.errors import RecordNotFound
from mchis.access.purposes import Purpose, purpose_for
from mchis.accounts.roles import AREA_ROLES
from mchis.maternal import selectors, services
from mchis.maternal.forms import EpisodeForm, FindForm, IdentityForm
from mchis.maternal.views.common import is_writer, page_number, refused, warned
from mchis.orgs.models import Region, RegionLevel
from mchis.people.forms import apply_errors
from mchis.people.selectors import person_find_by_document, person_get

WORKLISTS = {
    "due": (gettext_lazy("Visits due this week"), selectors.worklist_visits_due),
    "overdue": (gettext_lazy("Overdue"), selectors.worklist_overdue),
    "high_risk": (gettext_lazy("High risk"), selectors.worklist_high_risk),
    "deliveries": (gettext_lazy("Deliveries expected this month"), selectors.worklist_deliveries_expected),
    "postpartum": (gettext_lazy("Postpartum visits due"), selectors.worklist_postpartum_due),
}
COLOURS = ["yellow", "orange", "red", "purple"]


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
        "purpose": purpose_for(request.user),
        "township": township,
        "page": page_number(request),
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
            actor=request.user, purpose=purpose_for(request.user), township=township
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
            "can_write": is_writer(request.user),
            "now": timezone.now(),
        },
    )


def register(request):
    """Step 1: the ID number (POST). Step 2: the episode, for the woman found or new."""
    institution = request.user.institution
    find = FindForm(request.POST if request.POST.get("step") == "find" else None)
    found = None
    identity = episode = None
    if request.method == "POST" and request.POST.get("step") == "find":
        if find.is_valid():
            found = person_find_by_document(
                actor=request.user,
                document_number=find.cleaned_data["document_number"],
                purpose=purpose_for(request.user, wanted=Purpose.REGISTRATION),
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
                result = refused(
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
                warned(request, result.warnings)
                return redirect("maternal:pregnancy", pregnancy_id=result.pregnancy.pk)
    return render(
        request,
        "maternal/register.html",
        {"find": find, "found": found, "identity": identity, "episode": episode, "institution": institution},
    )


def _found_again(request, person_id):
    try:
        return person_get(
            actor=request.user, person_id=person_id, purpose=purpose_for(request.user, wanted=Purpose.REGISTRATION)
        )
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
