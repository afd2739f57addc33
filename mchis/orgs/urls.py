from django.urls import path

from mchis.orgs import views

app_name = "orgs"
urlpatterns = [
    path("mine/", views.mine, name="mine"),
    path("institutions/", views.institutions, name="institutions"),
]
