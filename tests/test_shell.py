"""The web shell: login, navigation per role, institution and jurisdiction, language, API."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def nav_links(html: str) -> set[str]:
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'class="nav-link[^"]*"[^>]*href="([^"]+)"', nav))


def test_login_page_is_chinese_and_marks_the_demo(demo):
    html = Client().get("/accounts/login/").content.decode()
    assert 'lang="zh-hans"' in html
    assert "登录" in html and "妇幼卫生信息系统" in html
    assert "合成数据" in html


def test_a_wrong_password_is_refused_in_chinese(demo):
    response = Client().post("/accounts/login/", {"username": "info.mch", "password": "wrong-password"})
    assert response.status_code == 200
    assert "请输入一个正确的" in response.content.decode()


def test_login_leads_home_and_shows_the_users_roles(login):
    client = login("clinician.thc1")
    html = client.get("/").content.decode()
    assert "保健医生" in html


def test_navigation_follows_the_role(login):
    clinician = nav_links(login("clinician.thc1").get("/").content.decode())
    officer = nav_links(login("info.mch").get("/").content.decode())
    assert "/orgs/mine/" in clinician and "/orgs/mine/" in officer
    assert "/orgs/institutions/" not in clinician
    assert "/orgs/institutions/" in officer and "/api/v1/docs/" in officer


def test_my_institution_page_shows_institution_and_jurisdiction(login, demo):
    html = login("info.mch").get("/orgs/mine/").content.decode()
    assert demo["info.mch"]["institution_name"] in html
    assert demo["info.mch"]["institution_code"] in html
    assert "安平县" in html and "乡镇街道: 10" in html

    html = login("clinician.thc1").get("/orgs/mine/").content.decode()
    assert "仅覆盖本机构" in html


def test_institutions_in_jurisdiction_are_paged_and_filtered_by_township(login):
    from mchis.orgs.codes import uscc_check_char
    from mchis.orgs.models import Region
    from mchis.orgs.services import institution_create

    client = login("info.mch")
    first_page = client.get("/orgs/institutions/").content.decode()
    townships = re.findall(r'<option value="(\d{9})"', first_page)
    assert len(townships) == 10
    # The small county has 14 institutions; ten more in one township make a second page.
    town = Region.objects.get(code=townships[0])
    for n in range(10):
        body = f"12{town.code[:6]}9000000{n:02d}"
        institution_create(
            code=body + uscc_check_char(body), name=f"测试机构{n}", kind="community_health_centre", region=town
        )
    page = client.get("/orgs/institutions/").content.decode()
    assert "第 1 页，共 2 页" in page and page.count("<tr><td>") == 20
    assert client.get("/orgs/institutions/?page=2").content.decode().count("<tr><td>") == 4
    filtered = client.get(f"/orgs/institutions/?area={townships[1]}").content.decode()
    assert filtered.count("<tr><td>") == 1


def test_city_officer_sees_no_institution_of_another_city(login):
    html = login("info.city").get("/orgs/institutions/?kind=health_administration").content.decode()
    assert "中原省卫生健康委员会" not in html


def test_english_is_one_click_away(login):
    client = login("info.mch")
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    html = client.get("/").content.decode()
    assert '<html lang="en">' in html and "MCH information system" in html and "Log out" in html


def test_pages_are_chinese_whatever_language_the_browser_prefers(demo):
    # The project's rule: Chinese by default; only the user's own choice (the switch) changes it.
    response = Client().get("/accounts/login/", headers={"Accept-Language": "en-US,en;q=0.9"})
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html and "登录" in html
    assert response.headers["Content-Language"] == "zh-hans"


def test_the_switch_wins_over_the_browsers_preference(demo):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    html = client.get("/accounts/login/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).content.decode()
    assert '<html lang="en">' in html and "Log in" in html
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"})
    html = client.get("/accounts/login/", headers={"Accept-Language": "en"}).content.decode()
    assert '<html lang="zh-hans">' in html


def test_an_unknown_language_in_the_cookie_falls_back_to_chinese(demo):
    client = Client()
    client.cookies["mchis_language"] = "fr"
    html = client.get("/accounts/login/", headers={"Accept-Language": "en"}).content.decode()
    assert '<html lang="zh-hans">' in html


def test_api_clients_choose_their_language_with_accept_language(login):
    # Machine clients have no switch: the API follows Accept-Language (Chinese by default).
    client = login("info.mch")
    client.cookies.pop("mchis_language", None)
    assert client.get("/api/v1/").headers["Content-Language"] == "zh-hans"
    assert client.get("/api/v1/", headers={"Accept-Language": "en"}).headers["Content-Language"] == "en"


def test_logout_needs_a_post(login):
    client = login("info.mch")
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_api_root_lists_resources(login):
    body = login("info.mch").get("/api/v1/").json()
    assert set(body) >= {"regions", "institutions"}


def test_api_lists_institutions_in_jurisdiction_only(login, demo):
    clinician = login("clinician.thc1").get("/api/v1/institutions/").json()
    assert [i["code"] for i in clinician["results"]] == [demo["clinician.thc1"]["institution_code"]]
    officer = login("info.mch").get("/api/v1/institutions/?limit=100").json()
    assert officer["count"] > 10


def test_api_hides_an_institution_outside_jurisdiction_as_not_found(login, demo):
    client = login("clinician.thc1")
    other = demo["info.mch"]["institution_code"]
    assert client.get(f"/api/v1/institutions/{other}/").status_code == 404
    assert client.get("/api/v1/institutions/121234567890123456/").status_code == 404


def test_api_regions_by_parent(login):
    body = login("clinician.thc1").get("/api/v1/regions/?parent=410000").json()
    assert body["count"] == 1 and body["results"][0]["level"] == 2


def test_openapi_schema_and_docs_are_served_locally(login):
    client = login("info.mch")
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/institutions/" in schema.content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs
    assert not re.search(r'(src|href)="(https?:)?//', docs)
    script = client.get("/api/v1/docs/?script=").content.decode()
    assert "SwaggerUIBundle" in script and "//cdn" not in script
    # The strict CSP: no inline style or script on the page, no online validator badge.
    assert "<style" not in docs and not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", docs)
    assert '"validatorUrl": null' in script
