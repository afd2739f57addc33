"""Audit administrator pages (P19): reading the trail is itself recorded in the trail."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from mchis.audit.forms import EventFilterForm, PersonLookupForm
from mchis.audit.models import AuditEvent
from mchis.audit.selectors import (
    event_get,
    event_list,
    event_list_denials,
    event_list_for_object,
    event_list_for_records,
    event_list_seen_by,
    event_page,
    event_seal_get,
)
from mchis.audit.services import audit_trail_viewed
from mchis.audit.subjects import subject_records
from mchis.crypto.ids import id_parse
from mchis.people.selectors import person_ids_for_audit

TABS = (
    ("audit:events", _("All events")),
    ("audit:person", _("Who saw a person's records")),
    ("audit:object", _("Who saw a record")),
    ("audit:seen_by", _("What a user saw")),
    ("audit:denials", _("Denials")),
)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _listing(
    request,
    *,
    page: str,
    title,
    intro,
    select,
    required: tuple[str, ...] = (),
    omit: tuple[str, ...] = (),
    recorded: dict[str, str] | None = None,
    context: dict | None = None,
):
    """A filtered, paged list of events. `recorded`: what else the audit of this read keeps
    beside the filters (the persons asked about)."""
    params = {k: v for k, v in request.GET.items() if k not in ("person", "before", "after")}
    bound = bool(params) or bool(recorded)
    form = EventFilterForm(params if bound else None, actor=request.user, required=required, omit=omit)
    listing = None
    if form.is_bound and form.is_valid():
        events = select(form.event_filter())
    elif not form.is_bound and not required:
        form = EventFilterForm({}, actor=request.user, omit=omit)
        form.is_valid()
        events = select(form.event_filter())
    else:
        events = None
    if events is not None:
        listing = event_page(
            events=events, before=_int(request.GET.get("before")), after=_int(request.GET.get("after"))
        )
        audit_trail_viewed(
            actor=request.user,
            event_ids=[e.id for e in listing.events],
            page=page,
            filters={**form.used(), **(recorded or {})},
        )
    query = request.GET.copy()
    for key in ("before", "after"):
        query.pop(key, None)
    return render(
        request,
        "audit/events.html",
        {
            "tabs": TABS,
            "title": title,
            "intro": intro,
            "form": form,
            "listing": listing,
            "query": query.urlencode(),
            **(context or {}),
        },
    )


def events(request):
    return _listing(
        request,
        page="events",
        title=_("Audit trail"),
        intro=_("Every recorded event, newest first."),
        select=lambda f: event_list(actor=request.user, filters=f),
    )


def by_object(request):
    return _listing(
        request,
        page="object",
        title=_("Who saw this record, and when"),
        intro=_("Enter the record's type (for example people.person) and id."),
        select=lambda f: event_list_for_object(
            actor=request.user, object_type=f.object_type, object_id=f.object_id, filters=f
        ),
        required=("object_type", "object_id"),
    )


PERSON_TITLE = _("Who saw this person's records, and when")
PERSON_INTRO = _(
    "Her registry record, her pregnancy episodes and every record of them: reads, changes and refusals. "
    "Look her up by document number; the lookup and its reason are recorded."
)


@require_http_methods(["GET", "POST"])
def person(request):
    """Find a person by document number (POST: the number stays out of URLs and logs), then
    list the events of her records (GET ?person=<id>, so the list pages and filters)."""
    if request.method == "POST":
        lookup = PersonLookupForm(request.POST)
        if lookup.is_valid():
            ids = person_ids_for_audit(
                actor=request.user,
                document_number=lookup.cleaned_data["document_number"],
                reason=lookup.cleaned_data["reason"],
            )
            if ids:
                return redirect(f"{reverse('audit:person')}?{urlencode([('person', i) for i in ids])}")
            lookup.add_error("document_number", _("No registration holds this document number."))
        return _person_form(request, lookup)
    wanted = request.GET.getlist("person")
    if not wanted:
        return _person_form(request, PersonLookupForm())
    parsed = [id_parse(i) for i in wanted]
    if None in parsed:
        raise Http404
    person_ids = sorted({str(pk) for pk in parsed})
    records = subject_records(actor=request.user, person_ids=person_ids)
    return _listing(
        request,
        page="person",
        title=PERSON_TITLE,
        intro=PERSON_INTRO,
        select=lambda f: event_list_for_records(actor=request.user, records=records, filters=f),
        omit=("actor", "object_type", "object_id"),
        recorded={"person": " ".join(person_ids)},
        context={
            "lookup": PersonLookupForm(),
            "person_ids": person_ids,
            "records": sorted((t, len(ids)) for t, ids in records.items()),
        },
    )


def _person_form(request, lookup: PersonLookupForm):
    return render(
        request,
        "audit/events.html",
        {"tabs": TABS, "title": PERSON_TITLE, "intro": PERSON_INTRO, "lookup": lookup, "listing": None},
    )


def seen_by(request):
    return _listing(
        request,
        page="seen_by",
        title=_("What this user saw"),
        intro=_("Reads, exports and break-glass accesses of one account."),
        select=lambda f: event_list_seen_by(actor=request.user, username=f.username, filters=f),
        required=("actor",),
    )


def denials(request):
    return _listing(
        request,
        page="denials",
        title=_("Denials"),
        intro=_("Every refused request and action."),
        select=lambda f: event_list_denials(actor=request.user, filters=f),
    )


def event(request, pk: int):
    try:
        item = event_get(actor=request.user, event_id=pk)
    except AuditEvent.DoesNotExist:
        raise Http404 from None
    audit_trail_viewed(actor=request.user, event_ids=[item.id], page="event", filters={})
    return render(request, "audit/event.html", {"tabs": TABS, "event": item, "seal": event_seal_get(event_id=item.id)})
