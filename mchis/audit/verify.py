"""`audit_verify`: recompute every event MAC, every Merkle root, every seal link and signature.

How it stays fast over millions of events:

* The database builds each event's canonical text (`integrity.event_message`) itself
  (`printf` on SQLite, `concat_ws` on PostgreSQL) and hands it over as the bytes the MAC
  covers, so Python receives one value per event instead of eighteen columns, parses no
  datetime or JSON and neither decodes nor re-encodes text.
* The object index is compared with each event's ids in the same query (a grouped merge
  join on PostgreSQL, an index lookup per event on SQLite); Python only sees "agrees, n
  rows" or "look closer". On PostgreSQL that plan (two index scans in id order, merged) is
  pinned while the query is planned (`_PLAN`): without statistics on the audit tables (a
  trail loaded in bulk, autovacuum off) the planner would sort the part on disk instead.
* Python's work per event is the HMAC (`integrity.mac_many`: a loop over a batch, no call
  per row) and its share of the Merkle tree. Batches are checked with list operations: the
  MACs against the stored ones in one comparison, and a seal's events against the ids it
  covers by comparing id lists (`_covers`); only a batch or seal that does not match is
  walked event by event, to name what is wrong. Where the two meet, tests hold the short
  way to the event-by-event answer (tests/audit/test_verify_paths.py).
* The trail is cut into parts at seal boundaries (about PART_EVENTS events each), verified
  by worker processes, one per CPU (up to MAX_WORKERS): hashing is CPU-bound Python and
  needs processes, not threads. Within a part a reader thread fetches the next batch while
  the current one is hashed (the driver waits for the database without holding the GIL).
  The main process joins the parts: seal links across part boundaries, late arrivals
  listed in a later part, and the problems in trail order.

Consistency: each part reads its seals and events in one snapshot (REPEATABLE READ on
PostgreSQL, a deferred read transaction on SQLite, so writers are not held up). The plan
(which seals exist) is read before any part starts, and every event a seal covers committed
before that seal, so a part always sees the events its seals cover; newer events count as
unsealed. Inside a caller's transaction (tests) everything runs in that transaction.

Problems are reported in trail order (by event id; a seal's own problems just before its
events, a wrong Merkle root just after them): the first one names the first event or seal
that does not match.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import math
import multiprocessing
import operator
import os
import queue
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from cryptography.exceptions import InvalidSignature
from django.db import connection, connections

from mchis.audit.integrity import (
    EVENT_FIELDS,
    EVENT_VERSION,
    GENESIS,
    SEP,
    IdRanges,
    gap_set,
    hash_function,
    mac_many,
    merkle_root,
    ranges_ids,
    ref_pairs,
    seal_message,
)
from mchis.audit.models import AuditEvent, AuditObjectRef, AuditSeal
from mchis.crypto.keyring import keyring

MAX_PROBLEMS = 100
# A seal's gaps and late ids as `ranges_encode` writes them: "3-5 9", or nothing.
_RANGES = re.compile(r"(?:\d+(?:-\d+)?(?: \d+(?:-\d+)?)*)?")
BATCH = 5_000
PART_EVENTS = 100_000
MAX_PARTS = 10_000
MAX_WORKERS = 8


@dataclass(frozen=True)
class Problem:
    message: str
    event_id: int | None = None
    seal_number: int | None = None
    # Place in the trail (event ids; a seal's problems sit at the edges of its range).
    position: float = field(default=0.0, repr=False)

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else f"seal {self.seal_number}"
        return f"{where}: {self.message}"


class _Problems:
    """The MAX_PROBLEMS earliest problems in trail order, and how many there were in all."""

    def __init__(self) -> None:
        self.count = 0
        self._heap: list = []

    def add(self, problem: Problem) -> None:
        self.count += 1
        entry = (-problem.position, -self.count, problem)  # a max-heap on position
        if len(self._heap) < MAX_PROBLEMS:
            heapq.heappush(self._heap, entry)
        elif entry > self._heap[0]:
            heapq.heapreplace(self._heap, entry)

    def merge(self, problems: list[Problem], count: int) -> None:
        for problem in problems:
            self.add(problem)
        self.count += count - len(problems)

    def sorted(self) -> list[Problem]:
        return [p for _pos, _n, p in sorted(self._heap, key=lambda e: (-e[0], -e[1]))]


@dataclass
class VerifyResult:
    events: int = 0
    sealed: int = 0
    unsealed: int = 0
    seals: int = 0
    seconds: float = 0.0
    workers: int = 1
    problems: list[Problem] = field(default_factory=list)
    # How many problems were found in all; `problems` lists the first MAX_PROBLEMS.
    problem_count: int = 0
    # Of the unsealed: events in a sealed range's gaps that no later seal lists as late yet
    # (the first MAX_PROBLEMS ids). Normally sealed within seconds; see `mchis audit verify`.
    unsealed_in_gaps: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


# --- SQL ---------------------------------------------------------------------------------
# Ranges and id lists are integers computed here and written into the SQL as such.
def _pg() -> bool:
    return connection.vendor == "postgresql"


def _time_sql(column: str) -> str:
    if _pg():
        return f"pg_catalog.to_char(pg_catalog.timezone('UTC', {column}), 'YYYY-MM-DD HH24:MI:SS.US')"
    # Django stores str(naive UTC datetime) on SQLite, which drops ".000000".
    return f"CASE WHEN length({column}) = 19 THEN {column} || '.000000' ELSE {column} END"


def _id_range(column: str, lo: int, hi: int | None) -> str:
    return f"{column} > {int(lo)}" + ("" if hi is None else f" AND {column} <= {int(hi)}")


def _ids_count(column: str, *, pg: bool = False) -> str:
    """SQL: the number of ids in a space-separated list (on PostgreSQL with every function and
    operator named in pg_catalog, like the rest of the event query)."""
    if pg:
        length, replace = "pg_catalog.length", "pg_catalog.replace"
        eq, minus, plus = (f"OPERATOR(pg_catalog.{op})" for op in "=-+")
    else:
        length, replace, eq, minus, plus = "length", "replace", "=", "-", "+"
    return (
        f"CASE WHEN {column} {eq} '' THEN 0 "
        f"ELSE {length}({column}) {minus} {length}({replace}({column}, ' ', '')) {plus} 1 END"
    )


def _events_sql(*, lo: int = 0, hi: int | None = None, ids: list[int] | None = None) -> tuple[str, tuple]:
    """Per event: id, canonical text, stored MAC, suite, and the object index check (the
    number of ids the event names when its index rows spell them, else -1; `_PartCheck.index`
    compares the part's rows with the sum)."""
    events, refs = AuditEvent._meta.db_table, AuditObjectRef._meta.db_table
    # A value the write path never stores (NULL once NOT NULL is dropped; on SQLite a BLOB or a
    # number in a text column) becomes U+0001, which no canonical text holds, so the event
    # fails its MAC. Otherwise, on PostgreSQL concat_ws would skip a NULL and with it a
    # separator: the column's value moved into its neighbour (action NULL, outcome
    # "deny<US>denied") would keep the MAC; on SQLite a BLOB prints as the same text, yet no
    # longer equals it ("all denials" would miss an action 'deny' stored as a BLOB).
    if _pg():
        bad = "pg_catalog.chr(1)"

        def text(column: str, value: str | None = None) -> str:
            return f"COALESCE({value or column}, {bad})"

        def optional_int(column: str) -> str:
            return f"COALESCE(CAST({column} AS TEXT), '')"

    else:
        bad = "char(1)"

        def text(column: str, value: str | None = None) -> str:
            return f"CASE WHEN typeof({column}) = 'text' THEN {value or column} ELSE {bad} END"

        def optional_int(column: str) -> str:
            return (
                f"CASE typeof({column}) WHEN 'integer' THEN CAST({column} AS TEXT) WHEN 'null' THEN '' ELSE {bad} END"
            )

    columns = {
        "id": "CAST(e.id AS TEXT)",
        "at": text("e.at", _time_sql("e.at")),
        "actor_id": optional_int("e.actor_id"),
        "institution_id": optional_int("e.institution_id"),
    }
    values = [columns.get(name) or text(f"e.{name}") for name in EVENT_FIELDS]

    def where(column: str) -> str:
        if ids is not None:
            return f"{column} IN ({', '.join(str(int(i)) for i in ids) or 'NULL'})"
        return _id_range(column, lo, hi)

    if _pg():
        # convert_to: the UTF-8 bytes of the text (bytea), what `event_message` encodes.
        # Functions and operators named in pg_catalog: someone able to drop the triggers can
        # create look-alikes in another schema that overload resolution could prefer.
        text = f"pg_catalog.concat_ws(pg_catalog.chr(31), '{EVENT_VERSION}', {', '.join(values)})"
        message = f"pg_catalog.convert_to({text}, 'UTF8')"
        params = ()
        eq = "OPERATOR(pg_catalog.=)"
        # An event of several kinds (no object type; ids "<type>:<id>", integrity.ref_pairs) is
        # compared with its rows' "<type>:<id>" (ids hold no colon, so no row can move a colon
        # between type and id). Either way the result is the number of ids the event names:
        # the part's total then shows a row that stands for two ids by holding a space.
        ids_count = _ids_count("e.object_ids", pg=True)
        index = (
            f"CASE WHEN e.object_type {eq} '' AND e.object_ids OPERATOR(pg_catalog.<>) '' THEN "
            f"CASE WHEN e.object_ids {eq} COALESCE(g.tids, '') THEN {ids_count} ELSE -1 END "
            f"WHEN e.object_ids {eq} COALESCE(g.ids, '') AND COALESCE(g.t1, e.object_type) {eq} e.object_type "
            f"AND COALESCE(g.t2, e.object_type) {eq} e.object_type THEN {ids_count} ELSE -1 END"
        )
        # string_agg without ORDER BY (which costs a sort per event): the index scan feeds each
        # event's rows in (event_id, id) order, the order they were written in. Rows that come
        # in another order only make an event "look closer" (compared as sets), never pass.
        # min/max in "C": byte order, whatever the database's collation (and cheaper).
        # COALESCE: aggregates skip NULLs, so a row whose type or id was set to NULL (after
        # dropping NOT NULL) would vanish from them instead of standing out.
        rtype, rid = "COALESCE(object_type, '')", "COALESCE(object_id, '')"
        source = (
            f"{events} e LEFT JOIN (SELECT event_id, pg_catalog.string_agg({rid}, ' ') AS ids, "  # noqa: S608
            f"pg_catalog.string_agg({rtype} OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) {rid}, ' ') "
            "AS tids, "
            f'pg_catalog.min({rtype} COLLATE "C") AS t1, pg_catalog.max({rtype} COLLATE "C") AS t2, '
            f"pg_catalog.count(*) AS n FROM {refs} WHERE {where('event_id')} GROUP BY event_id) g "
            f"ON g.event_id {eq} e.id"
        )
    else:
        # CAST AS BLOB: the text's UTF-8 bytes as they are.
        message, params = f"CAST(printf(?, {', '.join(values)}) AS BLOB)", (EVENT_VERSION + f"{SEP}%s" * len(values),)
        ids_count = _ids_count("e.object_ids")
        # INDEXED BY: with an equality on object_type in sight the planner may pick the
        # (object_type, object_id) index and scan every row of that type for each event.
        by_event = f"{refs} r INDEXED BY audit_ref_event WHERE r.event_id = e.id"
        # ifnull and IS NOT: a NULL type or id (NOT NULL dropped) must not vanish (as above).
        index = (
            f"CASE WHEN e.object_type = '' AND e.object_ids <> '' THEN CASE WHEN e.object_ids = "  # noqa: S608
            "COALESCE((SELECT group_concat(ifnull(r.object_type, '') || ':' || ifnull(r.object_id, ''), ' ') "
            f"FROM {by_event}), '') THEN {ids_count} ELSE -1 END "
            f"WHEN e.object_ids = COALESCE((SELECT group_concat(ifnull(r.object_id, ''), ' ') FROM {by_event}), '') "
            f"AND NOT EXISTS (SELECT 1 FROM {by_event} AND r.object_type IS NOT e.object_type) "
            f"THEN {ids_count} ELSE -1 END"
        )
        source = f"{events} e"
    sql = f"SELECT e.id, {message}, e.mac, e.suite, {index} FROM {source} WHERE {where('e.id')} ORDER BY e.id"  # noqa: S608
    return sql, params


def _seals_sql(lo: int, hi: int) -> str:
    return (
        "SELECT number, suite, first_id, last_id, gaps, late, count, merkle_root, prev_hash, "  # noqa: S608
        f"seal_hash, signature, {_time_sql('sealed_at')} FROM {AuditSeal._meta.db_table} "
        f"WHERE {_id_range('number', lo, hi)} ORDER BY number"
    )


# On PostgreSQL the event query is planned as two index scans in id order joined by a merge
# join, whatever the statistics say: it reads a whole part, and what the planner picks for a
# table it has never analysed (a trail loaded in bulk, autovacuum off) costs several times
# more (bitmap scans, then sorting the part, on disk beyond work_mem) or grows with the
# square of the part (a nested loop that aggregates the object index again for every event).
# Set while the query is planned only.
_PLAN = ("enable_sort", "enable_hashagg", "enable_hashjoin", "enable_nestloop", "enable_bitmapscan")


@contextlib.contextmanager
def _plan_pinned(raw) -> Iterator[None]:
    """Plan the statements run inside with `_PLAN` off, then put the settings back as they
    were. One SELECT each way (set_config, local to the transaction): statements that may be
    prepared on the server, which a multi-statement SET cannot."""
    saved = raw.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(_PLAN)]).fetchall()
    raw.execute("SELECT set_config(name, 'off', true) FROM unnest(%s::text[]) AS s(name)", [list(_PLAN)])
    yield
    raw.execute(
        "SELECT set_config(name, setting, true) FROM unnest(%s::text[], %s::text[]) AS s(name, setting)",
        [[name for name, _value in saved], [value for _name, value in saved]],
    )


# --- reading -----------------------------------------------------------------------------
def _execute(sql: str, params: tuple = (), name: str = ""):
    """A cursor on the raw connection; server-side on PostgreSQL when named."""
    raw = connection.connection
    if _pg() and name:
        # Binary results: no text escaping to undo for each of millions of rows.
        cursor = raw.cursor(name=name, binary=True)
        cursor.itersize = BATCH
        with _plan_pinned(raw):
            cursor.execute(sql, params or None)  # planned here (DECLARE), fetched later
        return cursor
    cursor = raw.cursor()
    if params:
        cursor.execute(sql, params)
    else:
        cursor.execute(sql)
    return cursor


def _batches(cursor) -> Iterator[list]:
    while rows := cursor.fetchmany(BATCH):
        yield rows


_DONE = object()


def _read_ahead(batches: Iterator[list]) -> Iterator[list]:
    """Fetch the next batches in a thread while the caller works on the current one."""
    buffer: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the reading thread, which raises it
            put(exc)

    reader = threading.Thread(target=run, name="audit-verify-reader", daemon=True)
    reader.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


@contextlib.contextmanager
def _snapshot() -> Iterator[None]:
    connection.ensure_connection()
    if connection.in_atomic_block:
        # Inside the caller's transaction (tests, or a job that opened one).
        yield
        return
    raw = connection.connection
    if _pg():
        raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Compiling the query costs more than it saves for one pass over a part.
        raw.execute("SET LOCAL jit = off")
    else:
        # Django's atomic() would BEGIN IMMEDIATE and hold SQLite's write lock for the run.
        raw.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        raw.execute("ROLLBACK")


_ID, _MESSAGE, _STORED, _SUITE, _REFS = (operator.itemgetter(k) for k in range(5))


class _Events:
    """A part's checked events in id order, handed out seal by seal (batches as they come)."""

    def __init__(self, batches: Iterator[tuple[list[int], list[bytes]]]):
        self._batches = batches
        self._ids: list[int] = []
        self._macs: list[bytes] = []
        self._pos = 0

    def upto(self, last_id: int) -> tuple[list[int], list[bytes]]:
        """The ids and MACs of the events not handed out yet with id <= last_id."""
        ids: list[int] = []
        macs: list[bytes] = []
        while True:
            pos = self._pos
            # Ids come in order (ORDER BY id), so the end is found by bisection.
            end = bisect_right(self._ids, last_id, pos)
            if pos == 0 and end == len(self._ids) and not ids:
                ids, macs = self._ids, self._macs  # the whole batch: no copy
            else:
                ids += self._ids[pos:end]
                macs += self._macs[pos:end]
            self._pos = end
            if end < len(self._ids):
                return ids, macs
            batch = next(self._batches, None)
            if batch is None:
                return ids, macs
            self._ids, self._macs = batch
            self._pos = 0

    def rest(self) -> Iterator[tuple[list[int], list[bytes]]]:
        """The events not handed out yet, a batch at a time."""
        yield self._ids[self._pos :], self._macs[self._pos :]
        self._ids, self._macs, self._pos = [], [], 0
        yield from self._batches


def _gaps_within(gaps: set[int] | IdRanges, lo: int, hi: int) -> int:
    """How many of a seal's gap ids are in lo..hi."""
    if isinstance(gaps, IdRanges):
        return gaps.count_within(lo, hi)
    return sum(map(range(lo, hi + 1).__contains__, gaps))


def _not_in(gaps: set[int] | IdRanges, start: int, stop: int) -> Iterable[int]:
    """The ids of range(start, stop) that are not gaps, without walking a gap of any size."""
    if isinstance(gaps, IdRanges):
        return itertools.chain.from_iterable(range(a, b) for a, b in gaps.outside(start, stop))
    return itertools.filterfalse(gaps.__contains__, range(start, stop))


def _covers(
    ids: list[int],
    macs: list[bytes],
    first_id: int,
    last_id: int,
    gap_ids: set[int] | IdRanges,
    pending: dict[int, bytes],
    covered: list[bytes],
) -> bool:
    """When a seal's events (ids <= last_id, in order) are exactly the ids it covers, take
    them (covered MACs in order; events in its gaps into `pending`) and say so; otherwise
    change nothing and leave it to `_PartCheck.walk` to name what is missing or extra.

    The same outcome as the walk for a seal that matches, with list operations only."""
    if ids and ids[0] < first_id:
        return False
    span = range(first_id, last_id + 1)
    kept_ids, kept_macs = ids, macs
    in_gaps: list[bool] | None = None
    if gap_ids:
        flags = list(map(gap_ids.__contains__, ids))
        if any(flags):
            in_gaps = flags
            keep = list(map(operator.not_, flags))
            kept_ids = list(itertools.compress(ids, keep))
            kept_macs = list(itertools.compress(macs, keep))
        # Checked before the expected ids are listed: a seal's range may be anything.
        if len(kept_ids) != len(span) - _gaps_within(gap_ids, first_id, last_id):
            return False
        expected = list(_not_in(gap_ids, first_id, last_id + 1))
    else:
        if len(kept_ids) != len(span):
            return False
        expected = list(span)
    if kept_ids != expected:
        return False
    if in_gaps is not None:
        for eid, mac in itertools.compress(zip(ids, macs, strict=True), in_gaps):
            pending[eid] = mac
    covered += kept_macs
    return True


# --- one part of the trail -----------------------------------------------------------------
@dataclass(frozen=True)
class _Part:
    """Seals with lo_seal < number <= hi_seal and events with lo_id < id <= hi_id (None: no end)."""

    lo_seal: int
    hi_seal: int
    lo_id: int
    hi_id: int | None


@dataclass
class _PartResult:
    problems: list[Problem]
    problem_count: int
    events: int = 0
    sealed: int = 0
    seals: int = 0
    unsealed: int = 0
    # (number, prev_hash, first_id) of the part's first seal, (number, seal_hash, last_id) of its last.
    first_seal: tuple[int, str, int] | None = None
    last_seal: tuple[int, str, int] | None = None
    # Events seen in a seal's gaps and not listed late within the part; late ids listed
    # here that lie in earlier parts.
    pending: set[int] = field(default_factory=set)
    borrowed: set[int] = field(default_factory=set)
    anchor: tuple[int, str] | None = None


class _PartCheck:
    def __init__(self, part: _Part, anchor: tuple[int, str] | None):
        self.part = part
        self.anchor = anchor
        self.problems = _Problems()
        self.key = keyring().audit_mac_key
        self.verify_key = keyring().audit_verify_key
        self._macs: dict[str, object] = {}
        self.attached = 0  # object index rows that agreed with their event
        self.doubtful: list[int] = []

    def problem(self, message: str, *, event: int | None = None, seal: int | None = None, at: float) -> None:
        self.problems.add(Problem(message, event, seal, at))

    def check(self, rows: list[tuple]) -> tuple[list[int], list[bytes]]:
        """The ids and MACs of a batch of event rows (in id order), recording the rows that do
        not match. An event of an unknown suite is left out (its seal then misses it).

        The usual batch (one suite, every MAC and index check right) costs a few list
        operations beside the HMACs; anything else is looked at row by row."""
        suites = set(map(_SUITE, rows))
        macs = self.macs(suites.pop()) if len(suites) == 1 else None
        if macs is None:
            return self.check_rows(rows)
        ids = list(map(_ID, rows))
        digests = macs(map(_MESSAGE, rows))
        stored = list(map(_STORED, rows))
        if list(map(bytes.hex, digests)) != stored:
            for k, (eid, digest, text) in enumerate(zip(ids, digests, stored, strict=True)):
                if digest.hex() != text:
                    digests[k] = self.mismatch(eid, digest, text)
        refs = list(map(_REFS, rows))
        if min(refs) < 0:
            self.doubtful.extend(eid for eid, n in zip(ids, refs, strict=True) if n < 0)
            refs = [n for n in refs if n >= 0]
        self.attached += sum(refs)
        return ids, digests

    def check_rows(self, rows: list[tuple]) -> tuple[list[int], list[bytes]]:
        ids: list[int] = []
        digests: list[bytes] = []
        for eid, message, stored, suite, refs in rows:
            macs = self.macs(suite)
            if macs is None:
                self.problem("unknown hash suite", event=eid, at=eid)
                continue
            (digest,) = macs((message,))
            if digest.hex() != stored:
                digest = self.mismatch(eid, digest, stored)
            if refs < 0:
                self.doubtful.append(eid)
            else:
                self.attached += refs
            ids.append(eid)
            digests.append(digest)
        return ids, digests

    def macs(self, suite: str):
        """`mac_many` for the suite (None for an unknown suite)."""
        try:
            return self._macs[suite]
        except KeyError:
            try:
                many = mac_many(suite, self.key)
            except KeyError:
                many = None
            self._macs[suite] = many
            return many

    def mismatch(self, eid: int, digest: bytes, stored: str) -> bytes:
        """Record a MAC that does not match; the stored one stands in for the event in its
        seal's Merkle tree (the event is reported once, not again as a wrong root)."""
        self.problem("content does not match its MAC (changed, inserted or renumbered)", event=eid, at=eid)
        # TypeError: a NULL (NOT NULL dropped) or, on SQLite, a BLOB.
        with contextlib.suppress(ValueError, TypeError):
            return bytes.fromhex(stored)
        return digest

    def events(self, result: _PartResult) -> _Events:
        sql, params = _events_sql(lo=self.part.lo_id, hi=self.part.hi_id)
        cursor = _execute(sql, params, "audit_verify_events")

        def batches() -> Iterator[tuple[list[int], list[bytes]]]:
            try:
                for rows in _read_ahead(_batches(cursor)):
                    result.events += len(rows)
                    yield self.check(rows)
            finally:
                cursor.close()

        return _Events(batches())

    def borrow(self, ids: list[int]) -> dict[int, bytes]:
        """Stored MACs of events of earlier parts listed late by a seal of this one (the
        part that holds an event checks its MAC and object index)."""
        table = AuditEvent._meta.db_table
        listed = ", ".join(str(int(i)) for i in ids)
        cursor = _execute(f"SELECT id, mac FROM {table} WHERE id IN ({listed})")  # noqa: S608
        rows = cursor.fetchall()
        cursor.close()
        found = {}
        for eid, stored in rows:
            with contextlib.suppress(ValueError, TypeError):
                found[eid] = bytes.fromhex(stored)
        return found

    def index(self) -> None:
        """Doubtful object index rows; then, when the part holds another number of rows than
        its events name ids, the rows that point at no event and the events with another
        number of rows than ids (a row that stands for two ids by holding a space spells
        them as the event lists them, but is one row)."""
        events, refs = AuditEvent._meta.db_table, AuditObjectRef._meta.db_table
        message = "object index rows do not match the event's object ids"
        named: set[int] = set()
        with connection.cursor() as cursor:
            for eid in self.doubtful:
                # group_concat's order is not guaranteed on SQLite: compare as sets.
                cursor.execute(f"SELECT object_type, object_id FROM {refs} WHERE event_id = %s", [eid])  # noqa: S608
                rows = cursor.fetchall()
                self.attached += len(rows)
                cursor.execute(f"SELECT object_type, object_ids FROM {events} WHERE id = %s", [eid])  # noqa: S608
                # Not text (a NULL, a BLOB): the event fails its MAC; its rows are named here too.
                otype, ids = (v if isinstance(v, str) else "" for v in cursor.fetchone())
                if any(None in row for row in rows) or sorted(rows) != sorted(ref_pairs(otype, ids.split())):
                    self.problem(message, event=eid, at=eid)
                    named.add(eid)
            in_part = _id_range("event_id", self.part.lo_id, self.part.hi_id)
            cursor.execute(f"SELECT count(*) FROM {refs} WHERE {in_part}")  # noqa: S608
            if cursor.fetchone()[0] == self.attached:
                return
            cursor.execute(
                f"SELECT DISTINCT event_id FROM {refs} WHERE {in_part} "  # noqa: S608
                f"AND event_id NOT IN (SELECT id FROM {events}) ORDER BY event_id LIMIT {MAX_PROBLEMS}"
            )
            for (eid,) in cursor.fetchall():
                self.problem("object index rows point at an event that does not exist", event=eid, at=eid)
            # Only after a difference in the totals, so the usual run never counts per event.
            # On PostgreSQL in pg_catalog's terms, like the event query.
            pg = _pg()
            count = "pg_catalog.count" if pg else "count"
            eq, ne = ("OPERATOR(pg_catalog.=)", "OPERATOR(pg_catalog.<>)") if pg else ("=", "<>")
            cursor.execute(
                f"SELECT e.id FROM {events} e LEFT JOIN (SELECT event_id, {count}(*) AS n FROM {refs} "  # noqa: S608
                f"WHERE {in_part} GROUP BY event_id) g ON g.event_id {eq} e.id "
                f"WHERE {_id_range('e.id', self.part.lo_id, self.part.hi_id)} "
                f"AND COALESCE(g.n, 0) {ne} {_ids_count('e.object_ids', pg=pg)} ORDER BY e.id LIMIT {MAX_PROBLEMS}"
            )
            for (eid,) in cursor.fetchall():
                if eid not in named:
                    self.problem(message, event=eid, at=eid)

    def run(self) -> _PartResult:
        part = self.part
        result = _PartResult(problems=[], problem_count=0)
        with _snapshot():
            cursor = _execute(_seals_sql(part.lo_seal, part.hi_seal))
            seals = cursor.fetchall()
            cursor.close()
            # A seal whose content is not the signed one (or not even well-formed) is named,
            # and its lists and range are not used: they are the attacker's, and a range or gap
            # list of a trillion ids would exhaust the verifier instead of being reported.
            seals = [self.seal_checked(row) for row in seals]
            # Read before the event stream starts: its reader thread then has the connection to itself.
            earlier = sorted({lid for seal, ok in seals if ok for lid in ranges_ids(seal[5]) if lid <= part.lo_id})
            borrowed = self.borrow(earlier) if earlier else {}
            result.borrowed = set(borrowed)
            events = self.events(result)
            pending: dict[int, bytes] = {}
            prev: tuple[int, str, int] | None = None
            for seal, signed in seals:
                number, suite, first_id, last_id, gaps, late, count, root, link, seal_hash, _signature, _at = seal
                result.seals += 1
                head = first_id - 0.5
                if prev is None:
                    result.first_seal = (number, link, first_id)
                else:
                    if number != prev[0] + 1:
                        self.problem(
                            f"missing: seal {number} follows seal {prev[0]}", seal=prev[0] + 1, at=prev[2] + 0.5
                        )
                    if link != prev[1]:
                        self.problem(f"does not link to seal {prev[0]}", seal=number, at=head)
                    if first_id != prev[2] + 1:
                        self.problem(f"range does not continue from seal {prev[0]}", seal=number, at=head)
                prev = (number, seal_hash, last_id)
                if self.anchor is not None and number == self.anchor[0]:
                    result.anchor = (number, seal_hash)
                if not signed:
                    # Its events are then named as covered by no seal, or counted unsealed.
                    continue
                h = hash_function(suite)
                covered: list[bytes] = []
                for lid in sorted(ranges_ids(late)):
                    mac = borrowed.get(lid) if lid <= part.lo_id else pending.pop(lid, None)
                    if mac is None:
                        self.problem(f"missing (sealed late by seal {number})", event=lid, at=lid)
                    else:
                        covered.append(mac)
                gap_ids = gap_set(gaps)
                ids, macs = events.upto(last_id)
                if not _covers(ids, macs, first_id, last_id, gap_ids, pending, covered):
                    self.walk(ids, macs, first_id, last_id, gap_ids, pending, covered, number)
                if len(covered) != count or merkle_root(covered, h).hex() != root:
                    self.problem("the events it covers do not match its Merkle root", seal=number, at=last_id + 0.5)
                result.sealed += len(covered)
            result.last_seal = prev
            # Events after the part's last seal: the newest events of the trail (the last
            # part has no end) or, in any other part, events no seal covers.
            for ids, _macs in events.rest():
                if part.hi_id is None:
                    result.unsealed += len(ids)
                else:
                    for eid in ids:
                        self.problem("not covered by any seal, inside the sealed part of the trail", event=eid, at=eid)
            result.pending = set(pending)
            self.index()
        result.problems, result.problem_count = self.problems.sorted(), self.problems.count
        return result

    def seal_checked(self, row: tuple) -> tuple[tuple, bool]:
        """The seal's row, and whether it is well-formed and its hash and signature match;
        a problem names it otherwise. Values that are not of their column's type (NULL once
        NOT NULL is dropped) are replaced by harmless ones so the chain checks can go on."""
        number, suite, first_id, last_id, gaps, late, count, root, link, seal_hash, signature, at = row
        texts = (suite, gaps, late, root, link, seal_hash, signature, at)
        typed = all(type(v) is int for v in (first_id, last_id, count)) and all(type(v) is str for v in texts)
        if not typed:
            suite, gaps, late, root, link, seal_hash, signature, at = (v if type(v) is str else "" for v in texts)
            first_id, last_id, count = (v if type(v) is int else 0 for v in (first_id, last_id, count))
        row = (number, suite, first_id, last_id, gaps, late, count, root, link, seal_hash, signature, at)
        head = first_id - 0.5
        if not typed or not (_RANGES.fullmatch(gaps) and _RANGES.fullmatch(late)):
            self.problem("content is malformed (changed)", seal=number, at=head)
            return row, False
        try:
            h = hash_function(suite)
        except KeyError:
            self.problem("unknown hash suite", seal=number, at=head)
            return row, False
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
        signed = True
        if h(message).hex() != seal_hash:
            self.problem("content does not match its hash (changed)", seal=number, at=head)
            signed = False
        try:
            self.verify_key.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            self.problem("signature is not valid", seal=number, at=head)
            signed = False
        return row, signed

    def walk(
        self,
        ids: list[int],
        macs: list[bytes],
        first_id: int,
        last_id: int,
        gap_ids: set[int] | IdRanges,
        pending: dict[int, bytes],
        covered: list[bytes],
        number: int,
    ) -> None:
        """A seal's events one by one, naming each that is missing or out of place."""
        expect = first_id
        append = covered.append
        for eid, mac in zip(ids, macs, strict=True):
            if eid < first_id:
                self.problem("not covered by any seal, inside the sealed part of the trail", event=eid, at=eid)
            elif gap_ids and eid in gap_ids:
                # Committed after this seal was made: a later seal lists it as late.
                pending[eid] = mac
            else:
                if eid != expect:
                    self.missing(expect, eid, gap_ids, number)
                append(mac)
                expect = eid + 1
        self.missing(expect, last_id + 1, gap_ids, number)

    def missing(self, start: int, stop: int, gaps: set[int] | IdRanges, number: int) -> None:
        for eid in _not_in(gaps, start, stop):
            self.problem(f"missing (sealed by seal {number})", event=eid, at=eid)


def _run_part(args: tuple[_Part, tuple[int, str] | None]) -> _PartResult:
    # A part allocates millions of short-lived row tuples and no reference cycles: the
    # cyclic garbage collector would only walk them again and again (about 5 % of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _PartCheck(*args).run()
    finally:
        if collecting:
            gc.enable()


# --- the whole trail -----------------------------------------------------------------------
def _plan() -> list[_Part]:
    """Parts of about PART_EVENTS events, cut at seal boundaries; the last one has no end."""
    table = AuditSeal._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT number, last_id FROM {table} ORDER BY number DESC LIMIT 1")  # noqa: S608
        head = cursor.fetchone()
        if head is None:
            return [_Part(0, 0, 0, None)]
        cuts = [(0, 0)]
        # Bounded: the newest seal's last_id may have been changed to anything (that seal is
        # then named), and a query per part of a trillion ids would never end.
        count = min(math.ceil(head[1] / PART_EVENTS), MAX_PARTS) if type(head[1]) is int else 1
        for k in range(1, count):
            cursor.execute(
                f"SELECT number, last_id FROM {table} WHERE last_id <= %s ORDER BY last_id DESC LIMIT 1",  # noqa: S608
                [head[1] * k // count],
            )
            cut = cursor.fetchone()
            if cut is not None and cut[0] > cuts[-1][0] and cut[1] > cuts[-1][1]:
                cuts.append(cut)
    cuts.append((head[0], None))
    return [_Part(a[0], b[0], a[1], b[1]) for a, b in itertools.pairwise(cuts)]


def _worker_count(parts: int, workers: int | None) -> int:
    if (
        # Other processes could not see the caller's uncommitted rows, nor an in-memory
        # database (which also cannot be closed before forking without losing it).
        connection.in_atomic_block
        or (connection.vendor == "sqlite" and connection.is_in_memory_db())
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 1
    wanted = workers if workers is not None else min(os.cpu_count() or 1, MAX_WORKERS)
    return max(1, min(wanted, parts))


def _results(parts: list[_Part], anchor, workers: int) -> Iterator[_PartResult]:
    jobs = [(part, anchor) for part in parts]
    if workers == 1:
        yield from map(_run_part, jobs)
        return
    # Children must not share the parent's database connection: close it before the fork,
    # each child opens its own (and the parent reopens on its next query).
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_run_part, jobs)


def audit_verify(
    *, stream: TextIO | None = None, anchor: tuple[int, str] | None = None, workers: int | None = None
) -> VerifyResult:
    """Check the whole audit trail.

    stream: receives a progress line per part. anchor: (seal number, seal hash) recorded
    outside the database, which must still be in the chain (detects a trail cut short with
    its newest seals). workers: processes to use (default: one per CPU, up to MAX_WORKERS).
    """
    started = time.perf_counter()
    connection.ensure_connection()
    parts = _plan()
    workers = _worker_count(len(parts), workers)
    result = VerifyResult(workers=workers)
    problems = _Problems()
    prev: tuple[int, str, int] = (0, GENESIS, 0)
    pending: set[int] = set()
    borrowed: set[int] = set()
    anchor_seen: tuple[int, str] | None = None
    for part in _results(parts, anchor, workers):
        problems.merge(part.problems, part.problem_count)
        result.events += part.events
        result.sealed += part.sealed
        result.seals += part.seals
        result.unsealed += part.unsealed
        pending |= part.pending
        borrowed |= part.borrowed
        anchor_seen = anchor_seen or part.anchor
        if part.first_seal is not None:
            number, link, first_id = part.first_seal
            head = first_id - 0.5
            if number != prev[0] + 1:
                problems.add(
                    Problem(f"missing: seal {number} follows seal {prev[0]}", None, prev[0] + 1, prev[2] + 0.5)
                )
            if link != prev[1]:
                problems.add(Problem(f"does not link to seal {prev[0]}", None, number, head))
            if first_id != prev[2] + 1:
                problems.add(Problem(f"range does not continue from seal {prev[0]}", None, number, head))
            prev = part.last_seal
        if stream is not None:
            stream.write(f"… {result.events} events checked\n")
    for eid in sorted(borrowed - pending)[:MAX_PROBLEMS]:
        problems.add(Problem("listed late by a seal, but it was not in an earlier seal's gaps", eid, None, eid))
    if anchor is not None:
        if anchor_seen is None:
            problems.add(
                Problem("missing: the anchor seal is not in the chain (trail cut off)", None, anchor[0], math.inf)
            )
        elif anchor_seen[1] != anchor[1]:
            problems.add(Problem("does not match the anchor kept outside the database", None, anchor[0], math.inf))
    # Gap events that no seal lists as late yet are not sealed yet either.
    in_gaps = pending - borrowed
    result.unsealed += len(in_gaps)
    result.unsealed_in_gaps = sorted(in_gaps)[:MAX_PROBLEMS]
    result.problems, result.problem_count = problems.sorted(), problems.count
    result.seconds = time.perf_counter() - started
    return result
