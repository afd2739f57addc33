"""The conventions every resource of the REST API follows, as reusable DRF pieces.

docs/architecture.md ("API") explains them for client developers; this is how a resource
uses them (see `mchis/people/api.py` for a complete example)::

    class PregnancyViewSet(ApiViewSet):
        audit_object_type = "maternal.pregnancy"

        @extend_schema(**schema_create(request=PregnancyCreateSerializer, response=PregnancySerializer))
        @idempotent
        def create(self, request):
            data = validated(PregnancyCreateSerializer, request)
            pregnancy = pregnancy_register(actor=request.user, **data)      # a service
            view = pregnancy_get(actor=request.user, pregnancy_id=pregnancy.pk, purpose=...)
            return resource_response(PregnancySerializer(view).data, version=view.version,
                                     status=201, location=self.detail_url(pregnancy.pk))

        @extend_schema(**schema_update(request=PregnancyUpdateSerializer, response=PregnancySerializer))
        def partial_update(self, request, pk=None):
            expected = if_match_version(request)                            # 428 when missing
            data = validated(PregnancyUpdateSerializer, request, partial=True)
            pregnancy_update(actor=request.user, pregnancy_id=pk, expected_version=expected, **data)
            ...                                                             # StaleVersion -> 412

* **Idempotent creation** (`idempotent`): a POST with `Idempotency-Key` (1-255 visible ASCII
  characters) is done once per (acting account, key): its first 2xx answer is stored
  (encrypted) for a day and a retry of the same request gets it back with
  `Idempotent-Replayed: true`; the same key with a different request is refused (422); two
  identical requests at once: one does the work, the other waits and replays it
  (`mchis/api/idempotency.py`).
* **Optimistic concurrency**: single-resource answers carry `ETag: "<version>"`
  (`resource_response`); PATCH/PUT must send it back in `If-Match` (`if_match_version`:
  428 when missing); the service compares it with the row locked in its write transaction and
  raises `mchis.access.errors.StaleVersion`, answered 412 with the current ETag.
* **Errors** (`exception_handler`): every client error is `{"detail": "...", "errors":
  {"<field or header>": ["message", ...]}}` (`errors` only where a field or header is at
  fault): DRF's ValidationError, Django's ValidationError raised by services (keyed by field,
  the rule in the message), JSON parse errors and the header problems above alike. Messages
  follow `Accept-Language` (Chinese by default).
* **Not found = not allowed**: `RecordNotFound` and `NotAllowed` both answer 404 with the same
  body (DESIGN "The one path", step 5); a write's header and body checks run inside
  `reach_first`, so a record the caller may not change is that 404 before any 428 or 400.
* **Withheld fields** (`RedactedSerializer`): a field above the actor's clearance is `null`
  and named in `withheld` (P17), never silently missing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from django.apps import apps
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_list_serializer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from mchis.access.errors import NotAllowed, RecordNotFound, StaleVersion
from mchis.access.policy import Withheld
from mchis.api.idempotency import (
    STORED_HEADERS,
    InProgress,
    KeyReused,
    idempotency_claim,
    idempotency_complete,
    request_fingerprint,
)
from mchis.audit.context import context_current
from mchis.audit.models import AuditAction
from mchis.audit.services import audit_denied, audit_record
from mchis.crypto.ids import id_parse
from mchis.maternal.errors import VersionConflict

IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENT_REPLAYED = "Idempotent-Replayed"
IF_MATCH = "If-Match"
ETAG = "ETag"
NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_ENTITY_TAG = re.compile(r'(W/)?"(\d{1,10})"|(\d{1,10})')


# --- errors ---------------------------------------------------------------------------------


class ApiProblem(APIException):
    """A client error about one field or header: answered as {"detail", "errors": {field: [...]}}."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    field: str = NON_FIELD

    def __init__(self, detail=None, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        if field is not None:
            self.field = field
        self.headers = headers or {}


class PreconditionRequired(ApiProblem):
    status_code = 428
    field = IF_MATCH
    default_detail = gettext_lazy(
        'This update needs an If-Match header with the ETag of the version it is based on (e.g. If-Match: "3").'
    )
    default_code = "precondition_required"


class PreconditionFailed(ApiProblem):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    field = IF_MATCH
    default_detail = gettext_lazy(
        "The record has changed since the version named in If-Match: read it again and reapply the change."
    )
    default_code = "precondition_failed"


class IdempotencyKeyInvalid(ApiProblem):
    status_code = status.HTTP_400_BAD_REQUEST
    field = IDEMPOTENCY_KEY
    default_detail = gettext_lazy("Idempotency-Key is 1 to 255 visible ASCII characters (no spaces).")
    default_code = "invalid"


class IdempotencyKeyReused(ApiProblem):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    field = IDEMPOTENCY_KEY
    default_detail = gettext_lazy(
        "This Idempotency-Key was used with a different request: use a new key for a new request."
    )
    default_code = "idempotency_key_reused"


class IdempotencyInProgress(ApiProblem):
    status_code = status.HTTP_409_CONFLICT
    field = IDEMPOTENCY_KEY
    default_detail = gettext_lazy("A request with this Idempotency-Key is still being processed: retry shortly.")
    default_code = "idempotency_in_progress"


def _flatten(detail: Any, path: str, out: dict[str, list[str]]) -> None:
    """DRF's nested error detail as {"field" | "parent.0.child": [messages]}."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key)
            if name in (NON_FIELD, NON_FIELD_ERRORS):
                sub = path
            else:
                sub = f"{path}.{name}" if path else name
            _flatten(value, sub, out)
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list | tuple):
                _flatten(item, f"{path}.{index}" if path else str(index), out)
            else:
                out.setdefault(path or NON_FIELD, []).append(str(item))
    else:
        out.setdefault(path or NON_FIELD, []).append(str(detail))


def _django_errors(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return exc.message_dict
    return {NON_FIELD: list(exc.messages)}


def _invalid(errors: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "detail": _("Invalid input: %(fields)s.") % {"fields": ", ".join(errors)},
        "errors": errors,
    }


def exception_handler(exc, context):
    """DRF's handler with the project's error shape (settings.REST_FRAMEWORK)."""
    if isinstance(exc, NotAllowed):
        # The same answer as a record that does not exist (DESIGN "The one path", step 5).
        exc = RecordNotFound()
    elif isinstance(exc, StaleVersion | VersionConflict):
        # The registry's and the maternal services' stale If-Match alike: 412 with the current ETag.
        exc = PreconditionFailed(headers={ETAG: etag(exc.current)})
    elif isinstance(exc, DjangoValidationError):
        exc = ValidationError(_django_errors(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        errors: dict[str, list[str]] = {}
        _flatten(exc.detail, "", errors)
        response.data = _invalid(errors)
    elif isinstance(exc, ParseError):
        response.data = {"detail": str(exc.detail), "errors": {NON_FIELD: [str(exc.detail)]}}
    elif isinstance(exc, ApiProblem):
        response.data = {"detail": str(exc.detail), "errors": {exc.field: [str(exc.detail)]}}
        for name, value in exc.headers.items():
            response[name] = value
    return response


# --- resources, versions, ETags ---------------------------------------------------------------


def etag(version: int) -> str:
    """The ETag of a record's version: a strong tag, the version number in quotes."""
    return f'"{int(version)}"'


def if_match_version(request) -> int:
    """The version named by the request's If-Match header.

    Missing (or `*`, which names no version): 428. Malformed or several tags: 400. A weak tag
    (W/"3") never matches under the strong comparison If-Match uses: 412.
    """
    value = (request.headers.get(IF_MATCH) or "").strip()
    if not value or value == "*":
        raise PreconditionRequired()
    match = _ENTITY_TAG.fullmatch(value)
    if match is None:
        raise ApiProblem(
            _('If-Match holds one ETag as sent in the ETag header, e.g. "3".'),
            field=IF_MATCH,
        )
    if match.group(1):
        raise PreconditionFailed()
    return int(match.group(2) or match.group(3))


def resource_response(data, *, version: int, status: int = 200, location: str | None = None) -> Response:
    """The answer for one resource: its representation with `ETag` (and `Location` for a 201)."""
    headers = {ETAG: etag(version)}
    if location:
        headers["Location"] = location
    return Response(data, status=status, headers=headers)


@contextmanager
def reach_first(*, actor, writable: Callable[[], bool], object_type: str, object_id):
    """Around a write's checks of its headers and body: on a record the caller may not change
    (absent, out of reach, or one it may only look at), the answer is the 404 of a record out
    of reach whatever else is wrong with the request, and the refusal is on the trail naming
    the record (P10), as when the service refuses it. A 428 or a 400 first would leave only
    the anonymous "API call" event. `writable` is asked on the error path only: a valid write
    pays nothing, and its service decides reach again on the locked row."""
    try:
        yield
    except (APIException, DjangoValidationError):
        if not writable():
            named = [str(pk)] if (pk := id_parse(object_id)) else []  # no request text on the trail
            audit_denied(
                actor=actor,
                object_type=object_type if named else "",
                object_ids=named,
                reason="not found, out of reach or not allowed",
            )
            raise RecordNotFound from None
        raise


def validated(serializer_class, request, *, partial: bool = False) -> dict:
    """The request body checked by an input serializer (ValidationError: 400 naming each field)."""
    if not isinstance(request.data, dict):
        raise ValidationError({NON_FIELD: [_("The request body must be a JSON object.")]})
    serializer = serializer_class(data=request.data, partial=partial)
    valid = serializer.is_valid()
    unknown = _unknown_fields(serializer, request.data)
    if unknown or not valid:
        # A misspelt or unsupported field would otherwise be dropped without a word, and the
        # client would believe it recorded (a visit's note, a changed phone number).
        errors = dict(serializer.errors)
        for name in unknown:
            errors[name] = [_("This API has no such field: check its name.")]
        raise ValidationError(errors)
    return serializer.validated_data


def _unknown_fields(serializer, data, path: str = "") -> list[str]:
    """The keys of `data`, nested ones as "babies.0.sex", that `serializer` does not take."""
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        name = f"{path}.{key}" if path else str(key)
        field = serializer.fields.get(key)
        if field is None:
            found.append(name)
        elif isinstance(field, serializers.ListSerializer) and isinstance(value, list):
            for index, item in enumerate(value):
                found += _unknown_fields(field.child, item, f"{name}.{index}")
        elif isinstance(field, serializers.Serializer):
            found += _unknown_fields(field, value, name)
    return found


class ApiAutoSchema(AutoSchema):
    """The schema class of the API (settings.REST_FRAMEWORK).

    Resources of `ApiViewSet` declare their answers with `extend_schema`; an answer is a JSON
    array only when it is declared as one (`many=True`), never because the action is called
    `list` (a lookup answers with an object: {"count", "results"}). Other views as usual.
    """

    def _is_list_view(self, serializer=None) -> bool:
        if not isinstance(self.view, ApiViewSet):
            return super()._is_list_view(serializer)
        if serializer is None:
            serializer = self.get_response_serializers()
        if isinstance(serializer, dict) and serializer:
            serializer = {str(code): s for code, s in serializer.items()}
            serializer = serializer[min(serializer)]
        return is_list_serializer(serializer)


class ApiViewSet(viewsets.ViewSet):
    """Base of the API's resources: a plain ViewSet that calls selectors and services.

    `audit_object_type`: the model label of the resource ("people.person"), recorded when a
    stored idempotent answer is replayed. Ids in URLs are matched loosely (`[^/]+`) so that a
    malformed id reaches the selector and gets the same 404 as any other id out of reach,
    rather than Django's HTML page.
    """

    audit_object_type: str = ""
    lookup_field = "pk"
    lookup_value_regex = "[^/]+"

    def detail_url(self, pk) -> str:
        return reverse(f"{self.basename}-detail", kwargs={"pk": pk})


# --- idempotent creation ----------------------------------------------------------------------


def _audit_restore(saved) -> None:
    """After a rollback: the request's audit events are gone, so forget having written them,
    and the reads of rows that are gone with them."""
    ctx = context_current()
    if ctx is not None and saved is not None:
        ctx.restore(saved)


class _Discard(Exception):
    def __init__(self, response):
        self.response = response


def idempotent(handler):
    """Make a view method (a POST that creates) idempotent under the `Idempotency-Key` header.

    Without the header the method runs as it is. With it, claim, work and stored answer are
    one transaction (`mchis/api/idempotency.py`): a 2xx answer is stored and replayed to every
    retry of the same request with `Idempotent-Replayed: true` (the replay is audited as a
    read of the object it shows); a non-2xx answer or an error rolls back everything, so the
    key may be used again. Audit events written by the work roll back with it; the API's
    call audit (`mchis.api.middleware`) then records the refused call.
    """

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(IDEMPOTENCY_KEY)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not _KEY.fullmatch(key):
            raise IdempotencyKeyInvalid()
        fingerprint = request_fingerprint(
            method=request.method,
            path=request.get_full_path(),
            content_type=request.content_type or "",
            body=request.body,
            data=request.data,
        )
        ctx = context_current()
        saved = ctx.mark() if ctx is not None else None
        try:
            with transaction.atomic():
                try:
                    record = idempotency_claim(owner=request.user, key=key, fingerprint=fingerprint)
                except KeyReused:
                    raise IdempotencyKeyReused() from None
                except InProgress:
                    raise IdempotencyInProgress() from None
                if record.status_code is not None:
                    return _replay(request, record, view=view, parent_id=kwargs.get("pk"))
                response = handler(view, request, *args, **kwargs)
                if not isinstance(response, Response):
                    raise TypeError(f"{handler.__qualname__}: an idempotent view answers with a DRF Response")
                if not 200 <= response.status_code < 300:
                    raise _Discard(response)
                content = JSONRenderer().render(response.data).decode()
                data = response.data if isinstance(response.data, dict) else {}
                idempotency_complete(
                    record=record,
                    status_code=response.status_code,
                    content=content,
                    headers={h: response[h] for h in STORED_HEADERS if h in response},
                    object_type=getattr(view, "audit_object_type", ""),
                    object_id=str(data.get("id") or ""),
                )
                return response
        except _Discard as discard:
            _audit_restore(saved)
            return discard.response
        except BaseException:
            _audit_restore(saved)
            raise

    return wrapper


def _replay(request, record, *, view, parent_id) -> HttpResponse:
    """The stored answer again, if its record is still within the caller's reach.

    A stored answer holds personal data; the credential may have lost its reach since (a
    transfer accepted elsewhere, a grant expired), so the policy is asked again, as a GET
    would: out of reach, the answer is the same 404 as for any record out of reach.
    """
    object_type = getattr(view, "audit_object_type", "") if (parent_id or record.object_id) else ""
    object_id = str(parent_id or record.object_id or "")
    if object_type and not _still_visible(request.user, object_type, object_id):
        audit_denied(actor=request.user, object_type=object_type, object_ids=[object_id], reason="idempotent replay")
        raise RecordNotFound
    stored = record.response
    response = HttpResponse(stored["content"], status=record.status_code, content_type="application/json")
    for name, value in stored["headers"].items():
        response[name] = value
    response[IDEMPOTENT_REPLAYED] = "true"
    audit_record(
        action=AuditAction.READ,
        actor=request.user,
        object_type=object_type,
        object_ids=[object_id] if object_type else [],
        reason="idempotent replay",
        extra={"idempotency_record": str(record.pk)},
    )
    return response


def _still_visible(actor, object_type: str, object_id: str) -> bool:
    model = apps.get_model(object_type)
    if not hasattr(model.objects, "visible_to"):
        return True
    try:
        return model.objects.visible_to(actor).filter(pk=object_id).exists()
    except (ValueError, TypeError, DjangoValidationError):
        return False


# --- representations ---------------------------------------------------------------------------


class RedactedSerializer(serializers.Serializer):
    """Output serializer of a selector's view object whose fields may be `WITHHELD` (P17).

    A withheld field is `null` and its name is listed in `withheld`; the view object must
    have a `withheld` list (as `mchis.people.selectors.PersonView` has).
    """

    withheld = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Fields above your clearance (P17): present as null, never silently missing.",
    )

    @classmethod
    def _readable_once(cls) -> list:
        """The class's readable fields, built and bound once per class.

        DRF deep-copies every declared field for each serializer instance, which on an API
        answer cost more than the representation itself. The fields of these serializers
        keep no per-call state and read no context (no method or hyperlinked fields), so one
        bound set serves every call; a subclass that needs the request's context must not
        derive from this class.
        """
        cached = cls.__dict__.get("_readable_cache")
        if cached is None:
            cached = list(cls()._readable_fields)
            cls._readable_cache = cached
        return cached

    def to_representation(self, instance):
        data = {}
        for field in self._readable_once():
            value = field.get_attribute(instance)
            data[field.field_name] = (
                None if value is None or isinstance(value, Withheld) else field.to_representation(value)
            )
        # Declared on this base class, so first among the fields; shown last, after them.
        data["withheld"] = data.pop("withheld")
        return data


# --- OpenAPI: the conventions in the schema ------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in the client's language (Accept-Language).")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=(
            "Each field (or header) at fault and the rules it breaks: "
            '{"document_number": ["the check character ... is wrong (GB 11643 ...)"]}; '
            '"non_field_errors" for the request as a whole.'
        ),
    )


class NotFoundSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="The same answer whether the record does not exist or is out of reach.")


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_KEY,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "1-255 visible ASCII characters chosen by the client (a UUID is a good choice), one per "
        "record to create. The first 2xx answer is kept for 24 hours: a retry of the same request "
        "with the same key gets it again (with Idempotent-Replayed: true) and creates nothing; "
        "the same key with a different request is refused (422). Strongly recommended."
    ),
)
IF_MATCH_PARAMETER = OpenApiParameter(
    IF_MATCH,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        'The ETag of the version this change is based on, as received (e.g. "3"). Missing: 428; '
        "no longer the current version: 412 and nothing changes."
    ),
)


def _etag_header(codes) -> OpenApiParameter:
    return OpenApiParameter(
        ETAG,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=codes,
        description='The version of the record, e.g. "3": send it back in If-Match to change the record.',
    )


def _replayed_header(codes) -> OpenApiParameter:
    return OpenApiParameter(
        IDEMPOTENT_REPLAYED,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=codes,
        description='"true" when this is the stored answer to an earlier request with the same Idempotency-Key.',
    )


ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input: each field at fault and its rule."),
    404: OpenApiResponse(NotFoundSerializer, description="Not found, or out of your reach (the same answer)."),
}


def schema_retrieve(*, response, description: str = "", parameters=()) -> dict:
    """`extend_schema` arguments of a GET of one resource (`parameters`: e.g. the path id)."""
    return {
        "description": description,
        "parameters": [*parameters, _etag_header([200])],
        "responses": {200: response, 404: ERROR_RESPONSES[404]},
    }


def schema_create(*, request, response, description: str = "", existing: str = "", parameters=()) -> dict:
    """`extend_schema` arguments of an idempotent POST. `existing`: when the create may answer
    200 with a record that exists already, what that means."""
    responses = {201: OpenApiResponse(response, description="Created.")}
    codes = [201]
    if existing:
        responses[200] = OpenApiResponse(response, description=existing)
        codes.append(200)
    responses.update(
        {
            **ERROR_RESPONSES,
            409: OpenApiResponse(ErrorSerializer, description="A request with this Idempotency-Key is in progress."),
            422: OpenApiResponse(ErrorSerializer, description="This Idempotency-Key was used with another request."),
        }
    )
    return {
        "description": description,
        "request": request,
        "parameters": [*parameters, IDEMPOTENCY_KEY_PARAMETER, _etag_header(codes), _replayed_header(codes)],
        "responses": responses,
    }


def schema_update(*, request, response, description: str = "", parameters=()) -> dict:
    """`extend_schema` arguments of a PATCH or PUT under If-Match."""
    return {
        "description": description,
        "request": request,
        "parameters": [*parameters, IF_MATCH_PARAMETER, _etag_header([200])],
        "responses": {
            200: response,
            **ERROR_RESPONSES,
            412: OpenApiResponse(ErrorSerializer, description="Stale If-Match: the record changed; nothing was done."),
            428: OpenApiResponse(ErrorSerializer, description="If-Match missing."),
        },
    }
