"""Periodic jobs of the API."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mchis.api.idempotency import idempotency_prune


@db_periodic_task(crontab(minute="17"))
def api_idempotency_prune_job() -> int:
    """Forget stored idempotent answers older than MCHIS_API_IDEMPOTENCY_HOURS (hourly)."""
    return idempotency_prune()
