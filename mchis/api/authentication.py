"""DRF authentication of machine clients: `Authorization: Bearer mchis_<client id>.<secret>`.

Listed before session authentication (settings.REST_FRAMEWORK), so an API call without
credentials is answered 401 with `WWW-Authenticate: Bearer realm="mchis"`. A request
carrying a Bearer credential is decided by it alone: a refused credential is a 401, never a
fall-back to a browser session. The request is marked `request.machine_client`; the login
gates (second factor, agreement, password: mchis.accounts.gates) are for people and do not
apply to it.
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from mchis.api.credentials import SCHEME
from mchis.api.services import CredentialRefused, apiclient_authenticate
from mchis.audit.middleware import source_ip


class ApiClientAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None
        scheme, _sep, token = header.partition(b" ")
        if scheme.lower() != SCHEME.lower().encode():
            return None
        try:
            text = token.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        try:
            client = apiclient_authenticate(token=text, source_ip=source_ip(request._request))
        except CredentialRefused as refused:
            raise AuthenticationFailed(refused.message) from None
        request._request.machine_client = client
        return client.user, client

    def authenticate_header(self, request) -> str:
        return f'{SCHEME} realm="mchis"'
