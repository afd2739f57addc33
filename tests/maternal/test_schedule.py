"""The national maternal care schedule (DOMAIN "Maternal care"), at the edges of its windows."""

from datetime import date, timedelta

import pytest

from mchis.maternal import schedule as s

LMP = date(2026, 1, 5)  # a Monday
EDD = s.edd_from_lmp(LMP)


def on(weeks: int, days: int = 0) -> date:
    """The date at `weeks`+`days` of gestation."""
    return LMP + timedelta(days=weeks * 7 + days)


def test_edd_is_lmp_plus_280_days():
    assert EDD == date(2026, 10, 12)
    assert (EDD - LMP).days == 280
    assert s.edd_from_lmp(date(2024, 5, 20)) == date(2025, 2, 24)  # across a year end


def test_edd_from_an_early_ultrasound():
    # A scan on 2026-03-02 showing 8+0 weeks puts day 0 on 2026-01-05: the same EDD as the LMP.
    assert s.edd_from_ultrasound(date(2026, 3, 2), 56) == EDD
    assert s.edd_from_ultrasound(date(2026, 3, 2), 60) == EDD - timedelta(days=4)


def test_gestational_age_is_counted_from_day_zero():
    assert s.gestational_days(edd=EDD, on=LMP) == 0
    assert str(s.gestational_age(edd=EDD, on=on(12, 6))) == "12+6"
    assert s.gestational_age(edd=EDD, on=on(13)).weeks == 13
    assert s.gestational_days(edd=EDD, on=LMP - timedelta(days=1)) == -1


@pytest.mark.parametrize(
    ("code", "first", "last", "before", "after"),
    [
        # (contact, first day in, last day in, the day before opening, the day after closing)
        ("anc1", on(0), on(12, 6), None, on(13, 0)),
        ("anc2", on(16, 0), on(20, 6), on(15, 6), on(21, 0)),
        ("anc3", on(21, 0), on(24, 6), on(20, 6), on(25, 0)),
        ("anc4", on(28, 0), on(36, 6), on(27, 6), on(37, 0)),
        ("anc5", on(37, 0), on(40, 6), on(36, 6), on(41, 0)),
    ],
)
def test_antenatal_windows_at_their_edges(code, first, last, before, after):
    window = {w.code: w for w in s.antenatal_windows(edd=EDD)}[code]
    assert (window.start, window.end) == (first, last)
    assert window.contains(first) and window.contains(last)
    assert not window.contains(after)
    if before is not None:
        assert not window.contains(before)


def test_a_visit_at_12w6d_is_the_first_check_and_at_13w0d_none():
    windows = s.antenatal_windows(edd=EDD)
    assert s.contact_fulfilled_by(windows=windows, on=on(12, 6), done=[]).code == "anc1"
    assert s.contact_fulfilled_by(windows=windows, on=on(13, 0), done=[]) is None
    assert s.contact_fulfilled_by(windows=windows, on=on(15, 6), done=[]) is None
    assert s.contact_fulfilled_by(windows=windows, on=on(16, 0), done=[]).code == "anc2"


def test_windows_meet_without_overlapping():
    windows = s.antenatal_windows(edd=EDD)
    assert s.contact_fulfilled_by(windows=windows, on=on(20, 6), done=[]).code == "anc2"
    assert s.contact_fulfilled_by(windows=windows, on=on(21, 0), done=[]).code == "anc3"
    assert s.contact_fulfilled_by(windows=windows, on=on(36, 6), done=[]).code == "anc4"
    assert s.contact_fulfilled_by(windows=windows, on=on(37, 0), done=[]).code == "anc5"


def test_a_second_visit_in_a_window_fulfils_nothing():
    windows = s.antenatal_windows(edd=EDD)
    assert s.contact_fulfilled_by(windows=windows, on=on(17), done=["anc1", "anc2"]) is None


def test_next_contact_after_each_event():
    windows = s.antenatal_windows(edd=EDD)
    # Registered at 8 weeks: the first check is due until 12+6.
    assert s.next_window(windows=windows, done=[], as_of=on(8)).code == "anc1"
    # First check done: the second is next.
    assert s.next_window(windows=windows, done=["anc1"], as_of=on(8)).code == "anc2"
    # Registered at 14 weeks: the first check can no longer be done; the second is next.
    assert s.next_window(windows=windows, done=[], as_of=on(14)).code == "anc2"
    # The window closing on the very day still counts.
    assert s.next_window(windows=windows, done=["anc1"], as_of=on(20, 6)).code == "anc2"
    assert s.next_window(windows=windows, done=["anc1"], as_of=on(21, 0)).code == "anc3"
    assert s.next_window(windows=windows, done=["anc1", "anc2", "anc3", "anc4", "anc5"], as_of=on(38)) is None


def test_overdue_is_the_day_after_the_window_closes():
    anc2 = s.antenatal_windows(edd=EDD)[1]
    assert not s.is_overdue(anc2, today=on(20, 6))
    assert s.is_overdue(anc2, today=on(21, 0))


def test_schedule_status():
    windows = s.antenatal_windows(edd=EDD)
    status = {c.window.code: c.status for c in s.schedule_status(windows=windows, done=["anc1"], today=on(22))}
    assert status == {"anc1": "done", "anc2": "missed", "anc3": "due", "anc4": "upcoming", "anc5": "upcoming"}


def test_postpartum_home_visit_within_a_week_of_discharge(settings):
    delivered, discharged = date(2026, 10, 10), date(2026, 10, 13)
    home, _check = s.postpartum_windows(delivered_on=delivered, discharged_on=discharged)
    assert (home.code, home.start, home.end) == ("pp_home", discharged, discharged + timedelta(days=7))
    assert home.contains(discharged + timedelta(days=7))
    assert not home.contains(discharged + timedelta(days=8))
    # Not admitted (or discharge not recorded yet): the week counts from the delivery.
    home, _check = s.postpartum_windows(delivered_on=delivered, discharged_on=None)
    assert home.start == delivered


def test_the_42_day_check_window_is_configurable(settings):
    delivered = date(2026, 10, 10)
    _home, check = s.postpartum_windows(delivered_on=delivered, discharged_on=None)
    assert (check.start, check.end) == (delivered + timedelta(days=42), delivered + timedelta(days=56))
    assert not check.contains(delivered + timedelta(days=41))
    settings.MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS = 7
    _home, check = s.postpartum_windows(delivered_on=delivered, discharged_on=None)
    assert check.end == delivered + timedelta(days=49)


def test_windows_follow_the_stage():
    assert s.windows_for(edd=EDD, delivered_on=None, discharged_on=None)[0].code == "anc1"
    after = s.windows_for(edd=EDD, delivered_on=date(2026, 10, 1), discharged_on=None)
    assert [w.code for w in after] == ["pp_home", "pp42"]


def test_week_and_month_bounds():
    assert s.week_bounds(date(2026, 11, 26)) == (date(2026, 11, 23), date(2026, 11, 29))  # Thursday
    assert s.week_bounds(date(2026, 11, 23)) == (date(2026, 11, 23), date(2026, 11, 29))  # Monday
    assert s.week_bounds(date(2026, 11, 29)) == (date(2026, 11, 23), date(2026, 11, 29))  # Sunday
    assert s.month_bounds(date(2026, 2, 14)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert s.month_bounds(date(2026, 12, 31)) == (date(2026, 12, 1), date(2026, 12, 31))
