"""Account pages (namespace `accounts`). Login and logout are in the root URLconf under their
Django names ("login", "logout"). Every pattern here needs a rule in `mchis.access.matrix`."""

from django.urls import path  # noqa: F401  (the areas below add their patterns)

app_name = "accounts"

urlpatterns: list = []
