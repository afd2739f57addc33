"""Read-only REST resources of the jurisdiction tree.

Division codes are public (GB/T 2260), so any signed-in client may list regions; the list of
institutions is internal and scoped by `institution_list_visible`.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets

from mchis.orgs.models import Region
from mchis.orgs.selectors import institution_list_visible
from mchis.orgs.serializers import InstitutionSerializer, RegionSerializer


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("parent", OpenApiTypes.STR, description="Division code of the parent region"),
            OpenApiParameter("level", OpenApiTypes.INT, description="0 nation … 5 village"),
        ]
    )
)
class RegionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RegionSerializer
    lookup_field = "code"

    def get_queryset(self):
        qs = Region.objects.select_related("parent").order_by("path")
        params = self.request.query_params
        if parent := params.get("parent"):
            qs = qs.filter(parent__code=parent)
        if (level := params.get("level", "")).isdigit():
            qs = qs.filter(level=int(level))
        return qs


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("kind", OpenApiTypes.STR, description="Institution kind")]),
    # The queryset depends on the caller, so the schema generator cannot derive the type.
    retrieve=extend_schema(
        parameters=[OpenApiParameter("code", OpenApiTypes.STR, OpenApiParameter.PATH, description="Institution code")]
    ),
)
class InstitutionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = InstitutionSerializer
    lookup_field = "code"

    def get_queryset(self):
        qs = institution_list_visible(actor=self.request.user).order_by("code")
        if kind := self.request.query_params.get("kind"):
            qs = qs.filter(kind=kind)
        return qs
