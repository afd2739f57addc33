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
# How long a clinician's emergency (break-glass) access to one person lasts (P5).
MCHIS_BREAK_GLASS_HOURS = float(env_str("MCHIS_BREAK_GLASS_HOURS", "3"))
# Maternal care: days from opening a high-risk case (orange, red, purple) to its report to the
# district MCH institution (DOMAIN "Pregnancy risk grading", configurable default 3), and how
# many days after day 42 the 42-day check still counts as on time.
MCHIS_HIGH_RISK_REPORT_DAYS = env_int("MCHIS_HIGH_RISK_REPORT_DAYS", 3)
MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS = env_int("MCHIS_POSTPARTUM_CHECK_WINDOW_DAYS", 14)
ALLOWED_HOSTS = env_list("MCHIS_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("MCHIS_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
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
    "mchis.accounts",
    "mchis.people",
    "mchis.maternal",
    "mchis.ops",
    "mchis.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mchis.audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite in the data dir is the zero-setup default; PostgreSQL (psycopg 3) in production.
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'mchis.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("MCHIS_DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the writer. synchronous=NORMAL is SQLite's recommended
        # setting for WAL: never corrupts, but a power cut may lose the last commits; every
        # audited read is a commit, and an fsync each would double a lookup's latency.
        # Production runs on PostgreSQL with synchronous commits (docs/deployment.md).
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
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login gates, in order (mchis.accounts.gates): each holds a signed-in user on its page
# until its condition is met; nothing else is reachable before.
MCHIS_GATES: list[str] = []
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
SESSION_COOKIE_AGE = env_int("MCHIS_SESSION_MAX_AGE", 12 * 3600)
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
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mchis API",
    "DESCRIPTION": _("Maternal and child health information system: network direct reporting API."),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("MCHIS_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
