"""The verifier's fast paths reach the verdict of checking event by event (P9, P10).

`audit_verify` lets the database build each event's canonical text, checks a batch of rows
with list operations and matches a seal's events by comparing id lists; only what does not
match is walked event by event. These tests hold each shortcut to the slow, obvious answer:
the bytes the write path hashed, and the event-by-event walk.
"""

import random
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.db import connection

from mchis.audit import services, verify
from mchis.audit.context import audit_context
from mchis.audit.integrity import event_message, mac_function
from mchis.audit.models import AuditEvent
from mchis.audit.services import audit_record
from mchis.audit.verify import audit_verify
from mchis.crypto.keyring import keyring

from .conftest import seal_now

pytestmark = pytest.mark.django_db


# --- the canonical text built by the database ---------------------------------------------
def database_messages() -> dict[int, bytes]:
    """Each event's canonical text as the verifier's query returns it."""
    connection.ensure_connection()
    sql, params = verify._events_sql(lo=0)
    cursor = verify._execute(sql, params, "test_messages")
    rows = cursor.fetchall()
    cursor.close()
    return {row[0]: bytes(row[1]) for row in rows}


TRICKY_TEXT = [
    "审计 — ünïcödé ẞ 🩺 𝔘 e\u0301",  # CJK, accents, a combining mark, outside the BMP
    "back\\slash \\x1f \\N \\\\ %s %d %% %1$s '' \"",  # escapes of COPY, printf and SQL
    "\u0085 \u00a0 \u2028 \u200b \ufeff",  # C1 control, no-break, line separator, zero width, BOM
    "  leading and trailing  ",
    "",
]
TRICKY_TIMES = [
    datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC),  # whole second (SQLite stores no fraction)
    datetime(2026, 3, 1, 8, 0, 0, 500000, tzinfo=UTC),  # trailing zeros
    datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # one microsecond, end of year
    datetime(1999, 1, 2, 3, 4, 5, 60, tzinfo=UTC),
]


def test_the_database_builds_the_canonical_text_byte_for_byte(monkeypatch):
    actor = SimpleNamespace(pk=7, get_username=lambda: "护士 nurse", institution_id=3)
    written = []
    for n, (text, moment) in enumerate(zip(TRICKY_TEXT * 2, TRICKY_TIMES * 3, strict=False)):
        monkeypatch.setattr(services.timezone, "now", lambda moment=moment: moment)
        with audit_context(path=f"/p/{text}"[:300], source_ip="2001:db8::1", user_agent=text, request_id=f"r{n}"):
            written.append(
                audit_record(
                    action="read" if n % 2 else "update",
                    actor=actor if n % 2 else None,
                    institution=None if n % 3 else 12345678901,
                    object_type="people.person",
                    object_ids=[f"id-{n}", "é-🩺"] if n % 2 else [],
                    fields=["name", "phone"],
                    purpose=text[:100],
                    reason=text,
                    extra={"note": text, "n": n} if n % 2 else None,
                )
            )
    messages = database_messages()
    key = keyring().audit_mac_key
    for event in written:
        stored = AuditEvent.objects.get(pk=event.pk)
        assert messages[event.pk] == event_message(services._text_values(stored)), event.pk
        assert mac_function(stored.suite, key)(messages[event.pk]).hex() == stored.mac
    seal_now()
    assert audit_verify().ok


# --- a batch of rows checked as a whole -----------------------------------------------------
def _rows(count: int, suite: str = "intl") -> list[tuple]:
    mac = mac_function(suite, keyring().audit_mac_key)
    messages = [f"event {n} 审计".encode() for n in range(1, count + 1)]
    return [(n, m, mac(m).hex(), suite, n % 3) for n, m in enumerate(messages, start=1)]


def _outcome(check, rows):
    part = verify._PartCheck(verify._Part(0, 0, 0, None), None)
    ids, macs = getattr(part, check)(rows)
    return ids, macs, [str(p) for p in part.problems.sorted()], part.doubtful, part.attached


def test_a_batch_that_matches_is_taken_whole():
    rows = _rows(50)
    ids, macs, problems, doubtful, attached = _outcome("check", rows)
    assert ids == list(range(1, 51)) and [m.hex() for m in macs] == [r[2] for r in rows]
    assert problems == [] and doubtful == [] and attached == sum(n % 3 for n in range(1, 51))


def test_a_batch_with_bad_rows_is_checked_row_by_row_alike():
    gm = mac_function("gm", keyring().audit_mac_key)
    rows = _rows(12)
    rows[1] = (*rows[1][:2], "0" * 64, *rows[1][3:])  # another MAC: the stored one stands in
    rows[3] = (*rows[3][:2], "forged", *rows[3][3:])  # not even hex: the computed one stands in
    rows[5] = (*rows[5][:4], -1)  # object index to look at more closely
    rows[7] = (rows[7][0], b"changed", *rows[7][2:])
    for case in (rows, [*rows[:9], (10, b"gm", gm(b"gm").hex(), "gm", 2), (11, b"x", "00", "rot13", 1)]):
        ids, macs, problems, doubtful, attached = _outcome("check", case)
        assert (ids, macs, problems, doubtful, attached) == _outcome("check_rows", case)
        assert [p.split(":")[0] for p in problems][:3] == ["event 2", "event 4", "event 8"]
        assert macs[1] == bytes(32) and macs[3] == mac_function("intl", keyring().audit_mac_key)(rows[3][1])
        assert doubtful == [6]
    # The mixed batch: the gm event passes, the unknown suite is named and left out.
    assert problems[-1] == "event 11: unknown hash suite" and ids[-1] == 10 and 11 not in ids


# --- a seal's events matched by their ids ----------------------------------------------------
def _walk(ids, macs, first_id, last_id, gap_ids, covered):
    part = verify._PartCheck(verify._Part(0, 0, 0, None), None)
    pending: dict[int, bytes] = {}
    covered = list(covered)
    part.walk(ids, macs, first_id, last_id, gap_ids, pending, covered, 1)
    return [str(p) for p in part.problems.sorted()], pending, covered


def test_matching_a_seal_by_ids_agrees_with_walking_its_events():
    rng = random.Random(20261125)
    fast_paths = 0
    for _ in range(3000):
        first_id = rng.randint(1, 20)
        last_id = first_id + rng.randint(-2, 12)
        gap_ids = {i for i in range(first_id - 3, last_id + 4) if rng.random() < 0.15}
        ids = [i for i in range(first_id, last_id + 1) if i not in gap_ids or rng.random() < 0.5]
        for _mutation in range(rng.choice((0, 0, 0, 1, 2))):
            kind = rng.choice(("drop", "duplicate", "below", "gap", "swap"))
            if kind == "drop" and ids:
                ids.pop(rng.randrange(len(ids)))
            elif kind == "duplicate" and ids:
                ids.append(rng.choice(ids))
            elif kind == "below":
                ids.append(first_id - rng.randint(1, 3))
            elif kind == "gap" and gap_ids:
                ids.append(rng.choice(sorted(gap_ids)))
            elif kind == "swap" and len(ids) > 1:
                k = rng.randrange(len(ids) - 1)
                ids[k], ids[k + 1] = ids[k + 1], ids[k]
        ids = sorted(i for i in ids if i <= last_id)  # as the stream hands them out
        macs = [bytes([k % 256, k // 256]) * 16 for k in range(len(ids))]
        before = [b"late"] if rng.random() < 0.3 else []
        problems, pending, covered = _walk(ids, macs, first_id, last_id, gap_ids, before)
        fast_pending: dict[int, bytes] = {}
        fast_covered = list(before)
        if verify._covers(ids, macs, first_id, last_id, gap_ids, fast_pending, fast_covered):
            fast_paths += 1
            # Taken only when the walk finds nothing, with the walk's result.
            assert problems == [] and (fast_pending, fast_covered) == (pending, covered)
            assert len(fast_covered) - len(before) == len(range(first_id, last_id + 1)) - len(
                gap_ids & set(range(first_id, last_id + 1))
            )
        else:
            assert (fast_pending, fast_covered) == ({}, before), "a refused match changed nothing"
    assert fast_paths > 1000, "the usual seal takes the fast path"


def test_a_seal_with_an_absurd_range_is_walked_without_listing_it():
    # A forged last_id must not make the matcher list a billion ids.
    assert not verify._covers([5, 6], [b"a", b"b"], 5, 10**12, set(), {}, [])
    assert not verify._covers([5, 6], [b"a", b"b"], 5, 10**12, {7}, {}, [])


# --- the plan on PostgreSQL -----------------------------------------------------------------
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_the_event_query_reads_both_tables_in_id_order_without_sorting(read_event):
    # The test tables have no statistics, like a trail loaded in bulk with autovacuum off:
    # left alone, the planner sorts the part (on disk when it is large).
    read_event("p1", "p2")
    seal_now()
    sql, _params = verify._events_sql(lo=0, hi=1000)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = on")  # as a session might have it
        with verify._plan_pinned(connection.connection):
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Merge" in plan and not any(node in plan for node in ("Sort", "Nested Loop", "Hash", "Bitmap")), plan
    assert "Index Scan using audit_auditevent_pkey" in plan and "Index Scan using audit_ref_event" in plan, plan
    assert audit_verify().ok
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_sort")
        assert cursor.fetchone()[0] == "on", "the pinned plan settings do not outlive the query"


def test_on_postgresql_every_function_and_comparison_of_the_text_is_pg_catalog_s(monkeypatch):
    """Someone able to drop the triggers can create functions and operators in another schema
    that overload resolution might prefer (P10: verify must still see their changes): the
    event query names every function and its equality in pg_catalog."""
    import re

    monkeypatch.setattr(verify, "_pg", lambda: True)
    sql, _params = verify._events_sql(lo=0, hi=10)
    syntax = {"CASE", "COALESCE", "CAST", "IN", "AS", "JOIN", "SELECT", "FROM", "WHERE", "AND", "ON", "BY", "OPERATOR"}
    called = {m.group(1) for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", sql)}
    assert called <= syntax, called - syntax  # every other call is written pg_catalog.<name>(
    assert "pg_catalog.concat_ws(" in sql and "pg_catalog.string_agg(" in sql
    # Integer range comparisons (<=, >) resolve exactly in pg_catalog; text equality is named.
    assert not re.search(r"(?<![<>!])=", sql.replace("OPERATOR(pg_catalog.=)", "")), "a bare = in the query"
