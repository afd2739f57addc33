from django.urls import path

from mchis.access import views

app_name = "access"
urlpatterns = [
    path("break-glass/", views.break_glass, name="break_glass"),
    path("break-glass/review/", views.review_list, name="review_list"),
    path("break-glass/review/<int:grant_id>/", views.review, name="review"),
]
