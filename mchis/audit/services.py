"""Writing the audit trail (P10, P19) and sealing it (P9).

Writing
-------
`audit_record` writes one event in the caller's transaction: when the action rolls back, its
audit row rolls back with it. It takes no lock of its own. The event's id is drawn before the
INSERT so that the event's MAC can cover it: on PostgreSQL from the table's sequence
(`nextval`, which never blocks and never goes back), on SQLite as max(id) + 1 while the
transaction holds SQLite's database write lock, which every write transaction takes at BEGIN
anyway (`transaction_mode` IMMEDIATE). The MAC is HMAC(audit MAC key) over the canonical
encoding of every column (`integrity.event_message`), the id included, so a changed, copied
or renumbered row no longer matches. Object ids are also written to `AuditObjectRef`, the
index behind "who saw this record".

Sealing
-------
Ids are assigned at INSERT but rows become visible at COMMIT, and rolled-back transactions
leave ids that never appear. A seal therefore does not claim "every id up to N"; it states
exactly which events it covers:

* the range `first_id..last_id` (first_id is the previous seal's last_id + 1) minus the ids
  listed in `gaps`, which were not visible when the seal was made, plus
* `late`: ids inside earlier seals' gaps that have become visible since (an event whose
  transaction committed after its range was sealed).

`last_id` is the highest id among visible events older than a safety delay (two seconds by
default), so an event still being committed is rarely inside a sealed range at all; when it
is (a transaction that stays open longer), it is recorded as a gap and the next seal lists it
in `late`. A gap that never fills is a rollback, which is normal. Gaps are looked for in
seals made during the last `GAP_HORIZON` (a day: far longer than any transaction may stay
open); an event that committed even later stays unsealed and `audit verify` says so.

Each seal holds the count and the Merkle root over the MACs of the events it covers (in id
order), the hash of the previous seal, and an Ed25519 signature over all of it. Its number
is the primary key, so two sealers running at once cannot fork the chain: the second INSERT
fails and that sealer stops.

Against someone who can write to the database but holds no key: a new or changed event does
not match its MAC (and a forged MAC needs the key); a deleted, re-inserted or reordered
sealed event changes its seal's Merkle root or is missing from the ids the seal lists; a
changed, deleted or re-chained seal breaks its hash, signature or the next seal's link. The
events written since the last seal (a few seconds' worth) are protected by their MACs only:
deleting one of them looks like a rollback. Cutting off the newest seals together with their
events is detected against an anchor kept outside the database (`audit verify --anchor`,
the seal hash `audit seal` prints).

The huey task in `tasks.py` calls `audit_seal` every few seconds; `mchis audit seal` calls
it on demand (with no safety delay: it seals everything committed).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from mchis.audit.anchors import anchor_record
from mchis.audit.context import AuditContext, context_current
from mchis.audit.integrity import (
    EVENT_FIELDS,
    GENESIS,
    IdRanges,
    clean_text,
    event_message,
    hash_function,
    mac_function,
    merkle_root,
    ranges_decode,
    ranges_encode,
    ref_pairs,
    seal_message,
    time_text,
)
from mchis.audit.models import AuditAction, AuditEvent, AuditObjectRef, AuditOutcome, AuditSeal
from mchis.crypto.keyring import keyring
from mchis.ops import rows

log = logging.getLogger(__name__)

SEAL_SAFETY_DELAY = timedelta(seconds=2)
SEAL_BATCH = 100_000
GAP_HORIZON = timedelta(days=1)

_OBJECT_TYPE = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
# No space (ids are listed space-separated) and no colon (an event of several kinds lists
# "<type>:<id>", and `audit verify` relies on the colon being the type's).
_OBJECT_ID = re.compile(r"[^\s:\x00-\x1f\x7f]{1,64}")
# A field name, or in an event of several kinds "<model label>:<field>" (reads_flush).
_FIELD_NAME = re.compile(r"(?:[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*:)?[A-Za-z_][A-Za-z0-9_.]{0,63}")
_EXTRA_MAX = 4000


def _text_values(event: AuditEvent) -> tuple[str, ...]:
    """The event's EVENT_FIELDS as the text the MAC covers."""
    values = []
    for name in EVENT_FIELDS:
        if name == "at":
            values.append(time_text(event.at))
        elif name in ("actor_id", "institution_id"):
            value = getattr(event, name)
            values.append("" if value is None else str(value))
        else:
            values.append(str(getattr(event, name)))
    return tuple(values)


# The MAC function of the current (suite, key): building one costs more than a MAC (the padded
# key's hash states), and every request writes events.
_mac_last: tuple[str, bytes, object] | None = None


def _mac_for(suite: str, key: bytes):
    global _mac_last
    last = _mac_last
    if last is None or last[0] != suite or last[1] != key:
        last = _mac_last = (suite, key, mac_function(suite, key))
    return last[2]


def event_mac(event: AuditEvent) -> str:
    return _mac_for(event.suite, keyring().audit_mac_key)(event_message(_text_values(event))).hex()


def _clean_ids(object_ids: Sequence[str]) -> list[str]:
    if isinstance(object_ids, str):
        raise ValueError("object_ids is a sequence of ids, not one string")
    seen: dict[str, None] = {}
    for raw in object_ids:
        oid = str(raw)
        if not _OBJECT_ID.fullmatch(oid):
            raise ValueError(f"object id {oid!r}: 1-64 characters without spaces or colons")
        seen.setdefault(oid, None)
    return list(seen)


def _clean_refs(tokens: Sequence[str]) -> list[str]:
    """The object ids of an event without an object type: each names its kind, "<label>:<id>"."""
    if isinstance(tokens, str):
        raise ValueError("object_ids is a sequence of ids, not one string")
    seen: dict[str, None] = {}
    for raw in tokens:
        token = str(raw)
        object_type, sep, oid = token.partition(":")
        if not sep or not _OBJECT_TYPE.fullmatch(object_type) or not _OBJECT_ID.fullmatch(oid):
            raise ValueError(
                f"object id {token!r}: an event without an object type needs object ids that name their type "
                "('people.person:12')"
            )
        seen.setdefault(token, None)
    return list(seen)


def _clean_objects(object_type: str, object_ids: Sequence[str]) -> tuple[str, list[str]]:
    """The event's object type and ids, checked."""
    # Model labels are case-insensitive ("people.Person" is "people.person"); one spelling
    # keeps "who saw this record" from missing events.
    object_type = object_type.lower()
    if object_type and not _OBJECT_TYPE.fullmatch(object_type):
        raise ValueError(f"object type {object_type!r} is not a model label like 'people.person'")
    return object_type, _clean_ids(object_ids) if object_type else _clean_refs(object_ids)


def _clean_fields(fields: Sequence[str]) -> list[str]:
    if isinstance(fields, str):
        raise ValueError("fields is a sequence of field names, not one string")
    names = list(dict.fromkeys(fields))
    for name in names:
        # Names only: a value written here by mistake would put clinical data in the trail.
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"field name {name!r} is not an identifier (field names, never values)")
    return names


def _extra_text(extra: dict | None) -> str:
    if not extra:
        return ""
    if not isinstance(extra, dict):
        raise ValueError("extra must be a dict")
    # Canonical JSON, ASCII-escaped: no control character can reach the stored text.
    text = json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text) > _EXTRA_MAX:
        raise ValueError(f"extra is longer than {_EXTRA_MAX} characters")
    return text


_pg_sequence: dict[str, str] = {}

# PostgreSQL: ids are drawn from the sequence in small blocks kept on the connection, so an
# audited request does not pay a round trip for its event id (with 8 writers on 2 cores that
# round trip was a third of the audit's cost). An id is used at most ID_BLOCK_MAX_AGE after it
# was drawn, far inside the sealer's gap horizon; ids of a block left unused become gaps, like
# a rollback's. Whoever moves the sequence by hand (restores, tests writing chosen ids) calls
# `audit_ids_forget()` so no stale id is handed out.
ID_BLOCK = 32
ID_BLOCK_MAX_AGE = 10.0


def audit_ids_forget() -> None:
    connection._mchis_audit_ids = None


def _sequence_name(connection) -> str:
    """The PostgreSQL sequence of event ids (asked once per database)."""
    seq = _pg_sequence.get(connection.settings_dict["NAME"])
    if seq is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [AuditEvent._meta.db_table])
            seq = _pg_sequence[connection.settings_dict["NAME"]] = cursor.fetchone()[0]
    return seq


def _event_id_next(connection=connection) -> int:
    table = AuditEvent._meta.db_table
    if connection.vendor == "postgresql":
        block = getattr(connection, "_mchis_audit_ids", None)
        now = time.monotonic()
        # A forked process (a pre-loading server's workers) inherits the connection object and
        # with it the parent's block: a block belongs to the process that drew it.
        if not block or now - block[0] > ID_BLOCK_MAX_AGE or block[2] != os.getpid():
            seq = _sequence_name(connection)
            with connection.cursor() as cursor:
                cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [seq, ID_BLOCK])
                ids = sorted(row[0] for row in cursor.fetchall())
            block = connection._mchis_audit_ids = [now, ids, os.getpid()]
        event_id = block[1].pop(0)
        if not block[1]:
            connection._mchis_audit_ids = None
        return event_id
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # sqlite_sequence remembers ids of rows removed since, so an id is never reused.
            cursor.execute(
                f'SELECT max(coalesce((SELECT max(id) FROM "{table}"), 0), '  # noqa: S608 (table name from the model)
                "coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0)) + 1",
                [table],
            )
            return cursor.fetchone()[0]
    raise NotImplementedError(f"audit ids on {connection.vendor}")


_EVENT_COLUMNS = [f.column for f in AuditEvent._meta.concrete_fields]
# The write path builds the row as a tuple in column order: the canonical fields, then the MAC.
if [f.attname for f in AuditEvent._meta.concrete_fields] != [*EVENT_FIELDS, "mac"]:
    raise RuntimeError("AuditEvent's columns no longer follow integrity.EVENT_FIELDS then mac")
_AT, _ACTION, _TYPE = (_EVENT_COLUMNS.index(c) for c in ("at", "action", "object_type"))
_EVENT_INSERT = (
    f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608 (names from the model)
    f"VALUES ({', '.join(['%s'] * len(_EVENT_COLUMNS))})"
)


def _refs_from(event: str) -> str:
    """INSERT of the object index rows of the event returned by the WITH member `event`, in
    the order of the ids (so the index rows' ids follow the event's list)."""
    return (
        f"INSERT INTO {AuditObjectRef._meta.db_table} (event_id, object_type, object_id) "  # noqa: S608 (names from the model)
        f"SELECT {event}.id, %s, u.oid FROM {event}, unnest(%s::text[]) WITH ORDINALITY AS u(oid, n) ORDER BY u.n"
    )


_REFS_INSERT_PG = f"WITH e AS ({_EVENT_INSERT} RETURNING id) {_refs_from('e')}"
# An event of several kinds: each id comes with its own type.
_REFS_INSERT_PG_MIXED = (
    f"WITH e AS ({_EVENT_INSERT} RETURNING id) "  # noqa: S608 (names from the model)
    f"INSERT INTO {AuditObjectRef._meta.db_table} (event_id, object_type, object_id) "
    "SELECT e.id, u.otype, u.oid FROM e, unnest(%s::text[], %s::text[]) WITH ORDINALITY AS u(otype, oid, n) "
    "ORDER BY u.n"
)
_REFS_INSERT = f"INSERT INTO {AuditObjectRef._meta.db_table} (event_id, object_type, object_id) VALUES (%s, %s, %s)"  # noqa: S608


def _event_insert(values: list, ids: list[str], connection=connection) -> None:
    """INSERT the event (`values`: the row adapted for the database, in column order) and its
    object index rows: one statement on PostgreSQL.

    Hand-written rather than save() + bulk_create(): this runs for every request and
    every write, and it saves a round trip and most of the ORM's per-row work.
    """
    cursor = rows.cursor(connection)
    object_type = values[_TYPE]
    if ids and connection.vendor == "postgresql":
        if object_type:
            cursor.execute(_REFS_INSERT_PG, [*values, object_type, ids])
        else:
            pairs = ref_pairs(object_type, ids)
            cursor.execute(_REFS_INSERT_PG_MIXED, [*values, [t for t, _ in pairs], [i for _, i in pairs]])
    else:
        cursor.execute(_EVENT_INSERT, values)
        if ids:
            cursor.executemany(_REFS_INSERT, [(values[0], t, oid) for t, oid in ref_pairs(object_type, ids)])


# Django builds `Choices.values` as a new list on every access; every event checks both.
_ACTIONS = frozenset(AuditAction.values)
_OUTCOMES = frozenset(AuditOutcome.values)


def _event_pending(
    *,
    action: str,
    actor,
    actor_username: str,
    object_type: str,
    object_ids: Sequence[str],
    fields: Sequence[str],
    outcome: str,
    purpose: str,
    reason: str,
    institution,
    extra: dict | None,
) -> PendingEvent:
    """The event checked and built as a row, not written yet."""
    if action not in _ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if outcome not in _OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    ctx = context_current() or AuditContext()
    if action == AuditAction.DENY:
        outcome = AuditOutcome.DENIED
    object_type, ids = _clean_objects(object_type, object_ids)
    names = _clean_fields(fields)
    user = actor if getattr(actor, "pk", None) is not None else None
    if institution is None and user is not None:
        institution_id = getattr(user, "institution_id", None)
    else:
        institution_id = getattr(institution, "pk", institution)
    actor_id = user.pk if user is not None else None
    ring = keyring()
    suite = ring.active.suite.name
    at = timezone.now()
    # The row in column order (EVENT_FIELDS, then the MAC); id and MAC are set when written.
    row = [
        None,
        at,
        suite,
        actor_id,
        clean_text(user.get_username() if user is not None else actor_username, 150),
        institution_id,
        action,
        outcome,
        object_type,
        " ".join(ids),
        " ".join(names),
        clean_text(purpose, 100),
        clean_text(reason, 1000),
        clean_text(ctx.source_ip, 45),
        clean_text(ctx.request_id, 64),
        clean_text(ctx.path, 300),
        clean_text(ctx.user_agent, 200),
        _extra_text(extra),
        "",
    ]
    return PendingEvent(row, ids, _mac_for(suite, ring.audit_mac_key), ctx)


@cache
def _event_casts() -> tuple[str, ...]:
    """Typed placeholders of the event's columns: in INSERT … SELECT the columns do not type them."""
    conn = connections["default"]
    return tuple(f"%s::{f.db_type(conn)}" for f in AuditEvent._meta.concrete_fields)


class PendingEvent:
    """An event checked and built, written either alone (`audit_record`) or in the statement
    of the rows it records (`audit_pending` with `rows.insert_together`)."""

    __slots__ = ("ctx", "ids", "mac", "row")

    def __init__(self, row: list, ids: list[str], mac, ctx: AuditContext):
        self.row, self.ids, self.mac, self.ctx = row, ids, mac, ctx

    @property
    def together_key(self) -> bool:
        return bool(self.ids)

    def _finish(self, connection) -> list:
        """Draw the id and MAC the canonical text: inside the event's transaction."""
        row = self.row
        row[0] = _event_id_next(connection)
        text = [str(v) if v is not None else "" for v in row[:-1]]
        text[_AT] = time_text(row[_AT])
        row[-1] = self.mac(event_message(text)).hex()
        values = list(row)
        values[_AT] = connection.ops.adapt_datetimefield_value(row[_AT])
        return values

    def insert(self, connection) -> None:
        _event_insert(self._finish(connection), self.ids, connection)

    @classmethod
    def together_sql(cls, with_ids: bool, name: str, source: str) -> str:
        table = AuditEvent._meta.db_table
        sql = (
            f"{name} AS (INSERT INTO {table} ({', '.join(_EVENT_COLUMNS)}) "  # noqa: S608 (names from the model)
            f"SELECT {', '.join(_event_casts())} FROM {source} RETURNING id)"
        )
        return f"{sql}, {name}_refs AS ({_refs_from(name)})" if with_ids else sql

    def together_params(self, connection) -> list:
        values = self._finish(connection)
        return [*values, self.row[_TYPE], self.ids] if self.ids else values

    def written(self) -> None:
        self.ctx.events += 1
        if self.row[_ACTION] == AuditAction.DENY:
            self.ctx.denial_recorded = True

    def event(self, alias: str) -> AuditEvent:
        event = AuditEvent(*self.row)
        event._state.adding = False
        event._state.db = alias
        return event


def _event_write(**kwargs) -> AuditEvent:
    pending = _event_pending(**kwargs)
    # (The connection itself, not the `django.db.connection` proxy: each attribute read
    # through the proxy costs a context-local lookup.)
    conn = transaction.get_connection()
    read = pending.row[_ACTION] == AuditAction.READ
    if conn.in_atomic_block:
        # What atomic(savepoint=False) would do, without its bookkeeping: a failure dooms the
        # caller's transaction, so no action commits without its audit row.
        try:
            pending.insert(conn)
        except BaseException:
            conn.needs_rollback = True
            raise
    elif conn.vendor == "postgresql" and not (read and settings.MCHIS_AUDIT_READ_COMMIT == "async"):
        # Alone, on PostgreSQL: the event and its object index rows are one statement, a
        # transaction of its own (no BEGIN and COMMIT round trips).
        pending.insert(conn)
    else:
        # Alone: a transaction of its own (on SQLite it holds the write lock from the id
        # lookup to the INSERT).
        with transaction.atomic():
            if read:
                _read_commit_mode(conn)
            pending.insert(conn)
    pending.written()
    if pending.row[_ACTION] == AuditAction.DENY and conn.in_atomic_block:
        pending.ctx.denials_open.append((pending.row[0], pending.row[-1], kwargs))
    return pending.event(conn.alias)


def _read_commit_mode(connection) -> None:
    """The event of a read, in a transaction of its own: on PostgreSQL, commit it without
    waiting for the WAL flush when MCHIS_AUDIT_READ_COMMIT is "async" (default "durable").

    A read changes nothing, and where the disk's flush is slow (several milliseconds on a
    busy shared disk) the durable commit is most of the cost of an audited lookup (bench/
    "people"). What the trade gives up is small and bounded: PostgreSQL flushes the WAL within three
    `wal_writer_delay` (0.6 s by default) and in order, so a crash of the database server can
    lose only the newest read events, never one before a later surviving event (the chain
    and the seals stay whole), never a write or its event (those transactions commit
    durably), and the next commit of any write flushes everything before it.
    """
    if connection.vendor == "postgresql" and settings.MCHIS_AUDIT_READ_COMMIT == "async":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


@dataclass(slots=True)
class _Read:
    """The arguments of an event of `audit_record` but its action; in a web request, a read
    waiting to be written with the request's others."""

    actor: object
    object_type: str
    object_ids: Sequence[str]
    fields: Sequence[str]
    outcome: str
    purpose: str
    reason: str
    institution: object
    extra: dict | None

    def arguments(self) -> dict:
        """As keyword arguments of `_event_write` (with `action` and `actor_username`)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def group(self) -> tuple:
        """Reads of one group become one event: the same actor, institution, outcome and reason."""
        return (
            getattr(self.actor, "pk", None),
            getattr(self.institution, "pk", self.institution),
            self.outcome,
            self.reason,
        )


def _read_collect(ctx: AuditContext, read: _Read) -> None:
    """Check the read as `audit_record` would (the caller gets the error, not the response),
    then keep it for the request's event."""
    if read.outcome not in _OUTCOMES:
        raise ValueError(f"unknown audit outcome {read.outcome!r}")
    read.object_type, read.object_ids = _clean_objects(read.object_type, read.object_ids)
    read.fields = _clean_fields(read.fields)
    _extra_text(read.extra)
    ctx.reads.append(read)


def _merged_extra(extras: list[dict]) -> dict:
    """The reads' metadata in one dict: a key they disagree on keeps each distinct value, in order."""
    merged: dict = {}
    for extra in extras:
        for key, value in extra.items():
            if key not in merged:
                merged[key] = value
            elif merged[key] != value:
                values = merged[key] if isinstance(merged[key], _Values) else _Values([merged[key]])
                if value not in values:
                    values.append(value)
                merged[key] = values
    return {k: list(v) if isinstance(v, _Values) else v for k, v in merged.items()}


class _Values(list):
    """The distinct values of one key in `_merged_extra` (a list a read gave stays one value)."""


def _merged(reads: list[_Read]) -> dict:
    """The arguments of the one event that records `reads` (of one group).

    Reads of one kind keep the event's usual form: that object type and the union of the ids
    and fields. Reads of several kinds (a pregnancy page shows the episode and the woman) give
    an event without an object type whose ids and fields name their kind, "people.person:12"
    and "people.person:name"; its object index rows hold each kind as usual, so "who saw this
    record" finds it like any other. `extra` of several kinds is kept per kind.
    """
    first = reads[0]
    kinds = list(dict.fromkeys(r.object_type for r in reads if r.object_type))
    purpose = "; ".join(dict.fromkeys(r.purpose for r in reads if r.purpose))
    if len(kinds) <= 1 and not any(r.object_ids and not r.object_type for r in reads):
        object_type = kinds[0] if kinds else ""
        ids = [oid for r in reads for oid in r.object_ids]
        fields = [f for r in reads for f in r.fields]
        extra = _merged_extra([r.extra for r in reads if r.extra])
    else:
        object_type = ""
        ids = [f"{r.object_type}:{oid}" if r.object_type else oid for r in reads for oid in r.object_ids]
        fields = [f"{r.object_type}:{f}" if r.object_type else f for r in reads for f in r.fields]
        by_kind: dict[str, list[dict]] = {}
        for r in reads:
            if r.extra:
                by_kind.setdefault(r.object_type or "-", []).append(r.extra)
        if list(by_kind) == ["-"]:  # only reads whose ids already name their kinds
            extra = _merged_extra(by_kind["-"])
        else:
            extra = {kind: _merged_extra(extras) for kind, extras in by_kind.items()}
    return {
        "action": AuditAction.READ,
        "actor": first.actor,
        "actor_username": "",
        "object_type": object_type,
        "object_ids": ids,
        "fields": fields,
        "outcome": first.outcome,
        "purpose": purpose[:100],
        "reason": first.reason,
        "institution": first.institution,
        "extra": extra,
    }


def reads_collect(ctx: AuditContext) -> None:
    """From now on, the reads of the context's request wait for `reads_flush`."""
    ctx.reads = []


def reads_flush(ctx: AuditContext) -> list[AuditEvent]:
    """Write the reads collected during the request: one event per group (normally one).

    Called by AuditContextMiddleware before the response leaves: if the write fails, the
    request ends in a server error and the data it read is not sent. Later reads (a streamed
    body) are written as they happen. Where the merged metadata would exceed what an event
    holds, the reads are written one event each rather than lose any.
    """
    reads, ctx.reads = ctx.reads, None
    if not reads:
        return []
    groups: dict[tuple, list[_Read]] = {}
    for read in reads:
        groups.setdefault(read.group(), []).append(read)
    events = []
    for group in groups.values():
        merged = _merged(group)
        try:
            _extra_text(merged["extra"])
        except ValueError:
            events.extend(_event_write(action=AuditAction.READ, actor_username="", **r.arguments()) for r in group)
            continue
        events.append(_event_write(**merged))
    return events


def denials_settle(ctx: AuditContext) -> int:
    """Write again the refusals of `ctx` that a rollback took away; how many it wrote.

    A service refuses inside its transaction, and the refusal's event is written there; when
    the transaction then rolls back (the refused action, an idempotent API call's transaction
    around it), the event goes with it, yet a refusal must be on the trail whatever became of
    the action (P10). Called once the request's transactions are over (AuditContextMiddleware,
    ApiCallAuditMiddleware, `audit_context`): one query, and only when a refusal was written
    inside a transaction.
    """
    open_, ctx.denials_open = ctx.denials_open, []
    if not open_:
        return 0
    # By id and MAC: on SQLite a rolled-back event's id is drawn again by the next event.
    kept = set(AuditEvent.objects.filter(pk__in=[pk for pk, _mac, _args in open_]).values_list("pk", "mac"))
    lost = [args for pk, mac, args in open_ if (pk, mac) not in kept]
    for args in lost:
        _event_write(**args)
    return len(lost)


def audit_record(
    *,
    action: str,
    actor=None,
    object_type: str = "",
    object_ids: Sequence[str] = (),
    fields: Sequence[str] = (),
    outcome: str = AuditOutcome.OK,
    purpose: str = "",
    reason: str = "",
    institution=None,
    extra: dict | None = None,
) -> AuditEvent | None:
    """Append one event to the audit trail, in the caller's transaction.

    action: an `AuditAction` value. actor: the acting user (None or anonymous: nobody signed
    in). object_type: the model label ("people.person"); object_ids: the ids read or written
    (one read event per request lists every id shown). fields: names of the fields read or
    changed, never their values. purpose: purpose of use of a read. institution: defaults to
    the actor's. extra: small non-clinical metadata (a grant id, a filter). Source IP,
    request id, path and user agent come from the request context (`AuditContextMiddleware`).

    In a web request a read is collected instead and written with the request's other reads
    as one event when the response is ready (`reads_flush`); it returns None then.
    """
    read = _Read(
        actor=actor,
        object_type=object_type,
        object_ids=object_ids,
        fields=fields,
        outcome=outcome,
        purpose=purpose,
        reason=reason,
        institution=institution,
        extra=extra,
    )
    if action == AuditAction.READ:
        ctx = context_current()
        if ctx is not None and ctx.reads is not None:
            _read_collect(ctx, read)
            return None
    return _event_write(action=action, actor_username="", **read.arguments())


def audit_pending(
    *,
    action: str,
    actor=None,
    object_type: str = "",
    object_ids: Sequence[str] = (),
    fields: Sequence[str] = (),
    outcome: str = AuditOutcome.OK,
    purpose: str = "",
    reason: str = "",
    institution=None,
) -> PendingEvent:
    """The event `audit_record` would write (same arguments), for `rows.insert_together` to
    write in the same statement as the new rows it records: with them or not at all."""
    if object_ids and not object_type:
        raise ValueError("audit_pending records new rows of one kind: give their object type")
    return _event_pending(
        action=action,
        actor=actor,
        actor_username="",
        object_type=object_type,
        object_ids=object_ids,
        fields=fields,
        outcome=outcome,
        purpose=purpose,
        reason=reason,
        institution=institution,
        extra=None,
    )


def audit_denied(
    *,
    actor=None,
    object_type: str = "",
    object_ids: Sequence[str] = (),
    fields: Sequence[str] = (),
    purpose: str = "",
    reason: str = "",
    extra: dict | None = None,
) -> AuditEvent:
    """Record a refusal. Best outside the transaction of the refused action (a view does, after
    the service raised); written inside one that then rolls back, it is written again when the
    request or job is over (`denials_settle`), so a refusal is kept in either case."""
    return audit_record(
        action=AuditAction.DENY,
        actor=actor,
        object_type=object_type,
        object_ids=object_ids,
        fields=fields,
        outcome=AuditOutcome.DENIED,
        purpose=purpose,
        reason=reason,
        extra=extra,
    )


# The purpose recorded with an audit administrator's reads (of the trail, or of whose records
# an event names).
AUDIT_REVIEW = "audit review"


def audit_trail_viewed(*, actor, event_ids: Sequence[int], page: str, filters: dict[str, str]) -> AuditEvent | None:
    """Reading the audit trail is audited too: which events an auditor was shown, and how."""
    return audit_record(
        action=AuditAction.READ,
        actor=actor,
        object_type="audit.event",
        object_ids=[str(i) for i in event_ids],
        purpose=AUDIT_REVIEW,
        extra={"page": page, "filters": filters} if filters else {"page": page},
    )


def audit_login_failed(*, username: str, reason: str = "") -> AuditEvent:
    """A failed login: the actor is the account whose name was tried (when it exists).
    reason: why, when it is not a wrong credential ("locked out")."""
    from django.contrib.auth import get_user_model

    account = get_user_model().objects.filter(username=username).first() if username else None
    return _event_write(
        action=AuditAction.LOGIN_FAILED,
        actor=account,
        actor_username=username,
        object_type="",
        object_ids=(),
        fields=(),
        outcome=AuditOutcome.FAILED,
        purpose="",
        reason=reason,
        institution=None,
        extra=None,
    )


# --- sealing ------------------------------------------------------------------------------
def _missing(lo: int, hi: int, present: list[int]) -> IdRanges:
    """Ids in lo..hi not in `present` (sorted), as ranges: a hole may be of any size."""
    holes: list[tuple[int, int]] = []
    expect = lo
    for n in present:
        if n > expect:
            holes.append((expect, n - 1))
        expect = n + 1
    if expect <= hi:
        holes.append((expect, hi))
    return IdRanges(holes)


def _open_gaps(now) -> IdRanges:
    """Gap ids of recent seals that no later seal has listed as late yet."""
    recent = AuditSeal.objects.filter(sealed_at__gte=now - GAP_HORIZON)
    gaps = IdRanges(r for text in recent.exclude(gaps="").values_list("gaps", flat=True) for r in ranges_decode(text))
    if not gaps:
        return gaps
    late = IdRanges(r for text in recent.exclude(late="").values_list("late", flat=True) for r in ranges_decode(text))
    return gaps.minus(late)


def _late_arrivals(open_gaps: IdRanges) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    ranges = open_gaps.ranges()
    for start in range(0, len(ranges), 200):
        q = Q()
        for lo, hi in ranges[start : start + 200]:
            q |= Q(id__range=(lo, hi))
        found.extend(AuditEvent.objects.filter(q).values_list("id", "mac"))
    return sorted(found)


def _allocated_up_to(connection=connection) -> int | None:
    """The highest event id the write path can have drawn, where the database tells: on
    PostgreSQL the sequence's last value. An event above it was not written by mchis (someone
    inserted it with an id far ahead): it is not sealed, so neither are ids jumped over, and
    `audit verify` names it (its MAC fails) and counts it unsealed. On SQLite ids follow the
    highest present, so such an event is only a gap before it."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value FROM {_sequence_name(connection)}")  # noqa: S608 (the table's own sequence)
        return cursor.fetchone()[0]


def _seal_next(*, cutoff, batch_size: int) -> AuditSeal | None:
    last = AuditSeal.objects.order_by("-number").first()
    number = last.number + 1 if last else 1
    first_id = last.last_id + 1 if last else 1
    now = timezone.now()
    late = _late_arrivals(_open_gaps(now))
    pending = AuditEvent.objects.filter(id__gte=first_id, at__lt=cutoff)
    if (allocated := _allocated_up_to()) is not None:
        pending = pending.filter(id__lte=allocated)
    ids = list(pending.order_by("id").values_list("id", flat=True)[:batch_size])
    last_id = ids[-1] if ids else first_id - 1
    # Everything visible in the range now, whatever its time: the seal covers the range.
    in_range = list(
        AuditEvent.objects.filter(id__gte=first_id, id__lte=last_id).order_by("id").values_list("id", "mac")
    )
    if not in_range and not late:
        return None
    ring = keyring()
    suite = ring.active.suite.name
    h = hash_function(suite)
    covered = late + in_range
    root = merkle_root([bytes.fromhex(mac) for _id, mac in covered], h).hex()
    fields = {
        "number": number,
        "suite": suite,
        "first_id": first_id,
        "last_id": last_id,
        "gaps": _missing(first_id, last_id, [i for i, _mac in in_range]).text(),
        "late": ranges_encode(i for i, _mac in late),
        "count": len(covered),
        "merkle_root": root,
        "prev_hash": last.seal_hash if last else GENESIS,
    }
    message = seal_message(**fields, sealed_at=time_text(now))
    # Only the INSERT needs a transaction: if another sealer took this number meanwhile,
    # the primary key refuses it (and on SQLite the write lock is held for the INSERT only).
    with transaction.atomic():
        return AuditSeal.objects.create(
            **fields, sealed_at=now, seal_hash=h(message).hex(), signature=ring.audit_signing_key.sign(message).hex()
        )


def audit_seal(*, safety_delay: timedelta = SEAL_SAFETY_DELAY, batch_size: int = SEAL_BATCH) -> list[AuditSeal]:
    """Seal every committed event older than `safety_delay`, plus late arrivals.

    Returns the new seals (none when nothing was pending, or when another sealer is busy).
    Called outside any transaction (the job, the command): each seal commits on its own, and
    the newest is then recorded outside the database (`anchors.anchor_record`).
    """
    cutoff = timezone.now() - safety_delay
    seals: list[AuditSeal] = []
    while True:
        try:
            seal = _seal_next(cutoff=cutoff, batch_size=batch_size)
        except IntegrityError:
            # Another sealer took this seal number first; it will seal what is pending.
            log.info("audit seal: another sealer is running")
            break
        if seal is None:
            break
        seals.append(seal)
    if seals:
        head = seals[-1]
        anchor_record(number=head.number, seal_hash=head.seal_hash, sealed_at=head.sealed_at)
    return seals
