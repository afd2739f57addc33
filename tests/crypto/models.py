"""Models that exist only for the crypto tests, in an isolated app registry (no app gains them)."""

from __future__ import annotations

from django.db import models
from django.test.utils import isolate_apps

from mchis.crypto.fields import (
    BlindIndexField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedJSONField,
    EncryptedTextField,
)
from mchis.crypto.ids import uuid7


def normalise_id(value: str) -> str:
    return str(value).replace(" ", "").upper()


def normalise_phone(value: str) -> str:
    return "".join(c for c in str(value) if c.isdigit())


_isolation = isolate_apps()
test_apps = _isolation.enable()
try:

    class Patient(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
        name = EncryptedTextField()
        nickname = EncryptedCharField(max_length=20, null=True, blank=True)
        born = EncryptedDateField(null=True)
        results = EncryptedJSONField(null=True)
        id_number = EncryptedTextField(null=True)
        id_number_bidx = BlindIndexField(source="id_number", normalizer="tests.crypto.models.normalise_id")
        phone = EncryptedTextField(null=True)
        phone_bidx = BlindIndexField(source="phone", normalizer=normalise_phone)
        visits = models.PositiveIntegerField(default=0)
        updated_at = models.DateTimeField(auto_now=True)

        class Meta:
            app_label = "crypto_tests"
            indexes = [
                models.Index(fields=["id_number_bidx"], name="crypto_patient_id_number"),
                models.Index(fields=["phone_bidx"], name="crypto_patient_phone"),
            ]

        def __str__(self) -> str:
            return f"{type(self).__name__} {self.pk}"

    class Contact(models.Model):
        """Same identifier, other table: its blind index has another purpose."""

        id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
        phone = EncryptedTextField(null=True)
        phone_bidx = BlindIndexField(source="phone", normalizer=normalise_phone)

        class Meta:
            app_label = "crypto_tests"
            indexes = [models.Index(fields=["phone_bidx"], name="crypto_contact_phone")]

        def __str__(self) -> str:
            return f"{type(self).__name__} {self.pk}"

    class Numbered(models.Model):
        """Wrong on purpose: an auto-increment id is only known after INSERT."""

        secret = EncryptedTextField()

        class Meta:
            app_label = "crypto_tests"

        def __str__(self) -> str:
            return f"{type(self).__name__} {self.pk}"

finally:
    _isolation.disable()

TABLES = (Patient, Contact)
