"""`mchis apiclient create|revoke|list`: credentials of facility systems (network direct reporting).

    mchis apiclient create --institution CODE --role ROLE [--name N] [--expires-days D] [--json]
    mchis apiclient revoke CLIENT_ID
    mchis apiclient list [--institution CODE] [--json]

`create` prints the credential once (it is stored only as a hash) and how to send it; with
`--json` one object: {"client_id", "authorization", "expires_at", ...}, where `authorization`
is the exact value of the `Authorization` header. Creation and revocation are audited, with
the operating-system account that ran the command.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.accounts.roles import Role
from mchis.api.models import ApiClient
from mchis.api.selectors import apiclient_list
from mchis.api.services import CLIENT_ROLES, apiclient_create, apiclient_max_days, apiclient_revoke
from mchis.audit.context import audit_context
from mchis.ops.commands import command_error, operator
from mchis.orgs.models import Institution


class Command(BaseCommand):
    help = "Credentials of machine clients of the API (facility systems): create, revoke, list."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a client and print its credential (shown once)")
        create.add_argument("--institution", required=True, metavar="CODE", help="the institution's code")
        create.add_argument(
            "--role", required=True, choices=sorted(CLIENT_ROLES), help="the clinical role the client acts with"
        )
        create.add_argument("--name", default="", help="what the client is, e.g. the facility system's name")
        create.add_argument(
            "--expires-days",
            type=int,
            default=None,
            metavar="D",
            help="days until the credential expires (default and maximum: MCHIS_API_CLIENT_MAX_DAYS)",
        )
        create.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object")
        revoke = sub.add_parser("revoke", help="end a client's credential at once")
        revoke.add_argument("client_id", metavar="CLIENT_ID")
        listing = sub.add_parser("list", help="list clients with their state and last use")
        listing.add_argument("--institution", metavar="CODE", help="only this institution's clients")
        listing.add_argument("--json", dest="as_json", action="store_true", help="print JSON")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _create(self, *, institution, role, name, expires_days, as_json: bool, **_options):
        found = Institution.objects.select_related("region").filter(code=institution).first()
        if found is None:
            raise CommandError(_("no institution with code %(code)s") % {"code": institution})
        try:
            with audit_context(path="command:apiclient create"):
                made = apiclient_create(
                    institution=found, role=role, name=name, expires_days=expires_days, extra=operator()
                )
        except ValidationError as exc:
            raise command_error(exc) from None
        client = made.client
        if as_json:
            self.stdout.write(_dump(_as_dict(client) | {"authorization": made.authorization}))
            return
        self.stdout.write(
            self.style.SUCCESS(
                _("Created API client %(id)s for %(institution)s (%(role)s), valid until %(until)s.")
                % {
                    "id": client.pk,
                    "institution": found.name,
                    "role": Role(role).label,
                    "until": timezone.localtime(client.expires_at).strftime("%Y-%m-%d %H:%M"),
                }
            )
        )
        self.stdout.write(_("Send this header with every request (it is shown only now, keep it secret):"))
        self.stdout.write("")
        self.stdout.write(f"    Authorization: {made.authorization}")
        self.stdout.write("")
        self.stdout.write(_("For example:"))
        self.stdout.write(f"    curl -H 'Authorization: {made.authorization}' https://HOST/api/v1/")
        self.stdout.write(
            _("Revoke it with: mchis apiclient revoke %(id)s (longest validity: %(days)d days)")
            % {"id": client.pk, "days": apiclient_max_days()}
        )

    def _revoke(self, *, client_id, **_options):
        try:
            with audit_context(path="command:apiclient revoke"):
                client, changed = apiclient_revoke(client_id=client_id, extra=operator())
        except ApiClient.DoesNotExist:
            raise CommandError(_("no API client %(id)s") % {"id": client_id}) from None
        if changed:
            self.stdout.write(self.style.SUCCESS(_("Revoked API client %(id)s.") % {"id": client.pk}))
        else:
            self.stdout.write(_("API client %(id)s was revoked already.") % {"id": client.pk})

    def _list(self, *, institution, as_json: bool, **_options):
        clients = list(apiclient_list(institution_code=institution))
        if as_json:
            self.stdout.write(_dump([_as_dict(c) for c in clients]))
            return
        if not clients:
            self.stdout.write(_("No API clients."))
            return
        columns = [_("client id"), _("state"), _("institution"), _("role"), _("expires"), _("last used"), _("name")]
        self.stdout.write("\t".join(str(c) for c in columns))
        for c in clients:
            last = timezone.localtime(c.last_used_at).strftime("%Y-%m-%d %H:%M") if c.last_used_at else "-"
            self.stdout.write(
                "\t".join(
                    [
                        str(c.pk),
                        c.state(),
                        c.institution.code,
                        c.role,
                        timezone.localtime(c.expires_at).strftime("%Y-%m-%d"),
                        last,
                        c.name,
                    ]
                )
            )


def _as_dict(client: ApiClient) -> dict:
    return {
        "client_id": str(client.pk),
        "name": client.name,
        "institution": client.institution.code,
        "role": client.role,
        "state": client.state(),
        "created_at": client.created_at.isoformat(),
        "expires_at": client.expires_at.isoformat(),
        "revoked_at": client.revoked_at.isoformat() if client.revoked_at else None,
        "last_used_at": client.last_used_at.isoformat() if client.last_used_at else None,
    }


def _dump(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)
