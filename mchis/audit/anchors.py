"""The head of the seal chain, kept outside the database (P10).

Each seal is chained to the one before, so `audit verify` finds any seal changed, removed or
inserted within the chain. What the chain alone cannot show is its newest seals removed with
their events: the shorter chain is consistent in itself. So every sealing run writes the
newest seal's number and hash to a small file outside the database (`MCHIS_AUDIT_ANCHOR_FILE`,
one line, replaced atomically) and to the log (`mchis.audit.anchor`, for a deployment that
ships its logs to another machine), and `audit verify` checks the chain against the file: a
chain that no longer reaches the recorded seal, or reaches another seal of that number, is
a trail cut short.

Someone who can change both the database and this file can still cut the trail; keeping the
file, or the logs, on another machine is what closes that (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings

log = logging.getLogger("mchis.audit.anchor")

_LINE = re.compile(r"^(\d+):([0-9a-f]{64})\b")


def anchor_path() -> Path:
    return Path(settings.MCHIS_AUDIT_ANCHOR_FILE)


def anchor_latest() -> tuple[int, str] | None:
    """(seal number, seal hash) of the newest seal recorded, or None before the first."""
    try:
        text = anchor_path().read_text()
    except FileNotFoundError:
        return None
    match = _LINE.match(text.strip())
    if match is None:
        raise ValueError(f"{anchor_path()} does not hold NUMBER:SEAL_HASH as `audit seal` writes it")
    return int(match.group(1)), match.group(2)


def anchor_record(*, number: int, seal_hash: str, sealed_at) -> None:
    """Record a new head of the chain (never an older one than the file holds: two sealers may
    finish out of order). A failure to write is logged, not raised: the seal is in the
    database already, and the next run records its successor."""
    log.info("audit chain head %s:%s sealed at %s", number, seal_hash, sealed_at.isoformat())
    path = anchor_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Sealers finishing at once (the worker's chain, `mchis audit seal`) compare and
        # replace one at a time.
        lock = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = anchor_latest()
            except ValueError:
                current = None  # unreadable: replaced by the head, which is what it should hold
            if current is None or current[0] < number:
                _replace(path, f"{number}:{seal_hash} {sealed_at.isoformat()}\n")
        finally:
            os.close(lock)
    except OSError:
        log.exception("could not record the audit chain head in %s", path)


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
