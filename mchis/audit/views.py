"""Audit administrator pages (P19): reading the trail is itself recorded in the trail."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from mchis.audit.forms import EventFilterForm
from mchis.audit.models import AuditEvent
from mchis.audit.selectors import (
    event_get,
    event_list,
    event_list_denials,
    event_list_for_object,
    event_list_seen_by,
    event_page,
    event_seal_get,
)
from mchis.audit.services import audit_trail_viewed

TABS = (
    ("audit:events", _("All events")),
    ("audit:object", _("Who saw a record")),
    ("audit:seen_by", _("What a user saw")),
    ("audit:denials", _("Denials")),
)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _listing(request, *, page: str, title, intro, select, required: tuple[str, ...] = ()):
    form = EventFilterForm(request.GET or None, actor=request.user, required=required)
    listing = None
    if form.is_bound and form.is_valid():
        events = select(form.event_filter())
    elif not form.is_bound and not required:
        form = EventFilterForm({}, actor=request.user)
        form.is_valid()
        events = select(form.event_filter())
    else:
        events = None
    if events is not None:
        listing = event_page(
            events=events, before=_int(request.GET.get("before")), after=_int(request.GET.get("after"))
        )
        audit_trail_viewed(actor=request.user, event_ids=[e.id for e in listing.events], page=page, filters=form.used())
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
