"""The authorization matrix, enforced for API routes (mchis/access/matrix.py).

Web pages are checked by `AuthorizationMatrixMiddleware` before the view runs; API routes
authenticate inside DRF (sessions or machine credentials), so their rule is checked here,
after authentication. A route without a rule is refused (fail closed). A signed-in caller
without the role gets 403, which the audit middleware records as a denial.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from mchis.access.matrix import URL_RULES


class MatrixPermission(BasePermission):
    message = _("Your role does not give access to this resource.")

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        match = request.resolver_match
        rule = URL_RULES.get(match.view_name) if match is not None else None
        return rule is not None and rule.admits(user)
