"""Canonical encodings, keyed event hashes, Merkle trees and seal signatures.

Everything here is pure (no database) so that the write path, the sealer, the verifier and
the evidence proofs share one definition of "the bytes that are hashed".

Canonical event encoding: the text values of the event's columns, in a fixed order, joined
by U+001F (unit separator), prefixed with a version tag, UTF-8. Text fields are cleaned of
control characters before they are stored (`clean_text`), so the separator never occurs
inside a value and the encoding is injective. Times are UTC "YYYY-MM-DD HH:MM:SS.ffffff".
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

SEP = "\x1f"
EVENT_VERSION = "mchis-audit-event-v1"
SEAL_VERSION = "mchis-audit-seal-v1"
GENESIS = "0" * 64

# Event columns in canonical order (after the version tag). The verifier selects the same
# columns as text in the same order (see verify.py); a test keeps the two in step.
EVENT_FIELDS = (
    "id",
    "at",
    "suite",
    "actor_id",
    "actor_username",
    "institution_id",
    "action",
    "outcome",
    "object_type",
    "object_ids",
    "field_names",
    "purpose",
    "reason",
    "source_ip",
    "request_id",
    "path",
    "user_agent",
    "extra",
)

# Control characters are never needed in audit metadata; removing them keeps SEP unique.
# Newlines and tabs in free text (a reason) become spaces for the same reason.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_text(value: object, max_length: int) -> str:
    text = "" if value is None else str(value)
    if text.isprintable():  # no control character (the common case: skip the regex)
        return text[:max_length]
    return _CONTROL.sub(" ", text)[:max_length]


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# --- hash functions per suite ------------------------------------------------------------
# The audit trail follows the deployment's suite (intl: SHA-256, gm: SM3). Stdlib hashlib
# and hmac are used where OpenSSL offers the algorithm: they are several times faster per
# call than going through `cryptography`, which matters when verifying millions of rows.
_HASH_NAMES = {"intl": "sha256", "gm": "sm3"}
_CRYPTO_HASHES = {"intl": hashes.SHA256, "gm": hashes.SM3}


def _stdlib_has(name: str) -> bool:
    try:
        hashlib.new(name)
    except ValueError:
        return False
    return True


def hash_function(suite: str) -> Callable[[bytes], bytes]:
    name = _HASH_NAMES[suite]
    if name == "sha256":
        sha256 = hashlib.sha256
        return lambda data: sha256(data).digest()
    if _stdlib_has(name):
        new = hashlib.new
        return lambda data: new(name, data).digest()
    algorithm = _CRYPTO_HASHES[suite]

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm())
        h.update(data)
        return h.finalize()

    return digest


def _hmac_states(name: str, key: bytes):
    """The inner and outer hash states of HMAC(key) after the padded key (RFC 2104)."""
    block = hashlib.new(name).block_size
    padded = (hashlib.new(name, key).digest() if len(key) > block else key).ljust(block, b"\0")
    return hashlib.new(name, bytes(b ^ 0x36 for b in padded)), hashlib.new(name, bytes(b ^ 0x5C for b in padded))


def mac_function(suite: str, key: bytes) -> Callable[[bytes], bytes]:
    """HMAC (RFC 2104) with the suite's hash.

    Built from pre-keyed inner and outer hash states that are copied per message: the same
    HMAC as `hmac.digest`, at about half the cost per call (OpenSSL 3 sets up its HMAC
    context afresh on every one-shot call), which matters when verifying millions of rows.
    """
    name = _HASH_NAMES[suite]
    if _stdlib_has(name):
        inner, outer = _hmac_states(name, key)

        def mac(data: bytes) -> bytes:
            i = inner.copy()
            i.update(data)
            o = outer.copy()
            o.update(i.digest())
            return o.digest()

        return mac
    algorithm = _CRYPTO_HASHES[suite]

    def mac(data: bytes) -> bytes:
        h = crypto_hmac.HMAC(key, algorithm())
        h.update(data)
        return h.finalize()

    return mac


def mac_many(suite: str, key: bytes) -> Callable[[Iterable[bytes]], list[bytes]]:
    """`mac_function` over many messages at once: the same MACs, in order, without a Python
    call per message (the verifier's inner loop)."""
    name = _HASH_NAMES[suite]
    if not _stdlib_has(name):
        mac = mac_function(suite, key)
        return lambda messages: list(map(mac, messages))
    inner, outer = _hmac_states(name, key)

    def macs(messages: Iterable[bytes]) -> list[bytes]:
        inner_copy, outer_copy = inner.copy, outer.copy
        out: list[bytes] = []
        append = out.append
        for data in messages:
            i = inner_copy()
            i.update(data)
            o = outer_copy()
            o.update(i.digest())
            append(o.digest())
        return out

    return macs


# --- events ------------------------------------------------------------------------------
def event_message(values: Sequence[str]) -> bytes:
    """The bytes an event's MAC covers; `values` are the EVENT_FIELDS as text."""
    return (EVENT_VERSION + SEP + SEP.join(values)).encode()


def optional_int_text(value: int | None) -> str:
    return "" if value is None else str(value)


# --- id lists ----------------------------------------------------------------------------
def ranges_encode(ids: Iterable[int]) -> str:
    """Sorted ids as compact ranges: [3, 4, 5, 9] -> "3-5 9"."""
    parts: list[str] = []
    start = prev = None
    for n in sorted(ids):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return " ".join(parts)


def ranges_decode(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split():
        lo, _sep, hi = part.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out


def ranges_ids(text: str) -> set[int]:
    ids: set[int] = set()
    for lo, hi in ranges_decode(text):
        ids.update(range(lo, hi + 1))
    return ids


# Gap lists are usually a few ids (a rolled-back transaction, a connection's unused block of
# ids) and are then fastest as a set. A gap may also be any size: one event inserted by hand
# with an id far ahead leaves a hole of a trillion ids, which must not become a trillion
# set members (the sealer and the verifier would run out of memory, and sealing stop).
SMALL_GAPS = 1_000_000


class IdRanges:
    """A set of ids held as sorted, disjoint, inclusive ranges: as large as you like."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
            if ends and lo <= ends[-1] + 1:
                ends[-1] = max(ends[-1], hi)
            else:
                starts.append(lo)
                ends.append(hi)
        self._starts, self._ends = starts, ends

    @classmethod
    def of_text(cls, text: str) -> IdRanges:
        return cls(ranges_decode(text))

    def __contains__(self, n: int) -> bool:
        i = bisect.bisect_right(self._starts, n) - 1
        return i >= 0 and n <= self._ends[i]

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges())

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def text(self) -> str:
        return " ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ranges())

    def minus(self, other: IdRanges) -> IdRanges:
        out: list[tuple[int, int]] = []
        for lo, hi in self.ranges():
            for a, b in other.outside(lo, hi + 1):
                out.append((a, b - 1))
        return IdRanges(out)

    def count_within(self, lo: int, hi: int) -> int:
        """How many of the ids are in lo..hi (inclusive)."""
        return sum(max(0, min(b, hi) - max(a, lo) + 1) for a, b in self.ranges() if a <= hi and b >= lo)

    def outside(self, start: int, stop: int) -> list[tuple[int, int]]:
        """The parts of range(start, stop) not in the set, as (start, stop) pairs."""
        out: list[tuple[int, int]] = []
        at = start
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while at < stop and i < len(self._starts):
            lo, hi = self._starts[i], self._ends[i]
            if hi >= at:
                if lo > at:
                    out.append((at, min(lo, stop)))
                at = max(at, hi + 1)
            i += 1
        if at < stop:
            out.append((at, stop))
        return out


def gap_set(text: str) -> set[int] | IdRanges:
    """A seal's gaps for lookups: a set while small (fastest), else ranges."""
    ranges = IdRanges.of_text(text)
    if len(ranges) > SMALL_GAPS:
        return ranges
    return {n for lo, hi in ranges.ranges() for n in range(lo, hi + 1)}


# --- Merkle trees ------------------------------------------------------------------------
# The leaves are the events' MACs, in id order; an inner node is H(0x01 || left || right)
# and an odd node at the end of a level moves up as is. The leaves are not hashed again
# (RFC 6962 prefixes them with 0x00) because nobody can present an inner node as a leaf
# here: a leaf must be the MAC of an event's content, which needs the MAC key, and the
# signed seal fixes the number of leaves. That saves one hash per event when verifying.
NODE, EMPTY = b"\x01", b"\x02"


def merkle_root(leaves: list[bytes], h: Callable[[bytes], bytes]) -> bytes:
    """Root over the MACs of the covered events, in id order."""
    if not leaves:
        return h(EMPTY)
    level = leaves
    while len(level) > 1:
        pairs = len(level) - 1
        nxt = [h(NODE + level[i] + level[i + 1]) for i in range(0, pairs, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_path(leaves: list[bytes], index: int, h: Callable[[bytes], bytes]) -> list[tuple[str, str]]:
    """The siblings from leaf `index` up to the root: [("L" or "R", hex), …]."""
    path: list[tuple[str, str]] = []
    level = leaves
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(("L" if sibling < index else "R", level[sibling].hex()))
        pairs = len(level) - 1
        nxt = [h(NODE + level[i] + level[i + 1]) for i in range(0, pairs, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        index //= 2
    return path


def merkle_path_check(mac: bytes, path: Sequence[tuple[str, str]], root: bytes, h: Callable[[bytes], bytes]) -> bool:
    node = mac
    for side, sibling in path:
        other = bytes.fromhex(sibling)
        node = h(NODE + other + node) if side == "L" else h(NODE + node + other)
    return hmac.compare_digest(node, root)


# --- seals -------------------------------------------------------------------------------
def seal_message(
    *,
    number: int,
    suite: str,
    first_id: int,
    last_id: int,
    gaps: str,
    late: str,
    count: int,
    merkle_root: str,
    prev_hash: str,
    sealed_at: str,
) -> bytes:
    """The bytes a seal's hash and signature cover; `sealed_at` as `time_text`."""
    values = (
        SEAL_VERSION,
        str(number),
        suite,
        str(first_id),
        str(last_id),
        gaps,
        late,
        str(count),
        merkle_root,
        prev_hash,
        sealed_at,
    )
    return SEP.join(values).encode()


def ref_pairs(object_type: str, object_ids: list[str]) -> list[tuple[str, str]]:
    """(object type, object id) of each id of an event, as its object index rows hold them.

    An event of one kind names its type once and lists plain ids; an event of several kinds
    (the reads of one request) has no object type and lists "<type>:<id>". A type never holds
    a colon, so the first one separates the two.
    """
    if object_type:
        return [(object_type, oid) for oid in object_ids]
    return [tuple(token.split(":", 1)) for token in object_ids]
