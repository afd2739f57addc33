"""Reads of maternal care: the policy first, then redaction of fields above the actor's
clearance (`WITHHELD`, never silently dropped), then one audit event per call listing the
ids shown (P10, P11, P17, P20).

Lists (`pregnancy_list`, the worklists, incoming transfers) are paged and show the woman's
identifiers masked (张*梅, 4101**********1234); they write two read events, one for the
episodes shown and one for the women whose masked identifiers were shown, so that "who saw
this record" finds both. The woman's full identity is read with `mchis.people.selectors.
person_get` on her own page.

Worklists are the owner's work: they show the episodes an institution owns (an area role's
institution: every episode owned under its region), optionally narrowed to one township,
and they are range scans on the composite indexes of `Pregnancy` (owner institution or
region path, then the due date, EDD or colour). They never scan a province.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.access.errors import RecordNotFound
from mchis.access.levels import Level
from mchis.access.masking import mask_document, mask_name
from mchis.access.policy import WITHHELD, Withheld
from mchis.access.purposes import Purpose, reads_for_purpose
from mchis.audit.services import audit_record
from mchis.maternal import schedule
from mchis.maternal.models import (
    HIGH_RISK_COLOURS,
    OPEN_STATES,
    AntenatalVisit,
    Delivery,
    DeliveryBaby,
    HighRiskCase,
    PostpartumVisit,
    Pregnancy,
    PregnancyState,
    Referral,
    RiskColour,
    RiskGrading,
    RiskRule,
    Transfer,
    TransferState,
)
from mchis.maternal.risk import RiskProposal, rule_label
from mchis.maternal.services import HISTORY_FIELDS, pregnancy_reached, risk_propose
from mchis.orgs.models import Institution, Region, RegionLevel, subtree_q
from mchis.people.models import Person
from mchis.people.policy import PersonPolicy

PREGNANCY = "maternal.pregnancy"
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

PREGNANCY_FIELDS = [
    "person_id",
    "owner_institution_id",
    "registering_institution_id",
    "registered_on",
    "lmp",
    "ultrasound_on",
    "ultrasound_ga_days",
    "dating_basis",
    "edd",
    *HISTORY_FIELDS,
    "height_cm",
    "pre_pregnancy_weight_kg",
    "conditions",
    "hiv_result",
    "syphilis_result",
    "hbsag_result",
    "state",
    "delivered_on",
    "ended_on",
    "end_reason",
    "risk_colour",
    "risk_purple",
    "risk_graded_on",
    "next_contact",
    "next_contact_start",
    "next_contact_due",
]
VISIT_FIELDS = [
    "visit_on",
    "gestational_days",
    "contact",
    "institution_id",
    "recorded_by_id",
    "recorded_at",
    "systolic_bp",
    "diastolic_bp",
    "weight_kg",
    "height_cm",
    "fundal_height_cm",
    "abdominal_circumference_cm",
    "fetal_heart_rate",
    "presentation",
    "fetuses",
    "hb_g_l",
    "urine_protein",
    "platelets",
    "conditions",
    "unusual",
    "note",
]
GRADING_FIELDS = [
    "visit_id",
    "postpartum_visit_id",
    "assessed_on",
    "graded_at",
    "graded_by_id",
    "institution_id",
    "table_version",
    "proposed_colour",
    "proposed_purple",
    "rules_fired",
    "rules_fired_confidential",
    "infections_used",
    "purple_carried",
    "colour",
    "purple",
    "reason",
]
CASE_FIELDS = [
    "grading_id",
    "opened_at",
    "opened_by_id",
    "colour",
    "purple",
    "report_due_at",
    "reported_at",
    "reported_by_id",
    "reported_to_id",
    "closed_at",
    "closed_by_id",
    "close_reason",
    "note",
]
REFERRAL_FIELDS = [
    "from_institution_id",
    "to_institution_id",
    "referred_on",
    "reason",
    "reason_text",
    "high_risk_case_id",
    "outcome",
    "outcome_on",
    "outcome_note",
    "recorded_by_id",
    "recorded_at",
]
TRANSFER_FIELDS = [
    "from_institution_id",
    "to_institution_id",
    "state",
    "reason_text",
    "requested_at",
    "requested_by_id",
    "decided_at",
    "decided_by_id",
    "decision_note",
]
DELIVERY_FIELDS = [
    "delivered_at",
    "gestational_days",
    "place_type",
    "institution_id",
    "mode",
    "blood_loss_ml",
    "maternal_outcome",
    "discharged_on",
    "unusual",
    "note",
    "recorded_by_id",
    "recorded_at",
]
BABY_FIELDS = ["order", "outcome", "sex", "birth_weight_g", "length_cm", "apgar_1", "apgar_5", "child_id"]
POSTPARTUM_FIELDS = [
    "visit_on",
    "kind",
    "days_postpartum",
    "contact",
    "institution_id",
    "recorded_by_id",
    "recorded_at",
    "systolic_bp",
    "diastolic_bp",
    "weight_kg",
    "hb_g_l",
    "breastfeeding",
    "finding",
    "conditions",
    "unusual",
    "note",
]


# --- views ------------------------------------------------------------------------------------


@dataclass
class RecordView:
    """One record as the actor may see it: withheld fields are `WITHHELD`, never dropped."""

    id: Any
    values: dict[str, Any]
    withheld: list[str] = field(default_factory=list)
    # Extra, derived data (a grading's fired rules with labels, a delivery's babies).
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        # Only for the record's fields; dataclass attributes are found before this runs (and
        # "values" itself is not looked up here, or a half-built copy would recurse).
        if name == "values":
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Abilities:
    """What the actor may do to an episode, as the policy answers it (pages show only the
    actions a user may take; the services decide again when they are called)."""

    # Record care in it: clinicians of the owner or of a referral institution, or under a grant.
    change: bool = False
    # Act for the owner (cancel its pending transfer): clinicians of the owning institution.
    owner: bool = False
    # Read the PMTCT results (L5).
    confidential: bool = False

    @property
    def infections(self) -> bool:
        """Record PMTCT results: a writer cleared for L5 over the episode (P17)."""
        return self.change and self.confidential


@dataclass
class PregnancyView:
    """An episode with everything recorded in it (the woman's own page)."""

    id: uuid.UUID
    version: int
    values: dict[str, Any]
    withheld: list[str]
    # Today's gestational age while antenatal, else None.
    gestational_age: schedule.GestationalAge | None
    # The contacts of the current stage with their windows and status (done, missed, due, upcoming).
    schedule: list[schedule.ContactStatus]
    visits: list[RecordView]
    gradings: list[RecordView]
    high_risk_cases: list[RecordView]
    referrals: list[RecordView]
    transfers: list[RecordView]
    delivery: RecordView | None
    postpartum_visits: list[RecordView]
    abilities: Abilities = field(default_factory=Abilities)

    def __getattr__(self, name: str) -> Any:
        # Only for the record's fields; dataclass attributes are found before this runs (and
        # "values" itself is not looked up here, or a half-built copy would recurse).
        if name == "values":
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def high_risk_case(self) -> RecordView | None:
        """The open case, if any."""
        return next((c for c in self.high_risk_cases if c.values.get("closed_at") is None), None)


@dataclass
class PregnancyRow:
    """A line of a list or worklist: L3 data and the woman's masked identifiers."""

    id: uuid.UUID
    version: int
    person_id: uuid.UUID
    name_masked: str | Withheld
    document_masked: str | Withheld
    owner_institution_id: int
    state: str
    edd: date
    gestational_age: schedule.GestationalAge | None
    risk_colour: str
    risk_purple: bool
    next_contact: str
    next_contact_start: date | None
    next_contact_due: date | None
    overdue: bool
    # High-risk worklist: the open case's deadline and report time.
    report_due_at: Any = None
    reported_at: Any = None


@dataclass
class Page:
    items: list
    page: int
    page_size: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.total

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# --- helpers ------------------------------------------------------------------------------------


def _policy():
    return Pregnancy.objects.policy()


def _redacted(policy, obj, fields: list[str], level: Level) -> tuple[dict[str, Any], list[str]]:
    """Values at or below `level` (the actor's clearance over the episode), WITHHELD above it.
    Values above are not read at all (encrypted ones not decrypted)."""
    values = {f: getattr(obj, f) if policy.field_level(f) <= level else WITHHELD for f in fields}
    return values, [f for f, v in values.items() if v is WITHHELD]


def _view(model, obj, fields, level, **extra) -> RecordView:
    values, withheld = _redacted(model.objects.policy(), obj, fields, level)
    return RecordView(id=obj.pk, values=values, withheld=withheld, extra=extra)


def _denied(*, actor, object_ids, purpose: str, object_type: str = PREGNANCY) -> None:
    audit_record(
        action="deny", actor=actor, object_type=object_type, object_ids=[str(i) for i in object_ids], purpose=purpose
    )


def _load(actor, pregnancy_id, purpose: str) -> tuple[Pregnancy, Level, str]:
    """The episode, the actor's clearance over it, and the purpose its read is for."""
    try:
        p = Pregnancy.objects.visible_to(actor).get(pk=pregnancy_id)
    except (Pregnancy.DoesNotExist, ValueError, TypeError, ValidationError):
        _denied(actor=actor, object_ids=[pregnancy_id], purpose=purpose)
        raise RecordNotFound from None
    return p, _policy().clearance(actor, p), _read_purpose(actor, p, purpose)


def _read_purpose(actor, p: Pregnancy, purpose: str) -> str:
    """An episode the actor sees only through a break-glass grant is read for an emergency
    (P5), whatever page asked."""
    return Purpose.EMERGENCY if _policy().through_grant(actor, p) else purpose


def _abilities(actor, p: Pregnancy) -> Abilities:
    policy = _policy()
    return Abilities(
        change=policy.can_change(actor, p),
        owner=policy.can_act_for_owner(actor, p),
        confidential=policy.sees_confidential(actor, p),
    )


def _gestational_age(p: Pregnancy, today: date) -> schedule.GestationalAge | None:
    if p.state != PregnancyState.ACTIVE:
        return None
    return schedule.gestational_age(edd=p.edd, on=today)


def record_as_written(*, actor, model, obj, fields, pregnancy: Pregnancy, **extra) -> RecordView:
    """A record the actor has just written in `pregnancy`, as they may see it (redacted at
    their clearance over the episode). The write's own audit event covers it: no read event."""
    return _view(model, obj, fields, Pregnancy.objects.policy().clearance(actor, pregnancy), **extra)


def pregnancy_writable(*, actor, pregnancy_id) -> bool:
    """Whether the episode exists, is in the actor's reach and is theirs to change: the
    services' own first question (`_pregnancy_locked`), without the lock. Shows nothing and
    reads no personal data (no audit: the caller records the refusal it answers)."""
    p = pregnancy_reached(actor=actor, pregnancy_id=pregnancy_id)
    return p is not None and _policy().can_change(actor, p)


def grading_rules_fired(*, grading: RiskGrading, values: dict) -> list[dict[str, str]]:
    """The rules that fired, with colour and label; the L5 ones only when shown."""
    codes = list(values["rules_fired"] or [])
    confidential = values["rules_fired_confidential"]
    if confidential and confidential is not WITHHELD:
        codes += confidential
    if not codes:
        return []
    rules = {r.code: r for r in RiskRule.objects.filter(table_id=grading.table_id, code__in=codes)}
    return [
        {"code": c, "colour": rules[c].colour, "label": rule_label(rules[c])} if c in rules else {"code": c}
        for c in codes
    ]


# --- one episode ----------------------------------------------------------------------------------


@reads_for_purpose(record=(PREGNANCY, "pregnancy_id"))
def pregnancy_get(*, actor, pregnancy_id, purpose: str, today: date | None = None) -> PregnancyView:
    """An episode with its visits, gradings, cases, referrals, transfers, delivery (with the
    babies) and postpartum visits, and what the actor may do to it (`abilities`). The same
    RecordNotFound whether absent or out of reach (the denial is audited)."""
    today = today or timezone.localdate()
    p, level, purpose = _load(actor, pregnancy_id, purpose)
    values, withheld = _redacted(_policy(), p, PREGNANCY_FIELDS, level)

    def children(model):
        return model.objects.visible_to(actor).filter(pregnancy_id=p.pk)

    visits = [_view(AntenatalVisit, v, VISIT_FIELDS, level) for v in children(AntenatalVisit).order_by("visit_on")]
    gradings = []
    for g in children(RiskGrading).order_by("graded_at"):
        view = _view(RiskGrading, g, GRADING_FIELDS, level)
        view.extra["fired"] = grading_rules_fired(grading=g, values=view.values)
        gradings.append(view)
    cases = [_view(HighRiskCase, c, CASE_FIELDS, level) for c in children(HighRiskCase).order_by("opened_at")]
    referrals = [_view(Referral, r, REFERRAL_FIELDS, level) for r in children(Referral).order_by("referred_on")]
    transfers = [_view(Transfer, t, TRANSFER_FIELDS, level) for t in children(Transfer).order_by("requested_at")]
    delivery_obj = children(Delivery).first()
    delivery = None
    discharged_on = None
    if delivery_obj is not None:
        babies = DeliveryBaby.objects.visible_to(actor).filter(delivery_id=delivery_obj.pk).order_by("order")
        delivery = _view(
            Delivery,
            delivery_obj,
            DELIVERY_FIELDS,
            level,
            babies=[_view(DeliveryBaby, b, BABY_FIELDS, level) for b in babies],
        )
        discharged_on = delivery_obj.discharged_on
    postpartum = [
        _view(PostpartumVisit, v, POSTPARTUM_FIELDS, level) for v in children(PostpartumVisit).order_by("visit_on")
    ]
    windows = schedule.windows_for(edd=p.edd, delivered_on=p.delivered_on, discharged_on=discharged_on)
    view = PregnancyView(
        id=p.pk,
        version=p.version,
        values=values,
        withheld=withheld,
        gestational_age=_gestational_age(p, today),
        schedule=schedule.schedule_status(windows=windows, done=p.contacts_done, today=today),
        visits=visits,
        gradings=gradings,
        high_risk_cases=cases,
        referrals=referrals,
        transfers=transfers,
        delivery=delivery,
        postpartum_visits=postpartum,
        abilities=_abilities(actor, p),
    )
    sections = [
        name
        for name, present in (
            ("visits", visits),
            ("risk_gradings", gradings),
            ("high_risk_cases", cases),
            ("referrals", referrals),
            ("transfers", transfers),
            ("delivery", delivery),
            ("postpartum_visits", postpartum),
        )
        if present
    ]
    audit_record(
        action="read",
        actor=actor,
        object_type=PREGNANCY,
        object_ids=[str(p.pk)],
        fields=[*(f for f in PREGNANCY_FIELDS if f not in withheld), *sections],
        purpose=purpose,
    )
    return view


def _children_read(*, actor, pregnancy_id, purpose: str, model, fields, section: str, order: str) -> list[RecordView]:
    p, level, purpose = _load(actor, pregnancy_id, purpose)
    views = [
        _view(model, obj, fields, level)
        for obj in model.objects.visible_to(actor).filter(pregnancy_id=p.pk).order_by(order)
    ]
    audit_record(
        action="read",
        actor=actor,
        object_type=PREGNANCY,
        object_ids=[str(p.pk)],
        fields=[section, *(f"{section}.{f}" for f in fields if all(f not in v.withheld for v in views))],
        purpose=purpose,
        extra={section: [str(v.id) for v in views][:50]},
    )
    return views


@reads_for_purpose(record=(PREGNANCY, "pregnancy_id"))
def visit_list(*, actor, pregnancy_id, purpose: str) -> list[RecordView]:
    """The antenatal visits of an episode, oldest first."""
    return _children_read(
        actor=actor,
        pregnancy_id=pregnancy_id,
        purpose=purpose,
        model=AntenatalVisit,
        fields=VISIT_FIELDS,
        section="visit",
        order="visit_on",
    )


@reads_for_purpose(record=(PREGNANCY, "pregnancy_id"))
def postpartum_visit_list(*, actor, pregnancy_id, purpose: str) -> list[RecordView]:
    return _children_read(
        actor=actor,
        pregnancy_id=pregnancy_id,
        purpose=purpose,
        model=PostpartumVisit,
        fields=POSTPARTUM_FIELDS,
        section="postpartum_visit",
        order="visit_on",
    )


@reads_for_purpose(record=(PREGNANCY, "pregnancy_id"))
def risk_grading_list(*, actor, pregnancy_id, purpose: str) -> list[RecordView]:
    """The gradings of an episode, oldest first; `extra["fired"]` lists the rules with labels."""
    views = _children_read(
        actor=actor,
        pregnancy_id=pregnancy_id,
        purpose=purpose,
        model=RiskGrading,
        fields=GRADING_FIELDS,
        section="risk_grading",
        order="graded_at",
    )
    gradings = {g.pk: g for g in RiskGrading.objects.visible_to(actor).filter(pk__in=[v.id for v in views])}
    for v in views:
        v.extra["fired"] = grading_rules_fired(grading=gradings[v.id], values=v.values)
    return views


@reads_for_purpose(record=(PREGNANCY, "pregnancy_id"))
def delivery_get(*, actor, pregnancy_id, purpose: str) -> RecordView | None:
    """The delivery with its babies (`extra["babies"]`), or None before it."""
    p, level, purpose = _load(actor, pregnancy_id, purpose)
    obj = Delivery.objects.visible_to(actor).filter(pregnancy_id=p.pk).first()
    view = None
    if obj is not None:
        babies = DeliveryBaby.objects.visible_to(actor).filter(delivery_id=obj.pk).order_by("order")
        view = _view(
            Delivery,
            obj,
            DELIVERY_FIELDS,
            level,
            babies=[_view(DeliveryBaby, b, BABY_FIELDS, level) for b in babies],
            pregnancy_version=p.version,  # the API's ETag
        )
    audit_record(
        action="read",
        actor=actor,
        object_type=PREGNANCY,
        object_ids=[str(p.pk)],
        fields=["delivery", "delivery.babies"] if view else [],
        purpose=purpose,
    )
    return view


@reads_for_purpose(record=(PREGNANCY, "pregnancy_id"))
def risk_proposal_get(
    *, actor, pregnancy_id, purpose: str, on: date | None = None, visit_id=None, postpartum_visit_id=None
) -> RiskProposal:
    """What the rules propose now (or at a visit), before the clinician confirms it."""
    try:
        p, proposal = risk_propose(
            actor=actor, pregnancy_id=pregnancy_id, on=on, visit_id=visit_id, postpartum_visit_id=postpartum_visit_id
        )
    except RecordNotFound:
        _denied(actor=actor, object_ids=[pregnancy_id], purpose=purpose)
        raise
    purpose = _read_purpose(actor, p, purpose)
    audit_record(
        action="read",
        actor=actor,
        object_type=PREGNANCY,
        object_ids=[str(p.pk)],
        fields=[
            "risk_proposal",
            *(["hiv_result", "syphilis_result", "hbsag_result"] if proposal.infections_used else []),
        ],
        purpose=purpose,
    )
    return proposal


# --- lists ---------------------------------------------------------------------------------------


def _page_bounds(page: int, page_size: int) -> tuple[int, int]:
    errors = {}
    if not isinstance(page, int) or page < 1:
        errors["page"] = [_("pages are numbered from 1")]
    if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        errors["page_size"] = [_("from 1 to %(n)s rows a page") % {"n": MAX_PAGE_SIZE}]
    if errors:
        raise ValidationError(errors)
    return page, page_size


def _masked(actor, person_ids: list) -> dict:
    """The women's name and document number, masked (P20), where the actor may see them."""
    policy = PersonPolicy()
    out = {}
    for person in Person.objects.visible_to(actor).filter(pk__in=person_ids).only("id", "name", "document_number"):
        shown = policy.redact(actor, person, ["name", "document_number"])
        out[person.pk] = (mask_name(shown["name"]), mask_document(shown["document_number"]))
        if shown["name"] is WITHHELD:
            out[person.pk] = (WITHHELD, WITHHELD)
    return out


ROW_FIELDS = (
    "id",
    "version",
    "person_id",
    "owner_institution_id",
    "owner_region_path",
    "state",
    "edd",
    "risk_colour",
    "risk_purple",
    "next_contact",
    "next_contact_start",
    "next_contact_due",
)


def _rows_page(*, actor, qs, page, page_size, purpose: str, listing: str, filters: dict, today: date) -> Page:
    page, page_size = _page_bounds(page, page_size)
    total = qs.count()
    offset = (page - 1) * page_size
    pregnancies = list(qs.only(*ROW_FIELDS)[offset : offset + page_size])
    masked = _masked(actor, [p.person_id for p in pregnancies]) if pregnancies else {}
    rows = [
        PregnancyRow(
            id=p.pk,
            version=p.version,
            person_id=p.person_id,
            name_masked=masked.get(p.person_id, (WITHHELD, WITHHELD))[0],
            document_masked=masked.get(p.person_id, (WITHHELD, WITHHELD))[1],
            owner_institution_id=p.owner_institution_id,
            state=p.state,
            edd=p.edd,
            gestational_age=_gestational_age(p, today),
            risk_colour=p.risk_colour,
            risk_purple=p.risk_purple,
            next_contact=p.next_contact,
            next_contact_start=p.next_contact_start,
            next_contact_due=p.next_contact_due,
            overdue=p.next_contact_due is not None and p.next_contact_due < today,
        )
        for p in pregnancies
    ]
    extra = {"list": listing, **{k: str(v) for k, v in filters.items() if v not in (None, "")}, "page": page}
    # Rows seen only through a break-glass grant are read for an emergency (P5), the others
    # for the list's purpose (annotated rows: no query).
    by_purpose: dict[str, list[PregnancyRow]] = {}
    for p, row in zip(pregnancies, rows, strict=True):
        by_purpose.setdefault(_read_purpose(actor, p, purpose), []).append(row)
    # An empty page is a read too: the list was looked at.
    for read_purpose, group in (by_purpose or {purpose: []}).items():
        audit_record(
            action="read",
            actor=actor,
            object_type=PREGNANCY,
            object_ids=[str(r.id) for r in group],
            fields=["state", "edd", "risk_colour", "risk_purple", "next_contact"],
            purpose=read_purpose,
            extra=extra,
        )
        shown = [r.person_id for r in group if r.name_masked is not WITHHELD]
        if shown:
            audit_record(
                action="read",
                actor=actor,
                object_type="people.person",
                object_ids=[str(i) for i in shown],
                fields=["name", "document_number"],
                purpose=read_purpose,
                extra={**extra, "masked": True},
            )
    return Page(items=rows, page=page, page_size=page_size, total=total)


def _township_q(township: str | None) -> Q:
    if not township:
        return Q()
    region = Region.objects.filter(code=str(township), level=RegionLevel.TOWNSHIP).first()
    if region is None:
        raise ValidationError({"township": [_("give the division code of a township")]})
    return subtree_q(region.path, "owner_region_path")


@reads_for_purpose
def pregnancy_list(
    *,
    actor,
    purpose: str,
    institution: Institution | None = None,
    township: str | None = None,
    state: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    today: date | None = None,
) -> Page:
    """Episodes the actor may see (owned, shared, under a grant), newest registration first;
    narrowed to those owned by `institution` or under a `township` (division code)."""
    today = today or timezone.localdate()
    qs = Pregnancy.objects.visible_to(actor).filter(_township_q(township))
    if institution is not None:
        qs = qs.filter(owner_institution_id=institution.pk)
    if state:
        if state not in PregnancyState.values:
            raise ValidationError({"state": [_("unknown state")]})
        qs = qs.filter(state=state)
    return _rows_page(
        actor=actor,
        qs=qs.order_by("-registered_at", "-id"),
        page=page,
        page_size=page_size,
        purpose=purpose,
        listing="pregnancies",
        filters={"institution": getattr(institution, "pk", None), "township": township, "state": state},
        today=today,
    )


# Reddest first: the colour codes do not sort by risk, so sort by rank.
COLOUR_ORDER = Case(
    When(risk_colour=RiskColour.RED, then=Value(0)),
    When(risk_colour=RiskColour.ORANGE, then=Value(1)),
    When(risk_colour=RiskColour.YELLOW, then=Value(2)),
    When(risk_colour=RiskColour.GREEN, then=Value(3)),
    default=Value(4),
    output_field=IntegerField(),
)


def _due_this_week(today: date, colour):
    _monday, sunday = schedule.week_bounds(today)
    return Q(next_contact_due__gte=today, next_contact_start__lte=sunday), ("next_contact_due", "id")


def _overdue(today: date, colour):
    return Q(next_contact_due__lt=today), ("next_contact_due", "id")


def _postpartum_due(today: date, colour):
    _monday, sunday = schedule.week_bounds(today)
    q = Q(state=PregnancyState.DELIVERED, next_contact_due__isnull=False, next_contact_start__lte=sunday)
    return q, ("next_contact_due", "id")


def _deliveries_expected(today: date, colour):
    first, last = schedule.month_bounds(today)
    return Q(state=PregnancyState.ACTIVE, edd__gte=first, edd__lte=last), ("edd", "id")


def _high_risk(today: date, colour):
    if colour in (None, ""):
        q = Q(risk_colour__in=HIGH_RISK_COLOURS) | Q(risk_purple=True)
    elif colour == "purple":
        q = Q(risk_purple=True)
    elif colour in RiskColour.values:
        q = Q(risk_colour=colour)
    else:
        raise ValidationError({"colour": [_("one of green, yellow, orange, red, purple")]})
    return Q(state__in=OPEN_STATES) & q, (COLOUR_ORDER, "-risk_purple", "next_contact_due", "id")


# Each worklist: (filter, order) for `today` (and a colour for the high-risk list).
WORKLISTS = {
    "visits_due": _due_this_week,
    "overdue": _overdue,
    "postpartum_due": _postpartum_due,
    "deliveries_expected": _deliveries_expected,
    "high_risk": _high_risk,
}


def worklist_queryset(
    *,
    actor,
    listing: str,
    institution: Institution | None = None,
    township: str | None = None,
    today: date | None = None,
    colour: str | None = None,
):
    """The ordered queryset behind a worklist (for the selectors, query-plan tests and the
    benchmark); RecordNotFound when the actor holds no role at `institution`."""
    today = today or timezone.localdate()
    institution = institution or actor.institution
    scope = _policy().worklist_scope(actor, institution) if institution is not None else None
    if scope is None:
        raise RecordNotFound
    q, order = WORKLISTS[listing](today, colour)
    qs = Pregnancy.objects.visible_to(actor, action="worklist").filter(scope).filter(_township_q(township)).filter(q)
    return qs.order_by(*order)


def _worklist(
    *,
    actor,
    purpose: str,
    listing: str,
    institution: Institution | None,
    township: str | None,
    today: date | None,
    page: int,
    page_size: int,
    colour: str | None = None,
) -> Page:
    today = today or timezone.localdate()
    institution_id = getattr(institution or actor.institution, "pk", None)
    try:
        qs = worklist_queryset(
            actor=actor, listing=listing, institution=institution, township=township, today=today, colour=colour
        )
    except RecordNotFound:
        audit_record(
            action="deny",
            actor=actor,
            object_type=PREGNANCY,
            purpose=purpose,
            extra={"list": listing, "institution": institution_id},
        )
        raise
    return _rows_page(
        actor=actor,
        qs=qs,
        page=page,
        page_size=page_size,
        purpose=purpose,
        listing=listing,
        filters={"institution": institution_id, "township": township, "colour": colour},
        today=today,
    )


@reads_for_purpose
def worklist_visits_due(
    *,
    actor,
    purpose: str,
    institution: Institution | None = None,
    township: str | None = None,
    today: date | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page:
    """Contacts (antenatal or postpartum) due this week: the window is open or opens by Sunday,
    and has not closed before today. Soonest-closing first."""
    return _worklist(
        actor=actor,
        purpose=purpose,
        listing="visits_due",
        institution=institution,
        township=township,
        today=today,
        page=page,
        page_size=page_size,
    )


@reads_for_purpose
def worklist_overdue(
    *,
    actor,
    purpose: str,
    institution: Institution | None = None,
    township: str | None = None,
    today: date | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page:
    """Contacts whose window closed without a visit (antenatal or postpartum), longest
    overdue first."""
    return _worklist(
        actor=actor,
        purpose=purpose,
        listing="overdue",
        institution=institution,
        township=township,
        today=today,
        page=page,
        page_size=page_size,
    )


@reads_for_purpose
def worklist_postpartum_due(
    *,
    actor,
    purpose: str,
    institution: Institution | None = None,
    township: str | None = None,
    today: date | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page:
    """Delivered women whose postpartum home visit or 42-day check is due by Sunday, overdue
    ones included (`overdue` on the row), soonest-closing first."""
    return _worklist(
        actor=actor,
        purpose=purpose,
        listing="postpartum_due",
        institution=institution,
        township=township,
        today=today,
        page=page,
        page_size=page_size,
    )


@reads_for_purpose
def worklist_deliveries_expected(
    *,
    actor,
    purpose: str,
    institution: Institution | None = None,
    township: str | None = None,
    today: date | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page:
    """Antenatal women whose EDD falls in the month of `today`, by EDD."""
    return _worklist(
        actor=actor,
        purpose=purpose,
        listing="deliveries_expected",
        institution=institution,
        township=township,
        today=today,
        page=page,
        page_size=page_size,
    )


@reads_for_purpose
def worklist_high_risk(
    *,
    actor,
    purpose: str,
    colour: str | None = None,
    institution: Institution | None = None,
    township: str | None = None,
    today: date | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Page:
    """Women in care graded orange, red or purple, reddest first (`colour` narrows the list to
    one colour: green, yellow, orange, red or purple), with the open case's report deadline."""
    result = _worklist(
        actor=actor,
        purpose=purpose,
        listing="high_risk",
        institution=institution,
        township=township,
        today=today,
        page=page,
        page_size=page_size,
        colour=colour,
    )
    cases = {
        c.pregnancy_id: c
        for c in HighRiskCase.objects.visible_to(actor).filter(
            pregnancy_id__in=[r.id for r in result.items], closed_at__isnull=True
        )
    }
    for row in result.items:
        case = cases.get(row.id)
        if case is not None:
            row.report_due_at, row.reported_at = case.report_due_at, case.reported_at
    return result


@reads_for_purpose
def worklist_high_risk_counts(
    *, actor, purpose: str, institution: Institution | None = None, township: str | None = None
) -> dict[str, int]:
    """How many women in care there are of each colour, and purple (no ids shown)."""
    institution = institution or actor.institution
    scope = _policy().worklist_scope(actor, institution) if institution is not None else None
    if scope is None:
        audit_record(
            action="deny",
            actor=actor,
            object_type=PREGNANCY,
            purpose=purpose,
            extra={"list": "high_risk_counts", "institution": getattr(institution, "pk", None)},
        )
        raise RecordNotFound
    qs = (
        Pregnancy.objects.visible_to(actor, action="worklist")
        .filter(scope)
        .filter(_township_q(township))
        .filter(state__in=OPEN_STATES)
    )
    counts = {c: 0 for c in RiskColour.values}
    counts[""] = 0
    for row in qs.order_by().values("risk_colour").annotate(n=Count("id")):
        counts[row["risk_colour"]] = row["n"]
    counts["purple"] = qs.filter(risk_purple=True).count()
    audit_record(
        action="read",
        actor=actor,
        object_type=PREGNANCY,
        fields=["risk_colour", "risk_purple"],
        purpose=purpose,
        extra={
            "list": "high_risk_counts",
            "institution": institution.pk,
            **({"township": township} if township else {}),
        },
    )
    return counts


@reads_for_purpose
def transfer_list_incoming(*, actor, purpose: str, institution: Institution | None = None) -> list[RecordView]:
    """Transfers waiting for `institution` (default: the actor's) to accept, oldest first, with
    the woman's masked identifiers (`extra["name_masked"]`, `extra["document_masked"]`) and
    the episode's id (`values["pregnancy_id"]`)."""
    institution = institution or actor.institution
    transfers = list(
        Transfer.objects.visible_to(actor)
        .filter(to_institution_id=getattr(institution, "pk", None), state=TransferState.PENDING)
        .select_related("pregnancy")
        .order_by("requested_at")[:MAX_PAGE_SIZE]
    )
    policy = _policy()
    masked = _masked(actor, [t.pregnancy.person_id for t in transfers]) if transfers else {}
    views = []
    for t in transfers:
        level = policy.clearance(actor, t.pregnancy) or Level.L1
        view = _view(Transfer, t, ["pregnancy_id", *TRANSFER_FIELDS], level)
        name, document = masked.get(t.pregnancy.person_id, (WITHHELD, WITHHELD))
        view.extra.update(
            name_masked=name,
            document_masked=document,
            edd=t.pregnancy.edd,
            risk_colour=t.pregnancy.risk_colour,
            risk_purple=t.pregnancy.risk_purple,
        )
        views.append(view)
    audit_record(
        action="read",
        actor=actor,
        object_type=PREGNANCY,
        object_ids=[str(t.pregnancy_id) for t in transfers],
        fields=["transfer", "edd", "risk_colour"],
        purpose=purpose,
        extra={"list": "transfers_incoming"},
    )
    if masked:
        audit_record(
            action="read",
            actor=actor,
            object_type="people.person",
            object_ids=[str(i) for i in masked],
            fields=["name", "document_number"],
            purpose=purpose,
            extra={"list": "transfers_incoming", "masked": True},
        )
    return views


# The records of an episode, each found through its policy's path to the pregnancy.
EPISODE_RECORDS = (
    AntenatalVisit,
    RiskGrading,
    HighRiskCase,
    Referral,
    Transfer,
    Delivery,
    DeliveryBaby,
    PostpartumVisit,
)


def pregnancy_records_for_audit(*, actor, person_ids: list[str]) -> dict[str, list[str]]:
    """The ids of the women's pregnancy episodes and of every record of those episodes, for an
    audit administrator asking who saw her records (P10; registered in `mchis.audit.subjects`).
    Ids only, through each policy's `filter_audit_subject`: nobody else gets any."""
    episodes = list(
        Pregnancy.objects.visible_to(actor, action="audit_subject")
        .filter(person_id__in=person_ids)
        .values_list("pk", flat=True)
    )
    found: dict[str, list[str]] = {PREGNANCY: [str(pk) for pk in episodes]}
    if not episodes:
        return found
    for model in EPISODE_RECORDS:
        path = model.objects.policy().pregnancy_id_path
        rows = model.objects.visible_to(actor, action="audit_subject").filter(**{f"{path}__in": episodes})
        found[model._meta.label_lower] = [str(pk) for pk in rows.values_list("pk", flat=True)]
    return found
