"""Encrypted model fields and blind indexes (DESIGN "Keys and secrets").

A model that holds encrypted values gets its row id before INSERT, because every value is
bound to model, field and row by the AAD (`people.person|name|<pk>`)::

    from mchis.crypto.fields import BlindIndexField, EncryptedDateField, EncryptedTextField
    from mchis.crypto.ids import uuid7

    class Person(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
        name = EncryptedTextField()
        birth_date = EncryptedDateField()
        document_number = EncryptedTextField(null=True)
        document_number_bidx = BlindIndexField(
            source="document_number", normalizer="mchis.people.identifiers.id_normalise"
        )

        class Meta:
            indexes = [models.Index(fields=["document_number_bidx"], name="person_by_number")]

    Person.objects.visible_to(actor).filter(**blind_lookup(Person, "document_number_bidx", "11010119900307123x"))

How a value travels:

* **Write.** `pre_save` (run by `save()` and `bulk_create()`) encrypts the plaintext under the
  active key. `get_db_prep_value` accepts only what `pre_save` produced, so plaintext cannot
  reach the column through `QuerySet.update()`, `bulk_update()` or a filter: those raise
  `TypeError` naming the field. Searching an encrypted column is refused (`FieldError`) except
  `isnull` (and `=None`); identifiers are searched through their `BlindIndexField`.
* **Read.** A loaded row keeps each token wrapped in a `SealedValue`. The field's descriptor
  decrypts on first attribute access and caches the plaintext on the instance; assignment
  stores plaintext. A value never read and not changed is written back as the same token
  without being decrypted. `refresh_from_db()` and deferred loading (`only()`/`defer()`) give
  plaintext like any attribute access.
* **`values()` / `values_list()`** return `SealedValue` objects, never a `str`: they have no
  instance to take the row id from. Their `repr` hides the token, they do not compare equal
  to any string and JSON encoding fails; `sealed.decrypt(pk=row_pk)` opens one explicitly.
* A value that does not decrypt (moved to another row or column, tampered, unknown key)
  raises `DecryptionError` naming model, field and row; ciphertext is never returned.

Not supported, on purpose: `bulk_update()` of encrypted fields (it has no hook that knows the
row id; use `save()`), copying a value between rows with `F()` (it will not decrypt there),
fixtures (`loaddata` saves "raw", without `pre_save`, and is refused; `mchis dumpdata` and
`loaddata` take reference data only, mchis/ops/commands.py), and storing a JSON
`null` distinct from SQL NULL. Database functions over an encrypted column (`Concat`, `Cast`,
`Lower`, …) see only the token and must not be used on one: their result is ciphertext text.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Callable
from typing import Any

from django import forms
from django.core import checks, validators
from django.core.exceptions import FieldDoesNotExist, FieldError, ValidationError
from django.db import models
from django.db.models import signals
from django.db.models.fields import NOT_PROVIDED, AutoFieldMixin
from django.db.models.query_utils import DeferredAttribute
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

from mchis.crypto.keyring import DecryptionFailed, KeyRing, keyring

_MISSING = object()


class DecryptionError(DecryptionFailed):
    """A stored value did not decrypt. The message names model, field and row, never the value."""


class SealedValue:
    """A token read from the database and not decrypted (yet).

    On a model instance it is bound to the row it was loaded with and is opened by the field's
    descriptor on first access. From `values()`/`values_list()` it is unbound: open it with
    `decrypt(pk=…)`, passing the row's primary key.
    """

    __slots__ = ("_field", "_row", "token")

    def __init__(self, token: str, field: EncryptedField, row: str | None = None):
        self.token = token
        self._field = field
        self._row = row

    @property
    def key_id(self) -> str:
        return KeyRing.key_id_of(self.token)

    def decrypt(self, *, pk: Any) -> Any:
        """The plaintext, for the row with primary key `pk` (DecryptionError if it is not that row's)."""
        return self._field.open_token(self.token, row=self._field.row_text(pk))

    def __repr__(self) -> str:
        return f"<SealedValue {self._field.model._meta.label}.{self._field.name}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if type(other) is SealedValue:
            return self.token == other.token and self._field is other._field
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.token)

    def __copy__(self) -> SealedValue:
        return SealedValue(self.token, self._field, self._row)

    def __deepcopy__(self, memo: dict) -> SealedValue:
        return self.__copy__()

    def __reduce__(self):
        return (SealedValue, (self.token, self._field, self._row))


class _Ciphertext(str):
    """A token produced by `pre_save` for this very write: the only thing written to the column."""

    __slots__ = ()


class EncryptedAttribute(DeferredAttribute):
    """Decrypts on first access (with the row the value was loaded from) and caches the plaintext."""

    def __get__(self, instance, cls=None):
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if type(value) is SealedValue:
            if value._row is None:
                raise TypeError(self.field._unbound_message())
            value = self.field.open_token(value.token, row=value._row)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance, value):
        # Model.__init__ also comes through here, with SealedValue objects from the database;
        # the post_init receiver binds them to the row.
        instance.__dict__[self.field.attname] = value


class EncryptedField(models.Field):
    """Base of the encrypted fields: a text column holding `suite:kid:base64(nonce‖ciphertext‖tag)`."""

    descriptor_class = EncryptedAttribute

    def get_internal_type(self) -> str:
        return "TextField"

    # --- plaintext encoding (canonical, so the same value always encrypts the same bytes) ---
    # Each concrete field (text, date, JSON) defines both; the base is never used on a model.
    def encode(self, value: Any) -> bytes:
        raise NotImplementedError(f"{type(self).__name__} does not define encode()")

    def decode(self, data: bytes) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define decode()")

    # --- binding to model, field and row -------------------------------------------------
    @cached_property
    def _aad_prefix(self) -> str:
        return f"{self.model._meta.label_lower}|{self.name}|"

    def row_text(self, pk: Any) -> str:
        """The row id as it appears in the AAD (a UUID given as a string reads the same as a UUID)."""
        if pk is None:
            raise ValueError(
                f"{self.model._meta.label}.{self.name} is encrypted with its row id, which is not set yet: "
                "give the model a primary key with a default (id = UUIDField(primary_key=True, default=uuid7))"
            )
        return str(self.model._meta.pk.to_python(pk))

    def aad(self, row: str) -> bytes:
        return (self._aad_prefix + row).encode()

    def seal(self, value: Any, *, row: str) -> str:
        """Encrypt a plaintext value for `row` under the active key."""
        return keyring().encrypt(self.encode(self.to_python(value)), self.aad(row))

    def open_token(self, token: str, *, row: str, ring: KeyRing | None = None) -> Any:
        """Decrypt a token stored for `row`; DecryptionError names model, field and row."""
        try:
            data = (ring or keyring()).decrypt(token, self.aad(row))
            return self.decode(data)
        except DecryptionFailed as exc:
            raise DecryptionError(self._failure_message(row, exc)) from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecryptionError(self._failure_message(row, exc)) from exc

    def _failure_message(self, row: str, exc: Exception) -> str:
        return (
            f"{self.model._meta.label}.{self.name} of row {row} did not decrypt "
            f"(moved from another row or column, altered, or written under a key not in the ring): "
            f"{type(exc).__name__}"
        )

    def _unbound_message(self) -> str:
        return (
            f"{self.model._meta.label}.{self.name}: a SealedValue from values()/values_list() is not bound "
            "to a row; assign the plaintext instead (sealed.decrypt(pk=…) opens it)"
        )

    def _refusal(self, value: Any) -> TypeError:
        # Never include the value itself: it may be the plaintext.
        if type(value) is SealedValue:
            what = "a SealedValue (read with values()) cannot be written back directly"
        else:
            what = f"got a {type(value).__name__}"
        return TypeError(
            f"{self.model._meta.label}.{self.name} is encrypted: values are written only by Model.save() and "
            f"bulk_create(), which encrypt them with the row id, and the column is searched only with isnull "
            f"(identifiers through their BlindIndexField and blind_lookup); {what}"
        )

    # --- database side ---------------------------------------------------------------------
    def from_db_value(self, value, expression, connection):
        return None if value is None else SealedValue(value, self)

    def pre_save(self, model_instance, add):
        data = model_instance.__dict__
        value = data.get(self.attname, _MISSING)
        if value is _MISSING:
            value = getattr(model_instance, self.attname)
        if value is None:
            return None
        row = self.row_text(model_instance.pk)
        if type(value) is SealedValue:
            if value._row is None:
                raise TypeError(self._unbound_message())
            if value._row == row:
                return _Ciphertext(value.token)
            # The instance got a new row id (a copy being saved as a new row): re-encrypt for it.
            value = self.open_token(value.token, row=value._row)
        return _Ciphertext(self.seal(value, row=row))

    def get_prep_value(self, value):
        if value is None or type(value) is _Ciphertext:
            return value
        raise self._refusal(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        if type(value) is _Ciphertext:
            return str(value)
        raise self._refusal(value)

    def get_lookup(self, lookup_name):
        # `exact` stays so that `=None` becomes `isnull`; any other value is refused by
        # get_prep_value. Ciphertexts of equal values differ, so no other lookup means anything.
        if lookup_name in ("isnull", "exact"):
            return super().get_lookup(lookup_name)
        raise FieldError(
            f"{self.model._meta.label}.{self.name} is encrypted and cannot be searched with "
            f"'{lookup_name}'; only isnull is supported (identifiers are searched through a BlindIndexField)"
        )

    def get_transform(self, lookup_name):
        return None

    # --- checks ------------------------------------------------------------------------------
    def check(self, **kwargs):
        return [*super().check(**kwargs), *self._check_not_indexed(), *self._check_row_id_known_before_insert()]

    def _check_not_indexed(self):
        if self.primary_key or self.unique or self.db_index:
            return [
                checks.Error(
                    "an encrypted field cannot be a primary key, unique or indexed: equal values encrypt differently",
                    hint="search identifiers through a BlindIndexField",
                    obj=self,
                    id="mchis.E201",
                )
            ]
        return []

    def _check_row_id_known_before_insert(self):
        pk = self.model._meta.pk
        if pk is None:  # abstract model: checked on the concrete ones
            return []
        # Multi-table inheritance: the row id is the root parent's.
        while pk.remote_field is not None and pk.remote_field.parent_link:
            pk = pk.remote_field.model._meta.pk
        if isinstance(pk, AutoFieldMixin) or pk.db_default is not NOT_PROVIDED or pk.generated:
            return [
                checks.Error(
                    f"{self.model._meta.label} holds encrypted fields, whose AAD binds each value to the row id, "
                    "but its primary key gets its value from the database only at INSERT",
                    hint="id = models.UUIDField(primary_key=True, default=mchis.crypto.ids.uuid7, editable=False)",
                    obj=self,
                    id="mchis.E202",
                )
            ]
        return []


class EncryptedTextField(EncryptedField):
    description = "Text (encrypted)"

    def to_python(self, value):
        if value is None or isinstance(value, str | SealedValue):
            return value
        return str(value)

    def encode(self, value: str) -> bytes:
        return value.encode("utf-8")

    def decode(self, data: bytes) -> str:
        return data.decode("utf-8")

    def formfield(self, **kwargs):
        return super().formfield(**{"widget": forms.Textarea, **kwargs})


class EncryptedCharField(EncryptedTextField):
    """Short text (encrypted): `max_length` limits the plaintext; the column is text."""

    description = "String (up to %(max_length)s, encrypted)"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if not isinstance(self.max_length, int) or isinstance(self.max_length, bool) or self.max_length <= 0:
            errors.append(
                checks.Error("EncryptedCharField needs a positive integer max_length", obj=self, id="mchis.E203")
            )
        return errors

    def formfield(self, **kwargs):
        return models.Field.formfield(self, **{"max_length": self.max_length, **kwargs})


class EncryptedDateField(EncryptedField):
    """A date (encrypted), stored as ISO `YYYY-MM-DD`."""

    description = "Date (encrypted)"
    empty_strings_allowed = False

    def to_python(self, value):
        if value is None or isinstance(value, SealedValue):
            return value
        if isinstance(value, dt.datetime):
            if timezone.is_aware(value):
                value = timezone.make_naive(value, timezone.get_default_timezone())
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            parsed = parse_date(str(value))
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError(
                "“%(value)s” is not a valid date (YYYY-MM-DD).", code="invalid_date", params={"value": value}
            )
        return parsed

    def encode(self, value: dt.date) -> bytes:
        return value.isoformat().encode("ascii")

    def decode(self, data: bytes) -> dt.date:
        return dt.date.fromisoformat(data.decode("ascii"))

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": forms.DateField, **kwargs})


class EncryptedJSONField(EncryptedField):
    """A JSON value (encrypted). Python None is SQL NULL; a JSON `null` cannot be stored apart from it."""

    description = "JSON (encrypted)"
    empty_strings_allowed = False

    def to_python(self, value):
        return value

    def encode(self, value: Any) -> bytes:
        try:
            text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self.model._meta.label}.{self.name}: the value is not JSON ({exc})") from None
        return text.encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"))

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})


def _bind_sealed(sender, instance, **kwargs):
    """post_init: bind the SealedValue objects a loaded instance holds to its row id.

    Binding at load time (not at first access) is what lets a copy saved under a new id be
    re-encrypted for its new row instead of carrying a token the new row cannot open.
    """
    encrypted = getattr(sender._meta, "_mchis_encrypted", ())
    if not encrypted:
        return
    data = instance.__dict__
    for field in encrypted:
        value = data.get(field.attname)
        if type(value) is SealedValue and value._row is None:
            pk = instance.pk
            if pk is not None:
                value._row = field.row_text(pk)


def _connect_binding(sender, **kwargs):
    # class_prepared covers concrete models, proxies and multi-table children alike.
    encrypted = tuple(f for f in sender._meta.concrete_fields if isinstance(f, EncryptedField))
    if encrypted:
        sender._meta._mchis_encrypted = encrypted


# One receiver for every model, not one per sender: signals key senders by id(), and the
# historical model classes that migrations create and drop would otherwise leave receivers
# behind for whatever class later reuses their id.
signals.post_init.connect(_bind_sealed, dispatch_uid="mchis.crypto.fields._bind_sealed")
signals.class_prepared.connect(_connect_binding)


# --- blind indexes ---------------------------------------------------------------------------
def normalise_text(value: Any) -> str:
    """The default normaliser of blind indexes: Unicode NFKC (full-width digits are digits), trimmed."""
    return unicodedata.normalize("NFKC", str(value)).strip()


class BlindIndexField(models.CharField):
    """A keyed HMAC of an identifier, for exact-match search: `kid:base64(HMAC(key, normalised value))`.

    `source` names the field indexed (usually encrypted); `normalizer` (a callable or a dotted
    path to one, default `normalise_text`) maps equal identifiers to one string ("x"/"X", spaces);
    `purpose` separates the HMAC keys of different indexes (default `<label_lower>.<source>`), so
    one phone number indexes differently in two tables. The index is filled in `pre_save` and is
    NULL when the source is empty. Search it with `blind_lookup`, which also matches rows still
    indexed under the key being rotated from.

    Only identifiers that are searched (ID number, phone) get one, never a test result on its
    own: a keyed hash of a value with few possible outcomes (positive/negative) would reveal it
    to anyone who can compare rows.

    The model declares the column's index in `Meta.indexes`
    (`models.Index(fields=["phone_bidx"], name=…)`), or a unique constraint starting with the
    column; the system check refuses a model without one (mchis.E206). Not `db_index` or
    `unique` on the field (mchis.E207): for a CharField column those make Django's PostgreSQL
    schema editor add a second, `varchar_pattern_ops` ("_like") index for LIKE queries, which
    an exact-match column never runs and every INSERT would pay for.
    """

    description = "Blind index (keyed HMAC, exact match)"
    _forced = {"max_length": 64, "null": True, "editable": False}

    def __init__(
        self,
        *args,
        source: str,
        normalizer: Callable[[Any], str] | str | None = None,
        purpose: str | None = None,
        **kwargs,
    ):
        kwargs.update(self._forced)
        super().__init__(*args, **kwargs)
        self.source = source
        self.normalizer = normalizer
        self.purpose = purpose

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        for key in self._forced:
            kwargs.pop(key, None)
        kwargs["source"] = self.source
        if self.normalizer is not None:
            kwargs["normalizer"] = self.normalizer_path
        if self.purpose is not None:
            kwargs["purpose"] = self.purpose
        return name, path, args, kwargs

    @property
    def normalizer_path(self) -> str:
        if isinstance(self.normalizer, str):
            return self.normalizer
        return f"{self.normalizer.__module__}.{self.normalizer.__qualname__}"

    @cached_property
    def normalize(self) -> Callable[[Any], str]:
        if self.normalizer is None:
            return normalise_text
        if isinstance(self.normalizer, str):
            return import_string(self.normalizer)
        return self.normalizer

    @cached_property
    def index_purpose(self) -> str:
        return self.purpose or f"{self.model._meta.label_lower}.{self.source}"

    @cached_property
    def source_field(self) -> models.Field:
        return self.model._meta.get_field(self.source)

    def index_of(self, value: Any, *, ring: KeyRing | None = None) -> str | None:
        """The index of a plaintext value under the active key (None when it normalises to nothing)."""
        if value is None:
            return None
        text = self.normalize(value)
        if not text:
            return None
        return (ring or keyring()).blind_index(text, purpose=self.index_purpose)

    def pre_save(self, model_instance, add):
        data = model_instance.__dict__
        source = self.source_field
        raw = data.get(source.attname, _MISSING)
        current = data.get(self.attname)
        if current is not None:
            # Source not loaded, or loaded and never read (so unchanged) in its own row: the
            # stored index still matches, and keeping it avoids decrypting.
            if raw is _MISSING:
                return current
            if type(raw) is SealedValue and raw._row is not None and raw._row == source.row_text(model_instance.pk):
                return current
        index = self.index_of(getattr(model_instance, source.attname))
        data[self.attname] = index
        return index

    def check(self, **kwargs):
        errors = [*super().check(**kwargs), *self._check_index()]
        try:
            source = self.model._meta.get_field(self.source)
        except FieldDoesNotExist:
            source = None
        if source is None or not source.concrete or source is self:
            errors.append(
                checks.Error(
                    f"BlindIndexField source {self.source!r} is not a field of the model", obj=self, id="mchis.E204"
                )
            )
        if self.normalizer is not None:
            path = self.normalizer_path
            try:
                if not callable(import_string(path)):
                    raise ImportError(path)
            except ImportError:
                errors.append(
                    checks.Error(
                        f"BlindIndexField normalizer {path!r} is not an importable callable",
                        hint="use a module-level function or its dotted path (migrations record the path)",
                        obj=self,
                        id="mchis.E205",
                    )
                )
        return errors

    def _check_index(self):
        if self.db_index or self.unique:
            return [
                checks.Error(
                    "a BlindIndexField is not indexed through db_index or unique: on PostgreSQL they add a "
                    "varchar_pattern_ops (LIKE) index besides the plain one, useless for exact-match lookups",
                    hint=f"declare models.Index(fields=[{self.name!r}], name=…) in the model's Meta.indexes "
                    "(a UniqueConstraint in Meta.constraints for a unique one)",
                    obj=self,
                    id="mchis.E207",
                )
            ]
        opts = self.model._meta
        if opts.abstract or any(_leads_with(self.name, i) for i in (*opts.indexes, *opts.constraints)):
            return []
        return [
            checks.Error(
                "a BlindIndexField is searched by exact match (blind_lookup) and needs an index that starts with it",
                hint=f"declare models.Index(fields=[{self.name!r}], name=…) in the model's Meta.indexes",
                obj=self,
                id="mchis.E206",
            )
        ]


def _leads_with(name: str, declared: models.Index | models.BaseConstraint) -> bool:
    """Whether an index or unique constraint of Meta, over every row, starts with the field `name`."""
    if not isinstance(declared, models.Index | models.UniqueConstraint) or declared.condition is not None:
        return False
    fields = declared.fields
    return bool(fields) and fields[0].lstrip("-") == name


def blind_values(model: type[models.Model], field_name: str, value: Any) -> list[str]:
    """The index values `blind_lookup` filters on (for `ProtectedManager.visible_lookup`)."""
    return blind_lookup(model, field_name, value)[f"{field_name}__in"]


def blind_lookup(model: type[models.Model], field_name: str, value: Any) -> dict[str, list[str]]:
    """Filter arguments finding rows whose `field_name` index matches `value` exactly (after normalising).

    `Model.objects.visible_to(actor).filter(**blind_lookup(Model, "phone_bidx", phone))`. The
    list holds the index under the active key and, during `keys rotate`, under the key being
    rotated from, so rows not yet re-indexed are still found. An empty value matches nothing.
    """
    field = model._meta.get_field(field_name)
    if not isinstance(field, BlindIndexField):
        raise TypeError(f"{model._meta.label}.{field_name} is not a BlindIndexField")
    text = field.normalize(value) if value is not None else ""
    if not text:
        return {f"{field_name}__in": []}
    return {f"{field_name}__in": keyring().blind_indexes(text, purpose=field.index_purpose)}
