"""Login gates: what a signed-in person must do before anything else is reachable.

A password alone opens a session that reaches nothing but the gates. Each gate is a
function `gate(request) -> Gate | None`, listed in order in `settings.MCHIS_GATES`; the first
that returns a `Gate` holds the request: a page is redirected to the gate's page, an API
call gets 403 with the gate's message. The gate's own pages stay reachable (`Gate.pages`),
and so do logging out, switching language and the health check. So a user with an expired
password, no second factor, an unverified session or an unaccepted agreement sees no data
(P18, P26, P28), and each gate is one small function with its own tests.

Machine clients of the API (bound to an institution and role, no browser) do not pass
through gates; they are marked with `request.machine_client`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

# Reachable whatever gate holds the user.
ALWAYS_OPEN = frozenset({"logout", "set_language", "healthz", "login"})


@dataclass(frozen=True)
class Gate:
    # Where the user goes to pass this gate.
    url_name: str
    # Shown on API refusals and in logs.
    message: str
    # URL names reachable while this gate holds the user (the gate page itself by default).
    pages: frozenset[str] = field(default_factory=frozenset)

    def admits(self, view_name: str) -> bool:
        return view_name == self.url_name or view_name in self.pages


class AccountGateMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    @cached_property
    def gates(self):
        return [import_string(path) for path in settings.MCHIS_GATES]

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or getattr(request, "machine_client", None):
            return None
        match = request.resolver_match
        view_name = match.view_name if match else ""
        if view_name in ALWAYS_OPEN:
            return None
        for check in self.gates:
            gate = check(request)
            if gate is None:
                continue
            if gate.admits(view_name):
                return None
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": str(gate.message), "gate": gate.url_name}, status=403)
            return redirect(gate.url_name)
        return None
