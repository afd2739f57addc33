"""Approval pages (namespace `approvals`). Every pattern needs a rule in `mchis.access.matrix`."""

from django.urls import path

from mchis.approvals import views

app_name = "approvals"
urlpatterns = [
    path("", views.approvals, name="list"),
    path("<uuid:request_id>/", views.detail, name="detail"),
    path("<uuid:request_id>/decide/", views.decide, name="decide"),
    path("<uuid:request_id>/withdraw/", views.withdraw, name="withdraw"),
    path("<uuid:request_id>/secret/", views.secret, name="secret"),
]
