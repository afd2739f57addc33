"""Five-colour risk grading: every rule of the 2017 table at its boundaries (DOMAIN "Pregnancy
risk grading"; P17 for the PMTCT results)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from mchis.maternal.models import RiskRule, RiskRuleTable
from mchis.maternal.risk import (
    FACTS,
    active_table,
    bmi,
    condition_catalogue,
    predicate_conditions,
    predicate_problems,
    proposal_compute,
    risk_table_install,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def table():
    return active_table()


def propose(table, *, conditions=(), infections=True, current_purple=False, **facts):
    t, rules = table
    values = dict.fromkeys(FACTS)
    values.update(facts)
    return proposal_compute(
        table=t,
        rules=rules,
        facts=values,
        conditions=conditions,
        infections_used=infections,
        current_purple=current_purple,
    )


# (facts, colour proposed, rule codes that must fire): the boundaries the issue names and
# those of every other numeric rule.
BOUNDARIES = [
    ({"age": 18}, "yellow", {"Y1.1b"}),
    ({"age": 19}, "green", set()),
    ({"age": 34}, "green", set()),
    ({"age": 35}, "yellow", {"Y1.1a"}),
    ({"age": 39}, "yellow", {"Y1.1a"}),
    ({"age": 40}, "orange", {"O1.1"}),
    ({"bmi": Decimal("18.4")}, "yellow", {"Y1.2b"}),
    ({"bmi": Decimal("18.5")}, "green", set()),
    ({"bmi": Decimal("25")}, "green", set()),
    ({"bmi": Decimal("25.1")}, "yellow", {"Y1.2a"}),
    ({"bmi": Decimal("27.9")}, "yellow", {"Y1.2a"}),
    ({"bmi": Decimal("28")}, "orange", {"O1.2"}),
    ({"height_cm": Decimal("145.0")}, "yellow", {"Y1.3"}),
    ({"height_cm": Decimal("145.1")}, "green", set()),
    ({"hb_g_l": 40}, "red", {"R1.6d"}),
    ({"hb_g_l": 41}, "orange", {"O2.6b"}),
    ({"hb_g_l": 59}, "orange", {"O2.6b"}),  # severe anaemia
    ({"hb_g_l": 60}, "yellow", {"Y2.6b"}),
    ({"hb_g_l": 110}, "yellow", {"Y2.6b"}),
    ({"hb_g_l": 111}, "green", set()),
    ({"platelets": 29}, "red", {"R1.6b"}),
    ({"platelets": 30}, "orange", {"O2.6a"}),
    ({"platelets": 49}, "orange", {"O2.6a"}),
    ({"platelets": 50}, "yellow", {"Y2.6a"}),
    ({"platelets": 100}, "yellow", {"Y2.6a"}),
    ({"platelets": 101}, "green", set()),
    ({"prior_abortions": 2}, "green", set()),
    ({"prior_abortions": 3}, "yellow", {"Y1.6a"}),
    ({"prior_preterm_births": 0}, "green", set()),
    ({"prior_preterm_births": 1}, "yellow", {"Y1.6b"}),
    ({"prior_perinatal_deaths": 1}, "yellow", {"Y1.6c"}),
    ({"prior_birth_defects": 1}, "yellow", {"Y1.6d"}),
    ({"prior_ectopic": 1}, "yellow", {"Y1.6e"}),
    ({"uterine_operations": 0}, "green", set()),
    ({"uterine_operations": 1}, "yellow", {"Y1.7"}),
    ({"uterine_operations": 2}, "orange", {"O3.5", "Y1.7"}),
    ({"uterine_operations": 1, "months_since_uterine_surgery": 17}, "orange", {"O3.3"}),
    ({"uterine_operations": 1, "months_since_uterine_surgery": 18}, "yellow", {"Y1.7"}),
    ({"fetuses": 1}, "green", set()),
    ({"fetuses": 2}, "yellow", {"Y3.1"}),
    ({"fetuses": 3}, "orange", {"O3.1"}),
    ({"gestational_weeks": 35, "presentation": "breech"}, "green", set()),
    ({"gestational_weeks": 36, "presentation": "breech"}, "yellow", {"Y3.10"}),
    ({"gestational_weeks": 36, "presentation": "transverse"}, "yellow", {"Y3.10"}),
    ({"gestational_weeks": 36, "presentation": "cephalic"}, "green", set()),
    ({"hiv": "negative", "syphilis": "negative", "hbsag": "negative"}, "green", set()),
    ({"hiv": "positive"}, "green", {"P1.1"}),
    ({"syphilis": "positive"}, "green", {"P1.2"}),
    ({"hbsag": "positive"}, "yellow", {"Y2.3", "P1.3"}),
]
NUMERIC_CODES = set().union(*(codes for _f, _c, codes in BOUNDARIES))


def _id(value) -> str:
    # Sets print in hash order, which differs between xdist workers.
    return "+".join(sorted(value)) or "none" if isinstance(value, set) else str(value)


@pytest.mark.parametrize(("facts", "colour", "fired"), BOUNDARIES, ids=_id)
def test_numeric_and_result_rules_at_their_boundaries(table, facts, colour, fired):
    proposal = propose(table, **facts)
    assert proposal.colour == colour
    assert {r.code for r in proposal.fired} >= fired
    if not fired:
        assert proposal.fired == []


def test_purple_is_a_flag_beside_the_colour(table):
    assert propose(table, hiv="positive").purple
    assert not propose(table, hiv="negative").purple
    proposal = propose(table, hiv="positive", age=40)
    assert (proposal.colour, proposal.purple) == ("orange", True)


def condition_rules():
    """(code, colour, condition) of the seeded rules that read one coded condition."""
    return [
        (r.code, r.colour, next(iter(predicate_conditions(r.predicate))))
        for r in RiskRule.objects.filter(table__version="2017").order_by("position")
        if predicate_conditions(r.predicate)
    ]


def test_every_condition_rule_gives_its_colour(table):
    rules = condition_rules()
    assert len(rules) > 80
    for code, colour, condition in rules:
        proposal = propose(table, conditions=[condition])
        assert [r.code for r in proposal.fired] == [code], condition
        if colour == "purple":
            assert (proposal.colour, proposal.purple) == ("green", True)
        else:
            assert (proposal.colour, proposal.purple) == (colour, False), condition


def test_every_rule_of_the_table_is_tested():
    _table, rules = active_table()
    tested = NUMERIC_CODES | {code for code, _colour, _condition in condition_rules()}
    assert {r.code for r in rules} == tested


def test_the_highest_colour_wins_and_every_rule_that_fired_is_named(table):
    proposal = propose(table, age=40, hb_g_l=100, conditions=["asthma", "cardiomyopathy", "tuberculosis"])
    assert (proposal.colour, proposal.purple) == ("red", True)
    assert {r.code for r in proposal.fired} == {"O1.1", "Y1.1a", "Y2.6b", "O2.2a", "R1.1d", "P1.5"}
    assert all(r.label for r in proposal.fired)


def test_the_2017_table_covers_the_examples_of_the_domain(table):
    labels = {r.label_en for r in table[1]}
    for text in (
        "Scarred uterus",
        "Assisted reproduction",
        "Severe pre-eclampsia",
        "Aplastic anaemia",
        "pernicious placenta praevia",
        "Tuberculosis",
        "Severe infectious pneumonia",
        "HIV infection or AIDS",
        "Syphilis",
    ):
        assert any(text.lower() in label.lower() for label in labels), text
    counts = {c: sum(1 for r in table[1] if r.colour == c) for c in ("yellow", "orange", "red", "purple")}
    assert counts["yellow"] >= 40 and counts["orange"] >= 35 and counts["red"] >= 30 and counts["purple"] == 7


def test_unrecorded_facts_are_reported_not_guessed(table):
    proposal = propose(table, age=30)
    assert proposal.colour == "green"
    assert {"bmi", "hb_g_l", "platelets", "height_cm"} <= set(proposal.unknown)


def test_pmtct_rules_are_skipped_without_l5_and_purple_is_carried(table):
    """P17: below L5 the HIV, syphilis and hepatitis B results do not enter the proposal."""
    proposal = propose(table, infections=False, hiv="positive", hbsag="positive")
    assert proposal.fired == [] and not proposal.purple
    assert proposal.infections_withheld and not proposal.infections_used
    assert "hiv" not in proposal.facts and "hiv" not in proposal.unknown
    assert any("clearance" in r for r in proposal.remarks)
    carried = propose(table, infections=False, current_purple=True)
    assert carried.purple and carried.purple_carried
    # With L5 the results decide: purple is not carried over, it is computed.
    assert not propose(table, infections=True, current_purple=True, hiv="negative").purple


def test_bmi_is_rounded_half_up_to_one_decimal():
    assert bmi(64, 160) == Decimal("25.0")
    assert bmi(Decimal("64.3"), 160) == Decimal("25.1")  # 25.117
    assert bmi(Decimal("47.3"), 160) == Decimal("18.5")  # 18.477 rounds up
    assert bmi(Decimal("47.2"), 160) == Decimal("18.4")
    assert bmi(None, 160) is None


def test_the_seeded_predicates_are_valid_and_every_condition_is_offered(table):
    t, rules = table
    assert t.version == "2017" and t.is_active
    assert all(predicate_problems(r.predicate) == [] for r in rules)
    catalogue = condition_catalogue()
    assert {c["code"] for c in catalogue} == {c for r in rules for c in predicate_conditions(r.predicate)}
    assert all(c["label"] for c in catalogue)


@pytest.mark.parametrize(
    ("predicate", "problem"),
    [
        ({"fact": "weight", "op": ">", "value": 1}, "unknown fact"),
        ({"fact": "age", "op": "~", "value": 1}, "unknown operator"),
        ({"fact": "age", "op": "between", "min": 5, "max": 1}, "min <= max"),
        ({"fact": "hiv", "op": "<", "value": "positive"}, "==, != or in"),
        ({"fact": "hiv", "op": "==", "value": "maybe"}, "one of"),
        ({"fact": "age", "op": "in", "value": []}, "non-empty"),
        ({"condition": "Not Snake"}, "snake_case"),
        ({"all": []}, "non-empty"),
        ({"fact": "age"}, "needs 'fact' and 'op'"),
        ("age >= 35", "object"),
    ],
)
def test_bad_predicates_are_named(predicate, problem):
    problems = predicate_problems(predicate)
    assert problems and problem in problems[0]


def test_a_deployment_installs_a_new_table_version(table, actors, register, today):
    before, _rules = table
    new = risk_table_install(
        version="2026-local",
        name="本地修订",
        effective_from=date(2026, 1, 1),
        rules=[
            {
                "code": "L1",
                "colour": "orange",
                "label_zh": "年龄≥38岁",
                "label_en": "Age 38 or older",
                "predicate": {"fact": "age", "op": ">=", "value": 38},
            },
        ],
    )
    assert RiskRuleTable.objects.get(is_active=True) == new
    before.refresh_from_db()
    assert not before.is_active
    t, rules = active_table()
    assert t.version == "2026-local" and [r.code for r in rules] == ["L1"]
    # A grading names the version that made it.
    from mchis.maternal.services import risk_grade

    reg = register(born=birthday(39, today) - timedelta(days=1))
    result = risk_grade(actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk)
    assert result.grading.table_version == "2026-local"
    assert result.grading.rules_fired == ["L1"] and result.grading.colour == "orange"


def test_a_table_version_is_never_replaced_and_bad_rules_are_refused(table):
    with pytest.raises(ValidationError) as exc:
        risk_table_install(version="2017", name="x", effective_from=date(2026, 1, 1), rules=[])
    assert "version" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        risk_table_install(
            version="bad",
            name="x",
            effective_from=date(2026, 1, 1),
            rules=[{"code": "X1", "colour": "blue", "label_zh": "", "label_en": "x", "predicate": {"fact": "nope"}}],
        )
    assert set(exc.value.message_dict) == {"rules[0]"}
    assert RiskRuleTable.objects.get(is_active=True).version == "2017"


# --- through the services: the facts come from the records -------------------------------------


def birthday(years: int, today: date) -> date:
    """Born exactly `years` years before `today` (29 February treated as 1 March)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, month=3, day=1)


@pytest.mark.parametrize(("years", "days", "colour"), [(35, 0, "yellow"), (35, 1, "green"), (40, 0, "orange")])
def test_age_is_taken_on_the_day_of_assessment(actors, register, today, years, days, colour):
    from mchis.maternal.services import visit_record

    born = birthday(years, today) + timedelta(days=days)
    reg = register(born=born)
    result = visit_record(actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today)
    assert result.proposal.colour == colour
    assert result.proposal.facts["age"] == (years if days == 0 else years - 1)


@pytest.mark.parametrize(("weight", "colour"), [("64.0", "green"), ("64.3", "yellow"), ("71.6", "orange")])
def test_bmi_comes_from_the_height_and_the_first_weight(actors, register, today, weight, colour):
    from mchis.maternal.services import visit_record

    reg = register()
    result = visit_record(
        actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today, height_cm=160, weight_kg=weight
    )
    assert result.proposal.colour == colour, result.proposal.facts["bmi"]


def test_the_pre_pregnancy_weight_is_preferred_for_bmi(actors, register, today):
    from mchis.maternal.services import visit_record

    reg = register(height_cm=160, pre_pregnancy_weight_kg=50)
    result = visit_record(actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today, weight_kg=80)
    assert result.proposal.facts["bmi"] == Decimal("19.5")


@pytest.mark.parametrize(
    ("hb", "colour", "code"), [(59, "orange", "O2.6b"), (60, "yellow", "Y2.6b"), (111, "green", None)]
)
def test_haemoglobin_of_the_latest_visit(actors, register, today, hb, colour, code):
    from mchis.maternal.services import visit_record

    reg = register(weeks=20)
    clinician = actors["clinician.thc1"]
    visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today - timedelta(weeks=2), hb_g_l=100)
    result = visit_record(actor=clinician, pregnancy_id=reg.pregnancy.pk, visit_on=today, hb_g_l=hb)
    assert result.proposal.colour == colour
    assert ({r.code for r in result.proposal.fired} == {code}) if code else result.proposal.fired == []


def test_history_and_conditions_of_the_episode_and_the_visit(actors, register, today):
    from mchis.maternal.services import visit_record

    reg = register(gravidity=4, parity=1, prior_abortions=2, prior_caesareans=1, conditions=["assisted_reproduction"])
    result = visit_record(
        actor=actors["clinician.thc1"], pregnancy_id=reg.pregnancy.pk, visit_on=today, conditions=["asthma"]
    )
    assert {r.code for r in result.proposal.fired} == {"Y1.7", "Y1.10", "O2.2a"}
    assert result.proposal.colour == "orange"
