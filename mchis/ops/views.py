import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from mchis.ops.jobs import jobs_status

log = logging.getLogger(__name__)


@require_GET
def healthz(request):
    """Liveness for load balancers and monitoring: JSON, no personal data, no login."""
    body = {"status": "ok", "database": {"status": "ok", "vendor": connection.vendor}, "jobs": {"status": "ok"}}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        log.exception("health check: database unreachable")
        body["status"] = body["database"]["status"] = "error"
    try:
        body["jobs"].update(jobs_status())
    except Exception:
        log.exception("health check: job store unreachable")
        body["status"] = body["jobs"]["status"] = "error"
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)
