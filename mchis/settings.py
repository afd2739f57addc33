"""Django settings for mchis.

Everything a deployment changes comes from environment variables (see README and
`mchis.config`); the defaults are the secure ones, so a forgotten variable never weakens
the system.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import dj_database_url
from django.utils.translation import gettext_lazy as _

from mchis.config import (
    BASE_DIR,
    ConfigError,
    data_dir,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    secret_key,
)

DATA_DIR = data_dir()
SECRET_KEY = secret_key(DATA_DIR)
DEBUG = env_bool("MCHIS_DEBUG", False)
# Data keys live outside the database (DESIGN "Keys and secrets"). In production keep the file
# off the data dir's disk and backups (see docs/deployment.md, "Keys").
MCHIS_KEYS_FILE = env_str("MCHIS_KEYS_FILE", str(DATA_DIR / "keys.json"))
# The newest audit seal's number and hash, kept outside the database so that `audit verify`
# catches a trail cut short (mchis/audit/anchors.py). In production put it on another disk or
# machine than the database's (docs/operations.md).
MCHIS_AUDIT_ANCHOR_FILE = env_str("MCHIS_AUDIT_ANCHOR_FILE", str(DATA_DIR / "audit-anchor"))
# How long a clinician's emergency (break-glass) access to one person lasts (P5): up to three
# days, for an emergency and not a standing permission.
MCHIS_BREAK_GLASS_HOURS = env_float("MCHIS_BREAK_GLASS_HOURS", 3.0, low=0, high=72)
# How long an approval request waits for a decision before it expires (mchis.approvals); an
# approval's one-time value (an initial password) not collected within as long is wiped.
MCHIS_APPROVAL_PENDING_DAYS = env_int("MCHIS_APPROVAL_PENDING_DAYS", 14)
# The latest end date an account request may ask for, in days from today (P29).
MCHIS_ACCOUNT_MAX_DAYS = env_int("MCHIS_ACCOUNT_MAX_DAYS", 3 * 366)
# Machine clients of the API (mchis.api): the longest a credential lasts, and the default.
MCHIS_API_CLIENT_MAX_DAYS = env_int("MCHIS_API_CLIENT_MAX_DAYS", 365)
# How long the answer to a request sent with an Idempotency-Key is kept for its retries.
MCHIS_API_IDEMPOTENCY_HOURS = env_int("MCHIS_API_IDEMPOTENCY_HOURS", 24)
# Maternal care: days from opening a high-risk case (orange, red, purple) to its report to the
# district MCH institution (DOMAIN "Pregnancy risk grading", configurable default 3), and how
# many days after day 42 the 42-day check still counts as on time.
MCHIS_HIGH_RISK_REPORT_DAYS = env_int("MCHIS_HIGH_RISK_REPORT_DAYS", 3)
MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS = env_int("MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS", 14)
ALLOWED_HOSTS = env_list("MCHIS_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("MCHIS_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # Before django.contrib.auth, whose `createsuperuser` and `changepassword` it replaces
    # (the first app to provide a command wins): those would write accounts behind the services.
    "mchis.accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "huey.contrib.djhuey",
    "csp",
    "mchis.crypto",
    "mchis.audit",
    "mchis.access",
    "mchis.orgs",
    "mchis.approvals",
    "mchis.people",
    "mchis.api",
    "mchis.maternal",
    "mchis.ops",
    "mchis.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Chinese unless the user switched; the API also follows Accept-Language.
    "mchis.ops.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mchis.audit.middleware.AuditContextMiddleware",
    "mchis.api.middleware.ApiCallAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "mchis.accounts.sessions.SessionSecurityMiddleware",
    "mchis.accounts.expiry.AccountExpiryMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mchis.accounts.gates.AccountGateMiddleware",
    "mchis.access.middleware.AuthorizationMatrixMiddleware",
    "mchis.ops.middleware.NoStoreMiddleware",
]

ROOT_URLCONF = "mchis.urls"
WSGI_APPLICATION = "mchis.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "mchis" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mchis.ops.context_processors.installation",
                "mchis.accounts.context_processors.navigation",
                "mchis.accounts.context_processors.notices",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite in the data dir is the zero-setup default; PostgreSQL (psycopg 3) in production.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'mchis.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("MCHIS_DB_CONN_MAX_AGE", 60))}
# PostgreSQL: parameters bound by the server, and a statement run a few times on a connection
# is prepared there, so the planner does not plan the policy's and the credential check's
# joins again on every request (about a tenth of the database's CPU per API call;
# bench/README.md). Off for a pooler in transaction mode (PgBouncer before 1.21), which
# cannot keep prepared statements.
MCHIS_DB_PREPARED_STATEMENTS = env_bool("MCHIS_DB_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and MCHIS_DB_PREPARED_STATEMENTS:
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the writer. synchronous=NORMAL is SQLite's recommended
        # setting for WAL: never corrupts, but a power cut may lose the last commits; every
        # audited read is a commit, and an fsync each would double a lookup's latency.
        # Production runs on PostgreSQL with synchronous commits for every write
        # (and for reads' audit events unless MCHIS_AUDIT_READ_COMMIT=async; docs/operations.md).
        # IMMEDIATE makes a write transaction take the write lock at BEGIN, so two writers
        # queue instead of failing half-way.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    pass
else:
    raise ConfigError("DATABASE_URL must be a sqlite:/// or postgres:// URL")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Users and passwords ----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# Django's model backend, also refusing accounts past their end date (P29, mchis.accounts.expiry).
AUTHENTICATION_BACKENDS = ["mchis.accounts.expiry.AccountBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Password policy (P26; GB/T 22239 defaults in DOMAIN.md): mchis.accounts.passwords.
MCHIS_PASSWORD_MIN_LENGTH = env_int("MCHIS_PASSWORD_MIN_LENGTH", 8)
MCHIS_PASSWORD_MAX_AGE_DAYS = env_int("MCHIS_PASSWORD_MAX_AGE_DAYS", 90)
MCHIS_PASSWORD_HISTORY = env_int("MCHIS_PASSWORD_HISTORY", 5)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "mchis.accounts.passwords.LengthValidator"},
    {"NAME": "mchis.accounts.passwords.CharacterClassValidator"},
    {"NAME": "mchis.accounts.passwords.UsernameValidator"},
    {"NAME": "mchis.accounts.passwords.HistoryValidator"},
    {"NAME": "mchis.accounts.passwords.CommonPasswordValidator"},
]
# Lockout (P7): this many failures within the window lock the account name, the source
# address, a second-factor holder or an API client for MCHIS_LOCKOUT_MINUTES
# (mchis.accounts.lockout).
MCHIS_LOCKOUT_FAILURES = env_int("MCHIS_LOCKOUT_FAILURES", 5)
MCHIS_LOCKOUT_WINDOW_MINUTES = env_int("MCHIS_LOCKOUT_WINDOW_MINUTES", 15)
MCHIS_LOCKOUT_MINUTES = env_int("MCHIS_LOCKOUT_MINUTES", 15)
# How a transaction that holds nothing but the audit event of a read commits on PostgreSQL
# (mchis.audit.services): "durable" waits for the WAL flush, as every write does; "async" does
# not (for slow disks: a crash of the database server may lose the last fraction of a second
# of read events, never a write nor its event, never a gap in the middle of the trail).
MCHIS_AUDIT_READ_COMMIT = env_str("MCHIS_AUDIT_READ_COMMIT", "durable")
if MCHIS_AUDIT_READ_COMMIT not in ("async", "durable"):
    raise ConfigError(f"MCHIS_AUDIT_READ_COMMIT must be async or durable; got {MCHIS_AUDIT_READ_COMMIT!r}")
# Second factor (P28): accounts holding one of these roles need an electronic key; "all"
# (every account, with or without a role), "none", or comma-separated role names.
MCHIS_MFA_REQUIRED_ROLES = env_list("MCHIS_MFA_REQUIRED_ROLES", ["all"])
# Login gates, in order (mchis.accounts.gates): each holds a signed-in user on its page
# until its condition is met; nothing else is reachable before.
MCHIS_GATES: list[str] = [
    # First: cheap, and a session from outside the registered networks must end (P5).
    "mchis.accounts.networks.gate_network",
    # The second factor (P28) is proven before a password can be changed, so a password
    # alone (an expired one, or one an administrator set) never changes the password; a new
    # key is enrolled after the holder's own password is set. The two never hold the same
    # request: verify holds accounts with a key in use, enrol those without one.
    "mchis.accounts.mfa.gate_verify",
    "mchis.accounts.passwords.gate_password",
    "mchis.accounts.mfa.gate_enrol",
    # Last: the agreement is accepted by someone already proven to hold the account (P18).
    "mchis.accounts.agreements.gate_agreement",
]
# Access review (P4): an account unused for this many days is listed as dormant.
MCHIS_DORMANT_DAYS = env_int("MCHIS_DORMANT_DAYS", 90)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Sessions, cookies, headers (P26) ---------------------------------------------------
# Secure cookies by default: production sits behind a TLS proxy. Browsers accept Secure
# cookies from http://127.0.0.1 and http://localhost, so the local demo works unchanged.
SECURE_COOKIES = env_bool("MCHIS_SECURE_COOKIES", True)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "mchis_session"
CSRF_COOKIE_NAME = "mchis_csrftoken"
# Absolute limit from login, enforced by mchis.accounts.sessions.SessionSecurityMiddleware
# (Django's own expiry slides with each request); idle logout after MCHIS_SESSION_IDLE_MINUTES.
SESSION_COOKIE_AGE = env_int("MCHIS_SESSION_MAX_AGE", 12 * 3600)
MCHIS_SESSION_IDLE_MINUTES = env_int("MCHIS_SESSION_IDLE_MINUTES", 15)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("MCHIS_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("MCHIS_HSTS_SECONDS", 0)
if env_bool("MCHIS_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Strict CSP: everything from our own origin, no inline script or style, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # Swagger UI and Bootstrap draw a few icons as data: URIs.
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Language -----------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LANGUAGE_COOKIE_NAME = "mchis_language"
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LOCALE_PATHS = [BASE_DIR / "mchis" / "locale"]
TIME_ZONE = env_str("MCHIS_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static files: our own and the front-end packages installed from npm -----------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [BASE_DIR / "mchis" / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "mchis.ops.staticfinders.NodeModulesFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Background jobs (huey) -----------------------------------------------------------------
JOBS_URL = env_str("MCHIS_JOBS_URL", f"sqlite:///{DATA_DIR / 'jobs.sqlite3'}")


def _huey(url: str):
    from huey import MemoryHuey, RedisHuey, SqliteHuey

    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return SqliteHuey(name="mchis", filename=parts.path)
    if parts.scheme in {"redis", "rediss"}:
        return RedisHuey(name="mchis", url=url)
    if parts.scheme == "memory":
        # Only for tests: jobs run at once in the calling process.
        return MemoryHuey(name="mchis", immediate=True)
    raise ConfigError("MCHIS_JOBS_URL must be sqlite:///path, redis://host:port/db or memory://")


HUEY = _huey(JOBS_URL)

# --- REST API ----------------------------------------------------------------------------
REST_FRAMEWORK = {
    # JSON only: DRF's browsable API needs inline script, which the CSP forbids.
    # The browsable documentation is Swagger UI at /api/v1/docs/.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mchis.api.parsers.JsonParser"],
    # Machine clients first (a Bearer credential decides alone, and an unauthenticated call
    # gets 401 with WWW-Authenticate: Bearer), then signed-in browsers.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mchis.api.authentication.ApiClientAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Signed in, and admitted by the route's rule in the authorization matrix.
    "DEFAULT_PERMISSION_CLASSES": ["mchis.api.permissions.MatrixPermission"],
    # One error shape: {"detail", "errors": {field: [messages]}} (mchis.api.conventions).
    "EXCEPTION_HANDLER": "mchis.api.conventions.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "mchis.api.conventions.ApiAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mchis API",
    "DESCRIPTION": _("Maternal and child health information system: network direct reporting API."),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from swagger.io's online validator: nothing is fetched from the internet (P32),
    # and the CSP would block it anyway (Swagger UI shows it for non-local schema URLs).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Choice sets used by several fields of the maternal resources: one name each.
    "ENUM_NAME_OVERRIDES": {
        "RiskColourEnum": "mchis.maternal.models.RiskColour",
        "InfectionResultEnum": "mchis.maternal.models.InfectionResult",
        "PostpartumKindEnum": "mchis.maternal.models.PostpartumKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("MCHIS_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
