"""Division codes (GB/T 2260) and institution codes (GB 32100)."""

import pytest

from mchis.orgs.codes import region_code_problem, uscc_check_char, uscc_problem


@pytest.mark.parametrize(
    ("code", "level", "parent", "parent_level"),
    [
        ("000000", 0, None, None),
        ("410000", 1, "000000", 0),
        ("410100", 2, "410000", 1),
        ("410122", 3, "410100", 2),
        ("410122100", 4, "410122", 3),
        ("410122100201", 5, "410122100", 4),
    ],
)
def test_valid_codes_at_each_level(code, level, parent, parent_level):
    assert region_code_problem(code, level, parent, parent_level) is None


@pytest.mark.parametrize(
    ("code", "level", "parent", "parent_level", "why"),
    [
        ("990000", 1, "000000", 0, "not a GB/T 2260 province prefix"),
        ("4100", 1, "000000", 0, "too short"),
        ("410000", 2, "410000", 1, "a city code cannot end in 0000"),
        ("420100", 2, "410000", 1, "city outside its province"),
        ("410100", 3, "410100", 2, "a county code cannot end in 00"),
        ("410222", 3, "410100", 2, "county outside its city"),
        ("41012210", 4, "410122", 3, "township codes have 9 digits"),
        ("410122000", 4, "410122", 3, "township part cannot be 000"),
        ("410123100", 4, "410122", 3, "township outside its county"),
        ("41012210020A", 5, "410122100", 4, "letters"),
    ],
)
def test_invalid_codes_are_refused_with_the_rule(code, level, parent, parent_level, why):
    problem = region_code_problem(code, level, parent, parent_level)
    assert problem, why


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000802100433B"])
def test_uscc_check_character_matches_published_codes(code):
    # The first is the worked example of GB 32100-2015; the second a registered enterprise.
    assert uscc_check_char(code[:17]) == code[17]
    assert uscc_problem(code) is None


def test_uscc_check_character_is_verified():
    body = "124101220012345670"[:17]
    good = body + uscc_check_char(body)
    assert uscc_problem(good) is None
    wrong = body + ("0" if good[-1] != "0" else "1")
    assert "check character" in uscc_problem(wrong)


@pytest.mark.parametrize("code", ["12410122001234567", "1241012200123456I0", "ab4101220012345678", ""])
def test_uscc_shape_is_verified(code):
    assert uscc_problem(code)
