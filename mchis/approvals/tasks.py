"""Periodic job of the approvals app: pending requests expire (DESIGN "Approvals")."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mchis.approvals.services import approvals_expire
from mchis.audit.context import audit_context


@db_periodic_task(crontab(minute="*/10"))
def approvals_expire_job() -> int:
    """Every ten minutes: a request past its time can no longer be decided, and its requester is told."""
    with audit_context(path="job:approvals_expire"):
        return approvals_expire()
