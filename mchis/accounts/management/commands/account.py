"""`mchis account create|set-password`: the accounts an installation needs before anyone can
sign in, and a new initial password for an account whose holder cannot sign in.

    mchis account create USERNAME --name 张三 --institution CODE --role security_admin
                         [--role …] [--expires-on YYYY-MM-DD]
    mchis account set-password USERNAME

Only the roles that start an installation are given here (`SETUP_ROLES`: the technical
administrators, MCH information officers, data custodians); every other account is requested
by its institution's custodian and approved (P29). The initial password is generated, shown
once, and must be changed at the first sign-in (P26), which then asks for an electronic key
(P28). Both are audited with the operating-system account that ran them.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from mchis.accounts.lifecycle import password_generate
from mchis.accounts.models import User
from mchis.accounts.passwords import password_set
from mchis.accounts.roles import Role
from mchis.accounts.services import SETUP_ROLES, account_setup
from mchis.audit.context import audit_context
from mchis.ops.commands import command_error, operator


class Command(BaseCommand):
    help = "Set up the first accounts of an installation, or give an account a new initial password."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create an account with set-up roles; prints its initial password")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="the holder's name")
        create.add_argument("--institution", required=True, metavar="CODE", help="the institution's code")
        create.add_argument(
            "--role",
            dest="roles",
            action="append",
            required=True,
            metavar="ROLE",
            help=f"a role at the institution, repeated for several: {', '.join(sorted(r.value for r in SETUP_ROLES))}",
        )
        create.add_argument(
            "--expires-on", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: the longest allowed)"
        )
        reset = sub.add_parser("set-password", help="a new initial password, to be changed at the next sign-in")
        reset.add_argument("username")

    def handle(self, *args, action, **options):
        getattr(self, "_" + action.replace("-", "_"))(**options)

    def _create(self, *, username, name, institution, roles, expires_on, **_options):
        expires_on = expires_on or timezone.localdate() + timedelta(days=settings.MCHIS_ACCOUNT_MAX_DAYS)
        try:
            with audit_context(path="command:account create"):
                user, password = account_setup(
                    username=username,
                    display_name=name,
                    institution_code=institution,
                    roles=roles,
                    expires_on=expires_on,
                    extra=operator(),
                )
        except ValidationError as exc:
            raise command_error(exc) from None
        labels = ", ".join(str(Role(r).label) for r in roles)
        ends = _("account expires on")
        self.stdout.write(f"{user.username} ({labels}, {user.institution.name}), {ends} {expires_on}")
        self._password(password)

    def _set_password(self, *, username, **_options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(_("no account has the username %(username)s") % {"username": username})
        password = password_generate()
        with audit_context(path="command:account set-password"):
            password_set(user=user, password=password, by=None, extra=operator())
        self.stdout.write(_("%(username)s: every session of the account has ended.") % {"username": username})
        self._password(password)

    def _password(self, password: str) -> None:
        self.stdout.write(
            _("Initial password (shown once; the holder changes it at the first sign-in): %(password)s")
            % {"password": password}
        )
