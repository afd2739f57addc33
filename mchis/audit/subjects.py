"""A person's records, by object type, for "who saw this person's records" (P10).

An event names the records a request read or changed: a woman's own registry record, and
(separately) her pregnancy episode, its visits, its gradings and so on. To answer who saw her
records the auditor needs all of them. The audit app knows no clinical model, so each app
that keeps records of a person registers a provider here (in its AppConfig.ready) that
returns their ids through its policy's `filter_audit_subject`: ids only, never content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

PERSON = "people.person"

# provider(actor=…, person_ids=[…]) -> {object type: ids of that type belonging to them}
Provider = Callable[..., dict[str, Iterable[str]]]
_providers: list[Provider] = []


def subject_provider_register(provider: Provider) -> Provider:
    if provider not in _providers:
        _providers.append(provider)
    return provider


def subject_records(*, actor, person_ids: Iterable[str]) -> dict[str, list[str]]:
    """The persons themselves and every record the registered providers hold of them."""
    ids = sorted({str(i) for i in person_ids})
    records: dict[str, set[str]] = {PERSON: set(ids)}
    if ids:
        for provider in _providers:
            for object_type, found in provider(actor=actor, person_ids=ids).items():
                records.setdefault(object_type, set()).update(str(i) for i in found)
    return {t: sorted(found) for t, found in records.items() if found}
