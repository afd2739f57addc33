"""Writes of maternal care. One transaction each, audited in it (DESIGN "The one path").

Every service:

* takes keyword-only, typed arguments and the acting user (`actor`);
* validates what it can before touching the database: impossible values raise
  `ValidationError({field: [message naming the field and the rule]})` and nothing is saved;
  unusual but possible values are accepted and returned as `warnings`
  (`mchis.maternal.validation.Warning`), and the record keeps their field names (`unusual`);
* loads the episode through the policy (`Pregnancy.objects.visible_to(actor)`), locked
  (SELECT … FOR UPDATE on PostgreSQL; SQLite serialises writers already), and raises
  `RecordNotFound` when the actor may not see it (absent and forbidden look the same) or
  `NotAllowed` when they see it but may not write; both refusals are audited, outside the
  refused transaction so the record of them is kept;
* checks `expected_version` when given (the API's `If-Match`) and raises `VersionConflict`
  when the episode changed meanwhile; nothing is changed then;
* bumps `Pregnancy.version` once, whatever it changed in the episode (visit, grading,
  delivery…), and writes one audit event on the episode ("maternal.pregnancy") listing the
  changed field names (prefixed with the record kind: "visit.hb_g_l"), never values, and the
  new record's id in `extra`. A change to the woman's registry record (a link to another
  institution, a newborn registered) is audited by, or like, the people services, as the
  person's own event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.audit.services import audit_denied, audit_record
from mchis.crypto.ids import id_parse
from mchis.maternal import schedule
from mchis.maternal.errors import VersionConflict
from mchis.maternal.models import (
    COLOUR_RANK,
    HIGH_RISK_COLOURS,
    OPEN_STATES,
    AntenatalVisit,
    BirthOutcome,
    Breastfeeding,
    CaseCloseReason,
    DatingBasis,
    Delivery,
    DeliveryBaby,
    DeliveryMode,
    EndReason,
    Finding,
    HighRiskCase,
    InfectionResult,
    MaternalOutcome,
    PlaceType,
    PostpartumKind,
    PostpartumVisit,
    Pregnancy,
    PregnancyShare,
    PregnancyState,
    Presentation,
    Referral,
    ReferralOutcome,
    ReferralReason,
    RiskColour,
    RiskGrading,
    Transfer,
    TransferState,
    UrineProtein,
)
from mchis.maternal.policy import PregnancyPolicy
from mchis.maternal.risk import (
    RiskProposal,
    active_table,
    condition_codes,
    conditions_collect,
    facts_collect,
    proposal_compute,
)
from mchis.maternal.validation import Warning, measure_check, measurements_check, unusual_fields
from mchis.orgs.models import Institution, InstitutionKind, county_path_of
from mchis.people.models import DocumentType, Person, PersonLink, Sex
from mchis.people.policy import PersonPolicy
from mchis.people.services import person_link, person_register, person_validate

PREGNANCY = "maternal.pregnancy"
# Plausible gestation of a current pregnancy, in days (42w6d).
MAX_GESTATION_DAYS = 300
# A woman registered for pregnancy care is at least this old, and at most this old.
MIN_AGE, MAX_AGE = 10, 60
# Early ultrasound dating: from 5w0d; after 13w6d it is less precise (a warning).
US_MIN_DAYS, US_PRECISE_DAYS, US_MAX_DAYS = 35, 97, 160
# Deliveries: refused before 20 weeks (a pregnancy loss is closed with pregnancy_close); births
# before 28 weeks are not perinatal births in the annual report (DOMAIN, live birth).
DELIVERY_MIN_DAYS, PERINATAL_DAYS = 140, 196
HISTORY_FIELDS = (
    "gravidity",
    "parity",
    "prior_abortions",
    "prior_preterm_births",
    "prior_perinatal_deaths",
    "prior_birth_defects",
    "prior_ectopic",
    "prior_caesareans",
    "prior_uterine_surgeries",
    "last_uterine_surgery_on",
)
DATING_FIELDS = ("lmp", "ultrasound_on", "ultrasound_ga_days")
EPISODE_FIELDS = (*DATING_FIELDS, *HISTORY_FIELDS, "height_cm", "pre_pregnancy_weight_kg", "conditions")
INFECTION_FIELDS = {"hiv": "hiv_result", "syphilis": "syphilis_result", "hbsag": "hbsag_result"}
VISIT_MEASUREMENTS = (
    "systolic_bp",
    "diastolic_bp",
    "weight_kg",
    "height_cm",
    "fundal_height_cm",
    "abdominal_circumference_cm",
    "fetal_heart_rate",
    "fetuses",
    "hb_g_l",
    "platelets",
)
CARE_KINDS = frozenset(InstitutionKind.values) - {InstitutionKind.HEALTH_ADMINISTRATION}


# --- results -----------------------------------------------------------------------------------


@dataclass
class Registration:
    pregnancy: Pregnancy
    person: Person
    # False: she was already in the county's registry and was found, not registered again.
    person_created: bool
    warnings: list[Warning] = field(default_factory=list)


@dataclass
class VisitResult:
    visit: AntenatalVisit
    warnings: list[Warning]
    pregnancy_version: int
    _propose: Callable[[], RiskProposal] = field(repr=False, default=None)
    _proposal: RiskProposal | None = field(repr=False, default=None)

    @property
    def proposal(self) -> RiskProposal:
        """The colour the rules propose after this visit: show it, then confirm with
        `risk_grade`. Computed on first use (an API client that only submits visits does
        not pay for it), from what is committed by then."""
        if self._proposal is None:
            self._proposal = self._propose()
        return self._proposal


@dataclass
class GradingResult:
    grading: RiskGrading
    proposal: RiskProposal
    # The open high-risk case (opened now, or already open), or None.
    high_risk_case: HighRiskCase | None
    case_opened: bool
    pregnancy_version: int


@dataclass
class DeliveryResult:
    delivery: Delivery
    babies: list[DeliveryBaby]
    # The live-born babies' records in the person registry, in birth order.
    children: list[Person]
    warnings: list[Warning]
    pregnancy_version: int


@dataclass
class PostpartumResult:
    visit: PostpartumVisit
    warnings: list[Warning]
    # The 42-day check closed the episode.
    closed: bool
    pregnancy_version: int


@dataclass
class Change:
    """A write to an existing record of the episode (transfer, referral, case, update)."""

    obj: Any
    pregnancy_version: int
    warnings: list[Warning] = field(default_factory=list)


# --- shared steps --------------------------------------------------------------------------------


def _policy() -> PregnancyPolicy:
    return Pregnancy.objects.policy()


@contextmanager
def _refusals_audited(*, actor, object_ids: Sequence[str], object_type: str = PREGNANCY):
    """Record a refusal (not found / not allowed) after the refused transaction rolled back."""
    try:
        yield
    except (RecordNotFound, NotAllowed) as exc:
        audit_denied(
            actor=actor,
            object_type=object_type,
            object_ids=[str(i) for i in object_ids if i],
            reason="not allowed" if isinstance(exc, NotAllowed) else "not found or out of reach",
        )
        raise


def pregnancy_reached(*, actor, pregnancy_id, for_update: bool = False) -> Pregnancy | None:
    """The episode through the policy (locked for this transaction when `for_update`), or
    None when it is absent, out of reach or `pregnancy_id` is no id."""
    # The policy's query compiled once per actor (visible_lookup): every write starts here.
    try:
        found = Pregnancy.objects.visible_lookup(actor, field="pk", values=[pregnancy_id], for_update=for_update)
    except (ValueError, TypeError, ValidationError):
        return None
    return found[0] if found else None


def _pregnancy_locked(*, actor, pregnancy_id, expected_version: int | None = None) -> Pregnancy:
    """The episode, through the policy, locked for this transaction; the actor may change it."""
    p = pregnancy_reached(actor=actor, pregnancy_id=pregnancy_id, for_update=True)
    if p is None:
        raise RecordNotFound
    if not _policy().can_change(actor, p):
        raise NotAllowed
    if expected_version is not None and p.version != expected_version:
        raise VersionConflict(current=p.version, expected=expected_version)
    return p


def _save(p: Pregnancy, *, fields: Iterable[str] | None = None) -> int:
    """Save the episode with its version raised; `fields`: only these columns (a hot path
    that knows what it changed; the version and update time go with them)."""
    p.version += 1
    p.save(update_fields=None if fields is None else {*fields, "version", "updated_at"})
    return p.version


def _audit(*, actor, p: Pregnancy, action: str = "update", fields: Iterable[str], extra: dict | None = None, **kw):
    audit_record(
        action=action,
        actor=actor,
        object_type=PREGNANCY,
        object_ids=[str(p.pk)],
        fields=list(dict.fromkeys(fields)),
        extra=extra,
        **kw,
    )


def _discharged_on(actor, p: Pregnancy) -> date | None:
    if p.delivered_on is None:
        return None
    return Delivery.objects.visible_to(actor).filter(pregnancy_id=p.pk).values_list("discharged_on", flat=True).first()


SCHEDULE_FIELDS = ("next_contact", "next_contact_start", "next_contact_due")


def _schedule_refresh(p: Pregnancy, *, discharged_on: date | None = None) -> None:
    """Denormalise the next contact and its window onto the episode (the worklists read them)."""
    if not p.is_open:
        p.next_contact, p.next_contact_start, p.next_contact_due = "", None, None
        return
    windows = schedule.windows_for(edd=p.edd, delivered_on=p.delivered_on, discharged_on=discharged_on)
    as_of = max(d for d in (p.registered_on, p.last_visit_on, p.delivered_on, discharged_on) if d is not None)
    w = schedule.next_window(windows=windows, done=p.contacts_done, as_of=as_of)
    if w is None:
        p.next_contact, p.next_contact_start, p.next_contact_due = "", None, None
    else:
        p.next_contact, p.next_contact_start, p.next_contact_due = w.code, w.start, w.end


def _shares_end(p: Pregnancy, *, kind: str | None = None, source_id=None) -> None:
    qs = PregnancyShare.objects.filter(pregnancy_id=p.pk, ended_at__isnull=True)
    if kind:
        qs = qs.filter(kind=kind)
    if source_id:
        qs = qs.filter(source_id=source_id)
    qs.update(ended_at=timezone.now())
    p._share_cache = None


def _share(p: Pregnancy, *, institution: Institution, kind: str, source_id) -> None:
    PregnancyShare.objects.create(
        pregnancy=p,
        institution=institution,
        institution_region_path=institution.region_path,
        kind=kind,
        source_id=source_id,
    )
    p._share_cache = None


def _transfer_link_end(*, actor, transfer: Transfer, p: Pregnancy) -> None:
    """A transfer that does not happen (rejected, cancelled, or the episode closed first) takes
    away the link its request gave the receiving institution to her registry record, unless
    something else has relied on it since (P2): the institution was to see her only until it
    decided."""
    deleted, _rows = PersonLink.objects.filter(
        person_id=p.person_id, institution_id=transfer.to_institution_id, for_pending_transfer=True
    ).delete()
    if deleted:
        audit_record(
            action="update",
            actor=actor,
            object_type="people.person",
            object_ids=[str(p.person_id)],
            fields=["links"],
            reason=f"pregnancy transfer {transfer.state}: the receiving institution's link ended",
        )


def _institution(value, *, field_name: str) -> Institution:
    """An active care institution (not a health commission)."""
    inst = value if isinstance(value, Institution) else Institution.objects.filter(pk=value).first()
    if inst is None or not inst.is_active or inst.kind not in CARE_KINDS:
        raise ValidationError({field_name: [_("choose an active health institution that provides care")]})
    return inst


def _today() -> date:
    return timezone.localdate()


def _not_future(value: date | None, name: str, errors: dict) -> None:
    if value is not None and value > _today():
        errors[name] = [_("the date cannot be in the future")]


def _choice(value: str, choices, name: str, errors: dict, *, required: bool = False) -> str:
    value = value or ""
    if not value:
        if required:
            errors[name] = [_("this field is required")]
        return ""
    if value not in choices.values:
        errors[name] = [_("choose one of: %(values)s") % {"values": ", ".join(v for v in choices.values if v)}]
    return value


def _conditions(values: Iterable[str] | None, name: str, errors: dict) -> list[str]:
    codes = list(dict.fromkeys(values or ()))
    if not codes:
        return []
    known = condition_codes()
    unknown = [c for c in codes if c not in known]
    if unknown:
        errors[name] = [_("unknown condition codes: %(codes)s") % {"codes": ", ".join(map(str, unknown))}]
    return codes


def _note(value: str | None) -> str | None:
    return (value or "").strip() or None


# --- registration --------------------------------------------------------------------------------


def _count(name: str, value: Any, errors: dict, *, low: int = 0, high: int = 20) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        errors[name] = [_("a whole number from %(low)s to %(high)s") % {"low": low, "high": high}]
        return 0
    number = value
    if not low <= number <= high:
        errors[name] = [_("must be between %(low)s and %(high)s") % {"low": low, "high": high}]
    return number


def episode_validate(values: Mapping[str, Any], *, on: date) -> tuple[dict[str, Any], list[Warning]]:
    """Dating, obstetric history, height, weight and conditions of an episode registered (or
    corrected) on `on`. Returns the cleaned values (with `edd` and `dating_basis`) and warnings."""
    errors: dict[str, list[str]] = {}
    warnings: list[Warning] = []
    out: dict[str, Any] = {}
    lmp, us_on, us_days = values.get("lmp"), values.get("ultrasound_on"), values.get("ultrasound_ga_days")
    _not_future(lmp, "lmp", errors)
    _not_future(us_on, "ultrasound_on", errors)
    if us_on is not None and us_days in (None, ""):
        errors["ultrasound_ga_days"] = [_("give the gestational age the scan showed, in days")]
    if us_days not in (None, "") and us_on is None:
        errors["ultrasound_on"] = [_("give the date of the scan")]
    if us_days not in (None, ""):
        us_days = _count("ultrasound_ga_days", us_days, errors, low=US_MIN_DAYS, high=US_MAX_DAYS)
    else:
        us_days = None
    if lmp is None and us_on is None and "ultrasound_on" not in errors:
        errors["lmp"] = [_("give the last menstrual period or an early ultrasound (date and gestational age)")]
    edd = basis = None
    if not errors:
        if us_on is not None:
            edd, basis = schedule.edd_from_ultrasound(us_on, us_days), DatingBasis.ULTRASOUND
            if us_days > US_PRECISE_DAYS:
                warnings.append(
                    Warning("ultrasound_ga_days", _("dating by ultrasound after 13+6 weeks is less precise"))
                )
            if lmp is not None and abs((schedule.edd_from_lmp(lmp) - edd).days) > 7:
                warnings.append(
                    Warning("lmp", _("the LMP and the ultrasound differ by more than 7 days: the ultrasound dates it"))
                )
        else:
            edd, basis = schedule.edd_from_lmp(lmp), DatingBasis.LMP
        days = schedule.gestational_days(edd=edd, on=on)
        field_name = "lmp" if basis == DatingBasis.LMP else "ultrasound_on"
        if days < 0:
            errors[field_name] = [_("the dating puts the start of the pregnancy after the registration date")]
        elif days > MAX_GESTATION_DAYS:
            errors[field_name] = [
                _("the dating gives %(ga)s weeks at registration; a current pregnancy is under 43 weeks")
                % {"ga": schedule.GestationalAge(days)}
            ]
        elif days < 28:
            warnings.append(Warning(field_name, _("less than 4 weeks of gestation: check the date")))
    out.update(lmp=lmp, ultrasound_on=us_on, ultrasound_ga_days=us_days, edd=edd, dating_basis=basis)

    history = {name: _count(name, values.get(name, 0) or 0, errors) for name in HISTORY_FIELDS[:-1]}
    if "gravidity" not in errors and history["gravidity"] < 1:
        errors["gravidity"] = [_("gravidity counts this pregnancy: at least 1")]
    if not errors.keys() & set(HISTORY_FIELDS):
        before = history["gravidity"] - 1
        if history["parity"] + history["prior_abortions"] + history["prior_ectopic"] > before:
            errors["parity"] = [
                _("parity, abortions and ectopic pregnancies add up to more than the previous pregnancies (%(n)s)")
                % {"n": before}
            ]
        for name in ("prior_preterm_births", "prior_caesareans"):
            if history[name] > history["parity"]:
                errors[name] = [_("cannot be more than the parity (%(n)s)") % {"n": history["parity"]}]
        for name in ("prior_birth_defects", "prior_perinatal_deaths"):
            if history[name] > max(before, 0) * 2:
                errors[name] = [_("more than the previous pregnancies allow")]
    last_op = values.get("last_uterine_surgery_on")
    _not_future(last_op, "last_uterine_surgery_on", errors)
    if last_op is not None and not (history.get("prior_caesareans") or history.get("prior_uterine_surgeries")):
        errors["last_uterine_surgery_on"] = [_("no previous caesarean or uterine operation is recorded")]
    out.update(history, last_uterine_surgery_on=last_op)

    try:
        measured, measure_warnings = measurements_check(
            {k: values.get(k) for k in ("height_cm", "pre_pregnancy_weight_kg")}
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
        measured, measure_warnings = {}, []
    warnings += measure_warnings
    out.update(height_cm=measured.get("height_cm"), pre_pregnancy_weight_kg=measured.get("pre_pregnancy_weight_kg"))
    out["conditions"] = _conditions(values.get("conditions"), "conditions", errors)
    if errors:
        raise ValidationError(errors)
    return out, warnings


def pregnancy_register(
    *,
    actor,
    institution: Institution,
    person_id: uuid.UUID | str | None = None,
    document_type: str = DocumentType.RESIDENT_ID,
    document_number: str = "",
    name: str = "",
    birth_date: date | None = None,
    phone: str = "",
    address: str = "",
    lmp: date | None = None,
    ultrasound_on: date | None = None,
    ultrasound_ga_days: int | None = None,
    gravidity: int,
    parity: int,
    prior_abortions: int = 0,
    prior_preterm_births: int = 0,
    prior_perinatal_deaths: int = 0,
    prior_birth_defects: int = 0,
    prior_ectopic: int = 0,
    prior_caesareans: int = 0,
    prior_uterine_surgeries: int = 0,
    last_uterine_surgery_on: date | None = None,
    height_cm: Decimal | float | None = None,
    pre_pregnancy_weight_kg: Decimal | float | None = None,
    conditions: Sequence[str] = (),
    registered_on: date | None = None,
) -> Registration:
    """Register a pregnancy (建册) at `institution`, which owns it.

    The woman is either a registry person the actor can see (`person_id`) or given by her
    identity: then she is looked up by document number in the county first, through
    `person_register`, so a woman already registered anywhere in the county is found and
    linked, not registered twice. A woman with an open episode anywhere cannot get a second
    one (ValidationError on "person"). Everything, her registration included, is one
    transaction: when anything is refused nothing is saved.
    """
    policy = _policy()
    if not policy.can_create_at(actor, institution.pk):
        audit_denied(actor=actor, object_type=PREGNANCY, reason="register outside own institution")
        raise NotAllowed
    on = registered_on or _today()
    errors: dict[str, list[str]] = {}
    if on > _today():
        errors["registered_on"] = [_("the date cannot be in the future")]
    identity = None
    if person_id is None:
        try:
            identity = person_validate(
                document_type=document_type,
                document_number=document_number,
                name=name,
                sex=Sex.FEMALE,
                birth_date=birth_date,
                phone=phone,
                address=address,
            )
        except ValidationError as exc:
            errors.update(exc.message_dict)
        else:
            _age_check(identity["birth_date"], on, errors)
    try:
        episode, warnings = episode_validate(
            {
                "lmp": lmp,
                "ultrasound_on": ultrasound_on,
                "ultrasound_ga_days": ultrasound_ga_days,
                "gravidity": gravidity,
                "parity": parity,
                "prior_abortions": prior_abortions,
                "prior_preterm_births": prior_preterm_births,
                "prior_perinatal_deaths": prior_perinatal_deaths,
                "prior_birth_defects": prior_birth_defects,
                "prior_ectopic": prior_ectopic,
                "prior_caesareans": prior_caesareans,
                "prior_uterine_surgeries": prior_uterine_surgeries,
                "last_uterine_surgery_on": last_uterine_surgery_on,
                "height_cm": height_cm,
                "pre_pregnancy_weight_kg": pre_pregnancy_weight_kg,
                "conditions": conditions,
            },
            on=on,
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[person_id], object_type="people.person"):
        with transaction.atomic():
            return _pregnancy_register(
                actor=actor,
                institution=institution,
                person_id=person_id,
                identity=identity,
                episode=episode,
                warnings=warnings,
                on=on,
            )


def _age_check(birth_date: date, on: date, errors: dict) -> None:
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    if not MIN_AGE <= age <= MAX_AGE:
        errors["birth_date"] = [
            _("a woman registered for pregnancy care is %(low)s to %(high)s years old")
            % {"low": MIN_AGE, "high": MAX_AGE}
        ]


def _pregnancy_register(*, actor, institution, person_id, identity, episode, warnings, on) -> Registration:
    if identity is not None:
        person, created = person_register(actor=actor, institution=institution, **identity)
    else:
        person = Person.objects.visible_to(actor).filter(pk=person_id).first()
        if person is None:
            raise RecordNotFound
        created = False
        errors: dict[str, list[str]] = {}
        if person.sex != Sex.FEMALE:
            errors["person_id"] = [_("a pregnancy is registered for a woman (sex 2 in GB/T 2261.1)")]
        elif PersonPolicy().redact(actor, person, ["birth_date"])["birth_date"]:
            _age_check(person.birth_date, on, errors)
        if errors:
            raise ValidationError(errors)
        person_link(actor=actor, person_id=person.pk, institution=institution, why="pregnancy registered")
    open_episode = Pregnancy.objects.visible_to(actor, action="match").filter(person=person, state__in=OPEN_STATES)
    if open_episode.exists():
        raise ValidationError({"person": [_("she already has an open pregnancy episode: transfer it instead")]})
    p = Pregnancy(
        person=person,
        owner_institution=institution,
        owner_region_path=institution.region_path,
        registering_institution=institution,
        registered_by=actor,
        registered_on=on,
        **episode,
    )
    _schedule_refresh(p)
    try:
        with transaction.atomic():
            p.save(force_insert=True)
    except IntegrityError:
        # Registered at the same moment elsewhere (the partial unique index on open episodes).
        raise ValidationError(
            {"person": [_("she already has an open pregnancy episode: transfer it instead")]}
        ) from None
    _audit(
        actor=actor,
        p=p,
        action="create",
        fields=[
            "person",
            *(f for f in ("edd", "dating_basis", *EPISODE_FIELDS) if episode.get(f) not in (None, "", [])),
        ],
        institution=institution,
    )
    return Registration(pregnancy=p, person=person, person_created=created, warnings=warnings)


def pregnancy_update(*, actor, pregnancy_id, expected_version: int | None = None, **changes: Any) -> Change:
    """Correct the dating, obstetric history, height, pre-pregnancy weight or the episode's
    conditions. A new dating moves the EDD, every visit's gestational age and the contacts
    the visits fulfil."""
    unknown = set(changes) - set(EPISODE_FIELDS)
    if unknown:
        raise ValidationError({f: [_("this field cannot be changed here")] for f in sorted(unknown)})
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        current = {f: getattr(p, f) for f in EPISODE_FIELDS}
        values, warnings = episode_validate({**current, **changes}, on=p.registered_on)
        changed = [f for f in (*EPISODE_FIELDS, "edd", "dating_basis") if values[f] != getattr(p, f)]
        if not changed:
            return Change(obj=p, pregnancy_version=p.version, warnings=warnings)
        for f in changed:
            setattr(p, f, values[f])
        if "edd" in changed:
            changed += _visits_redate(actor, p)
        _schedule_refresh(p, discharged_on=_discharged_on(actor, p))
        version = _save(p)
        _audit(actor=actor, p=p, fields=[*changed, "next_contact"])
        return Change(obj=p, pregnancy_version=version, warnings=warnings)


def _visits_redate(actor, p: Pregnancy) -> list[str]:
    """Gestational ages and contacts of the visits after a new dating."""
    if p.delivered_on is not None:
        raise ValidationError({"lmp": [_("the dating cannot change after the delivery")]})
    visits = list(
        AntenatalVisit.objects.visible_to(actor).filter(pregnancy_id=p.pk).order_by("visit_on", "recorded_at")
    )
    windows = schedule.antenatal_windows(edd=p.edd)
    done: list[str] = []
    for v in visits:
        days = schedule.gestational_days(edd=p.edd, on=v.visit_on)
        if not 0 <= days <= MAX_GESTATION_DAYS:
            raise ValidationError(
                {"lmp": [_("the new dating puts the visit of %(day)s outside the pregnancy") % {"day": v.visit_on}]}
            )
        w = schedule.contact_fulfilled_by(windows=windows, on=v.visit_on, done=done)
        contact = w.code if w else ""
        if contact:
            done.append(contact)
        if (v.gestational_days, v.contact) != (days, contact):
            v.gestational_days, v.contact = days, contact
            v.save(update_fields=["gestational_days", "contact"])
    p.contacts_done = done
    return ["visit.gestational_days", "visit.contact", "contacts_done"] if visits else []


def infection_results_record(
    *,
    actor,
    pregnancy_id,
    hiv: str | None = None,
    syphilis: str | None = None,
    hbsag: str | None = None,
    expected_version: int | None = None,
) -> Change:
    """Record PMTCT screening results (L5). Only a writer cleared for L5 over the episode (a
    PMTCT officer of the owner) may; the audit event names the fields, never the results."""
    errors: dict[str, list[str]] = {}
    given = {k: v for k, v in {"hiv": hiv, "syphilis": syphilis, "hbsag": hbsag}.items() if v is not None}
    for k, v in given.items():
        _choice(v, InfectionResult, k, errors, required=True)
    if not given:
        errors["hiv"] = [_("give at least one result")]
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if not _policy().sees_confidential(actor, p):
            raise NotAllowed
        changed = []
        for k, v in given.items():
            if getattr(p, INFECTION_FIELDS[k]) != v:
                setattr(p, INFECTION_FIELDS[k], v)
                changed.append(INFECTION_FIELDS[k])
        if not changed:
            return Change(obj=p, pregnancy_version=p.version)
        version = _save(p)
        _audit(actor=actor, p=p, fields=changed)
        return Change(obj=p, pregnancy_version=version)


def pregnancy_close(*, actor, pregnancy_id, reason: str, on: date, expected_version: int | None = None) -> Change:
    """End an episode without the 42-day check: a pregnancy loss, a maternal death, or she moved
    out of the area (to a place outside the system: within it, transfer instead)."""
    errors: dict[str, list[str]] = {}
    _choice(reason, EndReason, "reason", errors, required=True)
    _not_future(on, "on", errors)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if not p.is_open:
            raise ValidationError({"state": [_("the episode is already closed")]})
        loss = reason in (EndReason.MISCARRIAGE, EndReason.INDUCED_ABORTION, EndReason.ECTOPIC)
        if loss and p.state != PregnancyState.ACTIVE:
            raise ValidationError({"reason": [_("she has delivered: a pregnancy loss cannot be recorded now")]})
        if on < schedule.day_zero(p.edd):
            raise ValidationError({"on": [_("the date is before the pregnancy began")]})
        p.state = PregnancyState.MOVED_OUT if reason == EndReason.MOVED_OUT else PregnancyState.ENDED
        p.end_reason, p.ended_on = reason, on
        _episode_closed(actor, p)
        version = _save(p)
        _audit(actor=actor, p=p, fields=["state", "end_reason", "ended_on", "next_contact"])
        return Change(obj=p, pregnancy_version=version)


def _episode_closed(actor, p: Pregnancy) -> None:
    """What ends with the episode: shares, a waiting transfer, the open high-risk case, the next
    contact."""
    _shares_end(p)
    for transfer in Transfer.objects.visible_to(actor).filter(pregnancy_id=p.pk, state=TransferState.PENDING):
        transfer.state, transfer.decided_at, transfer.decided_by = TransferState.CANCELLED, timezone.now(), actor
        transfer.save(update_fields=["state", "decided_at", "decided_by"])
        _transfer_link_end(actor=actor, transfer=transfer, p=p)
    for case in HighRiskCase.objects.visible_to(actor).filter(pregnancy_id=p.pk, closed_at__isnull=True):
        case.closed_at, case.closed_by, case.close_reason = timezone.now(), actor, CaseCloseReason.EPISODE_CLOSED
        case.save(update_fields=["closed_at", "closed_by", "close_reason"])
    _schedule_refresh(p)


# --- antenatal visits -------------------------------------------------------------------------------


def visit_record(
    *,
    actor,
    pregnancy_id,
    visit_on: date,
    systolic_bp: int | None = None,
    diastolic_bp: int | None = None,
    weight_kg: Decimal | float | None = None,
    height_cm: Decimal | float | None = None,
    fundal_height_cm: Decimal | float | None = None,
    abdominal_circumference_cm: Decimal | float | None = None,
    fetal_heart_rate: int | None = None,
    presentation: str = "",
    fetuses: int | None = None,
    hb_g_l: int | None = None,
    urine_protein: str = "",
    platelets: int | None = None,
    conditions: Sequence[str] = (),
    note: str = "",
    expected_version: int | None = None,
) -> VisitResult:
    """Record an antenatal visit: its gestational age, the schedule contact it fulfils, the
    measurements (impossible ones refused, unusual ones returned as warnings), and the risk
    colour the rules now propose (to be confirmed with `risk_grade`)."""
    raw = {
        "systolic_bp": systolic_bp,
        "diastolic_bp": diastolic_bp,
        "weight_kg": weight_kg,
        "height_cm": height_cm,
        "fundal_height_cm": fundal_height_cm,
        "abdominal_circumference_cm": abdominal_circumference_cm,
        "fetal_heart_rate": fetal_heart_rate,
        "fetuses": fetuses,
        "hb_g_l": hb_g_l,
        "platelets": platelets,
    }
    errors: dict[str, list[str]] = {}
    warnings: list[Warning] = []
    values = {k: measure_check(k, v, errors=errors, warnings=warnings) for k, v in raw.items()}
    _blood_pressure_check(values, errors)
    values["presentation"] = _choice(presentation, Presentation, "presentation", errors)
    values["urine_protein"] = _choice(urine_protein, UrineProtein, "urine_protein", errors)
    values["conditions"] = _conditions(conditions, "conditions", errors)
    if visit_on is None:
        errors["visit_on"] = [_("the visit date is required")]
    _not_future(visit_on, "visit_on", errors)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if p.state != PregnancyState.ACTIVE:
            raise ValidationError(
                {
                    "visit_on": [
                        _("antenatal visits are recorded in an antenatal episode; this one is %(state)s")
                        % {"state": p.get_state_display()}
                    ]
                }
            )
        days = schedule.gestational_days(edd=p.edd, on=visit_on)
        if not 0 <= days <= MAX_GESTATION_DAYS:
            raise ValidationError(
                {
                    "visit_on": [
                        _("the visit date gives %(ga)s weeks of gestation: outside this pregnancy")
                        % {"ga": schedule.GestationalAge(days)}
                    ]
                }
            )
        warnings += _fundal_height_warnings(values.get("fundal_height_cm"), days)
        window = schedule.contact_fulfilled_by(
            windows=schedule.antenatal_windows(edd=p.edd), on=visit_on, done=p.contacts_done
        )
        visit = AntenatalVisit(
            pregnancy=p,
            visit_on=visit_on,
            gestational_days=days,
            contact=window.code if window else "",
            institution_id=_policy().writer_institution_id(actor, p),
            recorded_by=actor,
            note=_note(note),
            unusual=unusual_fields(warnings),
            **values,
        )
        visit.save(force_insert=True)
        changed = ["visit", *(f"visit.{k}" for k, v in values.items() if v not in (None, "", []))]
        if visit.note:
            changed.append("visit.note")
        if window:
            p.contacts_done = [*p.contacts_done, window.code]
            changed.append("contacts_done")
        if p.last_visit_on is None or visit_on > p.last_visit_on:
            p.last_visit_on = visit_on
        if p.height_cm is None and values["height_cm"] is not None:
            p.height_cm = values["height_cm"]
            changed.append("height_cm")
        _schedule_refresh(p)
        version = _save(p, fields=[*SCHEDULE_FIELDS, "contacts_done", "last_visit_on", "height_cm"])
        _audit(actor=actor, p=p, fields=[*changed, "next_contact"], extra={"visit": str(visit.pk)})
        return VisitResult(
            visit=visit,
            warnings=warnings,
            pregnancy_version=version,
            _propose=lambda: _proposal(actor=actor, p=p, on=visit_on, visit=visit),
        )


def _blood_pressure_check(values: dict, errors: dict) -> None:
    s, d = values.get("systolic_bp"), values.get("diastolic_bp")
    if (s is None) != (d is None) and "systolic_bp" not in errors and "diastolic_bp" not in errors:
        missing = "diastolic_bp" if d is None else "systolic_bp"
        errors[missing] = [_("record both systolic and diastolic blood pressure")]
    elif s is not None and d is not None and d >= s:
        errors["diastolic_bp"] = [_("the diastolic pressure must be lower than the systolic")]


def _fundal_height_warnings(fundal: Decimal | None, days: int) -> list[Warning]:
    """From 20 to 36 weeks the fundal height in cm is about the weeks of gestation (± 4 cm)."""
    weeks = days // 7
    if fundal is None or not 20 <= weeks <= 36 or abs(fundal - weeks) <= 4:
        return []
    return [
        Warning(
            "fundal_height_cm",
            _("fundal height %(cm)s cm at %(weeks)s weeks differs from the expected by more than 4 cm")
            % {"cm": fundal, "weeks": weeks},
        )
    ]


# --- risk grading -------------------------------------------------------------------------------------


MEASURED = ("weight_kg", "height_cm", "hb_g_l", "platelets", "fetuses", "presentation", "conditions")


def _proposal(*, actor, p: Pregnancy, on: date, visit=None, postpartum_visit=None) -> RiskProposal:
    """What the rules propose for the episode on `on`, from what the actor may see."""
    table, rules = active_table()
    person = Person.objects.visible_to(actor).filter(pk=p.person_id).first()
    birth_date = PersonPolicy().redact(actor, person, ["birth_date"])["birth_date"] if person else None
    antenatal = AntenatalVisit.objects.visible_to(actor).filter(pregnancy_id=p.pk, visit_on__lte=on)
    postpartum = PostpartumVisit.objects.visible_to(actor).filter(pregnancy_id=p.pk, visit_on__lte=on)
    given = visit or postpartum_visit
    rows = [
        *antenatal.exclude(pk=getattr(visit, "pk", None)).values("visit_on", "recorded_at", *MEASURED),
        *postpartum.exclude(pk=getattr(postpartum_visit, "pk", None)).values(
            "visit_on", "recorded_at", "weight_kg", "hb_g_l", "conditions"
        ),
    ]
    rows.sort(key=lambda r: (r["visit_on"], r["recorded_at"]), reverse=True)
    if given is not None:
        rows.insert(0, {f: getattr(given, f, None) for f in MEASURED})
    # The first weight is the one closest to pre-pregnancy: earlier rows come last.
    confidential = _policy().sees_confidential(actor, p)
    infections = {k: getattr(p, f) for k, f in INFECTION_FIELDS.items()} if confidential else None
    facts = facts_collect(pregnancy=p, birth_date=birth_date, on=on, measurements=rows, infections=infections)
    return proposal_compute(
        table=table,
        rules=rules,
        facts=facts,
        conditions=conditions_collect(pregnancy=p, measurements=rows),
        infections_used=confidential,
        current_purple=p.risk_purple,
    )


def _visit_of(actor, p: Pregnancy, model, visit_id, name: str):
    if visit_id is None:
        return None
    v = model.objects.visible_to(actor).filter(pk=visit_id, pregnancy_id=p.pk).first() if id_parse(visit_id) else None
    if v is None:
        raise ValidationError({name: [_("no such visit in this episode")]})
    return v


def _assessment_day(given: date | None, visit) -> date:
    if given is not None:
        return given
    return visit.visit_on if visit is not None else _today()


def risk_propose(*, actor, pregnancy_id, on: date | None = None, visit_id=None, postpartum_visit_id=None):
    """The proposal alone (nothing saved, nothing audited: the caller's read is audited by the
    selector `risk_proposal_get`)."""
    p = Pregnancy.objects.visible_to(actor).filter(pk=pregnancy_id).first() if id_parse(pregnancy_id) else None
    if p is None:
        raise RecordNotFound
    visit = _visit_of(actor, p, AntenatalVisit, visit_id, "visit_id")
    pp = _visit_of(actor, p, PostpartumVisit, postpartum_visit_id, "postpartum_visit_id")
    on = _assessment_day(on, visit or pp)
    return p, _proposal(actor=actor, p=p, on=on, visit=visit, postpartum_visit=pp)


def risk_grade(
    *,
    actor,
    pregnancy_id,
    colour: str | None = None,
    purple: bool | None = None,
    reason: str = "",
    visit_id=None,
    postpartum_visit_id=None,
    assessed_on: date | None = None,
    expected_version: int | None = None,
) -> GradingResult:
    """Grade the episode: the rules propose, the clinician confirms or raises.

    `colour` (default: the proposed one) may equal or exceed the proposed colour, never go
    below it; raising needs a `reason`. `purple` likewise: it may be added with a reason, and
    not dropped when proposed. Orange, red or purple opens a high-risk case (one per episode
    at a time) with a report deadline `MCHIS_HIGH_RISK_REPORT_DAYS` days ahead.
    """
    errors: dict[str, list[str]] = {}
    if colour not in (None, "") and colour not in RiskColour.values:
        errors["colour"] = [_("choose one of: %(values)s") % {"values": ", ".join(RiskColour.values)}]
    _not_future(assessed_on, "assessed_on", errors)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if not p.is_open:
            raise ValidationError({"state": [_("the episode is closed")]})
        visit = _visit_of(actor, p, AntenatalVisit, visit_id, "visit_id")
        pp = _visit_of(actor, p, PostpartumVisit, postpartum_visit_id, "postpartum_visit_id")
        on = _assessment_day(assessed_on, visit or pp)
        proposal = _proposal(actor=actor, p=p, on=on, visit=visit, postpartum_visit=pp)
        confirmed = colour or proposal.colour
        confirmed_purple = proposal.purple if purple is None else bool(purple)
        reason = (reason or "").strip()
        if COLOUR_RANK[confirmed] < COLOUR_RANK[proposal.colour]:
            errors["colour"] = [
                _("the colour may not be lower than the proposed one (%(colour)s)")
                % {"colour": RiskColour(proposal.colour).label}
            ]
        if proposal.purple and not confirmed_purple:
            errors["purple"] = [_("purple was proposed and may not be removed")]
        raised = COLOUR_RANK[confirmed] > COLOUR_RANK[proposal.colour] or (confirmed_purple and not proposal.purple)
        if raised and not reason:
            errors["reason"] = [_("give the reason for raising the proposed grading")]
        if errors:
            raise ValidationError(errors)
        grading = RiskGrading(
            pregnancy=p,
            visit=visit,
            postpartum_visit=pp,
            assessed_on=on,
            graded_by=actor,
            institution_id=_policy().writer_institution_id(actor, p),
            table_id=proposal.table_id,
            table_version=proposal.table_version,
            proposed_colour=proposal.colour,
            proposed_purple=proposal.purple,
            rules_fired=[r.code for r in proposal.fired if not r.confidential],
            rules_fired_confidential=[r.code for r in proposal.fired if r.confidential] or None,
            infections_used=proposal.infections_used,
            purple_carried=proposal.purple_carried,
            colour=confirmed,
            purple=confirmed_purple,
            reason=reason or None,
        )
        grading.save(force_insert=True)
        # The free text (L4) is named like a visit's note; its value never is.
        changed = ["risk_grading", *(["risk_grading.reason"] if grading.reason else [])]
        if p.risk_graded_on is None or on >= p.risk_graded_on:
            # The episode shows its latest assessment; a grading entered for an earlier day is
            # kept in the history without replacing it.
            p.risk_colour, p.risk_purple, p.risk_graded_on = confirmed, confirmed_purple, on
            changed += ["risk_colour", "risk_purple", "risk_graded_on"]
        case, opened = _high_risk_case_update(actor=actor, p=p, grading=grading)
        if case is not None:
            changed.append("high_risk_case.opened" if opened else "high_risk_case.colour")
        version = _save(p)
        _audit(
            actor=actor,
            p=p,
            fields=changed,
            extra={"grading": str(grading.pk), **({"high_risk_case": str(case.pk)} if case else {})},
        )
        return GradingResult(
            grading=grading, proposal=proposal, high_risk_case=case, case_opened=opened, pregnancy_version=version
        )


def high_risk_report_days() -> int:
    return int(settings.MCHIS_HIGH_RISK_REPORT_DAYS)


def _high_risk_case_update(*, actor, p: Pregnancy, grading: RiskGrading) -> tuple[HighRiskCase | None, bool]:
    high = grading.colour in HIGH_RISK_COLOURS or grading.purple
    case = HighRiskCase.objects.visible_to(actor).filter(pregnancy_id=p.pk, closed_at__isnull=True).first()
    if case is not None:
        # The case keeps the highest colour seen while it is open.
        if COLOUR_RANK[grading.colour] > COLOUR_RANK[case.colour] or (grading.purple and not case.purple):
            case.colour = max(case.colour, grading.colour, key=COLOUR_RANK.__getitem__)
            case.purple = case.purple or grading.purple
            case.save(update_fields=["colour", "purple"])
        return case, False
    if not high:
        return None, False
    now = timezone.now()
    case = HighRiskCase(
        pregnancy=p,
        grading=grading,
        opened_at=now,
        opened_by=actor,
        colour=grading.colour,
        purple=grading.purple,
        report_due_at=now + timedelta(days=high_risk_report_days()),
    )
    case.save(force_insert=True)
    return case, True


def _case_locked(actor, case_id) -> tuple[HighRiskCase, Pregnancy]:
    case = HighRiskCase.objects.visible_to(actor).filter(pk=case_id).first() if id_parse(case_id) else None
    if case is None:
        raise RecordNotFound
    return case, _pregnancy_locked(actor=actor, pregnancy_id=case.pregnancy_id)


def district_mch_institution(p: Pregnancy) -> Institution | None:
    """The MCH institution of the county the owner lies in (where high-risk cases are reported)."""
    return (
        Institution.objects.filter(
            kind=InstitutionKind.MCH_HOSPITAL, region_path=county_path_of(p.owner_region_path), is_active=True
        )
        .order_by("pk")
        .first()
    )


def high_risk_case_report(
    *, actor, case_id, reported_to_id: int | None = None, reported_at: datetime | None = None
) -> Change:
    """The case was reported to the district MCH institution (default: the county's)."""
    with _refusals_audited(actor=actor, object_ids=[case_id], object_type="maternal.highriskcase"):
        with transaction.atomic():
            case, p = _case_locked(actor, case_id)
            at = reported_at or timezone.now()
            if case.reported_at is not None:
                raise ValidationError({"reported_at": [_("the case was reported already")]})
            if case.closed_at is not None:
                raise ValidationError({"reported_at": [_("the case is closed")]})
            if at > timezone.now() or at < case.opened_at:
                raise ValidationError({"reported_at": [_("the time is between the opening of the case and now")]})
            to = (
                Institution.objects.filter(pk=reported_to_id).first()
                if reported_to_id is not None
                else district_mch_institution(p)
            )
            if to is None:
                raise ValidationError({"reported_to_id": [_("choose the institution the case was reported to")]})
            case.reported_at, case.reported_by, case.reported_to = at, actor, to
            case.save(update_fields=["reported_at", "reported_by", "reported_to"])
            version = _save(p)
            _audit(
                actor=actor,
                p=p,
                fields=["high_risk_case.reported_at", "high_risk_case.reported_to"],
                extra={"high_risk_case": str(case.pk), "late": at > case.report_due_at},
            )
            return Change(obj=case, pregnancy_version=version)


def high_risk_case_close(*, actor, case_id, reason: str, note: str = "") -> Change:
    errors: dict[str, list[str]] = {}
    _choice(reason, CaseCloseReason, "reason", errors, required=True)
    if reason == CaseCloseReason.OTHER and not (note or "").strip():
        errors["note"] = [_("say why the case is closed")]
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[case_id], object_type="maternal.highriskcase"):
        with transaction.atomic():
            case, p = _case_locked(actor, case_id)
            if case.closed_at is not None:
                raise ValidationError({"reason": [_("the case is closed already")]})
            case.closed_at, case.closed_by, case.close_reason = timezone.now(), actor, reason
            case.note = _note(note) or case.note
            case.save(update_fields=["closed_at", "closed_by", "close_reason", "note"])
            version = _save(p)
            _audit(
                actor=actor,
                p=p,
                fields=[
                    "high_risk_case.closed_at",
                    "high_risk_case.close_reason",
                    *(["high_risk_case.note"] if note else []),
                ],
                extra={"high_risk_case": str(case.pk)},
            )
            return Change(obj=case, pregnancy_version=version)


# --- referrals and transfers ------------------------------------------------------------------------


def referral_record(
    *,
    actor,
    pregnancy_id,
    to_institution_id: int,
    referred_on: date,
    reason: str,
    reason_text: str = "",
    expected_version: int | None = None,
) -> Change:
    """Refer her to another institution (a county hospital for a high-risk woman, for delivery).
    The receiving institution shares the episode until it ends, and may record care in it."""
    errors: dict[str, list[str]] = {}
    _choice(reason, ReferralReason, "reason", errors, required=True)
    _not_future(referred_on, "referred_on", errors)
    if reason == ReferralReason.OTHER and not (reason_text or "").strip():
        errors["reason_text"] = [_("describe the reason")]
    if errors:
        raise ValidationError(errors)
    to = _institution(to_institution_id, field_name="to_institution_id")
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if not p.is_open:
            raise ValidationError({"state": [_("the episode is closed")]})
        source = _policy().writer_institution_id(actor, p)
        if to.pk == source:
            raise ValidationError({"to_institution_id": [_("refer her to another institution")]})
        if referred_on < p.registered_on:
            raise ValidationError({"referred_on": [_("the date is before the registration")]})
        case = HighRiskCase.objects.visible_to(actor).filter(pregnancy_id=p.pk, closed_at__isnull=True).first()
        referral = Referral(
            pregnancy=p,
            from_institution_id=source,
            to_institution=to,
            referred_on=referred_on,
            reason=reason,
            reason_text=_note(reason_text),
            high_risk_case=case,
            recorded_by=actor,
        )
        referral.save(force_insert=True)
        # A share of another kind (a transfer waiting there) does not let it record her care.
        referred = any(i == to.pk and k == PregnancyShare.Kind.REFERRAL for i, _p, k in _policy().shares(p))
        if not referred and to.pk != p.owner_institution_id:
            _share(p, institution=to, kind=PregnancyShare.Kind.REFERRAL, source_id=referral.pk)
        person_link(actor=actor, person_id=p.person_id, institution=to, why="referred for maternal care")
        version = _save(p)
        _audit(
            actor=actor,
            p=p,
            fields=[
                "referral",
                "referral.to_institution",
                "referral.reason",
                *(["referral.reason_text"] if reason_text else []),
            ],
            extra={"referral": str(referral.pk), "to_institution": to.pk},
        )
        return Change(obj=referral, pregnancy_version=version)


def referral_outcome_record(*, actor, referral_id, outcome: str, outcome_on: date, note: str = "") -> Change:
    """What became of a referral (recorded by either side)."""
    errors: dict[str, list[str]] = {}
    _choice(outcome, ReferralOutcome, "outcome", errors, required=True)
    _not_future(outcome_on, "outcome_on", errors)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[referral_id], object_type="maternal.referral"):
        with transaction.atomic():
            referral = (
                Referral.objects.visible_to(actor).filter(pk=referral_id).first() if id_parse(referral_id) else None
            )
            if referral is None:
                raise RecordNotFound
            p = _pregnancy_locked(actor=actor, pregnancy_id=referral.pregnancy_id)
            if referral.outcome:
                raise ValidationError({"outcome": [_("the outcome is recorded already")]})
            if outcome_on < referral.referred_on:
                raise ValidationError({"outcome_on": [_("the date is before the referral")]})
            referral.outcome, referral.outcome_on, referral.outcome_note = outcome, outcome_on, _note(note)
            referral.save(update_fields=["outcome", "outcome_on", "outcome_note"])
            version = _save(p)
            _audit(
                actor=actor,
                p=p,
                fields=["referral.outcome", "referral.outcome_on", *(["referral.outcome_note"] if note else [])],
                extra={"referral": str(referral.pk)},
            )
            return Change(obj=referral, pregnancy_version=version)


def transfer_request(
    *, actor, pregnancy_id, to_institution_id: int, reason_text: str = "", expected_version: int | None = None
) -> Change:
    """She is moving: ask the receiving institution to take the episode over.

    Until it decides, the receiving institution can see the episode (not change it) and the
    woman's registry record is linked to it so its clinicians can recognise her.
    """
    to = _institution(to_institution_id, field_name="to_institution_id")
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if not _policy().can_act_for_owner(actor, p):
            raise NotAllowed
        if not p.is_open:
            raise ValidationError({"state": [_("the episode is closed")]})
        if to.pk == p.owner_institution_id:
            raise ValidationError({"to_institution_id": [_("the episode is already at this institution")]})
        if Transfer.objects.visible_to(actor).filter(pregnancy_id=p.pk, state=TransferState.PENDING).exists():
            raise ValidationError({"to_institution_id": [_("a transfer of this episode is already waiting")]})
        transfer = Transfer(
            pregnancy=p,
            from_institution_id=p.owner_institution_id,
            to_institution=to,
            reason_text=_note(reason_text),
            requested_by=actor,
        )
        transfer.save(force_insert=True)
        _share(p, institution=to, kind=PregnancyShare.Kind.TRANSFER, source_id=transfer.pk)
        person_link(
            actor=actor, person_id=p.person_id, institution=to, why="pregnancy transfer requested", for_transfer=True
        )
        version = _save(p)
        _audit(
            actor=actor,
            p=p,
            fields=["transfer", "transfer.to_institution", *(["transfer.reason_text"] if reason_text else [])],
            extra={"transfer": str(transfer.pk), "from_institution": p.owner_institution_id, "to_institution": to.pk},
            institution=p.owner_institution,
        )
        return Change(obj=transfer, pregnancy_version=version)


def _transfer_locked(actor, transfer_id) -> tuple[Transfer, Pregnancy]:
    transfer = Transfer.objects.visible_to(actor).filter(pk=transfer_id).first() if id_parse(transfer_id) else None
    if transfer is None:
        raise RecordNotFound
    # The receiving side may not change the episode yet: lock it without the write check.
    try:
        p = Pregnancy.objects.visible_to(actor).select_for_update(of=("self",)).get(pk=transfer.pregnancy_id)
    except Pregnancy.DoesNotExist:
        raise RecordNotFound from None
    if transfer.state != TransferState.PENDING:
        raise ValidationError({"state": [_("the transfer is no longer waiting")]})
    return transfer, p


def transfer_accept(*, actor, transfer_id, note: str = "") -> Change:
    """The receiving institution takes the episode over: it becomes the owner, and everything
    recorded in the episode (visits, gradings, cases, referrals) follows; the sending
    institution no longer reaches it. Audited at the receiving institution, naming both."""
    with _refusals_audited(actor=actor, object_ids=[transfer_id], object_type="maternal.transfer"):
        with transaction.atomic():
            transfer, p = _transfer_locked(actor, transfer_id)
            if not _policy().can_accept_transfer(actor, transfer):
                raise NotAllowed
            to = Institution.objects.get(pk=transfer.to_institution_id)
            previous = p.owner_institution_id
            transfer.state, transfer.decided_at, transfer.decided_by = TransferState.ACCEPTED, timezone.now(), actor
            transfer.decision_note = _note(note)
            transfer.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
            p.owner_institution, p.owner_region_path = to, to.region_path
            _shares_end(p, kind=PregnancyShare.Kind.TRANSFER, source_id=transfer.pk)
            # Her record's link to the new owner stays: it now holds her episode.
            PersonLink.objects.filter(person_id=p.person_id, institution=to).update(for_pending_transfer=False)
            # A referral share of the new owner is now ownership.
            PregnancyShare.objects.filter(pregnancy_id=p.pk, institution=to, ended_at__isnull=True).update(
                ended_at=timezone.now()
            )
            version = _save(p)
            _audit(
                actor=actor,
                p=p,
                fields=["owner_institution", "owner_region_path", "transfer.state"],
                extra={"transfer": str(transfer.pk), "from_institution": previous, "to_institution": to.pk},
                institution=to,
            )
            return Change(obj=transfer, pregnancy_version=version)


def transfer_reject(*, actor, transfer_id, note: str) -> Change:
    """The receiving institution declines (with a reason); the episode stays where it was."""
    return _transfer_end(actor=actor, transfer_id=transfer_id, note=note, state=TransferState.REJECTED)


def transfer_cancel(*, actor, transfer_id, note: str = "") -> Change:
    """The sending institution withdraws its request."""
    return _transfer_end(actor=actor, transfer_id=transfer_id, note=note, state=TransferState.CANCELLED)


def _transfer_end(*, actor, transfer_id, note: str, state: str) -> Change:
    if state == TransferState.REJECTED and not (note or "").strip():
        raise ValidationError({"note": [_("say why the transfer is rejected")]})
    with _refusals_audited(actor=actor, object_ids=[transfer_id], object_type="maternal.transfer"):
        with transaction.atomic():
            transfer, p = _transfer_locked(actor, transfer_id)
            allowed = (
                _policy().can_accept_transfer(actor, transfer)
                if state == TransferState.REJECTED
                else _policy().can_act_for_owner(actor, p)
            )
            if not allowed:
                raise NotAllowed
            transfer.state, transfer.decided_at, transfer.decided_by = state, timezone.now(), actor
            transfer.decision_note = _note(note)
            transfer.save(update_fields=["state", "decided_at", "decided_by", "decision_note"])
            _shares_end(p, kind=PregnancyShare.Kind.TRANSFER, source_id=transfer.pk)
            _transfer_link_end(actor=actor, transfer=transfer, p=p)
            version = _save(p)
            _audit(
                actor=actor,
                p=p,
                fields=["transfer.state", *(["transfer.decision_note"] if note else [])],
                extra={
                    "transfer": str(transfer.pk),
                    "from_institution": transfer.from_institution_id,
                    "to_institution": transfer.to_institution_id,
                },
            )
            return Change(obj=transfer, pregnancy_version=version)


# --- delivery ---------------------------------------------------------------------------------------


@dataclass
class Baby:
    """One baby of a delivery, as given to `delivery_record`."""

    outcome: str
    sex: int
    birth_weight_g: int | None = None
    length_cm: Decimal | float | None = None
    apgar_1: int | None = None
    apgar_5: int | None = None


def _babies_check(babies: Sequence[Baby | Mapping], errors: dict, warnings: list) -> list[dict]:
    out = []
    if not babies:
        errors["babies"] = [_("record at least one baby (live-born or stillborn)")]
    elif len(babies) > 6:
        errors["babies"] = [_("at most 6 babies")]
    for i, raw in enumerate(babies or ()):
        b = raw.__dict__ if isinstance(raw, Baby) else dict(raw)
        prefix = f"babies.{i}."
        values = {"outcome": _choice(b.get("outcome", ""), BirthOutcome, prefix + "outcome", errors, required=True)}
        sex = b.get("sex")
        if sex not in Sex.values:
            errors[prefix + "sex"] = [_("sex is a GB/T 2261.1 code: 0, 1, 2 or 9")]
        values["sex"] = sex
        for name in ("birth_weight_g", "length_cm", "apgar_1", "apgar_5"):
            values[name] = measure_check(name, b.get(name), errors=errors, warnings=warnings, prefix=prefix)
        if values["outcome"] == BirthOutcome.LIVE_BIRTH and values["birth_weight_g"] is None:
            errors.setdefault(prefix + "birth_weight_g", [_("the birth weight of a live-born baby is required")])
        if values["outcome"] == BirthOutcome.STILLBIRTH and (values["apgar_1"] or values["apgar_5"]):
            errors[prefix + "apgar_1"] = [_("a stillborn baby has no Apgar score above 0")]
        out.append(values)
    return out


def delivery_record(
    *,
    actor,
    pregnancy_id,
    delivered_at: datetime,
    place_type: str,
    institution_id: int | None = None,
    mode: str,
    blood_loss_ml: int | None = None,
    maternal_outcome: str = MaternalOutcome.WELL,
    babies: Sequence[Baby | Mapping[str, Any]],
    discharged_on: date | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> DeliveryResult:
    """Record the delivery. Every live-born baby becomes a child in the person registry
    (`person_register`, no document yet), linked to the mother through this delivery and to
    the institutions caring for them; stillbirths are recorded without a person. The episode
    moves to postpartum care (home visit, 42-day check)."""
    errors: dict[str, list[str]] = {}
    warnings: list[Warning] = []
    _choice(place_type, PlaceType, "place_type", errors, required=True)
    _choice(mode, DeliveryMode, "mode", errors, required=True)
    _choice(maternal_outcome, MaternalOutcome, "maternal_outcome", errors, required=True)
    loss = measure_check("blood_loss_ml", blood_loss_ml, errors=errors, warnings=warnings)
    baby_values = _babies_check(babies, errors, warnings)
    if delivered_at is None:
        errors["delivered_at"] = [_("the delivery time is required")]
    elif timezone.is_naive(delivered_at):
        errors["delivered_at"] = [_("give the time with its time zone")]
    elif delivered_at > timezone.now():
        errors["delivered_at"] = [_("the time cannot be in the future")]
    inst = None
    if place_type == PlaceType.INSTITUTION:
        if institution_id is None:
            errors["institution_id"] = [_("name the institution she delivered at")]
        else:
            try:
                inst = _institution(institution_id, field_name="institution_id")
            except ValidationError as exc:
                errors.update(exc.message_dict)
    elif institution_id is not None and place_type:
        errors["institution_id"] = [_("an institution is named only for a delivery in one")]
    if errors:
        raise ValidationError(errors)
    day = timezone.localdate(delivered_at)
    if discharged_on is not None and (discharged_on < day or discharged_on > _today()):
        raise ValidationError({"discharged_on": [_("the discharge is between the delivery and today")]})
    haemorrhage = 1000 if mode == DeliveryMode.CAESAREAN else 500
    if loss is not None and loss >= haemorrhage:
        warnings.append(Warning("blood_loss_ml", _("postpartum haemorrhage: blood loss %(ml)s ml") % {"ml": loss}))
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if p.state != PregnancyState.ACTIVE:
            raise ValidationError({"state": [_("a delivery is recorded once, in an antenatal episode")]})
        days = schedule.gestational_days(edd=p.edd, on=day)
        if days < DELIVERY_MIN_DAYS or days > MAX_GESTATION_DAYS + 14:
            raise ValidationError(
                {
                    "delivered_at": [
                        _(
                            "%(ga)s weeks of gestation: a delivery is from 20 weeks (close the episode for a "
                            "pregnancy loss)"
                        )
                        % {"ga": schedule.GestationalAge(days)}
                    ]
                }
            )
        if days < PERINATAL_DAYS:
            warnings.append(Warning("delivered_at", _("before 28 weeks: not a perinatal birth in the annual report")))
        if p.last_visit_on and day < p.last_visit_on:
            raise ValidationError({"delivered_at": [_("the delivery is before the last antenatal visit")]})
        recorded_fetuses = (
            AntenatalVisit.objects.visible_to(actor)
            .filter(pregnancy_id=p.pk, fetuses__isnull=False)
            .order_by("-visit_on")
            .values_list("fetuses", flat=True)
            .first()
        )
        if recorded_fetuses and recorded_fetuses != len(baby_values):
            warnings.append(
                Warning(
                    "babies",
                    _("%(n)s babies, but the last visit recorded %(f)s fetuses")
                    % {"n": len(baby_values), "f": recorded_fetuses},
                )
            )
        delivery = Delivery(
            pregnancy=p,
            delivered_at=delivered_at,
            gestational_days=days,
            place_type=place_type,
            institution=inst,
            mode=mode,
            blood_loss_ml=loss,
            maternal_outcome=maternal_outcome,
            discharged_on=discharged_on,
            note=_note(note),
            recorded_by=actor,
        )
        children, rows = _babies_register(actor=actor, p=p, day=day, babies=baby_values, delivery=delivery)
        delivery.unusual = unusual_fields(warnings)
        delivery.save(force_insert=True)
        for row in rows:
            row.save(force_insert=True)
        p.delivered_on = day
        if maternal_outcome == MaternalOutcome.DIED:
            p.state, p.end_reason, p.ended_on = PregnancyState.ENDED, EndReason.MATERNAL_DEATH, day
            _episode_closed(actor, p)
        else:
            p.state = PregnancyState.DELIVERED
            _schedule_refresh(p, discharged_on=discharged_on)
        version = _save(p)
        _audit(
            actor=actor,
            p=p,
            fields=[
                "delivery",
                *(
                    f"delivery.{f}"
                    for f in (
                        "delivered_at",
                        "place_type",
                        "institution",
                        "mode",
                        "blood_loss_ml",
                        "maternal_outcome",
                        "discharged_on",
                        "note",
                    )
                    if getattr(delivery, f) not in (None, "")
                ),
                "delivery.babies",
                "state",
                "delivered_on",
                "next_contact",
            ],
            extra={"delivery": str(delivery.pk), "children": [str(c.pk) for c in children]},
        )
        return DeliveryResult(
            delivery=delivery, babies=rows, children=children, warnings=warnings, pregnancy_version=version
        )


_ORDINALS = "长次三四五六"


def _baby_name(mother: str, *, sex: int, order: int, count: int) -> str:
    """A newborn's registry name until the family gives one: 王秀英之女, or 之长子/之次女 for
    multiple births (the usual way of naming a newborn in a birth register)."""
    child = {Sex.MALE: "子", Sex.FEMALE: "女"}.get(sex, "婴")
    prefix = _ORDINALS[order - 1] if count > 1 else ""
    return f"{mother or '产妇'}之{prefix}{child}"[:50]


def _babies_register(*, actor, p: Pregnancy, day: date, babies: list[dict], delivery: Delivery):
    person_policy = PersonPolicy()
    mother = Person.objects.visible_to(actor).filter(pk=p.person_id).first()
    shown = person_policy.redact(actor, mother, ["name", "phone", "address"]) if mother else {}
    name = shown.get("name") or ""
    registrar_id = _policy().writer_institution_id(actor, p)
    registrar = Institution.objects.get(pk=registrar_id)
    children: list[Person] = []
    rows: list[DeliveryBaby] = []
    for order, b in enumerate(babies, start=1):
        child = None
        if b["outcome"] == BirthOutcome.LIVE_BIRTH:
            child, _created = person_register(
                actor=actor,
                institution=registrar,
                document_type=DocumentType.NONE,
                document_number="",
                name=_baby_name(name, sex=b["sex"], order=order, count=len(babies)),
                sex=b["sex"],
                birth_date=day,
                phone=shown.get("phone") or "",
                address=shown.get("address") or "",
            )
            if registrar.pk != p.owner_institution_id:
                # The owner does the newborn home visit with the mother's postpartum visit.
                person_link(
                    actor=actor, person_id=child.pk, institution=p.owner_institution, why="newborn of a mother in care"
                )
            children.append(child)
        rows.append(DeliveryBaby(delivery=delivery, order=order, child=child, **b))
    return children, rows


def delivery_discharge_record(
    *, actor, pregnancy_id, discharged_on: date, expected_version: int | None = None
) -> Change:
    """The discharge date, which starts the week of the postpartum home visit."""
    errors: dict[str, list[str]] = {}
    _not_future(discharged_on, "discharged_on", errors)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        delivery = Delivery.objects.visible_to(actor).filter(pregnancy_id=p.pk).first()
        if delivery is None:
            raise ValidationError({"discharged_on": [_("no delivery is recorded")]})
        if discharged_on < p.delivered_on:
            raise ValidationError({"discharged_on": [_("the discharge is between the delivery and today")]})
        delivery.discharged_on = discharged_on
        delivery.save(update_fields=["discharged_on"])
        _schedule_refresh(p, discharged_on=discharged_on)
        version = _save(p)
        _audit(
            actor=actor, p=p, fields=["delivery.discharged_on", "next_contact"], extra={"delivery": str(delivery.pk)}
        )
        return Change(obj=delivery, pregnancy_version=version)


# --- postpartum ---------------------------------------------------------------------------------------


def postpartum_visit_record(
    *,
    actor,
    pregnancy_id,
    visit_on: date,
    kind: str,
    systolic_bp: int | None = None,
    diastolic_bp: int | None = None,
    weight_kg: Decimal | float | None = None,
    hb_g_l: int | None = None,
    breastfeeding: str = "",
    finding: str = "",
    conditions: Sequence[str] = (),
    note: str = "",
    expected_version: int | None = None,
) -> PostpartumResult:
    """A postpartum home visit, or the 42-day check, which closes the episode (and its high-risk
    case, shares and worklist entries)."""
    errors: dict[str, list[str]] = {}
    warnings: list[Warning] = []
    _choice(kind, PostpartumKind, "kind", errors, required=True)
    values = {
        k: measure_check(k, v, errors=errors, warnings=warnings)
        for k, v in {
            "systolic_bp": systolic_bp,
            "diastolic_bp": diastolic_bp,
            "weight_kg": weight_kg,
            "hb_g_l": hb_g_l,
        }.items()
    }
    _blood_pressure_check(values, errors)
    values["breastfeeding"] = _choice(breastfeeding, Breastfeeding, "breastfeeding", errors)
    values["finding"] = _choice(finding, Finding, "finding", errors)
    values["conditions"] = _conditions(conditions, "conditions", errors)
    if visit_on is None:
        errors["visit_on"] = [_("the visit date is required")]
    _not_future(visit_on, "visit_on", errors)
    if errors:
        raise ValidationError(errors)
    with _refusals_audited(actor=actor, object_ids=[pregnancy_id]), transaction.atomic():
        p = _pregnancy_locked(actor=actor, pregnancy_id=pregnancy_id, expected_version=expected_version)
        if p.state != PregnancyState.DELIVERED:
            raise ValidationError(
                {"kind": [_("postpartum visits are recorded after the delivery, until the 42-day check")]}
            )
        days = (visit_on - p.delivered_on).days
        if days < 0:
            raise ValidationError({"visit_on": [_("the visit is before the delivery")]})
        discharged_on = _discharged_on(actor, p)
        home, check = schedule.postpartum_windows(delivered_on=p.delivered_on, discharged_on=discharged_on)
        contact = ""
        if kind == PostpartumKind.CHECK_42:
            if days < schedule.PP42_DAY:
                raise ValidationError(
                    {
                        "visit_on": [
                            _("the 42-day check is done from day 42 after the delivery (this is day %(d)s)")
                            % {"d": days}
                        ]
                    }
                )
            contact = "pp42"
            if visit_on > check.end:
                warnings.append(Warning("visit_on", _("the 42-day check is late (day %(d)s)") % {"d": days}))
        elif home.contains(visit_on) and "pp_home" not in p.contacts_done:
            contact = "pp_home"
        elif "pp_home" not in p.contacts_done and visit_on > home.end:
            warnings.append(Warning("visit_on", _("later than one week after discharge")))
        visit = PostpartumVisit(
            pregnancy=p,
            visit_on=visit_on,
            kind=kind,
            days_postpartum=days,
            contact=contact,
            institution_id=_policy().writer_institution_id(actor, p),
            recorded_by=actor,
            note=_note(note),
            unusual=unusual_fields(warnings),
            **values,
        )
        visit.save(force_insert=True)
        changed = ["postpartum_visit", *(f"postpartum_visit.{k}" for k, v in values.items() if v not in (None, "", []))]
        if visit.note:
            changed.append("postpartum_visit.note")
        if contact and contact not in p.contacts_done:
            p.contacts_done = [*p.contacts_done, contact]
            changed.append("contacts_done")
        if p.last_visit_on is None or visit_on > p.last_visit_on:
            p.last_visit_on = visit_on
        closed = kind == PostpartumKind.CHECK_42
        if closed:
            p.state, p.ended_on = PregnancyState.CLOSED, visit_on
            _episode_closed(actor, p)
            changed += ["state", "ended_on"]
        else:
            _schedule_refresh(p, discharged_on=discharged_on)
        version = _save(p)
        _audit(actor=actor, p=p, fields=[*changed, "next_contact"], extra={"postpartum_visit": str(visit.pk)})
        return PostpartumResult(visit=visit, warnings=warnings, closed=closed, pregnancy_version=version)
