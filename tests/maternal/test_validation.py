"""Plausible ranges: impossible values refused naming field and range, unusual ones accepted with
a warning (issue 5, "Antenatal visits")."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from mchis.maternal.models import AntenatalVisit
from mchis.maternal.services import visit_record
from mchis.maternal.validation import RANGES, measurements_check

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("systolic_bp", 60, 260),
        ("diastolic_bp", 30, 160),
        ("hb_g_l", 30, 200),
        ("fundal_height_cm", 5, 50),
        ("weight_kg", 30, 200),
        ("height_cm", 120, 200),
        ("fetal_heart_rate", 60, 220),
        ("platelets", 1, 1000),
        ("blood_loss_ml", 0, 10000),
        ("birth_weight_g", 300, 6000),
        ("apgar_1", 0, 10),
        ("apgar_5", 0, 10),
    ],
)
def test_plausible_ranges_are_inclusive_and_named_in_the_refusal(field, low, high):
    r = RANGES[field]
    assert (r.low, r.high) == (low, high)
    measurements_check({field: low})
    measurements_check({field: high})
    step = Decimal("0.1") if r.places else 1
    for wrong in (Decimal(low) - step, Decimal(high) + step):
        with pytest.raises(ValidationError) as exc:
            measurements_check({field: wrong})
        (message,) = exc.value.message_dict[field]
        assert f"between {low} and {high}" in message and str(r.label) in message


@pytest.mark.parametrize(
    ("field", "value", "warned"),
    [
        ("systolic_bp", 159, False),
        ("systolic_bp", 160, True),
        ("systolic_bp", 81, False),
        ("systolic_bp", 80, True),
        ("hb_g_l", 70, False),
        ("hb_g_l", 69, True),
        ("fetal_heart_rate", 110, False),
        ("fetal_heart_rate", 109, True),
        ("fetal_heart_rate", 160, False),
        ("fetal_heart_rate", 161, True),
        ("birth_weight_g", 2499, True),
        ("apgar_5", 7, True),
    ],
)
def test_unusual_values_are_accepted_with_a_warning(field, value, warned):
    cleaned, warnings = measurements_check({field: value})
    assert cleaned[field] == value
    assert bool(warnings) == warned
    if warned:
        assert warnings[0].field == field and "check the reading" in warnings[0].message


def test_not_a_number_and_not_a_whole_number():
    with pytest.raises(ValidationError) as exc:
        measurements_check({"systolic_bp": "high", "hb_g_l": "98.5", "weight_kg": "61.25"})
    errors = exc.value.message_dict
    assert set(errors) == {"systolic_bp", "hb_g_l"}
    assert "must be a number" in errors["systolic_bp"][0] and "whole number" in errors["hb_g_l"][0]
    cleaned, _ = measurements_check({"weight_kg": "61.25"})
    assert cleaned["weight_kg"] == Decimal("61.3")  # rounded half up to the recorded precision


def test_a_visit_with_an_impossible_value_saves_nothing(actors, register, today):
    reg = register()
    with pytest.raises(ValidationError) as exc:
        visit_record(
            actor=actors["clinician.thc1"],
            pregnancy_id=reg.pregnancy.pk,
            visit_on=today,
            systolic_bp=300,
            diastolic_bp=80,
            hb_g_l=20,
            fundal_height_cm=60,
        )
    assert set(exc.value.message_dict) == {"systolic_bp", "hb_g_l", "fundal_height_cm"}
    assert "between 60 and 260 mmHg" in exc.value.message_dict["systolic_bp"][0]
    assert not AntenatalVisit.objects.visible_to(actors["clinician.thc1"]).filter(pregnancy=reg.pregnancy).exists()
    reg.pregnancy.refresh_from_db()
    assert reg.pregnancy.version == 1 and reg.pregnancy.contacts_done == []


def test_a_visit_with_unusual_values_is_saved_and_warned_about(actors, register, today):
    reg = register(weeks=30)
    result = visit_record(
        actor=actors["clinician.thc1"],
        pregnancy_id=reg.pregnancy.pk,
        visit_on=today,
        systolic_bp=165,
        diastolic_bp=100,
        hb_g_l=65,
        fetal_heart_rate=170,
        fundal_height_cm=22,
    )
    assert {w.field for w in result.warnings} == {"systolic_bp", "hb_g_l", "fetal_heart_rate", "fundal_height_cm"}
    assert result.visit.unusual == ["fetal_heart_rate", "fundal_height_cm", "hb_g_l", "systolic_bp"]
    assert result.visit.pk is not None and result.pregnancy_version == 2


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"systolic_bp": 120}, "diastolic_bp", "both"),
        ({"systolic_bp": 90, "diastolic_bp": 95}, "diastolic_bp", "lower than the systolic"),
        ({"presentation": "sideways"}, "presentation", "choose one of"),
        ({"urine_protein": "5+"}, "urine_protein", "choose one of"),
        ({"conditions": ["not_a_condition"]}, "conditions", "not_a_condition"),
    ],
)
def test_other_visit_refusals(actors, register, today, values, field, text):
    reg = register()
    with pytest.raises(ValidationError) as exc:
        visit_record(actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today, **values)
    assert text in exc.value.message_dict[field][0]


def test_visit_dates_outside_the_pregnancy_are_refused(actors, register, today):
    reg = register(weeks=10)
    clinician = actors["clinician.thc1"]
    with pytest.raises(ValidationError) as exc:
        visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today + timedelta(days=1))
    assert "future" in exc.value.message_dict["visit_on"][0]
    with pytest.raises(ValidationError) as exc:
        visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today - timedelta(weeks=11))
    assert "outside this pregnancy" in exc.value.message_dict["visit_on"][0]
