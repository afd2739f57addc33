"""What every maternal page shares: refusals that read as not found, service errors beside
their fields, the stale-version answer. The purpose of a page's reads is the actor's
(`purpose_for`)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.levels import WRITER_ROLES
from mchis.access.purposes import purpose_for
from mchis.accounts.roles import ROLE_INSTITUTION_KINDS, Role
from mchis.audit.services import audit_denied
from mchis.maternal import selectors
from mchis.maternal.errors import VersionConflict
from mchis.orgs.models import Institution, Region, RegionLevel
from mchis.people.forms import apply_errors

PREGNANCY = "maternal.pregnancy"


def is_writer(user) -> bool:
    return bool(WRITER_ROLES & user.role_names())


def posted(request):
    """The form data of a POST, even an empty one (a form whose fields are all optional is
    still submitted), or None to show the form unbound."""
    return request.POST if request.method == "POST" else None


def page_number(request) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def refused(fn, **kwargs):
    """Call a service; NotAllowed reads as not found (no existence oracle)."""
    try:
        return fn(**kwargs)
    except NotAllowed:
        raise RecordNotFound from None


def warned(request, warnings) -> None:
    for w in warnings:
        messages.warning(request, _("Saved with a warning: %(message)s") % {"message": w.message})


def episode(request, pregnancy_id) -> selectors.PregnancyView:
    """The episode as the actor sees it (404 when out of reach), for a form's header."""
    return selectors.pregnancy_get(actor=request.user, pregnancy_id=pregnancy_id, purpose=purpose_for(request.user))


def require(request, allowed: bool, *, object_ids, object_type: str = PREGNANCY) -> None:
    """A page the actor may not use on this record answers as if the record did not exist
    (P10: the same 404 as absent); the refusal is audited like a service's."""
    if not allowed:
        audit_denied(
            actor=request.user,
            object_type=object_type,
            object_ids=[str(i) for i in object_ids],
            reason="not allowed",
            purpose=purpose_for(request.user),
        )
        raise RecordNotFound


def writable_episode(request, pregnancy_id) -> selectors.PregnancyView:
    """The episode, for a form that records in it: 404 unless the actor may change it."""
    p = episode(request, pregnancy_id)
    require(request, p.abilities.change, object_ids=[p.id])
    return p


def item(request, records, record_id, *, object_type: str):
    """One record shown in the episode (a case, a referral, a transfer): 404 when the id is
    not one of them (absent, out of reach, or of another episode)."""
    found = next((r for r in records if str(r.id) == str(record_id)), None)
    require(request, found is not None, object_ids=[record_id], object_type=object_type)
    return found


def back(pregnancy_id):
    return redirect("maternal:pregnancy", pregnancy_id=pregnancy_id)


STALE = gettext_lazy(
    "This pregnancy was changed by someone else after you opened this form, and nothing was saved. "
    "Reload the page to see the changes, then make yours again."
)


def submit(request, form, fn, *, success: str, **kwargs):
    """Call a service with the page's values. Its refusals appear beside the fields they name
    (nothing was saved: each service is one transaction); a stale version asks for a reload.
    Returns the service's result, or None when it refused."""
    try:
        result = refused(fn, actor=request.user, **kwargs)
    except ValidationError as exc:
        apply_errors(form, exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages})
        return None
    except VersionConflict:
        form.add_error(None, STALE)
        return None
    messages.info(request, success)
    warned(request, getattr(result, "warnings", ()))
    return result


def care_institutions(user, *, with_city: bool = False):
    """Care institutions of the actor's county (and, for referrals, those of the city above
    it), other than the actor's own: reference data (L2)."""
    mine = user.institution
    county = mine.region
    while county.level > RegionLevel.COUNTY:
        county = county.parent
    regions = Region.objects.subtree(county)
    kinds = ROLE_INSTITUTION_KINDS[Role.CLINICIAN]
    qs = Institution.objects.filter(region__in=regions, kind__in=kinds, is_active=True)
    if with_city and county.parent_id is not None:
        qs = qs | Institution.objects.filter(region_id=county.parent_id, kind__in=kinds, is_active=True)
    return qs.exclude(pk=mine.pk).order_by("code")
