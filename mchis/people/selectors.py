"""Reads of the person registry: policy, then decryption of what the actor may see, then one
audit event per call listing the ids shown (P10, P17, P20)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from mchis.access.errors import RecordNotFound
from mchis.access.policy import WITHHELD, Withheld
from mchis.access.purposes import Purpose, reads_for_purpose
from mchis.audit.services import AUDIT_REVIEW, audit_record
from mchis.crypto.fields import blind_values
from mchis.crypto.ids import id_parse
from mchis.people.identifiers import id_normalise, phone_normalise
from mchis.people.models import FIRST, DocumentType, Person, Sex
from mchis.people.policy import PersonPolicy
from mchis.people.services import PERSON_FIELDS

# Lookups by phone can match a family; more than this is not a lookup but a listing.
PHONE_MATCH_LIMIT = 20


@dataclass
class PersonView:
    """A person as one actor may see them: withheld fields are `WITHHELD`, never dropped."""

    id: uuid.UUID
    values: dict[str, Any]
    withheld: list[str] = field(default_factory=list)
    version: int = 1

    @property
    def document_type_label(self):
        return _choice_label(DocumentType, self.values["document_type"])

    @property
    def sex_label(self):
        return _choice_label(Sex, self.values["sex"])

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def _choice_label(choices, value):
    return value if isinstance(value, Withheld) else choices(value).label


def _view(policy: PersonPolicy, actor, person: Person) -> PersonView:
    values = policy.redact(actor, person, PERSON_FIELDS)
    return PersonView(
        id=person.pk,
        values=values,
        withheld=[name for name, value in values.items() if value is WITHHELD],
        version=person.version,
    )


def _shown(*, actor, persons: list[Person], purpose: str, search: str = "", views: list[PersonView]) -> None:
    policy = PersonPolicy()
    if any(policy.through_grant(actor, p) for p in persons):
        purpose = Purpose.EMERGENCY  # seen only through a break-glass grant (P5)
    audit_record(
        action="read",
        actor=actor,
        object_type="people.person",
        object_ids=[str(p.pk) for p in persons],
        fields=sorted({f for v in views for f in PERSON_FIELDS if f not in v.withheld}),
        purpose=purpose,
        extra={"search": search} if search else None,
    )


@reads_for_purpose(record=("people.person", "person_id"))
def person_get(*, actor, person_id, purpose: str) -> PersonView:
    """One person; the same RecordNotFound whether absent or out of reach (audited as denial)."""
    policy = PersonPolicy()
    pk = id_parse(person_id)
    try:
        if pk is None:
            raise Person.DoesNotExist
        person = Person.objects.visible_to(actor).get(pk=pk)
    except Person.DoesNotExist:
        audit_record(
            action="deny",
            actor=actor,
            object_type="people.person" if pk else "",
            object_ids=[str(pk)] if pk else [],
            purpose=purpose,
            reason="" if pk else "not a person id",
        )
        raise RecordNotFound from None
    view = _view(policy, actor, person)
    _shown(actor=actor, persons=[person], purpose=purpose, views=[view])
    return view


@reads_for_purpose
def person_find_by_document(*, actor, document_number: str, purpose: str) -> PersonView | None:
    """Exact match on the normalised document number through its blind index."""
    number = id_normalise(document_number)
    policy = PersonPolicy()
    matches = (
        Person.objects.visible_lookup(
            actor, field="document_number_bidx", values=blind_values(Person, "document_number_bidx", number), **FIRST
        )
        if number
        else []
    )
    person = matches[0] if matches else None
    views = [_view(policy, actor, person)] if person else []
    _shown(actor=actor, persons=[person] if person else [], purpose=purpose, search="document_number", views=views)
    return views[0] if views else None


@reads_for_purpose
def person_find_by_phone(*, actor, phone: str, purpose: str) -> list[PersonView]:
    number = phone_normalise(phone)
    policy = PersonPolicy()
    persons = (
        Person.objects.visible_lookup(
            actor,
            field="phone_bidx",
            values=blind_values(Person, "phone_bidx", number),
            order_by=("created_at", "id"),
            limit=PHONE_MATCH_LIMIT,
        )
        if number
        else []
    )
    views = [_view(policy, actor, p) for p in persons]
    _shown(actor=actor, persons=persons, purpose=purpose, search="phone", views=views)
    return views


def person_ids_for_audit(*, actor, document_number: str, reason: str) -> list[str]:
    """The ids of the persons registered under `document_number`, anywhere, for an audit
    administrator asking who saw her records (P10): ids only, nothing decrypted. Nobody else
    gets any (`filter_audit_subject`). The lookup is itself audited, with the auditor's
    reason and the ids found, never the number."""
    number = id_normalise(document_number)
    found = (
        Person.objects.visible_to(actor, action="audit_subject")
        .filter(document_number_bidx__in=blind_values(Person, "document_number_bidx", number))
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
        if number
        else []
    )
    ids = [str(pk) for pk in found]
    audit_record(
        action="read",
        actor=actor,
        object_type="people.person",
        object_ids=ids,
        purpose=AUDIT_REVIEW,
        reason=reason,
        extra={"search": "document_number", "matches": len(ids)},
    )
    return ids


def person_writable(*, actor, person_id) -> bool:
    """Whether the person exists, is in the actor's reach and is theirs to change: the
    service's own first question, asked by the API before it answers about a request's
    headers or body (`reach_first`). Shows nothing and reads no personal data."""
    pk = id_parse(person_id)
    person = Person.objects.visible_to(actor).filter(pk=pk).first() if pk else None
    return person is not None and Person.objects.policy().can_change(actor, person)
