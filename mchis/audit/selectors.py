"""Reads of the audit trail for audit administrators (P19), and sealed evidence (P9).

An auditor sees the events of actors at institutions in their jurisdiction, and the events
that belong to no institution (failed logins with unknown names, jobs). Events hold audit
metadata only; nothing here joins to a clinical table.

Lists are paged by id (keyset), not by page number: counting millions of rows for each page
would cost more than the page itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from mchis.accounts.models import User
from mchis.audit.integrity import IdRanges, gap_set, hash_function, merkle_path, merkle_path_check, ranges_ids
from mchis.audit.models import DISCLOSING_ACTIONS, AuditAction, AuditEvent, AuditObjectRef, AuditSeal
from mchis.audit.services import GAP_HORIZON
from mchis.orgs.models import Institution, RegionLevel

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilter:
    start: datetime | None = None
    end: datetime | None = None
    institution_id: int | None = None
    action: str = ""
    username: str = ""
    object_type: str = ""
    object_id: str = ""


def _scoped(*, actor: User) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.select_related("institution")
    region = actor.jurisdiction()
    if region is not None and region.level == RegionLevel.NATION:
        return qs
    if region is not None:
        institutions = Institution.objects.in_region(region).values("id")
    else:
        institutions = Institution.objects.filter(pk=actor.institution_id).values("id")
    return qs.filter(Q(institution__isnull=True) | Q(institution_id__in=institutions))


def _filtered(qs: QuerySet[AuditEvent], filters: EventFilter) -> QuerySet[AuditEvent]:
    if filters.start is not None:
        qs = qs.filter(at__gte=filters.start)
    if filters.end is not None:
        qs = qs.filter(at__lt=filters.end)
    if filters.institution_id is not None:
        qs = qs.filter(institution_id=filters.institution_id)
    if filters.action:
        qs = qs.filter(action=filters.action)
    if filters.username:
        user_id = get_user_model().objects.filter(username=filters.username).values_list("id", flat=True).first()
        # Events keep a copy of the name; a name no account holds appears on failed logins only.
        qs = qs.filter(actor_id=user_id) if user_id is not None else qs.filter(actor_username=filters.username)
    if filters.object_type and filters.object_id:
        refs = AuditObjectRef.objects.filter(object_type=filters.object_type.lower(), object_id=filters.object_id)
        qs = qs.filter(id__in=refs.values("event_id"))
    elif filters.object_type:
        kind = filters.object_type.lower()
        # Events of several kinds (one request's reads) have no object type of their own: their
        # ids name it ("people.person:12").
        qs = qs.filter(
            Q(object_type=kind)
            | Q(object_type="") & (Q(object_ids__startswith=f"{kind}:") | Q(object_ids__contains=f" {kind}:"))
        )
    return qs


def event_list(*, actor: User, filters: EventFilter = EventFilter()) -> QuerySet[AuditEvent]:
    return _filtered(_scoped(actor=actor), filters).order_by("-id")


def event_list_for_object(
    *, actor: User, object_type: str, object_id: str, filters: EventFilter = EventFilter()
) -> QuerySet[AuditEvent]:
    """Who read, changed or was refused this record, and when (the object index, not a scan)."""
    return event_list_for_records(actor=actor, records={object_type: [object_id]}, filters=filters)


def event_list_for_records(
    *, actor: User, records: dict[str, list[str]], filters: EventFilter = EventFilter()
) -> QuerySet[AuditEvent]:
    """Who read, changed or was refused any of `records` ({object type: ids}, as
    `subjects.subject_records` gives a person's), and when: one list, newest first."""
    match = Q(pk__in=[])
    for object_type, ids in records.items():
        if ids:
            match |= Q(object_type=object_type.lower(), object_id__in=ids)
    refs = AuditObjectRef.objects.filter(match)
    qs = _scoped(actor=actor).filter(id__in=refs.values("event_id"))
    return _filtered(qs, replace(filters, object_type="", object_id="")).order_by("-id")


def event_list_seen_by(*, actor: User, username: str, filters: EventFilter = EventFilter()) -> QuerySet[AuditEvent]:
    """What this user saw: their reads, exports and break-glass accesses."""
    qs = _filtered(_scoped(actor=actor), replace(filters, username=username))
    if not filters.action:
        qs = qs.filter(action__in=DISCLOSING_ACTIONS)
    return qs.order_by("-id")


def event_list_denials(*, actor: User, filters: EventFilter = EventFilter()) -> QuerySet[AuditEvent]:
    return _filtered(_scoped(actor=actor).filter(action=AuditAction.DENY), filters).order_by("-id")


def event_get(*, actor: User, event_id: int) -> AuditEvent:
    """Raises AuditEvent.DoesNotExist for an event outside the actor's reach, as for none."""
    return _scoped(actor=actor).get(pk=event_id)


@dataclass
class EventPage:
    events: list[AuditEvent]
    # Ids for the links to the neighbouring pages (?after= newer, ?before= older).
    newer: int | None = None
    older: int | None = None


def event_page(
    *, events: QuerySet[AuditEvent], before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> EventPage:
    """One page of `events` (ordered newest first) before or after an event id."""
    if after is not None:
        rows = list(events.filter(id__gt=after).order_by("id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        return EventPage(rows, newer=rows[0].id if more_newer else None, older=rows[-1].id if rows else None)
    if before is not None:
        events = events.filter(id__lt=before)
    rows = list(events.order_by("-id")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    return EventPage(
        rows, newer=rows[0].id if before is not None and rows else None, older=rows[-1].id if more_older else None
    )


# --- seals and evidence ------------------------------------------------------------------
def event_seal_get(*, event_id: int) -> AuditSeal | None:
    """The seal that covers an event, or None while it is not sealed yet."""
    seal = AuditSeal.objects.filter(last_id__gte=event_id).order_by("last_id", "number").first()
    if seal is None:
        return None
    if event_id >= seal.first_id and event_id not in IdRanges.of_text(seal.gaps):
        return seal
    # It committed after its range was sealed: a later seal lists it as late.
    later = AuditSeal.objects.filter(number__gt=seal.number, sealed_at__lte=seal.sealed_at + GAP_HORIZON).exclude(
        late=""
    )
    for candidate in later.order_by("number"):
        if event_id in ranges_ids(candidate.late):
            return candidate
    return None


def _seal_macs(seal: AuditSeal) -> list[tuple[int, bytes]]:
    gaps = gap_set(seal.gaps)
    late = sorted(ranges_ids(seal.late))
    rows = list(AuditEvent.objects.filter(id__in=late).order_by("id").values_list("id", "mac")) if late else []
    in_range = AuditEvent.objects.filter(id__gte=seal.first_id, id__lte=seal.last_id).order_by("id")
    rows += [(i, mac) for i, mac in in_range.values_list("id", "mac") if i not in gaps]
    return [(i, bytes.fromhex(mac)) for i, mac in rows]


@dataclass(frozen=True)
class Evidence:
    """An event's MAC and the Merkle path that ties it to a signed seal (P9: evidence frozen)."""

    event_id: int
    mac: str
    seal_number: int | None = None
    seal_hash: str = ""
    merkle_root: str = ""
    path: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sealed(self) -> bool:
        return self.seal_number is not None


def audit_evidence(*, event_ids: list[int]) -> list[Evidence]:
    """For each event: its MAC, its seal and the Merkle path from the MAC to the seal's root.

    Events not sealed yet come back without a seal: call `audit_seal` first to freeze them.
    """
    out: list[Evidence] = []
    leaves_of: dict[int, tuple[list[int], list[bytes]]] = {}
    for event in AuditEvent.objects.filter(id__in=event_ids).order_by("id"):
        seal = event_seal_get(event_id=event.id)
        if seal is None:
            out.append(Evidence(event_id=event.id, mac=event.mac))
            continue
        h = hash_function(seal.suite)
        if seal.number not in leaves_of:
            macs = _seal_macs(seal)
            leaves_of[seal.number] = ([i for i, _m in macs], [m for _i, m in macs])
        ids, leaves = leaves_of[seal.number]
        out.append(
            Evidence(
                event_id=event.id,
                mac=event.mac,
                seal_number=seal.number,
                seal_hash=seal.seal_hash,
                merkle_root=seal.merkle_root,
                path=merkle_path(leaves, ids.index(event.id), h),
            )
        )
    return out


def evidence_check(*, evidence: Evidence, suite: str) -> bool:
    """Whether the event's MAC leads to its seal's Merkle root along the path."""
    if not evidence.sealed:
        return False
    h = hash_function(suite)
    return merkle_path_check(bytes.fromhex(evidence.mac), evidence.path, bytes.fromhex(evidence.merkle_root), h)
