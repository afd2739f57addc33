from django.urls import path

from mchis.maternal import views

app_name = "maternal"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("register/", views.register, name="register"),
    path("transfers/", views.transfers_incoming, name="transfers"),
    path("transfers/<uuid:transfer_id>/decide/", views.transfer_decide, name="transfer_decide"),
    path("<uuid:pregnancy_id>/", views.pregnancy, name="pregnancy"),
    path("<uuid:pregnancy_id>/visit/", views.visit_new, name="visit_new"),
    path("<uuid:pregnancy_id>/grading/", views.grading_new, name="grading_new"),
    path("<uuid:pregnancy_id>/delivery/", views.delivery_new, name="delivery_new"),
    path("<uuid:pregnancy_id>/postpartum/", views.postpartum_new, name="postpartum_new"),
    path("<uuid:pregnancy_id>/transfer/", views.transfer_new, name="transfer_new"),
]
