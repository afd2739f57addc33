"""Every API call is on the audit trail (P10).

Selectors and services record what a call read or changed, and refusals are recorded where
they are decided. A call that recorded nothing of the kind (a read of regions, a validation
error, a stale If-Match, a refused role) gets one event here, naming the method and status,
so that the trail shows every call of every client. Calls without any credential are not
recorded (as a page asked for without signing in); refused credentials are, by the
credential check (mchis.api.services).

Placed right after `AuditContextMiddleware`, inside its request context.
"""

from __future__ import annotations

from mchis.audit.context import context_current
from mchis.audit.models import AuditAction, AuditOutcome
from mchis.audit.services import audit_record, denials_settle

API_PREFIX = "/api/"
_ACTIONS = {
    "GET": AuditAction.READ,
    "HEAD": AuditAction.READ,
    "OPTIONS": AuditAction.READ,
    "POST": AuditAction.CREATE,
    "PUT": AuditAction.UPDATE,
    "PATCH": AuditAction.UPDATE,
    "DELETE": AuditAction.DELETE,
}


class ApiCallAuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            self._record(request, response)
        return response

    @staticmethod
    def _record(request, response) -> None:
        user = getattr(request, "user", None)
        ctx = context_current()
        if ctx is not None:
            # A refusal that rolled back with the refused work is written again first, so
            # that the call is recorded by it and not by a generic event below.
            denials_settle(ctx)
        if user is None or not user.is_authenticated or ctx is None or ctx.denial_recorded:
            return
        code = response.status_code
        if code < 400 and ctx.recorded:
            return
        client = getattr(request, "machine_client", None)
        extra = {"method": request.method, "status": code}
        if client is not None:
            extra["client"] = str(client.pk)
        if code in (403, 404):
            audit_record(action=AuditAction.DENY, actor=user, reason=f"HTTP {code}", extra=extra)
        else:
            audit_record(
                action=_ACTIONS.get(request.method, AuditAction.READ),
                actor=user,
                outcome=AuditOutcome.OK if code < 400 else AuditOutcome.FAILED,
                reason=f"API call: HTTP {code}",
                extra=extra,
            )
