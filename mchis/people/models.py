"""The person registry: women and children, one record per person per county (P2, P20).

Direct identifiers are encrypted at rest (L4) and searched only through blind indexes
(exact match on the normalised value). Which institutions hold a person's records is kept
in `PersonLink`; the policy (`mchis.people.policy`) reads it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mchis.access.managers import ProtectedManager
from mchis.crypto.fields import BlindIndexField, EncryptedDateField, EncryptedTextField
from mchis.crypto.ids import uuid7
from mchis.orgs.models import PathField


class DocumentType(models.TextChoices):
    RESIDENT_ID = "resident_id", _("resident identity card")
    PASSPORT = "passport", _("passport")
    HK_MACAO_PERMIT = "hk_macao_permit", _("Mainland travel permit for Hong Kong and Macao residents")
    TAIWAN_PERMIT = "taiwan_permit", _("Mainland travel permit for Taiwan residents")
    FOREIGN_PERMANENT = "foreign_permanent", _("foreign permanent resident ID card")
    NONE = "none", _("none yet (newborn or child)")


# The longest text taken for these fields: by the pages' forms, the API's serializers, and
# `person_validate` for every other caller.
TEXT_MAX_LENGTH = {"document_number": 40, "name": 50, "address": 200}


class Sex(models.IntegerChoices):
    """GB/T 2261.1."""

    UNKNOWN = 0, _("unknown")
    MALE = 1, _("male")
    FEMALE = 2, _("female")
    UNSTATED = 9, _("unstated")


class Person(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    document_type = models.CharField(_("document type"), max_length=24, choices=DocumentType.choices)
    document_number = EncryptedTextField(_("document number"), null=True, blank=True)
    document_number_bidx = BlindIndexField(source="document_number", normalizer="mchis.people.identifiers.id_normalise")
    name = EncryptedTextField(_("name"))
    sex = models.PositiveSmallIntegerField(_("sex"), choices=Sex.choices)
    birth_date = EncryptedDateField(_("birth date"))
    phone = EncryptedTextField(_("phone"), null=True, blank=True)
    phone_bidx = BlindIndexField(source="phone", normalizer="mchis.people.identifiers.phone_normalise")
    address = EncryptedTextField(_("address"), null=True, blank=True)
    # The county the person was registered in: duplicates are looked for inside it. Indexed
    # by the unique constraint below, which starts with it.
    county_path = PathField(_("county"), max_length=255, editable=False)
    # No index: nothing looks persons up by it, and institutions are deactivated, never
    # deleted (no service, page or API deletes one), so PROTECT never has to search it.
    registered_by = models.ForeignKey(
        "orgs.Institution",
        verbose_name=_("registered by"),
        on_delete=models.PROTECT,
        db_index=False,
        related_name="+",
    )
    created_at = models.DateTimeField(_("registered at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    # For jobs, migrations and key rotation only (a test enforces it). Not the default manager:
    # Meta.default_manager_name names `objects`.
    unscoped = models.Manager()
    objects = ProtectedManager("mchis.people.policy.PersonPolicy")

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("persons")
        default_manager_name = "objects"
        base_manager_name = "unscoped"
        # Every index is written by every registration: these are all there are (besides the
        # primary key), each one needed (tests/people/test_indexes.py).
        constraints = [
            # One registration per document number per county (P20: the woman registered
            # anywhere in the county is found, not duplicated): the database refuses a second
            # one, which lets registration skip the lookup in the common case (services).
            # Not partial: NULLs are distinct in a unique index (SQLite, and PostgreSQL's
            # default NULLS DISTINCT), so children without a document are many per county,
            # and the index then also serves `county_path IN (…)` (PersonPolicy.filter_match).
            models.UniqueConstraint(
                fields=["county_path", "document_number_bidx"],
                name="person_number_once_per_county",
            )
        ]
        indexes = [
            models.Index(fields=["document_number_bidx"], name="person_by_number"),
            models.Index(fields=["phone_bidx"], name="person_by_phone"),
        ]

    def __str__(self) -> str:
        return f"person {self.pk}"


class PersonLink(models.Model):
    """An institution that holds records of the person (registration, care, transfer)."""

    # No index of their own: `person_link_unique` starts with the person (the policy's EXISTS
    # and CASCADE), `person_link_by_institution` with the institution.
    person = models.ForeignKey(Person, on_delete=models.CASCADE, db_index=False, related_name="links")
    institution = models.ForeignKey("orgs.Institution", on_delete=models.PROTECT, db_index=False, related_name="+")
    # Copy of the institution's region path: jurisdiction filters need no join through the tree.
    institution_region_path = PathField(max_length=255, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # No index: nothing looks links up by it, and accounts are disabled, never deleted (no
    # service, page or API deletes one), so PROTECT never has to search it.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, db_index=False, related_name="+")
    # Made by a transfer request, and relied on by nothing else yet: the receiving institution
    # sees her only until it decides, so the link ends if the transfer does not happen
    # (maternal.services). Anything else that links her there (a registration, a referral,
    # the transfer accepted) makes it an ordinary link.
    for_pending_transfer = models.BooleanField(default=False, editable=False)

    class Meta:
        verbose_name = _("person's institution")
        constraints = [models.UniqueConstraint(fields=["person", "institution"], name="person_link_unique")]
        indexes = [
            models.Index(fields=["institution", "person"], name="person_link_by_institution"),
            models.Index(fields=["institution_region_path"], name="person_link_by_region"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} @ {self.institution_id}"


# The same order for `ProtectedManager.visible_lookup(..., **FIRST)`.
FIRST = {"order_by": ("created_at", "id"), "limit": 1}


def first_match(queryset):
    """The earliest-registered row of a blind-index lookup, or None.

    Not `.first()`: its ORDER BY on the primary key lets the planner walk the primary key
    index over every row instead of using the blind index (seen on SQLite with 200,000
    persons: 90 ms instead of under 1 ms). Sorting the few matches by time is free.
    """
    return next(iter(queryset.order_by("created_at", "id")[:1]), None)
