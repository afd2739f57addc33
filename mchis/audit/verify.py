"""`audit_verify`: recompute every event MAC, every Merkle root, every seal link and signature.

The whole trail is streamed once, in id order, from one read snapshot (REPEATABLE READ on
PostgreSQL, a deferred read transaction on SQLite, so writers are not held up). Columns are
selected as the exact text the MACs cover, so no datetime or JSON is parsed in Python; the
object index is read as one aggregated row per event and compared with the ids the event's
MAC covers. Problems are listed in the order found, which is the order of the trail: the
first one names the first event or seal that does not match.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TextIO

from cryptography.exceptions import InvalidSignature
from django.db import connection, transaction

from mchis.audit.integrity import (
    EVENT_FIELDS,
    EVENT_VERSION,
    GENESIS,
    SEP,
    hash_function,
    mac_function,
    merkle_leaves,
    merkle_root,
    ranges_ids,
    seal_message,
)
from mchis.audit.models import AuditEvent, AuditObjectRef, AuditSeal
from mchis.crypto.keyring import keyring

MAX_PROBLEMS = 100
CHUNK = 10_000


@dataclass(frozen=True)
class Problem:
    message: str
    event_id: int | None = None
    seal_number: int | None = None

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else f"seal {self.seal_number}"
        return f"{where}: {self.message}"


@dataclass
class VerifyResult:
    events: int = 0
    sealed: int = 0
    unsealed: int = 0
    seals: int = 0
    seconds: float = 0.0
    problems: list[Problem] = field(default_factory=list)
    # More problems were found than MAX_PROBLEMS; only the first ones are listed.
    more_problems: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more_problems = True


# --- SQL: columns as the text the MACs and seal hashes cover ---------------------------------
def _time_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    # Django stores str(naive UTC datetime) on SQLite, which drops ".000000".
    return f"CASE WHEN length({column}) = 19 THEN {column} || '.000000' ELSE {column} END"


def _event_sql() -> str:
    special = {
        "id": "CAST(id AS TEXT)",
        "at": _time_sql("at"),
        "actor_id": "COALESCE(CAST(actor_id AS TEXT), '')",
        "institution_id": "COALESCE(CAST(institution_id AS TEXT), '')",
    }
    columns = ", ".join(special.get(name, name) for name in EVENT_FIELDS)
    table = AuditEvent._meta.db_table
    return f"SELECT {table}.id, {columns}, mac FROM {table} ORDER BY {table}.id"  # noqa: S608


def _refs_sql() -> str:
    table = AuditObjectRef._meta.db_table
    if connection.vendor == "postgresql":
        return (
            f"SELECT event_id, string_agg(object_id, ' ' ORDER BY id), min(object_type), max(object_type) "  # noqa: S608
            f"FROM {table} GROUP BY event_id ORDER BY event_id"
        )
    return (
        "SELECT event_id, group_concat(object_id, ' '), min(object_type), max(object_type) "  # noqa: S608
        f"FROM (SELECT event_id, object_id, object_type FROM {table} ORDER BY event_id, id) "
        "GROUP BY event_id ORDER BY event_id"
    )


def _seals_sql() -> str:
    return (
        "SELECT number, suite, first_id, last_id, gaps, late, count, merkle_root, prev_hash, "  # noqa: S608
        f"seal_hash, signature, {_time_sql('sealed_at')} FROM {AuditSeal._meta.db_table} ORDER BY number"
    )


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    """One consistent view of events, index and seals for the whole run."""
    connection.ensure_connection()
    if connection.in_atomic_block:
        # Inside the caller's transaction (tests, or a job that already opened one).
        yield
    elif connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        # Django's atomic() would BEGIN IMMEDIATE and hold SQLite's write lock for the run.
        raw = connection.connection
        raw.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            raw.execute("ROLLBACK")


def _rows(sql: str, name: str, opened: list):
    """A streaming cursor: server-side on PostgreSQL, SQLite's own stepping otherwise."""
    raw = connection.connection
    if connection.vendor == "postgresql":
        cursor = raw.cursor(name=name)
        cursor.itersize = CHUNK
    else:
        cursor = raw.cursor()
    opened.append(cursor)
    cursor.execute(sql)
    return cursor


# --- the run -----------------------------------------------------------------------------
_OBJECT_TYPE = 1 + EVENT_FIELDS.index("object_type")
_OBJECT_IDS = 1 + EVENT_FIELDS.index("object_ids")
_SUITE = 1 + EVENT_FIELDS.index("suite")
_LAST = 1 + len(EVENT_FIELDS)


def _checked_events(result: VerifyResult, events, refs, stream: TextIO | None) -> Iterator[tuple[int, bytes]]:
    """Yields (id, stored MAC) for every event, recording events that do not match."""
    key = keyring().audit_mac_key
    macs: dict[str, object] = {}
    head = EVENT_VERSION + SEP
    join = SEP.join
    ref = next(refs, None)
    count = 0
    for row in events:
        eid = row[0]
        mac = macs.get(row[_SUITE])
        if mac is None:
            try:
                mac = macs[row[_SUITE]] = mac_function(row[_SUITE], key)
            except KeyError:
                result.add(Problem("unknown hash suite", event_id=eid))
                continue
        stored = row[_LAST]
        digest = mac((head + join(row[1:_LAST])).encode())
        if digest.hex() != stored:
            result.add(Problem("content does not match its MAC (changed, inserted or renumbered)", event_id=eid))
            try:
                digest = bytes.fromhex(stored)
            except ValueError:
                pass
        # The object index must agree with the ids the MAC covers, or "who saw this record"
        # could be made to miss an event.
        while ref is not None and ref[0] < eid:
            result.add(Problem("object index rows point at an event that does not exist", event_id=ref[0]))
            ref = next(refs, None)
        ids = row[_OBJECT_IDS]
        if ref is not None and ref[0] == eid:
            otype = row[_OBJECT_TYPE]
            if ref[2] != otype or ref[3] != otype or (ref[1] != ids and sorted(ref[1].split()) != sorted(ids.split())):
                result.add(Problem("object index rows do not match the event's object ids", event_id=eid))
            ref = next(refs, None)
        elif ids:
            result.add(Problem("object index rows are missing", event_id=eid))
        count += 1
        if stream is not None and count % 100_000 == 0:
            stream.write(f"… {count} events checked\n")
        yield eid, digest
    while ref is not None:
        result.add(Problem("object index rows point at an event that does not exist", event_id=ref[0]))
        ref = next(refs, None)
    result.events = count


def audit_verify(*, stream: TextIO | None = None, anchor: tuple[int, str] | None = None) -> VerifyResult:
    """Check the whole audit trail. `stream` receives progress lines; `anchor` is a
    (seal number, seal hash) recorded outside the database, which must still be in the chain.
    """
    result = VerifyResult()
    started = time.perf_counter()
    verify_key = keyring().audit_verify_key
    opened: list = []
    with _snapshot(), contextlib.ExitStack() as cleanup:
        cleanup.callback(lambda: [cursor.close() for cursor in opened])
        seals = _rows(_seals_sql(), "audit_verify_seals", opened)
        events = _checked_events(
            result,
            _rows(_event_sql(), "audit_verify_events", opened),
            iter(_rows(_refs_sql(), "audit_verify_refs", opened)),
            stream,
        )
        pending_late: dict[int, bytes] = {}
        prev_number, prev_hash, prev_last = 0, GENESIS, 0
        anchor_seen = anchor is None
        nxt = next(events, None)
        for number, suite, first_id, last_id, gaps, late, count, root, link, seal_hash, signature, at in seals:
            result.seals += 1
            if number != prev_number + 1:
                result.add(Problem(f"missing: seal {number} follows seal {prev_number}", seal_number=prev_number + 1))
            try:
                h = hash_function(suite)
            except KeyError:
                result.add(Problem("unknown hash suite", seal_number=number))
                continue
            message = seal_message(
                number=number,
                suite=suite,
                first_id=first_id,
                last_id=last_id,
                gaps=gaps,
                late=late,
                count=count,
                merkle_root=root,
                prev_hash=link,
                sealed_at=at,
            )
            if h(message).hex() != seal_hash:
                result.add(Problem("content does not match its hash (changed)", seal_number=number))
            try:
                verify_key.verify(bytes.fromhex(signature), message)
            except (InvalidSignature, ValueError):
                result.add(Problem("signature is not valid", seal_number=number))
            if link != prev_hash:
                result.add(Problem(f"does not link to seal {prev_number}", seal_number=number))
            if first_id != prev_last + 1:
                result.add(Problem(f"range does not continue from seal {prev_number}", seal_number=number))
            if anchor is not None and number == anchor[0]:
                anchor_seen = True
                if seal_hash != anchor[1]:
                    result.add(Problem("does not match the anchor kept outside the database", seal_number=number))

            covered: list[bytes] = []
            for lid in sorted(ranges_ids(late)):
                mac = pending_late.pop(lid, None)
                if mac is None:
                    result.add(Problem(f"missing (sealed late by seal {number})", event_id=lid))
                else:
                    covered.append(mac)
            gap_ids = ranges_ids(gaps)
            expect = first_id
            while nxt is not None and nxt[0] <= last_id:
                eid, mac = nxt
                if eid < first_id:
                    result.add(Problem("not covered by any seal, inside the sealed part of the trail", event_id=eid))
                elif gap_ids and eid in gap_ids:
                    # Committed after this seal was made: a later seal lists it as late.
                    pending_late[eid] = mac
                else:
                    if eid != expect:
                        for missing in range(expect, eid):
                            if missing not in gap_ids:
                                result.add(Problem(f"missing (sealed by seal {number})", event_id=missing))
                    covered.append(mac)
                    expect = eid + 1
                nxt = next(events, None)
            for missing in range(expect, last_id + 1):
                if missing not in gap_ids:
                    result.add(Problem(f"missing (sealed by seal {number})", event_id=missing))
            if len(covered) != count or merkle_root(merkle_leaves(covered, h), h).hex() != root:
                result.add(Problem("the events it covers do not match its Merkle root", seal_number=number))
            result.sealed += len(covered)
            prev_number, prev_hash, prev_last = number, seal_hash, last_id
        if not anchor_seen:
            result.add(Problem("missing: the anchor seal is not in the chain (trail cut off)", seal_number=anchor[0]))
        # Events after the last seal, and late arrivals no seal has listed yet.
        unsealed = len(pending_late)
        while nxt is not None:
            unsealed += 1
            nxt = next(events, None)
        result.unsealed = unsealed
    result.seconds = time.perf_counter() - started
    return result
