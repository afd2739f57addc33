"""`audit verify` names a seal whose row was changed into something the sealer never
writes, instead of failing with a traceback or running out of time or memory (P9, P10).

A changed seal fails its hash and signature, so its gap and late lists and its range are
the attacker's: the verifier must not expand them ("1-99999999999999" is a few bytes of text
and a hundred trillion ids).
"""

import signal

import pytest
from django.db import connection

from mchis.audit import verify
from mchis.audit.integrity import ranges_decode
from mchis.audit.models import AuditSeal
from mchis.audit.verify import audit_verify

from .conftest import seal_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def sealed(read_event):
    read_event("p1")
    read_event("p2")
    seal_now()
    read_event("p3")
    seal_now()
    assert audit_verify().ok
    return list(AuditSeal.objects.order_by("number").values_list("number", flat=True))


def seals_allow_null(attacker) -> None:
    if connection.vendor == "postgresql":
        for field in AuditSeal._meta.concrete_fields:
            if not field.primary_key:
                attacker(f"ALTER TABLE audit_auditseal ALTER COLUMN {field.column} DROP NOT NULL")
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit_auditseal'")
        (ddl,) = cursor.fetchone()
    attacker(ddl.replace('"audit_auditseal"', '"seals_loose"').replace(" NOT NULL", ""))
    attacker("INSERT INTO seals_loose SELECT * FROM audit_auditseal")
    attacker("DROP TABLE audit_auditseal")
    attacker("ALTER TABLE seals_loose RENAME TO audit_auditseal")


def seal_named(number: int) -> str:
    result = audit_verify()
    assert not result.ok, "tampering went unnoticed"
    assert result.first.seal_number == number and result.first.event_id is None, result.first
    return result.first.message


@pytest.mark.parametrize(
    ("column", "value"),
    [("gaps", "abc"), ("late", "3-"), ("gaps", "1,2"), ("late", " 5"), ("signature", "not hex"), ("suite", "rot13")],
)
def test_a_seal_with_text_the_sealer_never_writes_is_named(sealed, attacker, column, value):
    attacker(f"UPDATE audit_auditseal SET {column} = %s WHERE number = %s", [value, sealed[0]])  # noqa: S608
    seal_named(sealed[0])


@pytest.mark.parametrize("column", [f.column for f in AuditSeal._meta.concrete_fields if not f.primary_key])
@pytest.mark.parametrize("which", [0, -1], ids=["first", "newest"])
def test_a_seal_with_a_null_is_named(sealed, attacker, column, which):
    seals_allow_null(attacker)
    attacker(f"UPDATE audit_auditseal SET {column} = NULL WHERE number = %s", [sealed[which]])  # noqa: S608
    seal_named(sealed[which])


@pytest.fixture
def no_huge_id_sets(monkeypatch):
    """The verifier may expand a signed seal's lists (the sealer wrote them, ids it had
    listed itself), never a million ids of a changed one."""
    expand = verify.ranges_ids

    def bounded(text):
        assert sum(hi - lo + 1 for lo, hi in ranges_decode(text)) < 10**6, f"expanding {text!r}"
        return expand(text)

    monkeypatch.setattr(verify, "ranges_ids", bounded)


@pytest.mark.parametrize("column", ["gaps", "late"])
def test_a_seal_listing_a_trillion_ids_is_named_without_listing_them(sealed, attacker, no_huge_id_sets, column):
    attacker(f"UPDATE audit_auditseal SET {column} = '1-99999999999999' WHERE number = %s", [sealed[0]])  # noqa: S608
    seal_named(sealed[0])


@pytest.mark.parametrize("which", [0, -1], ids=["first", "newest"])
def test_a_seal_whose_range_ends_a_trillion_ids_on_is_named_in_time(sealed, attacker, which):
    attacker("UPDATE audit_auditseal SET last_id = 10000000000000 WHERE number = %s", [sealed[which]])

    def too_long(*_args):
        raise TimeoutError("verify did not finish (walking a trillion ids?)")

    # An alarm, so that a verifier walking the range fails this test instead of hanging it.
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)
    try:
        result = audit_verify()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert not result.ok and result.first.seal_number == sealed[which], result.first
