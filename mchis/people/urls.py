from django.urls import path

from mchis.people import views

app_name = "people"
urlpatterns = [
    path("", views.search, name="search"),
    path("register/", views.register, name="register"),
    path("<uuid:person_id>/", views.detail, name="detail"),
]
