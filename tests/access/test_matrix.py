"""The authorization matrix: every URL has a rule, and the rule holds (P5, P10)."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path

from mchis.access.matrix import URL_RULES

pytestmark = pytest.mark.django_db


def walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace if p.namespace else namespace
            if namespace and p.namespace:
                ns = f"{namespace}:{p.namespace}"
            yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield prefix + str(p.pattern), name


ROUTES = sorted(set(walk(get_resolver().url_patterns)), key=lambda r: r[0])


def test_every_url_pattern_is_named_and_has_a_rule():
    missing = [route for route, name in ROUTES if name not in URL_RULES]
    assert not missing, f"URLs without a rule in mchis/access/matrix.py: {missing}"


def test_the_matrix_names_no_url_that_does_not_exist():
    names = {name for _route, name in ROUTES}
    assert set(URL_RULES) <= names, set(URL_RULES) - names


def concrete(route: str) -> str | None:
    """A URL for a route pattern, or None for routes that need arguments we cannot invent."""
    if "<" in route or "(?P" in route or "\\" in route or "^" in route:
        return None
    return "/" + route


UI_ROUTES = [(r, n) for r, n in ROUTES if not URL_RULES[n].api and URL_RULES[n].kind != "public" and concrete(r)]
API_ROUTES = [(r, n) for r, n in ROUTES if URL_RULES[n].api and concrete(r)]


@pytest.mark.parametrize(("route", "name"), UI_ROUTES)
def test_anonymous_visitors_are_sent_to_the_login_page(route, name):
    response = Client().get(concrete(route))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), name


@pytest.mark.parametrize(("route", "name"), API_ROUTES)
def test_anonymous_api_calls_are_refused(route, name):
    assert Client().get(concrete(route)).status_code in (401, 403), name


def test_a_signed_in_user_without_the_role_gets_not_found(login):
    response = login("clinician.thc1").get("/orgs/institutions/")
    assert response.status_code == 404


def test_not_allowed_looks_the_same_as_does_not_exist(login):
    client = login("clinician.thc1")
    refused = client.get("/orgs/institutions/")
    missing = client.get("/orgs/no-such-page/")
    assert refused.status_code == missing.status_code == 404

    def normalised(response):
        # Only the per-render CSRF token and the echo of the requested path may differ.
        text = response.content.decode()
        text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
        return re.sub(r'name="next" value="[^"]+"', "", text)

    assert normalised(refused) == normalised(missing)


def _unlisted(request):
    from django.http import HttpResponse

    return HttpResponse("should never be served")


urlpatterns = [*get_resolver().url_patterns, path("unlisted/", _unlisted, name="unlisted")]


@pytest.mark.urls(__name__)
def test_a_url_missing_from_the_matrix_is_closed_to_everyone(login):
    assert Client().get("/unlisted/").status_code == 404
    assert login("sysadmin").get("/unlisted/").status_code == 404
