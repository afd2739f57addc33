"""The pregnancy page and the changes to the episode itself: corrections (with the version read,
so that nobody overwrites a change they did not see), closing it, and the PMTCT results (L5)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from mchis.access.errors import RecordNotFound
from mchis.access.policy import WITHHELD
from mchis.access.purposes import purpose_for
from mchis.maternal import services
from mchis.maternal.forms import EpisodeCloseForm, EpisodeEditForm, InfectionResultsForm
from mchis.maternal.views.common import back, episode, posted, require, submit, writable_episode
from mchis.maternal.views.records import condition_choices
from mchis.orgs.models import Institution
from mchis.people.selectors import person_get

INFECTIONS = {"hiv": "hiv_result", "syphilis": "syphilis_result", "hbsag": "hbsag_result"}
INFECTION_LABELS = {"hiv": gettext_lazy("HIV"), "syphilis": gettext_lazy("syphilis"), "hbsag": gettext_lazy("HBsAg")}


def pregnancy(request, pregnancy_id):
    view = episode(request, pregnancy_id)
    person = None
    if view.values["person_id"] is not WITHHELD:
        try:
            person = person_get(
                actor=request.user, person_id=view.values["person_id"], purpose=purpose_for(request.user)
            )
        except RecordNotFound:
            person = None
    # Institution names are reference data (L2): the ids come from what the selector showed.
    keys = ("owner_institution_id", "institution_id", "from_institution_id", "to_institution_id", "reported_to_id")
    records = [view, *view.visits, *view.high_risk_cases, *view.referrals, *view.transfers]
    ids = {rec.values.get(k) for rec in records for k in keys}
    institutions = {i.pk: i.name for i in Institution.objects.filter(pk__in={i for i in ids if isinstance(i, int)})}
    return render(
        request,
        "maternal/pregnancy.html",
        {
            "p": view,
            "may": view.abilities,
            # The PMTCT results (L5): a withheld marker below the clearance, never the value.
            "pmtct": [(INFECTION_LABELS[k], view.values[f], f in view.withheld) for k, f in INFECTIONS.items()],
            "person": person,
            "institutions": institutions,
            "today": timezone.localdate(),
            "now": timezone.now(),
            "open": view.values["state"] in ("active", "delivered"),
        },
    )


@require_http_methods(["GET", "POST"])
def episode_edit(request, pregnancy_id):
    """Correct the dating, history, height, weight or conditions. The form carries the version
    it was opened at; if someone changed the episode since, nothing is saved (reload)."""
    p = writable_episode(request, pregnancy_id)
    initial = {f: p.values[f] for f in services.EPISODE_FIELDS}
    form = EpisodeEditForm(
        posted(request), condition_choices=condition_choices(), initial={**initial, "version": p.version}
    )
    if request.method == "POST" and form.is_valid():
        if not set(form.changed_data) - {"version"}:
            messages.info(request, _("Nothing was changed."))
            return back(p.id)
        change = submit(
            request,
            form,
            services.pregnancy_update,
            success=_("Pregnancy updated."),
            pregnancy_id=p.id,
            expected_version=form.cleaned_data["version"],
            **form.service_values(),
        )
        if change is not None:
            return back(p.id)
    return render(request, "maternal/episode_form.html", {"p": p, "form": form})


@require_http_methods(["GET", "POST"])
def episode_close(request, pregnancy_id):
    """End the episode without the 42-day check: a pregnancy loss, a maternal death, or she
    moved out of the area (within the system, transfer instead)."""
    p = writable_episode(request, pregnancy_id)
    form = EpisodeCloseForm(posted(request), initial={"on": timezone.localdate(), "version": p.version})
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.pregnancy_close,
            success=_("The pregnancy episode is closed."),
            pregnancy_id=p.id,
            reason=form.cleaned_data["reason"],
            on=form.cleaned_data["on"],
            expected_version=form.cleaned_data["version"],
        )
        if change is not None:
            return back(p.id)
    return render(request, "maternal/episode_close.html", {"p": p, "form": form})


@require_http_methods(["GET", "POST"])
def infections(request, pregnancy_id):
    """PMTCT screening results: HIV, syphilis, hepatitis B (L5, P17). Only a writer cleared for
    L5 over the episode reaches the page; anyone else gets the answer of an absent record."""
    p = episode(request, pregnancy_id)
    require(request, p.abilities.infections, object_ids=[p.id])
    initial = {k: p.values[f] or "" for k, f in INFECTIONS.items()}
    form = InfectionResultsForm(posted(request), initial={**initial, "version": p.version})
    if request.method == "POST" and form.is_valid():
        change = submit(
            request,
            form,
            services.infection_results_record,
            success=_("Screening results recorded."),
            pregnancy_id=p.id,
            expected_version=form.cleaned_data["version"],
            **form.service_values(),
        )
        if change is not None:
            return back(p.id)
    return render(request, "maternal/infections_form.html", {"p": p, "form": form})
