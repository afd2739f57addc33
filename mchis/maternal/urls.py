from django.urls import path

from mchis.maternal import views

app_name = "maternal"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("register/", views.register, name="register"),
    path("transfers/", views.transfers_incoming, name="transfers"),
    path("transfers/<uuid:transfer_id>/decide/", views.transfer_decide, name="transfer_decide"),
    path("<uuid:pregnancy_id>/", views.pregnancy, name="pregnancy"),
    path("<uuid:pregnancy_id>/edit/", views.episode_edit, name="episode_edit"),
    path("<uuid:pregnancy_id>/close/", views.episode_close, name="episode_close"),
    path("<uuid:pregnancy_id>/infections/", views.infections, name="infections"),
    path("<uuid:pregnancy_id>/visit/", views.visit_new, name="visit_new"),
    path("<uuid:pregnancy_id>/grading/", views.grading_new, name="grading_new"),
    path("<uuid:pregnancy_id>/delivery/", views.delivery_new, name="delivery_new"),
    path("<uuid:pregnancy_id>/discharge/", views.discharge_new, name="discharge_new"),
    path("<uuid:pregnancy_id>/postpartum/", views.postpartum_new, name="postpartum_new"),
    path("<uuid:pregnancy_id>/referral/", views.referral_new, name="referral_new"),
    path("<uuid:pregnancy_id>/referrals/<uuid:referral_id>/outcome/", views.referral_outcome, name="referral_outcome"),
    path("<uuid:pregnancy_id>/cases/<uuid:case_id>/report/", views.case_report, name="case_report"),
    path("<uuid:pregnancy_id>/cases/<uuid:case_id>/close/", views.case_close, name="case_close"),
    path("<uuid:pregnancy_id>/transfer/", views.transfer_new, name="transfer_new"),
    path("<uuid:pregnancy_id>/transfers/<uuid:transfer_id>/cancel/", views.transfer_cancel, name="transfer_cancel"),
]
