"""Request context for the audit trail, and the audit of refusals no view sees.

Placed right after AuthenticationMiddleware and before the authorization matrix, so it wraps
every later middleware and view: services read the request's source IP, request id, path
and user agent from the context it sets, without being passed the request. It also collects
the request's reads and writes them as one event before the response leaves (P10: one event
per request, listing the ids shown).
"""

from __future__ import annotations

import ipaddress
import re
import uuid

from django.conf import settings

from mchis.audit.context import AuditContext, context_enter, context_exit
from mchis.audit.services import audit_denied, denials_settle, reads_collect, reads_flush

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _valid_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return ""


def source_ip(request) -> str:
    # Behind the TLS proxy (MCHIS_BEHIND_TLS_PROXY) the peer is the proxy; the client is the
    # address the proxy appended last to X-Forwarded-For. Earlier entries come from the
    # client and cannot be trusted. Without a proxy the header is ignored.
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return _valid_ip(forwarded.split(",")[-1])
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


def request_id(request) -> str:
    # A request id set by our own proxy links its log to the audit trail; otherwise make one.
    if settings.SECURE_PROXY_SSL_HEADER:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        if _REQUEST_ID.fullmatch(given):
            return given
    return uuid.uuid4().hex


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        ctx = AuditContext(
            source_ip=source_ip(request),
            request_id=request_id(request),
            path=request.path,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        reads_collect(ctx)
        token = context_enter(ctx)
        try:
            response = self.get_response(request)
            # Refusals a rollback took away, then the request's reads as one event, before the
            # response leaves: when it cannot be written, the error below replaces the
            # response and the data is not sent.
            denials_settle(ctx)
            reads_flush(ctx)
            if not ctx.denial_recorded:
                self._audit_refusal(request, response)
        finally:
            context_exit(token)
        response["X-Request-ID"] = ctx.request_id
        return response

    @staticmethod
    def _audit_refusal(request, response) -> None:
        user = getattr(request, "user", None)
        signed_in = bool(user is not None and user.is_authenticated)
        if response.status_code == 403:
            # PermissionDenied, DRF permission refusals, CSRF failures.
            audit_denied(actor=user if signed_in else None, reason="HTTP 403")
            return
        # Refusals by the authorization matrix are recorded where they are decided
        # (mchis.access.middleware); records out of reach by the selectors that refuse them.
