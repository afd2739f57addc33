"""`/api/v1/persons/`: the person registry for facility systems (issue 5, item 8).

No listing (P11): a person is found by an exact identifier (ID number, or phone: at most a
family) or fetched by id. Every call goes through the registry's selectors and services,
which apply the policy (P15, P17) and write the audit trail (P10).
"""

from __future__ import annotations

import functools

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mchis.access.errors import NotAllowed
from mchis.access.purposes import Purpose, purpose_for
from mchis.api.conventions import (
    NON_FIELD,
    ApiViewSet,
    ErrorSerializer,
    idempotent,
    if_match_version,
    reach_first,
    resource_response,
    schema_create,
    schema_retrieve,
    schema_update,
    validated,
)
from mchis.people.selectors import person_find_by_document, person_find_by_phone, person_get, person_writable
from mchis.people.serializers import (
    PersonLookupSerializer,
    PersonRegisterSerializer,
    PersonSearchSerializer,
    PersonSerializer,
    PersonUpdateSerializer,
)
from mchis.people.services import person_register, person_update

PERSON_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The person's id.")
LOOKUP_DESCRIPTION = (
    "Find a person by an exact identifier: `document_number` (at most one person) or `phone` "
    "(at most 20: a family may share one). Exactly one of the two. There is no listing of the "
    "registry (P11). Identifiers in a URL can end up in proxy logs: prefer POST /persons/search/, "
    "which takes them in the body."
)


def _lookup(request, params) -> Response:
    document_number = (params.get("document_number") or "").strip()
    phone = (params.get("phone") or "").strip()
    if bool(document_number) == bool(phone):
        raise ValidationError({NON_FIELD: [_("Give exactly one of document_number and phone (there is no listing).")]})
    if document_number:
        found = person_find_by_document(
            actor=request.user, document_number=document_number, purpose=purpose_for(request.user)
        )
        views = [found] if found else []
    else:
        views = person_find_by_phone(actor=request.user, phone=phone, purpose=purpose_for(request.user))
    return Response({"count": len(views), "results": PersonSerializer(views, many=True).data})


class PersonViewSet(ApiViewSet):
    audit_object_type = "people.person"

    @extend_schema(
        operation_id="persons_lookup",
        description=LOOKUP_DESCRIPTION,
        parameters=[
            OpenApiParameter("document_number", OpenApiTypes.STR, description="Document (e.g. resident ID) number"),
            OpenApiParameter("phone", OpenApiTypes.STR, description="Phone number (digits; spaces, hyphens allowed)"),
        ],
        responses={200: PersonLookupSerializer, 400: ErrorSerializer},
    )
    def list(self, request):
        return _lookup(request, request.query_params)

    @extend_schema(
        operation_id="persons_search",
        description=(
            "The lookup of GET /persons/ with the identifier in the body, where no log records it: "
            "`document_number` (at most one person) or `phone` (at most 20). Exactly one of the two."
        ),
        request=PersonSearchSerializer,
        responses={200: PersonLookupSerializer, 400: ErrorSerializer},
    )
    @action(detail=False, methods=["post"])
    def search(self, request):
        return _lookup(request, validated(PersonSearchSerializer, request))

    @extend_schema(
        **schema_retrieve(
            response=PersonSerializer,
            description="One person, with fields above your clearance withheld (null, named in `withheld`).",
            parameters=[PERSON_ID],
        ),
    )
    def retrieve(self, request, pk=None):
        view = person_get(actor=request.user, person_id=pk, purpose=purpose_for(request.user))
        return resource_response(PersonSerializer(view).data, version=view.version)

    @extend_schema(
        **schema_create(
            request=PersonRegisterSerializer,
            response=PersonSerializer,
            description=(
                "Register a person at your institution. A person already registered in the county "
                "with this document number is not registered twice: she is linked to your "
                "institution and returned with 200 (201: a new record)."
            ),
            existing="Already registered in the county: the existing record, now linked to your institution.",
        )
    )
    @idempotent
    def create(self, request):
        data = validated(PersonRegisterSerializer, request)
        institution = request.user.institution
        if institution is None:
            raise NotAllowed  # an account without an institution registers nobody
        person, created = person_register(actor=request.user, institution=institution, **data)
        view = person_get(
            actor=request.user, person_id=person.pk, purpose=purpose_for(request.user, wanted=Purpose.REGISTRATION)
        )
        return resource_response(
            PersonSerializer(view).data,
            version=view.version,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            location=self.detail_url(person.pk),
        )

    @extend_schema(
        **schema_update(
            request=PersonUpdateSerializer,
            response=PersonSerializer,
            description="Change identifying fields. Send the ETag you last received in If-Match.",
            parameters=[PERSON_ID],
        )
    )
    def partial_update(self, request, pk=None):
        writable = functools.partial(person_writable, actor=request.user, person_id=pk)
        with reach_first(actor=request.user, writable=writable, object_type="people.person", object_id=pk):
            expected = if_match_version(request)
            changes = validated(PersonUpdateSerializer, request, partial=True)
            changes = {name: ("" if value is None else value) for name, value in changes.items()}
            person = person_update(actor=request.user, person_id=pk, expected_version=expected, **changes)
        view = person_get(actor=request.user, person_id=person.pk, purpose=purpose_for(request.user))
        return resource_response(PersonSerializer(view).data, version=view.version)
