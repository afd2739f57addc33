"""`/api/v1/pregnancies/` and its sub-resources: maternal care for facility systems (issue 5,
item 8; network direct reporting).

Every call goes through the maternal selectors (reads: policy, redaction, audit) and services
(writes: validation, policy, one audited transaction). The conventions are the API's
(`mchis/api/conventions.py`):

* **Creation is idempotent** under `Idempotency-Key` (registration, visits, gradings, the
  delivery, postpartum visits).
* **Versions.** The episode's `version` is the ETag of the episode *and* of its
  sub-resources: every write to anything recorded in the episode moves it. A PATCH of the
  episode must send `If-Match` (428 without; 412 when stale, and nothing changes). Creating
  a sub-resource (a visit…) does not require it, because a new record changes nothing another
  client could have read; a client that wants the check sends `If-Match` and gets 412 when the
  episode moved since it read it. Write answers carry the new version as `ETag` and as
  `pregnancy_version`.
* **Validation**: impossible values are refused with 400 naming each field and its rule;
  unusual ones are accepted and listed in `warnings: [{field, message}]` of the answer.
* **Not found = not allowed**: an episode that does not exist and one out of the caller's reach
  (another institution's) get the same 404, also when a write's headers or body are wrong too
  (`_episode_first`): nothing is said about a request on an episode the caller may not change.
* **PMTCT results** (L5) are `null` and named in `withheld` below L5.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mchis.access.errors import NotAllowed, RecordNotFound
from mchis.access.policy import Withheld
from mchis.access.purposes import Purpose, purpose_for
from mchis.api.conventions import (
    ERROR_RESPONSES,
    IF_MATCH,
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
from mchis.maternal import selectors
from mchis.maternal.models import AntenatalVisit, Delivery, DeliveryBaby, PostpartumVisit, Pregnancy, RiskGrading
from mchis.maternal.serializers import (
    DeliveryCreateSerializer,
    DeliverySerializer,
    DeliveryWrittenSerializer,
    GradingCreateSerializer,
    GradingListSerializer,
    GradingSerializer,
    GradingWrittenSerializer,
    PostpartumVisitCreateSerializer,
    PostpartumVisitListSerializer,
    PostpartumVisitSerializer,
    PostpartumVisitWrittenSerializer,
    PregnancyPageSerializer,
    PregnancyRegisterSerializer,
    PregnancyRowSerializer,
    PregnancySerializer,
    PregnancyUpdateSerializer,
    PregnancyWrittenSerializer,
    VisitCreateSerializer,
    VisitListSerializer,
    VisitSerializer,
    VisitWrittenSerializer,
)
from mchis.maternal.services import (
    delivery_record,
    postpartum_visit_record,
    pregnancy_register,
    pregnancy_update,
    risk_grade,
    visit_record,
)

PREGNANCY_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The episode's id.")
IF_MATCH_OPTIONAL = OpenApiParameter(
    IF_MATCH,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        'Optional: the episode\'s ETag as last received (e.g. "3"). When sent and the episode has '
        "changed since, 412 and nothing is recorded."
    ),
)
CREATE_EXTRA_RESPONSES = {
    412: OpenApiResponse(ErrorSerializer, description="If-Match was sent and is stale: nothing was recorded."),
}
WRITE_NOTE = (
    " Impossible values are refused (400, each field and its rule); unusual ones are accepted and "
    "listed in `warnings`. The answer's ETag is the episode's new version."
)


def _warnings(items) -> list[dict[str, str]]:
    return [w.as_dict() for w in items]


def _created(data: dict, result) -> Response:
    """201 with the new record, the episode's new version (also as ETag) and any warnings."""
    body = {**data, "pregnancy_version": result.pregnancy_version, "warnings": _warnings(result.warnings)}
    return resource_response(body, version=result.pregnancy_version, status=status.HTTP_201_CREATED)


def _optional_if_match(request) -> int | None:
    """Sub-resource creation: If-Match is optional; when sent it is checked (412 when stale)."""
    if request.headers.get(IF_MATCH) is None:
        return None
    return if_match_version(request)


def _episode_first(request, pk):
    """A write's headers and body are judged only on an episode the caller may change."""
    return reach_first(
        actor=request.user,
        writable=lambda: selectors.pregnancy_writable(actor=request.user, pregnancy_id=pk),
        object_type=selectors.PREGNANCY,
        object_id=pk,
    )


def _int_param(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValidationError({name: [_("a whole number")]}) from None


def _record(model, obj, fields, actor, pregnancy: Pregnancy, **extra) -> selectors.RecordView:
    """A record just written, as the writer may see it (redacted at their clearance)."""
    return selectors.record_as_written(actor=actor, model=model, obj=obj, fields=fields, pregnancy=pregnancy, **extra)


class _Row:
    """A list row (`PregnancyRow`) as `RedactedSerializer` reads it."""

    def __init__(self, row: selectors.PregnancyRow):
        self._row = row
        self.gestational_days = row.gestational_age.days if row.gestational_age else None
        self.withheld = [n for n in ("name_masked", "document_masked") if isinstance(getattr(row, n), Withheld)]

    def __getattr__(self, name):
        return getattr(self._row, name)


def _with_fired(view):
    view.values["fired"] = view.extra.get("fired", [])
    return view


def _with_babies(view):
    view.values["babies"] = view.extra.get("babies", [])
    return view


class PregnancyViewSet(ApiViewSet):
    audit_object_type = "maternal.pregnancy"

    def _institution(self, request):
        institution = request.user.institution
        if institution is None:
            raise NotAllowed  # an account without an institution has no episodes of its own
        return institution

    def _get(self, request, pk, wanted=Purpose.CARE):
        return selectors.pregnancy_get(
            actor=request.user, pregnancy_id=pk, purpose=purpose_for(request.user, wanted=wanted)
        )

    # --- the episode ----------------------------------------------------------------------------

    @extend_schema(
        operation_id="pregnancies_list",
        description=(
            "Episodes of your institution, newest registration first, paged (`page`, `page_size` up "
            "to 100). The woman's name and document number are masked (P20): her full identity is "
            "read one person at a time from /api/v1/persons/{id}/."
        ),
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, description="From 1."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1-100 (20)."),
            OpenApiParameter("state", OpenApiTypes.STR, description="active, delivered, closed, ended, moved_out"),
            OpenApiParameter("township", OpenApiTypes.STR, description="A township's division code."),
        ],
        responses={200: PregnancyPageSerializer, 400: ErrorSerializer},
    )
    def list(self, request):
        page = selectors.pregnancy_list(
            actor=request.user,
            purpose=purpose_for(request.user),
            institution=self._institution(request),
            township=request.query_params.get("township") or None,
            state=request.query_params.get("state") or None,
            page=_int_param(request, "page", 1),
            page_size=_int_param(request, "page_size", selectors.PAGE_SIZE),
        )
        return Response(
            {
                "count": page.total,
                "page": page.page,
                "page_size": page.page_size,
                "pages": page.pages,
                "results": PregnancyRowSerializer([_Row(r) for r in page.items], many=True).data,
            }
        )

    @extend_schema(
        **schema_retrieve(
            response=PregnancySerializer,
            description="One episode; PMTCT results (L5) withheld below L5 (null, named in `withheld`).",
            parameters=[PREGNANCY_ID],
        )
    )
    def retrieve(self, request, pk=None):
        view = self._get(request, pk)
        return resource_response(PregnancySerializer(view).data, version=view.version)

    @extend_schema(
        **schema_create(
            request=PregnancyRegisterSerializer,
            response=PregnancyWrittenSerializer,
            description=(
                "Register a pregnancy (建册) at your institution. The woman is named by `person_id` or "
                "by her identity; a woman already in the county's registry is found by her document "
                "number, not registered twice (`person_created`: false)." + WRITE_NOTE
            ),
        )
    )
    @idempotent
    def create(self, request):
        data = validated(PregnancyRegisterSerializer, request)
        registration = pregnancy_register(actor=request.user, institution=self._institution(request), **data)
        view = self._get(request, registration.pregnancy.pk, Purpose.REGISTRATION)
        body = {
            **PregnancySerializer(view).data,
            "person_created": registration.person_created,
            "warnings": _warnings(registration.warnings),
        }
        return resource_response(
            body, version=view.version, status=status.HTTP_201_CREATED, location=self.detail_url(view.id)
        )

    @extend_schema(
        **schema_update(
            request=PregnancyUpdateSerializer,
            response=PregnancyWrittenSerializer,
            description=(
                "Correct the dating, obstetric history, height, pre-pregnancy weight or conditions. "
                "Send the ETag you last received in If-Match." + WRITE_NOTE
            ),
            parameters=[PREGNANCY_ID],
        )
    )
    def partial_update(self, request, pk=None):
        with _episode_first(request, pk):
            expected = if_match_version(request)
            changes = validated(PregnancyUpdateSerializer, request, partial=True)
            change = pregnancy_update(actor=request.user, pregnancy_id=pk, expected_version=expected, **changes)
        view = self._get(request, pk)
        body = {**PregnancySerializer(view).data, "warnings": _warnings(change.warnings)}
        return resource_response(body, version=view.version)

    # --- antenatal visits -------------------------------------------------------------------------

    @extend_schema(
        operation_id="pregnancies_visits_list",
        description="The antenatal visits of the episode, oldest first.",
        parameters=[PREGNANCY_ID],
        responses={200: VisitListSerializer, 404: ERROR_RESPONSES[404]},
    )
    @action(detail=True, methods=["get"], url_path="visits", url_name="visits")
    def visits(self, request, pk=None):
        views = selectors.visit_list(actor=request.user, pregnancy_id=pk, purpose=purpose_for(request.user))
        return _listing(VisitSerializer, views, pk, request)

    @extend_schema(
        operation_id="pregnancies_visits_create",
        **schema_create(
            request=VisitCreateSerializer,
            response=VisitWrittenSerializer,
            description="Record an antenatal visit; it fulfils the schedule contact whose window it falls in."
            + WRITE_NOTE,
            parameters=[PREGNANCY_ID, IF_MATCH_OPTIONAL],
        ),
    )
    @visits.mapping.post
    @idempotent
    def visit_create(self, request, pk=None):
        with _episode_first(request, pk):
            expected = _optional_if_match(request)
            data = validated(VisitCreateSerializer, request)
            result = visit_record(actor=request.user, pregnancy_id=pk, expected_version=expected, **data)
        visit = result.visit
        view = _record(AntenatalVisit, visit, selectors.VISIT_FIELDS, request.user, visit.pregnancy)
        return _created(VisitSerializer(view).data, result)

    # --- risk gradings ----------------------------------------------------------------------------

    @extend_schema(
        operation_id="pregnancies_risk_gradings_list",
        description="The five-colour gradings of the episode, oldest first, with the rules that fired.",
        parameters=[PREGNANCY_ID],
        responses={200: GradingListSerializer, 404: ERROR_RESPONSES[404]},
    )
    @action(detail=True, methods=["get"], url_path="risk-gradings", url_name="risk-gradings")
    def risk_gradings(self, request, pk=None):
        views = selectors.risk_grading_list(actor=request.user, pregnancy_id=pk, purpose=purpose_for(request.user))
        return _listing(GradingSerializer, [_with_fired(v) for v in views], pk, request)

    @extend_schema(
        operation_id="pregnancies_risk_gradings_create",
        **schema_create(
            request=GradingCreateSerializer,
            response=GradingWrittenSerializer,
            description=(
                "Grade the episode: the rules propose a colour from the recorded facts; without "
                "`colour` the proposal is confirmed, with a higher one `reason` is required. Orange, "
                "red or purple opens a high-risk case (`case_opened`)."
            ),
            parameters=[PREGNANCY_ID, IF_MATCH_OPTIONAL],
        ),
    )
    @risk_gradings.mapping.post
    @idempotent
    def risk_grading_create(self, request, pk=None):
        with _episode_first(request, pk):
            expected = _optional_if_match(request)
            data = validated(GradingCreateSerializer, request)
            result = risk_grade(actor=request.user, pregnancy_id=pk, expected_version=expected, **data)
        grading = result.grading
        view = _record(RiskGrading, grading, selectors.GRADING_FIELDS, request.user, grading.pregnancy)
        view.extra["fired"] = selectors.grading_rules_fired(grading=grading, values=view.values)
        case = result.high_risk_case
        body = {
            **GradingSerializer(_with_fired(view)).data,
            "pregnancy_version": result.pregnancy_version,
            "case_opened": result.case_opened,
            "high_risk_case_id": str(case.pk) if case is not None else None,
            "remarks": [str(r) for r in result.proposal.remarks],
        }
        return resource_response(body, version=result.pregnancy_version, status=status.HTTP_201_CREATED)

    # --- delivery ---------------------------------------------------------------------------------

    @extend_schema(
        operation_id="pregnancies_delivery_retrieve",
        description="The delivery with its babies (404 before it is recorded).",
        parameters=[PREGNANCY_ID],
        responses={200: DeliverySerializer, 404: ERROR_RESPONSES[404]},
    )
    @action(detail=True, methods=["get"], url_path="delivery", url_name="delivery")
    def delivery(self, request, pk=None):
        view = selectors.delivery_get(actor=request.user, pregnancy_id=pk, purpose=purpose_for(request.user))
        if view is None:
            raise RecordNotFound
        return resource_response(DeliverySerializer(_with_babies(view)).data, version=view.extra["pregnancy_version"])

    @extend_schema(
        operation_id="pregnancies_delivery_create",
        **schema_create(
            request=DeliveryCreateSerializer,
            response=DeliveryWrittenSerializer,
            description=(
                "Record the delivery. Every live-born baby becomes a child in the person registry "
                "linked to the mother (`babies[].child_id`); stillbirths are recorded without one." + WRITE_NOTE
            ),
            parameters=[PREGNANCY_ID, IF_MATCH_OPTIONAL],
        ),
    )
    @delivery.mapping.post
    @idempotent
    def delivery_create(self, request, pk=None):
        with _episode_first(request, pk):
            expected = _optional_if_match(request)
            data = validated(DeliveryCreateSerializer, request)
            data["babies"] = [dict(b) for b in data["babies"]]
            result = delivery_record(actor=request.user, pregnancy_id=pk, expected_version=expected, **data)
        # What was written, as the writer may see it, like every other creation: not read back,
        # since the write may have ended the writer's reach (a maternal death closes the episode
        # and ends a referral hospital's share), and a 404 after the commit would be retried.
        delivery = result.delivery
        p = delivery.pregnancy
        babies = [_record(DeliveryBaby, b, selectors.BABY_FIELDS, request.user, p) for b in result.babies]
        view = _record(Delivery, delivery, selectors.DELIVERY_FIELDS, request.user, p, babies=babies)
        return _created(DeliverySerializer(_with_babies(view)).data, result)

    # --- postpartum visits ------------------------------------------------------------------------

    @extend_schema(
        operation_id="pregnancies_postpartum_visits_list",
        description="The postpartum home visit and the 42-day check, oldest first.",
        parameters=[PREGNANCY_ID],
        responses={200: PostpartumVisitListSerializer, 404: ERROR_RESPONSES[404]},
    )
    @action(detail=True, methods=["get"], url_path="postpartum-visits", url_name="postpartum-visits")
    def postpartum_visits(self, request, pk=None):
        views = selectors.postpartum_visit_list(actor=request.user, pregnancy_id=pk, purpose=purpose_for(request.user))
        return _listing(PostpartumVisitSerializer, views, pk, request)

    @extend_schema(
        operation_id="pregnancies_postpartum_visits_create",
        **schema_create(
            request=PostpartumVisitCreateSerializer,
            response=PostpartumVisitWrittenSerializer,
            description=(
                "Record the postpartum home visit or the 42-day check, which closes the episode "
                "(`closed`)." + WRITE_NOTE
            ),
            parameters=[PREGNANCY_ID, IF_MATCH_OPTIONAL],
        ),
    )
    @postpartum_visits.mapping.post
    @idempotent
    def postpartum_visit_create(self, request, pk=None):
        with _episode_first(request, pk):
            expected = _optional_if_match(request)
            data = validated(PostpartumVisitCreateSerializer, request)
            result = postpartum_visit_record(actor=request.user, pregnancy_id=pk, expected_version=expected, **data)
        visit = result.visit
        view = _record(PostpartumVisit, visit, selectors.POSTPARTUM_FIELDS, request.user, visit.pregnancy)
        return _created({**PostpartumVisitSerializer(view).data, "closed": result.closed}, result)


def _listing(serializer, views, pk, request):
    """A sub-resource list: {"count", "pregnancy_version", "results"}, with the episode's ETag."""
    version = Pregnancy.objects.visible_to(request.user).filter(pk=pk).values_list("version", flat=True).first()
    body = {"count": len(views), "pregnancy_version": version, "results": serializer(views, many=True).data}
    response = resource_response(body, version=version or 0)
    return response
