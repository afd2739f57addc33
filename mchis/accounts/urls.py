"""Account pages (namespace `accounts`). Login and logout are in the root URLconf under their
Django names ("login", "logout"). Every pattern here needs a rule in `mchis.access.matrix`."""

from django.urls import path

from mchis.accounts.views import governance, lifecycle, mfa, security

app_name = "accounts"

urlpatterns: list = []

# Password, sessions, lockouts (P7, P26): mchis.accounts.views.security
urlpatterns += [
    path("password/", security.password_change, name="password_change"),
    path("sessions/", security.sessions, name="sessions"),
    path("sessions/<int:session_id>/end/", security.session_end_one, name="session_end"),
    path("sessions/end-others/", security.sessions_end_others, name="sessions_end_others"),
    path("lockouts/", security.lockouts, name="lockouts"),
    path("lockouts/<int:lockout_id>/lift/", security.lockout_lift_one, name="lockout_lift"),
]

# Security agreements (P18), suspected compromise and access review (P4), registered
# networks (P5), notices.
urlpatterns += [
    path("agreement/", governance.agreement, name="agreement"),
    path("agreements/", governance.agreements, name="agreements"),
    path("agreements/<int:institution_id>/", governance.agreement_publish_view, name="agreement_publish"),
    path("compromise/report/", governance.compromise_report, name="compromise_report"),
    path("compromise/", governance.compromise_list, name="compromise_list"),
    path("compromise/<int:report_id>/clear/", governance.compromise_clear_view, name="compromise_clear"),
    path("access-review/", governance.access_review_page, name="access_review"),
    path("access-review/<int:user_id>/disable/", governance.access_review_disable, name="access_review_disable"),
    path("networks/", governance.networks, name="networks"),
    path("networks/<int:institution_id>/", governance.network_edit, name="network_edit"),
    path("networks/range/<int:network_id>/remove/", governance.network_remove_view, name="network_remove"),
    path("notices/", governance.notices, name="notices"),
    path("notices/<int:notice_id>/read/", governance.notice_read, name="notice_read"),
    path("notices/read-all/", governance.notices_read_all, name="notices_read_all"),
]

# Electronic keys, the second factor (P28, P29): mchis.accounts.views.mfa
urlpatterns += [
    path("keys/", mfa.keys, name="mfa_keys"),
    path("keys/enrol/", mfa.enrol, name="mfa_enrol"),
    path("keys/enrol/app/", mfa.totp_start, name="mfa_totp_start"),
    path("keys/enrol/app/<uuid:key_id>/", mfa.totp_confirm, name="mfa_totp_confirm"),
    path("keys/enrol/security-key/options/", mfa.webauthn_register_options, name="mfa_webauthn_register_options"),
    path("keys/enrol/security-key/", mfa.webauthn_register, name="mfa_webauthn_register"),
    path("keys/verify/", mfa.verify, name="mfa_verify"),
    path("keys/verify/security-key/options/", mfa.webauthn_auth_options, name="mfa_webauthn_auth_options"),
    path("keys/verify/security-key/", mfa.webauthn_auth, name="mfa_webauthn_auth"),
    path("keys/<uuid:key_id>/lost/", mfa.key_lost, name="mfa_key_lost"),
    path("keys/recovery-codes/", mfa.recovery_codes, name="mfa_recovery_codes"),
    path("keys/register/", mfa.register, name="mfa_register"),
    path("keys/register/<uuid:key_id>/returned/", mfa.register_returned, name="mfa_register_returned"),
    path("keys/register/issue/", mfa.register_issue, name="mfa_register_issue"),
    path("keys/register/<uuid:key_id>/lost/", mfa.register_lost, name="mfa_register_lost"),
    path("keys/register/<uuid:key_id>/revoke/", mfa.register_revoke, name="mfa_register_revoke"),
]

# Account lifecycle (P29): account requests (decided under `approvals:`) and handovers.
urlpatterns += [
    path("request/", lifecycle.account_request, name="account_request"),
    path("handovers/", lifecycle.handovers, name="handovers"),
    path("handovers/new/", lifecycle.handover_new, name="handover_start"),
    path("handovers/<int:handover_id>/", lifecycle.handover_detail, name="handover_detail"),
    path("handovers/<int:handover_id>/confirm/", lifecycle.handover_confirm_view, name="handover_confirm"),
]
