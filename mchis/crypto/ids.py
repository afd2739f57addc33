"""Row ids known before INSERT (RFC 9562 UUID version 7).

Encrypted fields bind each value to its row id (the AAD), so a model holding them needs the id
before the row is written; a database-generated integer would arrive too late. Version 7 ids
start with a millisecond timestamp, so new rows land at the end of the primary-key index (as
with a sequence) instead of all over it (as with random version 4 ids).
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_seq = 0
_SEQ_MAX = 0xFFF


def uuid7() -> uuid.UUID:
    """A new UUID version 7: 48-bit Unix time in ms, version, 12-bit sequence, variant, 62 random bits.

    Within one process the ids increase strictly (RFC 9562 §6.2 method 1: the 12 bits after the
    version count up inside a millisecond, starting from a random value in the lower half so
    there is room to count), which keeps keyset pagination and index inserts in creation order.
    """
    global _last_ms, _last_seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            seq = secrets.randbits(11)
        else:
            # Same millisecond (or the clock went back): count on from the last id.
            ms = _last_ms
            seq = _last_seq + 1
            if seq > _SEQ_MAX:
                ms += 1
                seq = secrets.randbits(11)
        _last_ms, _last_seq = ms, seq
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | secrets.randbits(62)
    return uuid.UUID(int=value)


def id_parse(value) -> uuid.UUID | None:
    """The record id in `value` (a UUID or its text), or None when it is none: such a value
    names no record, and nothing of it is written to the audit trail."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None
