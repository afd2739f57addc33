"""Job-queue status shared by the worker's heartbeat task and the health check."""

from __future__ import annotations

import time

from huey.constants import EmptyData
from huey.contrib.djhuey import HUEY

HEARTBEAT_KEY = "mchis:worker-heartbeat"


def heartbeat_write() -> None:
    HUEY.storage.put_data(HEARTBEAT_KEY, str(time.time()).encode())


def jobs_status() -> dict:
    """Raises if the job store cannot be reached."""
    pending = HUEY.storage.queue_size()
    raw = HUEY.storage.peek_data(HEARTBEAT_KEY)
    last_seen = None if raw is EmptyData else float(raw)
    return {
        "backend": type(HUEY).__name__,
        "pending": pending,
        "worker_seen_seconds_ago": None if last_seen is None else round(time.time() - last_seen, 1),
    }
