"""OpenAPI descriptions drf-spectacular cannot derive by itself (loaded by ApiConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "mchis.api.authentication.ApiClientAuthentication"
    name = "apiClient"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "mchis_<client id>.<secret>",
            "description": (
                "Credentials of a machine client (a facility system), created with "
                "`mchis apiclient create --institution CODE --role ROLE`: send "
                "`Authorization: Bearer mchis_<client id>.<secret>` on every request. Bound to one "
                "institution and one clinical role; they expire and can be revoked at once. Five "
                "failures lock the client id and the source address for a while (P7)."
            ),
        }
