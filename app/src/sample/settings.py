"""Settings of the sample project: twelve-factor, every value comes from the environment.

No secret lives in this file. The deployment contract (which variables exist, which are
required, their defaults) is documented in the project's README.md.
"""

import logging
import os
import socket

from django.core.exceptions import ImproperlyConfigured

from sample.env import Env, is_shared_cache, parse_cache_url, parse_database_url

env = Env(os.environ)

# --- core -----------------------------------------------------------------------------------

SECRET_KEY = env.required("DJANGO_SECRET_KEY")
# Old keys still accepted for signatures during a key rotation (comma-separated).
SECRET_KEY_FALLBACKS = env.csv("DJANGO_SECRET_KEY_FALLBACKS")
DEBUG = env.flag("DJANGO_DEBUG", default=False)
# System checks the operator has acknowledged (e.g. security.W021 when the site is not HSTS-preloaded).
SILENCED_SYSTEM_CHECKS = env.csv("DJANGO_SILENCED_SYSTEM_CHECKS")
ALLOWED_HOSTS = env.csv("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.csv("DJANGO_CSRF_TRUSTED_ORIGINS")

# The release being served (set by the deployment); shown in X-App-Release and /health/.
APP_RELEASE = env.string("APP_RELEASE").strip() or "unknown"

ROOT_URLCONF = "sample.urls"
WSGI_APPLICATION = "sample.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = env.string("DJANGO_LANGUAGE_CODE", "en-us")
TIME_ZONE = env.string("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "sample.notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sample.middleware.ReleaseHeaderMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sample.notes.context_processors.deployment",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- database -------------------------------------------------------------------------------

DATABASES = {
    "default": parse_database_url(
        env.required("DATABASE_URL"),
        conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60),
        # true behind pgbouncer in transaction pooling mode
        disable_server_side_cursors=env.flag("DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False),
    ),
}

# --- cache and sessions ---------------------------------------------------------------------

CACHES = {
    "default": parse_cache_url(
        env.string("CACHE_URL", "locmem://"),
        key_prefix=env.string("CACHE_KEY_PREFIX", ""),
        timeout=env.integer("CACHE_TIMEOUT", 300),
    ),
}
# Pages cached with cache_page are keyed by release: a new release never serves the old one's pages.
CACHE_MIDDLEWARE_KEY_PREFIX = APP_RELEASE
# With a shared cache (memcached, redis) sessions are read from it and written through to the DB.
SESSION_ENGINE = env.string(
    "DJANGO_SESSION_ENGINE",
    "django.contrib.sessions.backends.cached_db"
    if is_shared_cache(CACHES["default"])
    else "django.contrib.sessions.backends.db",
)

# --- static and media files -----------------------------------------------------------------

STATIC_URL = env.string("DJANGO_STATIC_URL", "/static/")
STATIC_ROOT = env.string("DJANGO_STATIC_ROOT") or None
MEDIA_URL = env.string("DJANGO_MEDIA_URL", "/media/")
MEDIA_ROOT = env.string("DJANGO_MEDIA_ROOT")
FILE_UPLOAD_PERMISSIONS = env.integer("DJANGO_FILE_UPLOAD_PERMISSIONS", 0o644)
FILE_UPLOAD_DIRECTORY_PERMISSIONS = env.integer("DJANGO_FILE_UPLOAD_DIRECTORY_PERMISSIONS", 0o755)
# What the upload form accepts: size in bytes and file name extensions. Markup (html, svg) is left
# out on purpose: uploads are served from the site's own origin.
UPLOAD_MAX_BYTES = env.integer("UPLOAD_MAX_BYTES", 5 * 1024 * 1024)
UPLOAD_EXTENSIONS = env.csv("UPLOAD_EXTENSIONS", ["txt", "csv", "json", "pdf", "png", "jpg", "jpeg", "gif", "webp"])

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic writes content-hashed names plus staticfiles.json; {% static %} maps to them.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# --- security -------------------------------------------------------------------------------

# TLS ends at the reverse proxy, which sets X-Forwarded-Proto (and must overwrite any client value).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.flag("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Paths answered over plain HTTP too (health probes that talk to the app server directly).
SECURE_REDIRECT_EXEMPT = env.csv("DJANGO_SECURE_REDIRECT_EXEMPT", [r"^health/$"])
SECURE_HSTS_SECONDS = env.integer("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.flag("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.flag("DJANGO_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = env.string("DJANGO_REFERRER_POLICY", "same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.flag("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.flag("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- logging: records go to stdout, warnings and errors to stderr (journald keeps both) ----------

LOG_LEVEL = env.string("DJANGO_LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in logging.getLevelNamesMapping():
    raise ImproperlyConfigured(f"DJANGO_LOG_LEVEL {LOG_LEVEL!r} is not a logging level")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "below_warning": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: record.levelno < logging.WARNING,
        },
    },
    "formatters": {
        "plain": {"format": "%(levelname)s %(name)s [%(process)d] %(message)s"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "filters": ["below_warning"],
            "formatter": "plain",
        },
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "level": "WARNING",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stdout", "stderr"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own defaults would mail admins / print only when DEBUG: send everything to the root.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
    },
}

# --- celery ---------------------------------------------------------------------------------

# Without a broker tasks run inline (eagerly) in the web process: handy in development and tests.
CELERY_BROKER_URL = env.string("CELERY_BROKER_URL").strip() or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not env.string("CELERY_BROKER_URL").strip()
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.string("CELERY_RESULT_BACKEND").strip() or None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env.string("CELERY_TASK_DEFAULT_QUEUE", "sample")
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = env.string("CELERY_BEAT_SCHEDULE_FILENAME", "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {
        "task": "notes.tasks.heartbeat",
        "schedule": env.number("CELERY_HEARTBEAT_SECONDS", 10.0),
        # Evaluated where the schedule is read, i.e. on the host that runs beat.
        "kwargs": {"scheduler": socket.gethostname()},
        "options": {"expires": env.number("CELERY_HEARTBEAT_SECONDS", 10.0)},
    },
}
