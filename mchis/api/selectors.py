"""Reads about machine clients (for the console command; no personal data)."""

from __future__ import annotations

from django.db.models import QuerySet

from mchis.api.models import ApiClient


def apiclient_list(*, institution_code: str | None = None) -> QuerySet[ApiClient]:
    clients = ApiClient.objects.select_related("institution").order_by("institution__code", "created_at")
    if institution_code:
        clients = clients.filter(institution__code=institution_code)
    return clients
