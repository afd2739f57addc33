"""A separate process for the kill-and-resume test of `keys rotate` (and for measuring its rate).

    python -m tests.crypto.rotation_script setup ROWS   # migrate, create the sample table, fill it
    python -m tests.crypto.rotation_script rotate BATCH # `keys rotate --batch-size BATCH`
    python -m tests.crypto.rotation_script report       # JSON: key file state, key ids in use, checks

The environment names the database (DATABASE_URL, a file SQLite database), the data dir and
the key file. The sample model is declared here, in the installed `crypto` app, so the real
command discovers it through `apps.get_models()` like any model; it exists only in this
process and its table only in that database.
"""

from __future__ import annotations

import json
import os
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mchis.settings")
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import connection, models

    from mchis.crypto.fields import BlindIndexField, EncryptedTextField, blind_lookup
    from mchis.crypto.ids import uuid7
    from mchis.crypto.keyring import keyring, keys_init, keys_path

    class RotationSample(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
        secret = EncryptedTextField()
        code = EncryptedTextField(null=True)
        code_bidx = BlindIndexField(source="code")

        class Meta:
            app_label = "crypto"
            db_table = "crypto_rotation_sample"
            indexes = [models.Index(fields=["code_bidx"], name="crypto_rotation_sample_code")]

        def __str__(self) -> str:
            return f"sample {self.pk}"

    action = argv[0]
    if action == "setup":
        rows = int(argv[1])
        keys_init(keys_path())
        call_command("migrate", run_syncdb=True, verbosity=0)
        with connection.schema_editor() as editor:
            editor.create_model(RotationSample)
        RotationSample.objects.bulk_create(
            (RotationSample(secret=f"secret {i}", code=f"C{i:07d}" if i % 10 else None) for i in range(rows)),
            batch_size=2000,
        )
    elif action == "rotate":
        call_command("keys", "rotate", "--batch-size", argv[1])
    elif action == "report":
        ring = keyring()
        kids: dict[str, int] = {}
        wrong = 0
        for pk, secret, code, bidx in RotationSample.objects.values_list("pk", "secret", "code", "code_bidx"):
            for value in (secret, code):
                if value is not None:
                    kids[value.key_id] = kids.get(value.key_id, 0) + 1
            if bidx is not None:
                kids["bidx " + bidx.split(":", 1)[0]] = kids.get("bidx " + bidx.split(":", 1)[0], 0) + 1
            i = int(secret.decrypt(pk=pk).removeprefix("secret "))
            if code is not None and code.decrypt(pk=pk) != f"C{i:07d}":
                wrong += 1
        found = RotationSample.objects.filter(**blind_lookup(RotationSample, "code_bidx", "C0000007")).count()
        report = {"active": ring.active.kid, "rotating_from": ring.rotating_from, "kids": kids}
        report |= {"wrong": wrong, "found": found}
        sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
