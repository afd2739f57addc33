import time
import uuid

from mchis.crypto.ids import uuid7


def test_uuid7_has_version_7_the_rfc_variant_and_the_current_time_in_ms():
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert isinstance(value, uuid.UUID)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after + 1


def test_uuid7_values_are_unique_and_increase_within_a_process():
    values = [uuid7() for _ in range(20_000)]
    assert len(set(values)) == len(values)
    assert values == sorted(values)
    assert [str(v) for v in values] == sorted(str(v) for v in values)  # text order too (SQLite stores hex)
