from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language

from mchis.accounts.forms import LoginForm
from mchis.accounts.views import home
from mchis.ops.views import healthz

urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="accounts/login.html", authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("mchis.accounts.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
    path("orgs/", include("mchis.orgs.urls")),
    path("audit/", include("mchis.audit.urls")),
    path("people/", include("mchis.people.urls")),
    path("maternal/", include("mchis.maternal.urls")),
    path("access/", include("mchis.access.urls")),
    path("approvals/", include("mchis.approvals.urls")),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include("mchis.api.urls")),
]
