from __future__ import annotations

import datetime as dt
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import signals

from mchis.crypto import rotation
from mchis.crypto.fields import DecryptionError, blind_lookup
from mchis.crypto.keyring import KeyRing, keyring, keyring_reset, keys_write
from mchis.crypto.rotation import RotationError, keys_rotate
from tests.crypto.helpers import RESULTS, column, set_column
from tests.crypto.models import TABLES, Contact, Patient

ENCRYPTED = ("name", "nickname", "born", "results", "id_number", "phone")
INDEXES = ("id_number_bidx", "phone_bidx")


def populate(n: int = 25) -> list[Patient]:
    people = [
        Patient(
            name=f"患者{i}",
            nickname=None if i % 3 == 0 else f"n{i}",
            born=dt.date(1990, 1, 1) + dt.timedelta(days=i),
            results=RESULTS if i % 2 else None,
            id_number=f"11010119900101{i:03d}x" if i % 4 else None,
            phone=f"1380000{i:04d}",
        )
        for i in range(n)
    ]
    Patient.objects.bulk_create(people)
    Contact.objects.bulk_create([Contact(phone=f"1380000{i:04d}") for i in range(5)])
    return people


def kids_in_use(model=Patient, fields=ENCRYPTED + INDEXES) -> set[str]:
    kids = set()
    for row in model.objects.values_list(*fields):
        for value in row:
            if value is None:
                continue
            kids.add(value.key_id if hasattr(value, "key_id") else value.split(":", 1)[0])
    return kids


def found(phone: str) -> bool:
    return Patient.objects.filter(**blind_lookup(Patient, "phone_bidx", phone)).exists()


def rotate(**kwargs):
    return keys_rotate(models=TABLES, settle_seconds=0, **kwargs)


def test_rotation_re_encrypts_every_value_and_recomputes_every_index(tables, keyfile):
    people = populate()
    assert kids_in_use() == {"k1"}
    before_tokens = {p.pk: column(Patient, "name", p.pk) for p in people}

    result = rotate(batch_size=7)

    assert (result.old_kid, result.new_kid, result.complete, result.resumed) == ("k1", "k2", True, False)
    assert result.rewritten == len(people) + 5
    assert kids_in_use() == {"k2"}
    assert kids_in_use(Contact, ("phone", "phone_bidx")) == {"k2"}
    assert all(column(Patient, "name", p.pk) != before_tokens[p.pk] for p in people)
    data = keyfile.data()
    assert (data["active"], data["rotating_from"]) == ("k2", None)
    assert "retired" in data["keys"]["k1"]
    for i, p in enumerate(Patient.objects.order_by("pk")):
        assert p.pk == people[i].pk
        assert (p.name, p.nickname, p.born, p.results, p.id_number) == (
            people[i].name,
            people[i].nickname,
            people[i].born,
            people[i].results,
            people[i].id_number,
        )
    assert found("13800000007")
    assert Patient.objects.filter(**blind_lookup(Patient, "id_number_bidx", "11010119900101005X")).count() == 1


HOLD_THE_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_a_second_rotation_while_one_runs_is_refused_and_changes_nothing(tables, keyfile):
    """Two at once would each add a `k2` with its own secret, and one secret would be lost
    with the values already under it: the second is refused at once, whatever process runs it."""
    populate(5)
    before = keyfile.path.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_LOCK, f"{keyfile.path}.lock"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RotationError, match="another `keys rotate` is running"):
            rotate()
        assert keyfile.path.read_bytes() == before and kids_in_use() == {"k1"}
    finally:
        holder.kill()
        holder.wait()
    # The lock goes with the process that held it, however it ended.
    assert rotate().complete and kids_in_use() == {"k2"}
    assert [p.name for p in keyfile.path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_rotation_can_change_the_suite(tables, keyfile):
    populate(5)
    rotate(suite="gm")
    assert keyfile.data()["keys"]["k2"]["suite"] == "gm"
    assert {column(Patient, "name", p.pk).split(":")[0] for p in Patient.objects.all()} == {"gm"}
    assert [p.name for p in Patient.objects.order_by("pk")] == [f"患者{i}" for i in range(5)]
    assert found("13800000003")


def test_lookups_work_during_and_after_a_rotation_stopped_half_way(tables, keyfile):
    populate(30)
    first = rotate(batch_size=10, max_batches=1)

    assert not first.complete
    assert keyring().rotating_from == "k1" and keyring().active.kid == "k2"
    assert kids_in_use() == {"k1", "k2"}
    # Rows already rotated and rows not yet rotated are both found, by either kind of value.
    for i in range(30):
        assert found(f"1380000{i:04d}"), i
    assert not found("13800009999")
    # Writes during the rotation use the new key.
    fresh = Patient.objects.create(name="新", phone="13900000000")
    assert column(Patient, "phone_bidx", fresh.pk).startswith("k2:")

    second = rotate(batch_size=10)
    assert second.resumed and second.complete
    assert (second.old_kid, second.new_kid) == ("k1", "k2")
    assert second.rewritten == 20 + 5  # the rows of the first batch were skipped
    assert kids_in_use() == {"k2"}
    assert keyring().rotating_from is None
    for i in range(30):
        assert found(f"1380000{i:04d}"), i
    assert found("13900000000")


def test_resuming_refuses_a_different_suite(tables, keyfile):
    populate(12)
    rotate(batch_size=5, max_batches=1)
    with pytest.raises(RotationError, match="unfinished"):
        rotate(suite="gm")
    result = rotate(suite="intl")
    assert result.complete and kids_in_use() == {"k2"}


def test_a_rotation_after_a_finished_one_adds_another_key(tables, keyfile):
    populate(4)
    rotate()
    result = rotate()
    assert (result.old_kid, result.new_kid) == ("k2", "k3")
    assert kids_in_use() == {"k3"}
    assert [p.name for p in Patient.objects.order_by("pk")] == [f"患者{i}" for i in range(4)]


def test_rotation_fills_missing_blind_indexes(tables, keyfile):
    p = populate(3)[1]
    set_column(Patient, "phone_bidx", p.pk, None)
    rotate()
    assert column(Patient, "phone_bidx", p.pk).startswith("k2:")
    assert found(p.phone)


def test_rotation_writes_no_other_column_and_sends_no_signals(tables, keyfile):
    people = populate(6)
    stamps = {p.pk: column(Patient, "updated_at", p.pk) for p in people}
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    signals.pre_save.connect(receiver)
    signals.post_save.connect(receiver)
    try:
        rotate()
    finally:
        signals.pre_save.disconnect(receiver)
        signals.post_save.disconnect(receiver)
    assert seen == []
    assert {p.pk: column(Patient, "updated_at", p.pk) for p in people} == stamps


def test_rotation_stops_at_a_value_that_does_not_decrypt_and_names_it(tables, keyfile):
    a, b = populate(2)
    set_column(Patient, "name", b.pk, column(Patient, "name", a.pk))
    with pytest.raises(DecryptionError, match=rf"crypto_tests\.Patient\.name of row {b.pk}"):
        rotate()
    assert keyring().rotating_from == "k1"  # unfinished: fix the row and run it again


def test_keys_rotate_command_names_a_value_that_does_not_decrypt(tables, keyfile, monkeypatch):
    a, b = populate(2)
    set_column(Patient, "born", a.pk, column(Patient, "born", b.pk))
    discover = rotation.rotation_targets
    monkeypatch.setattr(rotation, "rotation_targets", lambda models=None: discover(models=TABLES))
    with pytest.raises(CommandError, match=rf"Patient\.born of row {a.pk} did not decrypt.*run `keys rotate` again"):
        _call("keys", "rotate")


def test_values_written_under_the_old_key_by_a_stale_process_are_swept_up(tables, keyfile):
    """Another process may write under the old key until it notices the new key file."""
    people = populate(20)
    old_ring = keyring()  # what a server that has not reloaded yet still holds
    behind = people[0]
    writes = []

    def stale_write(progress):
        if not writes:
            field = Patient._meta.get_field("name")
            row = str(behind.pk)
            token = old_ring.encrypt(field.encode("改名"), field.aad(row))
            set_column(Patient, "name", behind.pk, token)
            writes.append(token)

    result = keys_rotate(models=TABLES, batch_size=5, settle_seconds=0.2, progress=stale_write)
    assert result.complete
    assert KeyRing.key_id_of(column(Patient, "name", behind.pk)) == "k2"
    assert Patient.objects.get(pk=behind.pk).name == "改名"


def test_keys_rotate_command_shows_progress_and_finishes(tables, keyfile, monkeypatch):
    populate(40)
    discover = rotation.rotation_targets
    monkeypatch.setattr(rotation, "rotation_targets", lambda models=None: discover(models=TABLES))
    monkeypatch.setattr(rotation, "SETTLE_MARGIN_SECONDS", 0)
    monkeypatch.setattr("mchis.crypto.keyring.RELOAD_SECONDS", 0)
    out = _call("keys", "rotate", "--batch-size", "16", "--suite", "gm")
    assert "Adding a new active key to replace k1" in out
    assert "crypto_tests.Patient: 16/40 rows" in out
    assert "crypto_tests.Patient: 40/40 rows" in out and "rows/s done" in out
    assert "crypto_tests.Contact: 5/5 rows" in out
    assert "Rotated k1 → k2: 45 rows checked, 45 rewritten" in out
    assert {column(Patient, "name", p.pk).split(":")[0] for p in Patient.objects.all()} == {"gm"}

    data = keyfile.data()
    data["rotating_from"] = "k1"  # as if killed before finishing
    keys_write(keyfile.path, data)
    keyring_reset()
    with pytest.raises(CommandError, match="unfinished"):
        _call("keys", "rotate", "--suite", "intl")
    out = _call("keys", "rotate")
    assert "Resuming the unfinished rotation k1 → k2" in out
    assert "45 rows checked, 0 rewritten" in out


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_installed_models_are_discovered():
    from mchis.crypto.rotation import rotation_targets

    for target in rotation_targets():
        assert target.encrypted or target.indexes
        assert not target.model._meta.proxy
