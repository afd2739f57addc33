"""Sealing the audit trail every few seconds (DESIGN "Audit").

huey's periodic tasks run at most once a minute, and a task that loops for a minute would
hold a worker (with `mchis serve`'s single worker, every other job would wait). So the
sealer is a short task that schedules its own next run SEAL_INTERVAL seconds later; huey's
scheduler wakes every second, so a run follows about every five seconds. A once-a-minute
watchdog restarts the chain when no run has been seen for a while (first start, or a
scheduled run lost with a crashed worker's memory store). Each chain carries a generation
token: a restart makes every older chain stop at its next run, so chains never multiply.
Running two sealers at once is harmless anyway: the seal number is unique, the second stops.
"""

from __future__ import annotations

import logging
import time
import uuid

from huey import crontab
from huey.constants import EmptyData
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from mchis.audit.context import audit_context
from mchis.audit.services import audit_seal

log = logging.getLogger(__name__)

SEAL_INTERVAL = 5
GENERATION_KEY = "mchis:audit-seal-generation"
LAST_RUN_KEY = "mchis:audit-seal-last-run"
STALE_AFTER = 4 * SEAL_INTERVAL


def _peek(key: str) -> str | None:
    raw = HUEY.storage.peek_data(key)
    return None if raw is EmptyData else raw.decode()


@db_task()
def audit_seal_tick(generation: str) -> int:
    """Seal what is pending, then schedule the next run of this chain."""
    if _peek(GENERATION_KEY) != generation:
        return 0
    sealed = 0
    try:
        with audit_context(path="job:audit_seal"):
            sealed = sum(seal.count for seal in audit_seal())
    except Exception:
        # Keep the chain alive: the next run retries, and `audit verify` reports what is unsealed.
        log.exception("audit sealing failed")
    finally:
        HUEY.storage.put_data(LAST_RUN_KEY, str(time.time()).encode())
        audit_seal_tick.schedule((generation,), delay=SEAL_INTERVAL)
    return sealed


@db_periodic_task(crontab(minute="*"))
def audit_seal_watchdog() -> bool:
    """Start a sealing chain when none has run recently. Returns whether it started one."""
    last = _peek(LAST_RUN_KEY)
    if last is not None and time.time() - float(last) < STALE_AFTER:
        return False
    generation = uuid.uuid4().hex
    HUEY.storage.put_data(GENERATION_KEY, generation.encode())
    audit_seal_tick(generation)
    return True
