from django.urls import path

from mchis.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.events, name="events"),
    path("person/", views.person, name="person"),
    path("object/", views.by_object, name="object"),
    path("seen-by/", views.seen_by, name="seen_by"),
    path("denials/", views.denials, name="denials"),
    path("events/<int:pk>/", views.event, name="event"),
]
