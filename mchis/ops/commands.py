"""Shared by the management commands: who ran them, and which models may travel as fixtures.

Commands run outside any web request and so without a signed-in user; the operating-system
account that ran them is what their audit events can name (`operator`).

Django's `dumpdata` and `loaddata` read and write through the models' base managers, outside
the policy, the services and the audit path, and `dumpdata` writes decrypted values (fields
decrypt on access). Left as they come, `mchis dumpdata --all people` would print every
woman's ID number and `mchis dumpdata accounts` every electronic key's secret (P11: no bulk
download outside approved exports; P16: nothing leaves without approval; P28). So both
commands move only reference data, the models named in FIXTURE_MODELS, and refuse the rest
by name. Personal and health records leave the system through approved exports; credentials,
sessions and the audit trail not at all; a backup copies the whole database, which holds
them encrypted.
"""

from __future__ import annotations

import getpass

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db.models import Model
from django.utils.translation import gettext as _

from mchis.audit.context import audit_context
from mchis.audit.services import audit_denied, audit_record

# Reference data: no person, no health record, no credential, session or audit event. A new
# model is refused until it is added here (deny by default).
FIXTURE_MODELS = frozenset(
    {
        "contenttypes.contenttype",
        "auth.permission",
        "auth.group",
        "orgs.region",
        "orgs.institution",
        "accounts.securityagreement",
        "accounts.institutionnetwork",
        "maternal.riskruletable",
        "maternal.riskrule",
    }
)


# Every management command the installation offers, with why it cannot reach protected data,
# accounts or the audit trail behind the policy, the services and the audit path (like the
# authorization matrix for URLs: tests/ops/test_commands.py fails on a command not listed,
# such as one a new dependency brings).
COMMANDS: dict[str, str] = {
    # The project's own: each goes through the services and is audited.
    "access-review": "the access review, read-only, through accounts.review",
    "account": "first accounts and new initial passwords through the account services, audited",
    "apiclient": "API credentials through api.services, audited",
    "audit": "seal and verify the trail, audited",
    "demo": "loads synthetic data through the services, into an empty database",
    "keys": "key file and rotation (crypto.rotation), audited",
    "risk-table": "risk rule tables through maternal.risk, audited",
    "serve": "the demo's server and worker",
    # Django's, replaced or guarded by the project.
    "changepassword": "replaced: refused, see `account set-password`",
    "createsuperuser": "replaced: refused, see `account create`",
    "dumpdata": "replaced: reference data only (FIXTURE_MODELS), audited",
    "loaddata": "replaced: reference data only (FIXTURE_MODELS), audited",
    "flush": "replaced: test databases only (audit.guards)",
    "migrate": "guarded: audit migrations are not unapplied outside test databases (audit.guards)",
    # Django's and its apps', which touch no row of data.
    "check": "system checks",
    "clearsessions": "deletes expired sessions only",
    "collectstatic": "static files",
    "compilemessages": "translations",
    "create_huey_tables": "the job queue's tables",
    "createcachetable": "cache tables (none configured)",
    "diffsettings": "prints settings to the operator, who can read them anyway",
    "findstatic": "static files",
    "generateschema": "the API's schema",
    "inspectdb": "table definitions only",
    "makemessages": "translations",
    "makemigrations": "migration files",
    "optimizemigration": "migration files",
    "remove_stale_contenttypes": "content types of removed models",
    "run_huey": "the job worker: jobs call the services",
    "runserver": "the development server: requests take the one path",
    "sendtestemail": "a test e-mail",
    "showmigrations": "migration state",
    "spectacular": "the API's schema",
    "sqlflush": "prints SQL, runs nothing",
    "sqlmigrate": "prints SQL, runs nothing",
    "sqlsequencereset": "prints SQL, runs nothing",
    "squashmigrations": "migration files",
    "startapp": "creates source files",
    "startproject": "creates source files",
    "test": "Django's runner: on a test database",
    "testserver": "a server on a test database",
    # The operator's own access, outside the application by nature.
    "dbshell": "the database's own client: the database's accounts and logs govern it",
    "shell": "a Python prompt on the server: the operating system's accounts govern it",
}


def command_error(exc: ValidationError) -> CommandError:
    """A service's ValidationError as a command's error, each field with its rule."""
    return CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))


def operator() -> dict:
    """The operating-system account running the command, for its audit event's metadata."""
    try:
        return {"os_user": getpass.getuser()}
    except (KeyError, OSError):
        return {}


def fixture_models(labels, excludes=()) -> list[type[Model]]:
    """The models `dumpdata LABEL…` selects (every model when no label is given), less those
    `--exclude` names, as Django's dumpdata selects them: `app` or `app.Model`."""
    chosen: dict[type[Model], None] = {}
    for label in labels or [c.label for c in apps.get_app_configs()]:
        try:
            if "." in label:
                app_label, model_name = label.split(".", 1)
                chosen.update(dict.fromkeys([apps.get_app_config(app_label).get_model(model_name)]))
            else:
                chosen.update(dict.fromkeys(apps.get_app_config(label).get_models()))
        except LookupError as exc:
            raise CommandError(str(exc)) from None
    excluded = set()
    for label in excludes:
        try:
            if "." in label:
                excluded.add(apps.get_model(label))
            else:
                excluded.update(apps.get_app_config(label).get_models())
        except (LookupError, ValueError) as exc:
            raise CommandError(str(exc)) from None
    return [m for m in chosen if m not in excluded and not m._meta.proxy]


def fixtures_refused(models) -> list[str]:
    """The labels of the models in `models` that may not travel as fixtures."""
    return sorted({m._meta.label_lower for m in models} - FIXTURE_MODELS)


def fixtures_refuse(refused: list[str], *, command: str) -> CommandError:
    """Record the refusal (call it outside any transaction that may roll back) and return the
    error that names each refused model and says where such data goes instead."""
    with audit_context(path=f"command:{command}"):
        audit_denied(reason=f"{command}: not reference data", extra={**operator(), "models": refused})
    return CommandError(
        _(
            "%(models)s: not reference data. Fixtures carry only %(allowed)s. Personal and health records "
            "leave the system only through an approved export (P11, P16); credentials, sessions and the "
            "audit trail not at all; back up the whole database instead, which holds them encrypted."
        )
        % {"models": ", ".join(refused), "allowed": ", ".join(sorted(FIXTURE_MODELS))}
    )


def fixtures_moved(*, command: str, action: str, models, **extra) -> None:
    """The audit event of a dump or load that went through."""
    with audit_context(path=f"command:{command}"):
        audit_record(
            action=action,
            reason=f"{command}: reference data",
            extra={**operator(), "models": sorted(m._meta.label_lower for m in models), **extra},
        )
