"""The jurisdiction tree: subtree queries, moves, validation (P15: institutions own their part)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.test.utils import isolate_apps

from mchis.orgs.models import Institution, InstitutionKind, PathField, Region, RegionLevel
from mchis.orgs.services import institution_create, region_create, region_move
from tests.indexes import query_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(db):
    """nation › province › two cities › a county each › townships › a village."""
    nation = region_create(code="000000", name="中华人民共和国", level=RegionLevel.NATION, parent=None)
    prov = region_create(code="410000", name="中原省", level=RegionLevel.PROVINCE, parent=nation)
    city_a = region_create(code="410100", name="甲市", level=RegionLevel.CITY, parent=prov)
    city_b = region_create(code="410200", name="乙市", level=RegionLevel.CITY, parent=prov)
    county_a = region_create(code="410122", name="安平县", level=RegionLevel.COUNTY, parent=city_a)
    county_b = region_create(code="410221", name="乙县", level=RegionLevel.COUNTY, parent=city_b)
    town_a1 = region_create(code="410122101", name="甲镇", level=RegionLevel.TOWNSHIP, parent=county_a)
    town_a2 = region_create(code="410122102", name="乙镇", level=RegionLevel.TOWNSHIP, parent=county_a)
    town_b1 = region_create(code="410221101", name="丙镇", level=RegionLevel.TOWNSHIP, parent=county_b)
    village = region_create(code="410122101201", name="甲村", level=RegionLevel.VILLAGE, parent=town_a1)
    thc = institution_create(
        code=_uscc("124101220000000010"), name="甲镇卫生院", kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE, region=town_a1
    )
    mch = institution_create(
        code=_uscc("124101220000000020"), name="安平县妇幼保健院", kind=InstitutionKind.MCH_HOSPITAL, region=county_a
    )
    other = institution_create(
        code=_uscc("124102210000000030"), name="丙镇卫生院", kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE, region=town_b1
    )
    return locals()


def _uscc(first17_and_any: str) -> str:
    from mchis.orgs.codes import uscc_check_char

    body = first17_and_any[:17]
    return body + uscc_check_char(body)


def codes(qs):
    return sorted(r.code for r in qs)


def test_subtree_of_a_county_holds_its_townships_and_villages_only(tree):
    assert codes(Region.objects.subtree(tree["county_a"])) == ["410122", "410122101", "410122101201", "410122102"]
    assert codes(Region.objects.subtree(tree["county_a"], include_self=False)) == [
        "410122101",
        "410122101201",
        "410122102",
    ]


def test_subtree_of_the_province_holds_everything_but_the_nation(tree):
    assert Region.objects.subtree(tree["prov"]).count() == Region.objects.count() - 1


def test_institutions_in_a_region_come_from_its_whole_subtree(tree):
    assert {i.name for i in Institution.objects.in_region(tree["county_a"])} == {"甲镇卫生院", "安平县妇幼保健院"}
    assert {i.name for i in Institution.objects.in_region(tree["town_a1"])} == {"甲镇卫生院"}
    assert {i.name for i in Institution.objects.in_region(tree["city_b"])} == {"丙镇卫生院"}


def test_a_code_that_shares_a_prefix_is_not_inside_the_subtree(tree):
    # 4101221 would match a naive "starts with 410122" on codes; the path separator prevents it.
    region_create(code="410123", name="邻县", level=RegionLevel.COUNTY, parent=tree["city_a"])
    assert "410123" not in codes(Region.objects.subtree(tree["county_a"]))


def test_subtree_lookup_uses_an_index(tree):
    qs = Region.objects.subtree(tree["county_a"]).values_list("id")
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, plan
        else:
            # On a tiny table the planner prefers a sequential scan; forbid it to see
            # whether an index can serve the range at all.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            assert "Index" in plan and "path" in plan, plan


def test_institutions_in_a_region_are_an_index_range_too(tree):
    qs = Institution.objects.in_region(tree["county_a"]).values_list("id")
    text = query_plan(qs)
    assert "institution_by_region_path" in text, text


def path_model_errors(**kwargs) -> list[str]:
    with isolate_apps():

        class Place(models.Model):
            path = PathField(max_length=255, **kwargs)

            class Meta:
                app_label = "orgs_tests"

            def __str__(self) -> str:
                return self.path

        return [e.id for e in Place.check() if e.id.startswith("mchis.")]


@pytest.mark.parametrize("kwargs", [{"db_index": True}, {"unique": True}])
def test_a_path_is_indexed_in_meta_not_through_the_field(kwargs):
    """On PostgreSQL, db_index or unique on a CharField adds a varchar_pattern_ops ("_like")
    index beside the plain one: redundant on a "C"-collated path, and paid for by every INSERT."""
    assert path_model_errors(**kwargs) == ["mchis.E301"]
    assert path_model_errors() == []


def test_moving_a_county_to_another_city_recodes_and_moves_its_subtree(tree):
    region_move(region=tree["county_a"], new_parent=tree["city_b"], new_code="410222")
    moved = Region.objects.get(name="安平县")
    assert moved.code == "410222" and moved.parent == tree["city_b"]
    assert codes(Region.objects.subtree(moved)) == ["410222", "410222101", "410222101201", "410222102"]
    assert codes(Region.objects.subtree(tree["city_a"])) == ["410100"]
    village = Region.objects.get(name="甲村")
    assert village.path == "/000000/410000/410200/410222/410222101/410222101201/"
    # Institutions follow their regions.
    assert {i.name for i in Institution.objects.in_region(tree["city_b"])} == {
        "甲镇卫生院",
        "安平县妇幼保健院",
        "丙镇卫生院",
    }
    assert not Institution.objects.in_region(tree["city_a"]).exists()


def test_moving_a_county_without_the_code_its_new_city_requires_is_refused(tree):
    with pytest.raises(ValidationError) as exc:
        region_move(region=tree["county_a"], new_parent=tree["city_b"])
    assert "code" in exc.value.message_dict
    assert Region.objects.get(name="安平县").parent == tree["city_a"]


def test_moving_a_region_under_its_own_descendant_is_refused(tree):
    with pytest.raises(ValidationError) as exc:
        region_move(region=tree["city_a"], new_parent=tree["county_a"])
    assert "parent" in exc.value.message_dict


def test_moving_onto_codes_in_use_is_refused_and_changes_nothing(tree):
    with pytest.raises(ValidationError) as exc:
        region_move(region=tree["county_a"], new_parent=tree["city_b"], new_code="410221")
    assert "already in use" in exc.value.message_dict["code"][0]
    assert Region.objects.get(code="410122").path == "/000000/410000/410100/410122/"


def test_invalid_region_code_is_refused_naming_the_field_and_rule(tree):
    with pytest.raises(ValidationError) as exc:
        region_create(code="4101221", name="坏镇", level=RegionLevel.TOWNSHIP, parent=tree["county_a"])
    assert "9 digits" in exc.value.message_dict["code"][0]
    assert not Region.objects.filter(name="坏镇").exists()


def test_duplicate_region_code_is_refused(tree):
    with pytest.raises(ValidationError) as exc:
        region_create(code="410122101", name="重复镇", level=RegionLevel.TOWNSHIP, parent=tree["county_a"])
    assert "already in use" in exc.value.message_dict["code"][0]


def test_region_at_the_wrong_level_is_refused(tree):
    with pytest.raises(ValidationError) as exc:
        region_create(code="410122103", name="跳级镇", level=RegionLevel.TOWNSHIP, parent=tree["city_a"])
    assert "parent" in exc.value.message_dict


def test_institution_under_the_wrong_kind_of_region_is_refused(tree):
    with pytest.raises(ValidationError) as exc:
        institution_create(
            code=_uscc("124101220000000040"),
            name="错位卫生院",
            kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE,
            region=tree["county_a"],
        )
    message = exc.value.message_dict["region"][0]
    assert "township health centre" in message and "county" in message


def test_duplicate_institution_code_is_refused(tree):
    with pytest.raises(ValidationError) as exc:
        institution_create(
            code=tree["thc"].code,
            name="另一卫生院",
            kind=InstitutionKind.TOWNSHIP_HEALTH_CENTRE,
            region=tree["town_a2"],
        )
    assert "already in use" in exc.value.message_dict["code"][0]


def test_institution_code_with_a_wrong_check_character_is_refused(tree):
    good = _uscc("124101220000000050")
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(ValidationError) as exc:
        institution_create(code=bad, name="某院", kind=InstitutionKind.MCH_HOSPITAL, region=tree["county_b"])
    assert "check character" in exc.value.message_dict["code"][0]
