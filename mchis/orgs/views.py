from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render

from mchis.orgs.models import InstitutionKind, RegionLevel
from mchis.orgs.selectors import institution_list_visible, region_children, region_subtree_counts


def mine(request):
    user = request.user
    institution = user.institution
    region = user.jurisdiction()
    return render(
        request,
        "orgs/mine.html",
        {
            "institution": institution,
            "chain": institution.region.ancestors(include_self=True) if institution else [],
            "assignments": user.active_roles(),
            "jurisdiction": region,
            "jurisdiction_counts": region_subtree_counts(region=region) if region else [],
        },
    )


def institutions(request):
    region = request.user.jurisdiction()
    if region is None:
        # Same answer as a page that does not exist: no hint of what lies behind it.
        raise Http404
    qs = institution_list_visible(actor=request.user)
    kind = request.GET.get("kind", "")
    if kind in InstitutionKind.values:
        qs = qs.filter(kind=kind)
    townships = region_children(region=region) if region.level == RegionLevel.COUNTY else []
    area = request.GET.get("area", "")
    chosen = next((t for t in townships if t.code == area), None)
    if chosen is not None:
        qs = qs.in_region(chosen)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "orgs/institutions.html",
        {
            "jurisdiction": region,
            "page": page,
            "kinds": InstitutionKind.choices,
            "kind": kind,
            "townships": townships,
            "area": area,
        },
    )
