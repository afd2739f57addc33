import json
import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from mchis.audit.anchors import anchor_path
from mchis.audit.models import AuditSeal
from mchis.crypto.keyring import keys_init, keys_path
from mchis.demo.generator import DEFAULT_SEED, SIZES, demo_load, demo_plan
from mchis.orgs.models import Region


class Command(BaseCommand):
    help = "Load a deterministic synthetic county (or province) with an account for every role."

    def add_arguments(self, parser):
        parser.add_argument("--size", choices=list(SIZES), default="county")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--credentials-out", metavar="FILE", help="write the demo accounts as JSON (mode 0600)")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing (and succeed) when the database already holds data"
        )

    # The demo creates the key file when it is missing, so it runs before the key check can pass.
    requires_system_checks = []

    def handle(self, *args, size, seed, credentials_out, if_empty, **options):
        if keys_init(keys_path()):
            self.stdout.write(f"Created key file {keys_path()} (mode 0600).")
        if Region.objects.exists():
            if if_empty:
                self.stdout.write("The database already holds data; the demo was not loaded again.")
                return
            raise CommandError("The database already holds data; the demo loads into an empty database only.")
        anchor = anchor_path()
        if anchor.exists() and not AuditSeal.objects.exists():
            # The head of a trail whose database was deleted: the new trail starts afresh.
            moved = anchor.with_name(f"{anchor.name}.before-{time.strftime('%Y%m%d-%H%M%S')}")
            anchor.rename(moved)
            self.stdout.write(f"Moved the audit chain head of an earlier database aside: {moved}")
        plan = demo_plan(size, seed)
        credentials = demo_load(plan)
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded the synthetic demo ({size}, seed {seed}): {len(plan.regions)} regions, "
                f"{len(plan.institutions)} institutions, {len(credentials)} accounts."
            )
        )
        self.stdout.write(
            "ALL DATA IS SYNTHETIC. Demo accounts (username, password, TOTP secret of the second factor):"
        )
        for c in credentials:
            self.stdout.write(
                f"  {c['username']:<22} {c['password']}  {c['totp_secret']}  {c['role']:<18} {c['institution_name']}"
            )
        if credentials_out:
            write_private_json(Path(credentials_out), credentials)
            self.stdout.write(f"Credentials written to {credentials_out}")


def write_private_json(path: Path, data) -> None:
    """Create or replace `path` readable by its owner only; the secrets never sit world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=2)
    os.replace(tmp, path)
