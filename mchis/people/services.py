"""Writes to the person registry. One transaction each, audited in it."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.access.errors import NotAllowed, RecordNotFound, StaleVersion
from mchis.audit.services import audit_denied, audit_pending, audit_record
from mchis.crypto.fields import blind_lookup, blind_values
from mchis.crypto.ids import id_parse
from mchis.crypto.keyring import keyring
from mchis.ops import rows
from mchis.orgs.models import Institution, county_path_of
from mchis.people.identifiers import id_normalise, id_problem, id_sex, phone_normalise, phone_problem
from mchis.people.models import FIRST, TEXT_MAX_LENGTH, DocumentType, Person, PersonLink, Sex
from mchis.people.policy import PersonPolicy

# Children may be registered before they have any document (DOMAIN "People, identifiers").
NO_DOCUMENT_MAX_AGE_YEARS = 18
# Nobody registered today was born before this: an earlier date is a slip (1899 for 1989;
# `date` takes any year from 1). A resident ID number's date must equal the birth date, so it
# holds for those too, though GB 11643's own example number is of someone born in 1880.
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
# Django builds `Choices.values` as a new list on every access.
_DOCUMENT_TYPES, _SEXES = frozenset(DocumentType.values), frozenset(Sex.values)
PERSON_FIELDS = ["document_type", "document_number", "name", "sex", "birth_date", "phone", "address"]
# Control characters (line breaks, tabs, escapes), invisible formatting (zero-width spaces,
# direction overrides that show a name reversed) and line separators: none is part of a
# name, an address or a number, and each makes one text look like another.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _duplicate_number() -> str:
    return _("another person in the county has this document number")


def _same_name(a: str, b: str) -> bool:
    """One name however it was typed: full-width or half-width forms, spaces."""
    return "".join(unicodedata.normalize("NFKC", a).split()) == "".join(unicodedata.normalize("NFKC", b).split())


def _text_problem(field: str, value: str) -> str | None:
    """Why the text of `field` cannot be stored (its length, invisible characters), or None."""
    if len(value) > TEXT_MAX_LENGTH[field]:
        return _("the %(field)s is at most %(n)s characters") % {"field": _label(field), "n": TEXT_MAX_LENGTH[field]}
    if any(unicodedata.category(c) in _INVISIBLE for c in value):
        return _(
            "the %(field)s must not contain control or invisible characters (line breaks, tabs, zero-width or "
            "direction marks)"
        ) % {"field": _label(field)}
    return None


def _label(field: str) -> str:
    return Person._meta.get_field(field).verbose_name


def _years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def person_validate(
    *, document_type: str, document_number: str, name: str, sex: int, birth_date: date | None, phone: str, address: str
) -> dict:
    """Normalised values, or a ValidationError naming each bad field and its rule."""
    errors: dict[str, list[str]] = {}
    today = timezone.localdate()
    number = id_normalise(document_number) if document_number else ""
    if document_type not in _DOCUMENT_TYPES:
        errors["document_type"] = [_("unknown document type")]
    elif document_type == DocumentType.NONE:
        if number:
            errors["document_number"] = [_("a person without a document has no document number")]
        elif birth_date and _years_between(birth_date, today) >= NO_DOCUMENT_MAX_AGE_YEARS:
            errors["document_type"] = [
                _("only children under %(n)s may be registered without a document") % {"n": NO_DOCUMENT_MAX_AGE_YEARS}
            ]
    elif not number:
        errors["document_number"] = [_("the document number is required for this document type")]
    elif document_type == DocumentType.RESIDENT_ID and (problem := id_problem(number, today=today)):
        errors["document_number"] = [problem]
    elif problem := _text_problem("document_number", number):
        errors["document_number"] = [problem]
    if not (name or "").strip():
        errors["name"] = [_("the name is required")]
    elif problem := _text_problem("name", name.strip()):
        errors["name"] = [problem]
    if sex not in _SEXES:
        errors["sex"] = [_("sex is a GB/T 2261.1 code: 0, 1, 2 or 9")]
    if birth_date is None:
        errors["birth_date"] = [_("the birth date is required")]
    elif birth_date > today:
        errors["birth_date"] = [_("the birth date cannot be in the future")]
    elif birth_date < EARLIEST_BIRTH_DATE:
        errors["birth_date"] = [_("the birth date cannot be before %(year)s") % {"year": EARLIEST_BIRTH_DATE.year}]
    if phone and (problem := phone_problem(phone)):
        errors["phone"] = [problem]
    if address and (problem := _text_problem("address", address.strip())):
        errors["address"] = [problem]
    if document_type == DocumentType.RESIDENT_ID and number and "document_number" not in errors:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        if birth_date and "birth_date" not in errors and born != birth_date:
            errors["birth_date"] = [_("the birth date differs from the one in the resident ID number")]
        if sex in (Sex.MALE, Sex.FEMALE) and id_sex(number) != sex:
            errors["sex"] = [_("the sex differs from the one in the resident ID number (odd 17th digit: male)")]
    if errors:
        raise ValidationError(errors)
    return {
        "document_type": document_type,
        "document_number": number or None,
        "name": name.strip(),
        "sex": sex,
        "birth_date": birth_date,
        "phone": phone_normalise(phone) or None,
        "address": (address or "").strip() or None,
    }


def person_link(
    *, actor, person_id, institution: Institution, why: str, for_transfer: bool = False, audit_institution=None
) -> bool:
    """Link her registry record to `institution`, which now holds records of her; a new link
    is audited, saying `why` (at `audit_institution`, by default the actor's). True when the
    link is new.

    `for_transfer`: for a transfer request only, whose link ends if the transfer does not
    happen (`PersonLink.for_pending_transfer`). Any other reason (a registration, a
    referral) makes a link so held an ordinary one.
    """
    link, created = PersonLink.objects.get_or_create(
        person_id=person_id,
        institution=institution,
        defaults={
            "institution_region_path": institution.region_path,
            "created_by": actor,
            "for_pending_transfer": for_transfer,
        },
    )
    if not created and link.for_pending_transfer and not for_transfer:
        PersonLink.objects.filter(pk=link.pk).update(for_pending_transfer=False)
    if created:
        audit_record(
            action="update",
            actor=actor,
            object_type="people.person",
            object_ids=[str(person_id)],
            fields=["links"],
            reason=why,
            institution=audit_institution,
        )
    return created


def person_register(
    *,
    actor,
    institution: Institution,
    document_type: str,
    document_number: str = "",
    name: str,
    sex: int,
    birth_date: date | None,
    phone: str = "",
    address: str = "",
) -> tuple[Person, bool]:
    """Register a person at `institution`, or find them if already registered in the county.

    Returns (person, created). A person found by document number is linked to the
    institution (she now receives care there), not registered twice.
    """
    if not PersonPolicy().can_create_at(actor, institution.pk):
        # Outside the write's transaction, so the refusal's record is kept.
        audit_denied(actor=actor, object_type="people.person", reason="register outside own institution")
        raise NotAllowed
    values = person_validate(
        document_type=document_type,
        document_number=document_number,
        name=name,
        sex=sex,
        birth_date=birth_date,
        phone=phone,
        address=address,
    )
    county = county_path_of(institution.region_path)
    number = values["document_number"]
    if number and (keyring().rotating_from or PersonPolicy().match_counties(actor) != {county}):
        # During `keys rotate` one number has two indexes, and an actor registering in
        # several counties may find her in another: look first, under a lock on the number.
        with transaction.atomic():
            _serialise_registration(county_path=county, number=number)
            existing = _registered(actor, number)
            if existing is not None:
                return _link_existing(actor=actor, person=existing, institution=institution, values=values), False
            person = _person_insert(actor=actor, institution=institution, values=values, county=county)
            if person is not None:
                return person, True
            return _registered_link(actor, values, institution), False
    # The common case: the unique constraint on (county, number index) lets the database find
    # a duplicate, so the person, her link and the audit event are written straight away (on
    # PostgreSQL in one statement, and outside a caller's transaction that statement is the
    # transaction), and only when the database refuses the row is the registered one looked up.
    person = _person_insert(actor=actor, institution=institution, values=values, county=county)
    if person is not None:
        return person, True
    with transaction.atomic():
        return _registered_link(actor, values, institution), False


def _registered_link(actor, values: dict, institution: Institution) -> Person:
    """After the database refused her row: the person registered with this number (already,
    or meanwhile: on PostgreSQL the INSERT waited for that transaction to commit), now linked
    to `institution`."""
    existing = _registered(actor, values["document_number"])
    if existing is None:
        raise RuntimeError("a person insert conflicted but no registration with its number is visible")
    return _link_existing(actor=actor, person=existing, institution=institution, values=values)


def _serialise_registration(*, county_path: str, number: str) -> None:
    """Two clinicians registering the same woman at once must not create two records.

    SQLite runs write transactions one at a time (IMMEDIATE) already; on PostgreSQL a
    transaction-scoped advisory lock on this one (county, number) pair serialises just them.
    """
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"{county_path}|{number}".encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _registered(actor, number: str) -> Person | None:
    """The person already registered with this number in the actor's counties, if any."""
    matches = Person.objects.visible_lookup(
        actor,
        action="match",
        field="document_number_bidx",
        values=blind_values(Person, "document_number_bidx", number),
        **FIRST,
    )
    return matches[0] if matches else None


def _person_insert(*, actor, institution: Institution, values: dict, county: str) -> Person | None:
    """The new person, her link to the registering institution and the audit event, all or
    nothing; None (nothing written) when her number is registered in the county already."""
    person = Person(**values, county_path=county, registered_by=institution)
    link = PersonLink(
        person=person, institution=institution, institution_region_path=institution.region_path, created_by=actor
    )
    event = audit_pending(
        action="create",
        actor=actor,
        object_type="people.person",
        object_ids=[str(person.pk)],
        fields=[f for f in PERSON_FIELDS if values[f] not in (None, "")],
        institution=institution,
    )
    return person if rows.insert_together(person, link, event, skip_conflicts=True) else None


def _link_existing(*, actor, person: Person, institution: Institution, values: dict) -> Person:
    """She is registered in the county already: link her to `institution`, where she now
    receives care, once the identity given is hers.

    Registering links the institution to her whole record, so a document number alone is not
    enough: the name and birth date must be the registered ones, as on the document she
    shows. Otherwise nothing is linked or shown, and the refusal, naming her record, is on
    the trail, so that trying numbers to reach other people's records stands out (P2, P10).
    """
    if not (_same_name(values["name"], person.name) and values["birth_date"] == person.birth_date):
        if PersonLink.objects.filter(person=person, institution=institution).exists():
            # Her record is this institution's already: a typing slip, not a number tried.
            raise ValidationError({"name": [_("the name or birth date differs from her registered record")]})
        audit_denied(
            actor=actor,
            object_type="people.person",
            object_ids=[str(person.pk)],
            fields=["name", "birth_date"],
            reason="registration: the identity given is not the registered person's",
        )
        raise ValidationError(
            {
                "document_number": [
                    _(
                        "this document number is registered in the county under another name or birth "
                        "date: check the document"
                    )
                ]
            }
        )
    person_link(
        actor=actor,
        person_id=person.pk,
        institution=institution,
        why="registered again: linked to the registering institution",
        audit_institution=institution,
    )
    return person


def person_update(
    *, actor, person: Person | None = None, person_id=None, expected_version: int | None = None, **changes
) -> Person:
    """Change identifying fields of a visible person the actor may write.

    The person is given as `person` or by `person_id` (RecordNotFound, audited, when absent
    or out of reach). The change is made on the row as locked inside the transaction, never
    on a copy read earlier. `expected_version`: the version the change is based on (the
    API's If-Match); when the row's version is another, StaleVersion and nothing changes, so
    of two changes based on one version only the first succeeds.
    """
    if person is None:
        person = _person_for_change(actor=actor, person_id=person_id)
    if not PersonPolicy().can_change(actor, person):
        audit_denied(actor=actor, object_type="people.person", object_ids=[str(person.pk)])
        raise NotAllowed
    with transaction.atomic():
        locked = Person.objects.visible_to(actor).select_for_update().filter(pk=person.pk).first()
        if locked is None:
            raise RecordNotFound
        if expected_version is not None and locked.version != expected_version:
            raise StaleVersion(current=locked.version)
        return _person_update(actor=actor, person=locked, changes=changes)


def _person_for_change(*, actor, person_id) -> Person:
    pk = id_parse(person_id)
    person = Person.objects.visible_to(actor).filter(pk=pk).first() if pk else None
    if person is None:
        audit_denied(
            actor=actor,
            object_type="people.person" if pk else "",
            object_ids=[str(pk)] if pk else [],
            reason="" if pk else "not a person id",
        )
        raise RecordNotFound
    return person


def _person_update(*, actor, person: Person, changes: dict) -> Person:
    unknown = set(changes) - set(PERSON_FIELDS)
    if unknown:
        raise ValidationError({f: [_("this field cannot be changed here")] for f in sorted(unknown)})
    current = {f: getattr(person, f) for f in PERSON_FIELDS}
    merged = {**{f: ("" if v is None else v) for f, v in current.items()}, **changes}
    values = person_validate(**merged)
    changed = [f for f in PERSON_FIELDS if values[f] != current[f]]
    if not changed:
        return person
    if "document_number" in changed and values["document_number"]:
        duplicate = (
            Person.objects.visible_to(actor, action="match")
            .filter(**blind_lookup(Person, "document_number_bidx", values["document_number"]))
            .exclude(pk=person.pk)
            .values_list("pk", flat=True)
            .first()
        )
        if duplicate:
            # Audited, naming both records: a number tried against the county's registry (P10).
            audit_denied(
                actor=actor,
                object_type="people.person",
                object_ids=[str(person.pk), str(duplicate)],
                fields=["document_number"],
                reason="change refused: the document number is another person's in the county",
            )
            raise ValidationError({"document_number": [_duplicate_number()]})
    for f in changed:
        setattr(person, f, values[f])
    person.version += 1
    try:
        person.save()
    except IntegrityError as exc:
        # The same number registered by another transaction since the check above.
        raise ValidationError({"document_number": [_duplicate_number()]}) from exc
    audit_record(action="update", actor=actor, object_type="people.person", object_ids=[str(person.pk)], fields=changed)
    return person
