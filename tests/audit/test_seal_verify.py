"""Sealing and verification: gaps, late commits and every kind of tampering (P9, P10)."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from mchis.audit.anchors import anchor_latest, anchor_record
from mchis.audit.integrity import GENESIS, ranges_encode
from mchis.audit.models import AuditEvent, AuditObjectRef, AuditSeal
from mchis.audit.selectors import audit_evidence, event_seal_get, evidence_check
from mchis.audit.services import audit_record, audit_seal, reads_flush
from mchis.audit.verify import audit_verify

from .conftest import seal_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True, params=[5000, 2], ids=["batch", "tiny-batches"])
def batch_size(request, monkeypatch):
    """Every test here runs with the usual batch and again with batches of two rows, so that
    seals and parts span batches (the verifier hands a seal the events of several)."""
    from mchis.audit import verify

    monkeypatch.setattr(verify, "BATCH", request.param)
    return request.param


def first_problem():
    result = audit_verify()
    assert not result.ok, "tampering went unnoticed"
    return result.first


def test_a_seal_covers_pending_events_and_chains_to_the_previous_one(read_event):
    ids = [read_event(f"p{n}").id for n in range(3)]
    (first,) = seal_now()
    assert (first.number, first.first_id, first.last_id, first.count) == (1, 1, ids[-1], 3)
    # Ids below the first event are gaps too (on PostgreSQL earlier tests used them).
    assert first.gaps == ranges_encode(range(1, ids[0]))
    assert first.prev_hash == GENESIS
    last = read_event("p9").id
    (second,) = seal_now()
    assert (second.first_id, second.last_id, second.count, second.prev_hash) == (ids[-1] + 1, last, 1, first.seal_hash)
    assert seal_now() == []
    result = audit_verify()
    assert result.ok and (result.events, result.sealed, result.unsealed, result.seals) == (4, 4, 0, 2)


def test_events_younger_than_the_safety_delay_wait_for_a_later_seal(read_event):
    read_event("p1")
    assert audit_seal(safety_delay=timedelta(minutes=5)) == []
    result = audit_verify()
    assert result.ok and result.unsealed == 1
    assert len(seal_now()) == 1


def test_big_backlogs_are_sealed_in_batches(read_event):
    for n in range(7):
        read_event(f"p{n}")
    seals = audit_seal(safety_delay=timedelta(0), batch_size=3)
    assert [s.count for s in seals] == [3, 3, 1]
    assert audit_verify().ok


def test_a_rollback_gap_is_not_an_error(read_event, with_id):
    n = read_event("p1").id
    seal_now()
    with_id(n + 4)  # ids n+1..n+3 were drawn by transactions that rolled back
    (seal,) = seal_now()
    assert (seal.gaps, seal.count) == (f"{n + 1}-{n + 3}", 1)
    result = audit_verify()
    assert result.ok and result.sealed == 2 and result.unsealed == 0


def test_an_event_that_commits_after_its_range_was_sealed_is_sealed_later(read_event, with_id):
    n = read_event("p1").id
    seal_now()
    with_id(n + 2)  # id n+1 is still being committed by a long transaction
    (first,) = seal_now()
    assert first.gaps == str(n + 1)
    late = with_id(n + 1)  # …which commits now
    result = audit_verify()
    assert result.ok and result.unsealed == 1, "a late commit is not tampering"
    (second,) = seal_now()
    assert (second.late, second.count, second.first_id, second.last_id) == (str(n + 1), 1, n + 3, n + 2)
    assert event_seal_get(event_id=late.id) == second
    result = audit_verify()
    assert result.ok and result.sealed == 3 and result.unsealed == 0


def test_commands_seal_and_verify(read_event, capsys):
    read_event("p1")
    call_command("audit", "seal")
    out = capsys.readouterr().out
    assert "Sealed 1 events in 1 seals" in out
    head = AuditSeal.objects.get()
    assert f"{head.number}:{head.seal_hash}" in out
    call_command("audit", "verify", "--anchor", f"{head.number}:{head.seal_hash}")
    assert "intact" in capsys.readouterr().out
    # Without --anchor, the head every sealing run records outside the database.
    assert anchor_latest() == (head.number, head.seal_hash)
    call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"chain head kept outside the database: seal {head.number}" in out and "intact" in out
    # Running the check is itself a security event.
    assert AuditEvent.objects.filter(action="security", object_type="audit.seal").count() == 2


# --- tampering, by someone who dropped the triggers first ---------------------------------
_COLUMNS = ", ".join(f.column for f in AuditEvent._meta.concrete_fields if f.column != "id")
# A copy of an existing event (MAC included) under a new id.
COPY_EVENT = f"INSERT INTO audit_auditevent (id, {_COLUMNS}) SELECT %s, {_COLUMNS} FROM audit_auditevent WHERE id = %s"  # noqa: S608


@pytest.fixture
def sealed(read_event):
    """Ids of events e[1]..e[7]: e[1]-e[3] in seal 1 (e[3] without object ids), e[4]-e[6]
    in seal 2, e[7] not sealed yet. (PostgreSQL's sequence does not restart per test.)"""
    from mchis.audit.services import audit_record

    e = [None, read_event("p1").id, read_event("p2").id, audit_record(action="login").id]
    seal_now()
    e += [read_event(f"p{n}").id for n in range(4, 7)]
    seal_now()
    e.append(read_event("p7").id)
    assert audit_verify().ok
    return e


def test_a_changed_event_is_named(sealed, attacker):
    attacker("UPDATE audit_auditevent SET reason = 'nothing to see' WHERE id = %s", [sealed[5]])
    problem = first_problem()
    assert problem.event_id == sealed[5] and "MAC" in problem.message


def test_a_changed_event_with_a_recomputed_hash_is_still_named(sealed, attacker):
    import hashlib

    fake = hashlib.sha256(b"guess").hexdigest()
    attacker("UPDATE audit_auditevent SET purpose = 'research', mac = %s WHERE id = %s", [fake, sealed[2]])
    assert first_problem().event_id == sealed[2]


def test_a_deleted_sealed_event_is_named(sealed, attacker):
    attacker("DELETE FROM audit_auditevent WHERE id = %s", [sealed[3]])
    problem = first_problem()
    assert problem.event_id == sealed[3] and "missing" in problem.message and "seal 1" in problem.message


def test_an_inserted_event_is_named(sealed, attacker):
    new = sealed[7] + 100
    attacker(COPY_EVENT, [new, sealed[3]])
    problem = first_problem()
    assert problem.event_id == new and "MAC" in problem.message


def test_an_event_inserted_into_a_sealed_gap_is_named(read_event, with_id, attacker):
    n = read_event("p1").id
    with_id(n + 3)
    seal_now()
    attacker(COPY_EVENT, [n + 1, n])
    assert first_problem().event_id == n + 1


def test_reordered_events_are_named(sealed, attacker):
    # Swap the contents of events 4 and 5 by swapping their ids.
    four, five = sealed[4], sealed[5]
    attacker("UPDATE audit_auditevent SET id = -1 WHERE id = %s", [four])
    attacker("UPDATE audit_auditevent SET id = %s WHERE id = %s", [four, five])
    attacker("UPDATE audit_auditevent SET id = %s WHERE id = -1", [five])
    assert first_problem().event_id == four


def test_an_unsealed_event_changed_is_named(sealed, attacker):
    attacker("UPDATE audit_auditevent SET actor_username = 'someone' WHERE id = %s", [sealed[7]])
    assert first_problem().event_id == sealed[7]


def test_a_changed_seal_is_named(sealed, attacker):
    attacker("UPDATE audit_auditseal SET gaps = %s WHERE number = 2", [str(sealed[5])])
    problem = first_problem()
    assert problem.seal_number == 2 and problem.event_id is None


def test_a_deleted_seal_is_named(sealed, attacker):
    attacker("DELETE FROM audit_auditseal WHERE number = 1")
    problem = first_problem()
    assert problem.seal_number == 1 and "missing" in problem.message


def test_a_deleted_object_index_row_is_named(sealed, attacker):
    # Otherwise "who saw this record" could be made to miss an event.
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s", [sealed[4]])
    assert first_problem().event_id == sealed[4]


def test_a_changed_object_index_row_is_named(sealed, attacker):
    attacker("UPDATE audit_auditobjectref SET object_id = 'p999' WHERE event_id = %s", [sealed[5]])
    assert first_problem().event_id == sealed[5]


def test_an_event_with_an_unknown_suite_is_named(sealed, attacker):
    attacker("UPDATE audit_auditevent SET suite = 'rot13' WHERE id = %s", [sealed[5]])
    problem = first_problem()
    assert problem.event_id == sealed[5] and "suite" in problem.message


def test_a_mac_that_is_not_even_hex_is_named(sealed, attacker):
    attacker("UPDATE audit_auditevent SET mac = 'forged' WHERE id = %s", [sealed[4]])
    problem = first_problem()
    assert problem.event_id == sealed[4] and "MAC" in problem.message
    assert len(audit_verify().problems) == 1, "named once, not again as a wrong Merkle root"


def test_an_event_deleted_from_a_seal_with_gaps_is_named(read_event, with_id, attacker):
    n = read_event("p1").id
    with_id(n + 2)  # n+1 rolled back
    kept = [read_event(f"p{k}").id for k in range(3)]
    (seal,) = seal_now()
    assert str(n + 1) in seal.gaps
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s", [kept[1]])
    attacker("DELETE FROM audit_auditevent WHERE id = %s", [kept[1]])
    problem = first_problem()
    assert problem.event_id == kept[1] and "missing" in problem.message


def test_an_extra_object_index_row_is_named(sealed, attacker):
    attacker(
        "INSERT INTO audit_auditobjectref (event_id, object_type, object_id) "
        "SELECT event_id, object_type, object_id FROM audit_auditobjectref WHERE event_id = %s",
        [sealed[5]],
    )
    assert first_problem().event_id == sealed[5]


def test_an_object_index_row_that_stands_for_two_ids_is_named(read_event, attacker):
    # "b c" in one row spells the event's ids as the event lists them, but "who saw c" would
    # look for a row of its own and miss the event.
    event = read_event("a", "b", "c")
    seal_now()
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s AND object_id = 'c'", [event.id])
    attacker("UPDATE audit_auditobjectref SET object_id = 'b c' WHERE event_id = %s AND object_id = 'b'", [event.id])
    problem = first_problem()
    assert problem.event_id == event.id and "object index" in problem.message
    assert audit_verify().problem_count == 1, "named once"


def _refs_allow_null(attacker) -> None:
    """The object index's columns without NOT NULL, as someone with the database's files or
    owner rights could leave them (SQLite cannot drop NOT NULL: the table is rebuilt)."""
    if connection.vendor == "postgresql":
        attacker("ALTER TABLE audit_auditobjectref ALTER COLUMN object_type DROP NOT NULL")
        attacker("ALTER TABLE audit_auditobjectref ALTER COLUMN object_id DROP NOT NULL")
        return
    attacker(
        "CREATE TABLE refs_loose (id integer PRIMARY KEY AUTOINCREMENT, object_type varchar(100) NULL, "
        "object_id varchar(64) NULL, event_id bigint NOT NULL)"
    )
    attacker("INSERT INTO refs_loose SELECT id, object_type, object_id, event_id FROM audit_auditobjectref")
    attacker("DROP TABLE audit_auditobjectref")
    attacker("ALTER TABLE refs_loose RENAME TO audit_auditobjectref")
    attacker("CREATE INDEX audit_ref_event ON audit_auditobjectref (event_id, id)")
    attacker("CREATE INDEX audit_ref_object ON audit_auditobjectref (object_type, object_id, event_id)")


@pytest.mark.parametrize("column", ["object_type", "object_id"])
@pytest.mark.parametrize("kinds", ["one kind", "several kinds"])
def test_an_object_index_row_with_a_null_type_or_id_is_named(attacker, request_reads, column, kinds):
    # Aggregates skip NULLs: a row made NULL must stand out, not vanish from the comparison
    # ("who saw b" looks for its type and id).
    first = "people.person" if kinds == "one kind" else "maternal.pregnancy"
    audit_record(action="read", object_type=first, object_ids=["a"])
    audit_record(action="read", object_type="people.person", object_ids=["b"])
    (event,) = reads_flush(request_reads)
    assert event.object_type == ("people.person" if kinds == "one kind" else "")
    seal_now()
    assert audit_verify().ok
    row = AuditObjectRef.objects.get(event_id=event.id, object_id="b").pk
    _refs_allow_null(attacker)
    attacker(f"UPDATE audit_auditobjectref SET {column} = NULL WHERE event_id = %s AND id = %s", [event.id, row])  # noqa: S608
    problem = first_problem()
    assert problem.event_id == event.id and "object index" in problem.message


def test_a_null_row_does_not_make_up_for_a_row_standing_for_two_ids(read_event, attacker):
    # The part's total of rows matches its events' ids again, but each event is wrong.
    merged, padded = read_event("a", "b", "c"), read_event("d")
    seal_now()
    _refs_allow_null(attacker)
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s AND object_id = 'c'", [merged.id])
    attacker("UPDATE audit_auditobjectref SET object_id = 'b c' WHERE event_id = %s AND object_id = 'b'", [merged.id])
    attacker(
        "INSERT INTO audit_auditobjectref (event_id, object_type, object_id) VALUES (%s, 'people.person', NULL)",
        [padded.id],
    )
    named = {p.event_id for p in audit_verify().problems}
    assert named == {merged.id, padded.id}


@pytest.mark.parametrize("other", ["people.aaa", "zzz.other"])  # sorting before and after the event's type
def test_an_object_index_row_of_another_type_is_named(read_event, attacker, other):
    event = read_event("a", "b", "c")
    seal_now()
    attacker(
        "UPDATE audit_auditobjectref SET object_type = %s WHERE event_id = %s AND object_id = 'b'", [other, event.id]
    )
    assert first_problem().event_id == event.id


def test_an_object_index_row_of_an_event_that_does_not_exist_is_named(sealed, attacker):
    ghost = sealed[7] + 50
    attacker(
        "INSERT INTO audit_auditobjectref (event_id, object_type, object_id) VALUES (%s, 'people.person', 'p1')",
        [ghost],
    )
    problem = first_problem()
    assert problem.event_id == ghost and "does not exist" in problem.message
    # Gone again before the test ends, which checks the (deferred) foreign keys.
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s", [ghost])


def test_object_index_rows_written_again_in_another_order_still_agree(read_event, attacker):
    event = read_event("a", "b", "c")
    seal_now()
    rows = "SELECT event_id, object_type, object_id FROM audit_auditobjectref WHERE event_id = %s ORDER BY id DESC"
    attacker(f"CREATE TEMPORARY TABLE refs_copy AS {rows}", [event.id])
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s", [event.id])
    attacker("INSERT INTO audit_auditobjectref (event_id, object_type, object_id) SELECT * FROM refs_copy")
    assert audit_verify().ok, "the same rows in another order are the same index"
    attacker("DELETE FROM audit_auditobjectref WHERE event_id = %s AND object_id = 'b'", [event.id])
    assert first_problem().event_id == event.id


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite cannot drop a primary key")
def test_a_copy_under_the_same_id_is_caught_once_the_primary_key_is_dropped(sealed, attacker):
    attacker("SET CONSTRAINTS ALL IMMEDIATE")
    attacker("ALTER TABLE audit_auditevent DROP CONSTRAINT audit_auditevent_pkey CASCADE")
    attacker("INSERT INTO audit_auditevent SELECT * FROM audit_auditevent WHERE id = %s", [sealed[5]])
    problem = first_problem()
    assert problem.seal_number == 2 and "Merkle" in problem.message


def test_a_trail_cut_short_is_caught_by_the_anchor(sealed, attacker):
    head = AuditSeal.objects.get(number=2)
    attacker("DELETE FROM audit_auditseal WHERE number = 2")
    attacker("DELETE FROM audit_auditobjectref WHERE event_id >= %s", [sealed[4]])
    attacker("DELETE FROM audit_auditevent WHERE id >= %s", [sealed[4]])
    # Without an outside anchor the shorter trail is consistent in itself…
    assert audit_verify().ok
    # …but not with the seal hash recorded outside the database.
    result = audit_verify(anchor=(2, head.seal_hash))
    assert not result.ok and result.first.seal_number == 2


def test_a_trail_cut_short_fails_the_command_against_the_head_sealing_recorded(sealed, attacker):
    """No one has to copy the seal hash by hand: sealing keeps the newest head outside the
    database, and `audit verify` checks against it (P10)."""
    attacker("DELETE FROM audit_auditseal WHERE number = 2")
    attacker("DELETE FROM audit_auditobjectref WHERE event_id >= %s", [sealed[4]])
    attacker("DELETE FROM audit_auditevent WHERE id >= %s", [sealed[4]])
    with pytest.raises(CommandError, match="seal 2") as exc:
        call_command("audit", "verify")
    assert exc.value.returncode == 2


def test_the_recorded_head_only_moves_forward(sealed, settings):
    head = AuditSeal.objects.get(number=2)
    assert anchor_latest() == (2, head.seal_hash)
    # A sealer finishing late with an older seal does not move the head back.
    anchor_record(number=1, seal_hash="0" * 64, sealed_at=head.sealed_at)
    assert anchor_latest() == (2, head.seal_hash)
    # An unreadable file stops verify with a message, and the next seal replaces it.
    Path(settings.MCHIS_AUDIT_ANCHOR_FILE).write_text("garbage\n")
    with pytest.raises(CommandError, match="NUMBER:SEAL_HASH"):
        call_command("audit", "verify")
    seal_now()
    assert anchor_latest()[0] == 3


def test_verify_warns_when_sealing_has_stopped(sealed, capsys, monkeypatch):
    """Unsealed events long after the worker should have sealed them: their removal would
    not show, so verify says so (and the trail is still intact)."""
    from mchis.audit.management.commands import audit as command

    call_command("audit", "verify")
    assert "not sealed yet" not in capsys.readouterr().err  # e[7] is seconds old
    monkeypatch.setattr(command, "SEALING_LATE", timedelta(seconds=-1))
    call_command("audit", "verify")
    out, err = capsys.readouterr()
    # e[7] and the first run's own record of the check.
    assert "2 events are not sealed yet" in err and "mchis audit seal" in err and "intact" in out


def test_verify_warns_of_events_committed_into_a_gap_sealed_too_long_ago(read_event, with_id, capsys, monkeypatch):
    """A late commit is sealed as late within a day of its gap's seal; after that no seal
    will cover it, and verify says so (the trail is otherwise intact)."""
    from mchis.audit import services
    from mchis.audit.management.commands import audit as command

    first = read_event("p1").id
    with_id(first + 5)  # ids first+1..first+4 drawn by transactions not committed yet
    seal_now()
    late = with_id(first + 2).id  # one of them commits, within the day: sealed as late
    seal_now()
    call_command("audit", "verify")
    assert "committed into ranges sealed" not in capsys.readouterr().err
    monkeypatch.setattr(services, "GAP_HORIZON", timedelta(seconds=-1))  # a day has passed
    monkeypatch.setattr(command, "GAP_HORIZON", timedelta(seconds=-1))
    stranded = with_id(first + 3).id  # another commits now: no seal will take it
    seal_now()
    call_command("audit", "verify")
    out, err = capsys.readouterr()
    assert f"1 events (first: {stranded}) committed into ranges sealed more than a day before" in err
    assert "intact" in out and late != stranded


def test_the_command_fails_naming_the_first_problem(sealed, attacker, capsys):
    attacker("UPDATE audit_auditevent SET reason = 'x' WHERE id IN (%s, %s)", [sealed[2], sealed[6]])
    with pytest.raises(CommandError, match=f"event {sealed[2]}:") as exc:
        call_command("audit", "verify")
    assert exc.value.returncode != 0
    assert f"event {sealed[6]}:" in capsys.readouterr().err


def test_the_triggers_are_back_after_a_tampering_test(sealed):
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")


# --- evidence for incidents (P9) ----------------------------------------------------------
def test_sealed_events_come_with_a_merkle_path_to_their_signed_seal(sealed):
    evidence = audit_evidence(event_ids=[sealed[n] for n in (1, 3, 5, 6, 7)])
    by_id = {e.event_id: e for e in evidence}
    assert not by_id[sealed[7]].sealed
    for n in (1, 3, 5, 6):
        seal = AuditSeal.objects.get(number=by_id[sealed[n]].seal_number)
        assert evidence_check(evidence=by_id[sealed[n]], suite=seal.suite)
    five, six = by_id[sealed[5]], by_id[sealed[6]]
    forged = five.__class__(**{**five.__dict__, "mac": six.mac})
    assert not evidence_check(evidence=forged, suite="intl")


@pytest.mark.django_db(transaction=True)
def test_verify_outside_a_transaction_reads_seals_and_events_in_snapshots(read_event):
    # Outside a transaction the seals come from a second connection (the production path).
    ids = [read_event(f"p{n}").id for n in range(5)]
    seal_now()
    read_event("p9")
    result = audit_verify()
    assert result.ok and (result.sealed, result.unsealed, result.seals) == (5, 1, 1)
    from mchis.audit.triggers import triggers_drop

    triggers_drop(connection)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditobjectref WHERE event_id = %s", [ids[2]])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [ids[2]])
    result = audit_verify()
    assert result.first.event_id == ids[2] and "missing" in result.first.message


@pytest.fixture
def small_parts(monkeypatch):
    from mchis.audit import verify

    monkeypatch.setattr(verify, "PART_EVENTS", 3)


def _parted_trail(read_event, with_id):
    """Seals of 2-3 events; one event commits after its range was sealed and is listed late
    by a seal in a later part."""
    n = read_event("p0").id
    seal_now()
    read_event("p1")
    with_id(n + 3)  # n+2 is still being committed
    seal_now()
    ids = {}
    for k in range(4, 10):
        ids[k] = read_event(f"p{k}").id
        if k % 2:
            seal_now()
    with_id(n + 2)  # …and commits now
    seal_now()
    read_event("p-unsealed")
    return n, ids


def test_verification_in_parts_agrees_with_one_pass(read_event, with_id, small_parts):
    from mchis.audit.verify import _plan

    n, _ids = _parted_trail(read_event, with_id)
    parts = _plan()
    late = AuditSeal.objects.exclude(late="").get()
    assert late.late == str(n + 2)
    # The late event lies in an earlier part than the seal that lists it.
    holder = next(p for p in parts if p.lo_id < n + 2 and (p.hi_id is None or n + 2 <= p.hi_id))
    lister = next(p for p in parts if p.lo_seal < late.number <= p.hi_seal)
    assert len(parts) > 2 and holder != lister
    result = audit_verify()
    assert result.ok, result.problems
    assert (result.sealed, result.unsealed) == (AuditEvent.objects.count() - 1, 1)


def test_tampering_is_named_the_same_in_parts(read_event, with_id, small_parts, attacker):
    n, ids = _parted_trail(read_event, with_id)
    attacker("UPDATE audit_auditevent SET purpose = 'x' WHERE id IN (%s, %s)", [n + 2, ids[7]])
    result = audit_verify()
    assert [p.event_id for p in result.problems[:2]] == [n + 2, ids[7]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="worker processes need a database they can share")
@pytest.mark.django_db(transaction=True)
def test_worker_processes_verify_parts_in_parallel(read_event, with_id, small_parts):
    n, _ids = _parted_trail(read_event, with_id)
    single, parallel = audit_verify(workers=1), audit_verify(workers=2)
    assert parallel.workers == 2
    assert single.ok and parallel.ok
    assert (single.events, single.sealed, single.unsealed) == (parallel.events, parallel.sealed, parallel.unsealed)
    from mchis.audit.triggers import triggers_drop

    triggers_drop(connection)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [n + 5])
        cursor.execute("UPDATE audit_auditseal SET gaps = '1' WHERE number = 4")
    parallel = audit_verify(workers=2)
    assert [str(p) for p in parallel.problems] == [str(p) for p in audit_verify(workers=1).problems]
    assert parallel.first.event_id == n + 5 or parallel.first.seal_number == 4


def test_verify_reports_progress_to_a_stream(read_event):
    import io

    read_event("p1")
    seal_now()
    out = io.StringIO()
    assert audit_verify(stream=out).ok
    assert "1 events checked" in out.getvalue()
