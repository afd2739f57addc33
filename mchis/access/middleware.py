import logging

from django.contrib.auth.views import redirect_to_login
from django.http import Http404

from mchis.access.matrix import URL_RULES
from mchis.audit.services import audit_denied

log = logging.getLogger(__name__)


class AuthorizationMatrixMiddleware:
    """Applies `URL_RULES` before any view runs.

    A URL missing from the matrix answers 404 to everyone: a forgotten entry closes the
    page instead of opening it. A signed-in user without the role gets the same 404 as for
    a page that does not exist.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        rule = URL_RULES.get(match.view_name) if match else None
        user = request.user if request.user.is_authenticated else None
        if rule is None:
            log.error("URL %s (%s) has no rule in the authorization matrix", request.path, match and match.view_name)
            audit_denied(actor=user, reason="no rule in the authorization matrix", extra={"view": match.view_name})
            raise Http404
        if rule.api or rule.admits(request.user):
            return None
        if user is None:
            # Asked to sign in, not refused.
            return redirect_to_login(request.get_full_path())
        audit_denied(actor=user, reason="role required", extra={"view": match.view_name})
        raise Http404
