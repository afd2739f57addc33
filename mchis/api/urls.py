from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from mchis.maternal.api import PregnancyViewSet
from mchis.orgs.api import InstitutionViewSet, RegionViewSet
from mchis.people.api import PersonViewSet

router = DefaultRouter()
router.root_view_name = "api-root"
router.register("regions", RegionViewSet, basename="region")
router.register("institutions", InstitutionViewSet, basename="institution")
router.register("persons", PersonViewSet, basename="person")
router.register("pregnancies", PregnancyViewSet, basename="pregnancy")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The "split" view serves its start-up script as a file, so the strict CSP holds.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include(router.urls)),
]
