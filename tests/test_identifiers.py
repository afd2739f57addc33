"""Resident ID numbers (GB 11643)."""

from datetime import date

import pytest

from mchis.people.identifiers import (
    id_check_char,
    id_make,
    id_normalise,
    id_problem,
    id_sex,
    phone_normalise,
    phone_problem,
)


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_check_character_of_the_standards_examples(number):
    assert id_check_char(number[:17]) == number[17]
    assert id_problem(number) is None


def test_lower_case_x_is_the_same_as_upper_case():
    assert id_normalise(" 11010519491231002x ") == "11010519491231002X"
    assert id_problem("11010519491231002x") is None


def test_full_width_forms_are_the_same_number():
    """A Chinese input method in full-width mode types １２３ and Ｘ: the same number."""
    assert id_normalise("１１０１０５１９４９１２３１００２ｘ") == "11010519491231002X"
    assert id_problem("１１０１０５１９４９１２３１００２Ｘ") is None
    assert phone_normalise("１３８－００１３　８０００") == "13800138000"
    assert phone_problem("１３８－００１３　８０００") is None


@pytest.mark.parametrize("number", ["١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "११०१०५१९४९१२३१००२X"])
def test_digits_of_other_scripts_are_refused(number):
    # Python's \d would take them; NFKC leaves them as they are.
    assert "17 digits" in id_problem(number)
    assert phone_problem(number[:11]) is not None


@pytest.mark.parametrize(
    ("number", "rule"),
    [
        ("110105194912310021", "check character"),
        ("11010519491331002X", "birth date"),
        ("1101051949123100", "17 digits"),
        ("11010520991231002X", "future"),
    ],
)
def test_invalid_numbers_name_the_rule(number, rule):
    problem = id_problem(number, today=date(2026, 11, 25))
    assert problem and rule in problem


def test_made_numbers_are_valid_and_carry_sex():
    number = id_make(area_code="410122", born=date(1990, 3, 7), sequence=124)
    assert id_problem(number) is None
    assert id_sex(number) == 2


def test_the_future_is_judged_by_the_deployments_date_not_the_server_clock(settings):
    """From 16:00 UTC it is already tomorrow in China: a baby born on the local date is not
    born in the future, whatever the server's clock says."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: its date is ahead of every server's
    local_today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date()
    born_today = id_make(area_code="410121", born=local_today, sequence=2)
    assert id_problem(born_today) is None
    tomorrow = id_make(area_code="410121", born=local_today + timedelta(days=1), sequence=2)
    assert "future" in id_problem(tomorrow)
