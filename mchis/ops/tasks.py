from huey import crontab
from huey.contrib.djhuey import periodic_task

from mchis.ops.jobs import heartbeat_write


@periodic_task(crontab(minute="*"))
def worker_heartbeat():
    """Lets /healthz tell whether a worker is running."""
    heartbeat_write()
