"""Periodic jobs of the accounts app."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from mchis.accounts.handover import handovers_due
from mchis.accounts.lifecycle import accounts_expire
from mchis.audit.context import audit_context


@db_periodic_task(crontab(minute="5"))
def accounts_lifecycle_job() -> dict[str, int]:
    """Disable accounts whose end date or handover leaving day has come (P29).

    Run every hour rather than once a day: huey's schedule runs in UTC, and an hourly run
    closes an account within the first hour of its day in any time zone. (Expired accounts
    are refused at login and signed out from the start of the day anyway: expiry.py.)
    """
    with audit_context(path="job:accounts_lifecycle"):
        return {"expired": accounts_expire(), "handed_over": handovers_due()}
