"""The memory of idempotent requests (`Idempotency-Key`), used by `conventions.idempotent`.

The claim, the work and the stored answer are one transaction:

1. INSERT (owner, key, fingerprint) … ON CONFLICT DO NOTHING. The unique constraint decides
   who is first. On PostgreSQL a second transaction inserting the same pair waits at the INSERT
   until the first commits (then inserts nothing and finds the row) or rolls back (then its own
   INSERT goes through); on
   SQLite every write transaction takes the write lock at BEGIN (`transaction_mode`
   IMMEDIATE), so the second starts only after the first committed. Either way the loser
   waits and then replays the winner's answer: two identical requests never both create.
2. The view does its work (services open savepoints inside this transaction).
3. A 2xx answer is stored on the row before COMMIT; anything else rolls everything back, the
   claim included, so the client may retry with the same key after fixing the problem.

A record is therefore never seen half-done: if the process dies, nothing of it remains.
Records are kept `MCHIS_API_IDEMPOTENCY_HOURS` (24) and pruned by a periodic job.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from mchis.api.models import IdempotencyRecord

STORED_HEADERS = ("ETag", "Location", "Content-Language")


class KeyReused(Exception):
    """The key was used before with a different request."""


class InProgress(Exception):
    """A record without an answer (cannot be committed by `idempotent`; kept as a guard)."""


def idempotency_ttl() -> timedelta:
    return timedelta(hours=float(settings.MCHIS_API_IDEMPOTENCY_HOURS))


def request_fingerprint(*, method: str, path: str, content_type: str, body: bytes, data=None) -> str:
    """SHA-256 over method, path (with query string) and body.

    A JSON body counts by its meaning (keys sorted, no whitespace), so a client that
    re-serialises the same object on retry is not refused; other bodies count byte by byte.
    """
    if data is not None and content_type.split(";")[0].strip() == "application/json":
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    else:
        text = body
    h = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), text):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def idempotency_claim(*, owner, key: str, fingerprint: str) -> IdempotencyRecord:
    """The record for (owner, key): new (status_code None) or the stored one to replay.

    Call inside a transaction; raises KeyReused when the stored request differs.
    """
    now = timezone.now()
    for _attempt in range(2):
        record = IdempotencyRecord(
            owner=owner, key=key, fingerprint=fingerprint, created_at=now, expires_at=now + idempotency_ttl()
        )
        if _insert_unless_claimed(record):
            return record
        record = IdempotencyRecord.objects.select_for_update().filter(owner=owner, key=key).first()
        if record is None:
            continue  # removed meanwhile (pruned): claim again
        if record.expires_at <= now:
            # Expired but not pruned yet: the key is free again.
            record.delete()
            continue
        if record.fingerprint != fingerprint:
            raise KeyReused
        if record.status_code is None:
            raise InProgress
        return record
    raise InProgress


def _insert_unless_claimed(record: IdempotencyRecord) -> bool:
    """INSERT the record unless (owner, key) is taken: True when this call inserted it.

    One statement, no savepoint: `ON CONFLICT DO NOTHING` (PostgreSQL; SQLite 3.24+) instead of
    catching the IntegrityError of a plain INSERT, on the path of every idempotent POST.
    """
    connection = connections[router.db_for_write(IdempotencyRecord)]
    fields = IdempotencyRecord._meta.concrete_fields
    qn = connection.ops.quote_name
    values = [f.get_db_prep_save(f.pre_save(record, True), connection) for f in fields]
    # The model's own table and column names; every value is a parameter.
    table, names = qn(IdempotencyRecord._meta.db_table), ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    conflict = f"ON CONFLICT ({qn('owner_id')}, {qn('key')}) DO NOTHING"
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks}) {conflict}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        inserted = cursor.rowcount == 1
    if inserted:
        record._state.adding, record._state.db = False, connection.alias
    return inserted


def idempotency_complete(
    *,
    record: IdempotencyRecord,
    status_code: int,
    content: str,
    headers: dict[str, str],
    object_type: str,
    object_id: str,
) -> None:
    record.status_code = status_code
    record.response = {"content": content, "headers": headers}
    record.object_type = object_type
    record.object_id = object_id[:64]
    record.save(update_fields=["status_code", "response", "object_type", "object_id"])


def idempotency_prune(*, now=None) -> int:
    """Delete expired records. Returns how many (the periodic job)."""
    deleted, _per_model = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
