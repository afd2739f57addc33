"""Key rotation: re-encrypt every value and recompute every blind index under a new key.

`keys_rotate` adds a new active key to the key file (remembering the one it replaces), then
walks each model holding encrypted fields or blind indexes in primary-key order, a batch per
transaction, rewriting only what is not yet under the new key. Rows are locked while a batch
is rewritten (FOR UPDATE on PostgreSQL; SQLite's write transaction serialises writers), and
the rewrite is a plain UPDATE of the affected columns: no save(), no signals, no `auto_now`.

Killed half-way, it resumes: the key file still says which rotation is unfinished, rows done
are skipped, and it finishes when a walk leaves nothing under the old key. Until then lookups
use both keys (`KeyRing.blind_indexes`).

Other processes (the web server, job workers) notice the changed key file within
`keyring.RELOAD_SECONDS`; until then they may still write under the old key. So a walk that
started inside that window is followed by a sweep once it has passed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.db import connections, router, transaction
from django.db.models import Model

from mchis.crypto import keyring as keyring_module
from mchis.crypto.fields import BlindIndexField, EncryptedField
from mchis.crypto.keyring import (
    KeyRing,
    keyring,
    keyring_reset,
    keys_begin_rotation,
    keys_finish_rotation,
    keys_path,
)

# Added to keyring.RELOAD_SECONDS: time for a process that just read the old file to finish
# the write it was doing.
SETTLE_MARGIN_SECONDS = 1.0
# Well under PostgreSQL's limit of 65,535 parameters per statement.
_PG_PARAMS_PER_STATEMENT = 30_000


class RotationError(RuntimeError):
    """The rotation cannot proceed as asked (the message says why)."""


@contextlib.contextmanager
def _one_rotation_at_a_time(path: Path) -> Iterator[None]:
    """Hold the key file's rotation lock (`<key file>.lock`, released when the process ends,
    however it ends), or refuse at once.

    Two rotations at once would each add a key under the same name with a secret of its own;
    the key file written last keeps only one of the secrets, and the values the other run
    had already rewritten could never be read again.
    """
    real = path.resolve()  # one lock however the file is reached (a symbolic link)
    fd = os.open(real.with_name(real.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError(
                f"another `keys rotate` is running on {path}: wait for it to finish (or, if it was "
                "killed, run `keys rotate` again to resume it once it has stopped)"
            ) from None
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class RotationTarget:
    model: type[Model]
    encrypted: tuple[EncryptedField, ...]
    indexes: tuple[BlindIndexField, ...]


@dataclass(frozen=True)
class RotationProgress:
    label: str
    done: int
    total: int
    rows_per_second: float
    finished: bool


@dataclass
class RotationResult:
    old_kid: str
    new_kid: str
    resumed: bool
    complete: bool = False
    rows: int = 0
    rewritten: int = 0
    seconds: float = 0.0


class _Budget:
    """At most `batches` batches (None: no limit); lets tests stop a rotation half-way."""

    def __init__(self, batches: int | None):
        self.left = batches

    def take(self) -> bool:
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def rotation_targets(*, models: Iterable[type[Model]] | None = None) -> list[RotationTarget]:
    """Installed models with encrypted fields or blind indexes, each with the fields it stores itself.

    Fields inherited from a concrete parent (multi-table inheritance) are rotated with the parent.
    """
    targets = []
    for model in apps.get_models() if models is None else models:
        opts = model._meta
        if opts.proxy or opts.abstract:
            continue
        encrypted = tuple(f for f in opts.local_concrete_fields if isinstance(f, EncryptedField))
        indexes = tuple(f for f in opts.local_concrete_fields if isinstance(f, BlindIndexField))
        if encrypted or indexes:
            targets.append(RotationTarget(model=model, encrypted=encrypted, indexes=indexes))
    return targets


def keys_rotate(
    *,
    batch_size: int = 1000,
    suite: str | None = None,
    models: Iterable[type[Model]] | None = None,
    max_batches: int | None = None,
    settle_seconds: float | None = None,
    progress: Callable[[RotationProgress], None] | None = None,
) -> RotationResult:
    """Rotate to a new data key (or resume the unfinished rotation) and rewrite every value under it.

    `suite` picks the new key's suite (default: the current key's); it must match when resuming.
    `max_batches` stops after that many batches, leaving the rotation unfinished (tests).
    """
    if batch_size < 1:
        raise RotationError("batch size must be at least 1")
    path = keys_path()
    with _one_rotation_at_a_time(path):
        return _rotate(
            path,
            batch_size=batch_size,
            suite=suite,
            models=models,
            max_batches=max_batches,
            settle_seconds=settle_seconds,
            progress=progress,
        )


def _rotate(path: Path, *, batch_size, suite, models, max_batches, settle_seconds, progress) -> RotationResult:
    keyring_reset()  # read the file as it is now, not as this process last saw it
    ring = keyring()
    resumed = ring.rotating_from is not None
    if resumed and suite and ring.active.suite.name != suite:
        raise RotationError(
            f"the rotation {ring.rotating_from} → {ring.active.kid} (suite {ring.active.suite.name}) is unfinished: "
            f"finish it (run `keys rotate` without --suite) before rotating to suite {suite}"
        )
    old_kid, new_kid = keys_begin_rotation(path, suite=suite)
    keyring_reset()
    ring = keyring()
    if settle_seconds is None:
        settle_seconds = keyring_module.RELOAD_SECONDS + SETTLE_MARGIN_SECONDS
    # Processes holding the old ring may write under the old key until this moment.
    settled_at = path.stat().st_mtime + settle_seconds

    result = RotationResult(old_kid=old_kid, new_kid=new_kid, resumed=resumed)
    started = time.monotonic()
    budget = _Budget(max_batches)
    targets = rotation_targets(models=models)
    walked_at = time.time()
    complete = _walk_all(targets, ring=ring, batch_size=batch_size, budget=budget, progress=progress, result=result)
    if complete and walked_at < settled_at:
        time.sleep(max(0.0, settled_at - time.time()))
        complete = _walk_all(targets, ring=ring, batch_size=batch_size, budget=budget, progress=progress, result=result)
    result.complete = complete
    if complete:
        keys_finish_rotation(path)
        keyring_reset()
    result.seconds = time.monotonic() - started
    return result


def _walk_all(targets, *, ring, batch_size, budget, progress, result) -> bool:
    for target in targets:
        if not _walk(target, ring=ring, batch_size=batch_size, budget=budget, progress=progress, result=result):
            return False
    return True


def _walk(
    target: RotationTarget,
    *,
    ring: KeyRing,
    batch_size: int,
    budget: _Budget,
    progress: Callable[[RotationProgress], None] | None,
    result: RotationResult,
) -> bool:
    """One pass over a model in primary-key order. False when the budget ran out first."""
    model = target.model
    opts = model._meta
    db = router.db_for_write(model)
    connection = connections[db]
    active = ring.active.kid

    sources = {ix.attname: ix.source_field for ix in target.indexes}
    read = ["pk", *(f.attname for f in target.encrypted), *(ix.attname for ix in target.indexes)]
    extra_sources = sorted({s.attname for s in sources.values()} - set(read))
    read += extra_sources
    position = {name: i for i, name in enumerate(read)}
    columns = [f.column for f in (*target.encrypted, *target.indexes)]

    base = model._base_manager.db_manager(db).order_by("pk")
    total = base.count()
    done = 0
    last_pk = None
    t0 = time.monotonic()
    last_report = 0.0
    while True:
        if not budget.take():
            return False
        with transaction.atomic(using=db):
            page = base if last_pk is None else base.filter(pk__gt=last_pk)
            rows = list(page.select_for_update().values_list(*read)[:batch_size])
            params = []
            for row in rows:
                new_values = _rewrite_row(target, row, position=position, sources=sources, ring=ring, active=active)
                if new_values is not None:
                    params.append([*new_values, opts.pk.get_db_prep_value(row[0], connection)])
            if params:
                _update_rows(connection, table=opts.db_table, pk_column=opts.pk.column, columns=columns, rows=params)
        done += len(rows)
        result.rows += len(rows)
        result.rewritten += len(params)
        finished = len(rows) < batch_size
        if progress is not None:
            now = time.monotonic()
            # The first batch, then about once a second, and the end.
            if finished or last_report == 0.0 or now - last_report >= 1.0:
                last_report = now
                rate = done / (now - t0) if now > t0 else 0.0
                progress(
                    RotationProgress(
                        label=opts.label, done=done, total=max(total, done), rows_per_second=rate, finished=finished
                    )
                )
        if finished:
            return True
        last_pk = rows[-1][0]


def _update_rows(connection, *, table: str, pk_column: str, columns: list[str], rows: list[list]) -> None:
    """Set `columns` of each row (`[*values, pk]`) by primary key: a plain UPDATE, no ORM side effects.

    Identifiers come from the models' metadata, never from input; values are parameters.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            # SQLite runs in-process: one prepared statement executed per row is as fast as anything.
            assignments = ", ".join(f"{quote(c)} = %s" for c in columns)
            cursor.executemany(f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk_column)} = %s", rows)  # noqa: S608
            return
        # PostgreSQL: one statement per chunk instead of a round trip (and a parse) per row.
        names = [f"c{i}" for i in range(len(columns))]
        assignments = ", ".join(f"{quote(c)} = v.{n}" for c, n in zip(columns, names, strict=True))
        per_row = len(columns) + 1
        chunk = max(1, _PG_PARAMS_PER_STATEMENT // per_row)
        row_sql = "(" + ", ".join(["%s"] * per_row) + ")"
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            cursor.execute(
                f"WITH v({', '.join(names)}, pk) AS (VALUES {', '.join([row_sql] * len(part))}) "  # noqa: S608
                f"UPDATE {quote(table)} SET {assignments} FROM v WHERE {quote(table)}.{quote(pk_column)} = v.pk",
                [value for row in part for value in row],
            )


def _rewrite_row(target, row, *, position, sources, ring, active) -> list | None:
    """The new values of the written columns, or None when the row is already under the active key."""
    pk = row[0]
    changed = False
    out = []
    plain: dict[str, object] = {}  # decoded plaintext of the encrypted values opened for this row
    for field in target.encrypted:
        sealed = row[position[field.attname]]
        if sealed is None:
            out.append(None)
            continue
        token = sealed.token
        if KeyRing.key_id_of(token) == active:
            out.append(token)
            continue
        row_text = field.row_text(pk)
        value = field.open_token(token, row=row_text, ring=ring)
        plain[field.attname] = value
        out.append(ring.encrypt(field.encode(value), field.aad(row_text)))
        changed = True
    for index in target.indexes:
        current = row[position[index.attname]]
        source = sources[index.attname]
        raw = row[position[source.attname]]
        if current is not None and current.split(":", 1)[0] == active:
            out.append(current)
            continue
        if raw is None:
            new = None
        elif isinstance(source, EncryptedField):
            if source.attname not in plain:
                plain[source.attname] = source.open_token(raw.token, row=source.row_text(pk), ring=ring)
            new = index.index_of(plain[source.attname], ring=ring)
        else:
            new = index.index_of(raw, ring=ring)
        out.append(new)
        changed = changed or new != current
    return out if changed else None
