"""Settings for the hub: one module, read from the environment, with embedded defaults.

Embedded default (no variable set): SQLite, files and an embedded Celery broker under HUB_DATA_DIR.
Cluster: DATABASE_URL (Postgres), CELERY_BROKER_URL (Redis), HUB_S3_BUCKET (+ endpoint and keys).
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from hub.env import env, envbool, envint, envlist, persistent_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env("HUB_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env("SECRET_KEY") or persistent_secret_key(DATA_DIR)
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "hub.core",
    "hub.accounts",
    "hub.registry",
    "hub.xet",
    "hub.datasets",
    "hub.jobs",
    "hub.endpoints",
    "hub.catalog",
    "hub.security",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "hub.security.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "hub.core.auth.BearerTokenMiddleware",
    "hub.security.middleware.RequestGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"
ASGI_APPLICATION = "hub.asgi.application"
# The HF protocol has slash-less routes and clients that never follow a slash redirect on POST.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'hub.sqlite3'}",
        # Reused connections: a fresh Postgres backend per request costs ~10 ms (bench/registry.py).
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DB_POOL_SIZE = envint("DB_POOL_SIZE", 0)
if DB_POOL_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # One pool per process shared by its threads (gunicorn gthread, Celery's threads pool), instead of a connection
    # per thread: 2 web processes × 32 threads no longer need 64 Postgres backends, and a burst waits up to 10 s for
    # a free connection instead of failing with "too many clients". Each connection is checked before it is lent
    # (CONN_HEALTH_CHECKS: a backend terminated since is replaced). The pool replaces persistent connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": 10}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout waits out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- object storage -------------------------------------------------------------------------------------
S3_BUCKET = env("HUB_S3_BUCKET")
if S3_BUCKET:
    BLOB_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env("HUB_S3_ENDPOINT_URL") or None,
            "access_key": env("HUB_S3_ACCESS_KEY") or None,
            "secret_key": env("HUB_S3_SECRET_KEY") or None,
            "region_name": env("HUB_S3_REGION") or None,
            "location": env("HUB_S3_PREFIX", "blobs"),
            "file_overwrite": True,
            "querystring_expire": 3600,
        },
    }
else:
    BLOB_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Content-addressed: a second write of a key holds the same bytes, so replacing it is safe and atomic.
        "OPTIONS": {"location": str(DATA_DIR / "blobs"), "allow_overwrite": True},
    }
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media")},
    },
    "blobs": BLOB_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads are spooled here while hashed; same filesystem as local blobs, so landing one is a rename.
UPLOAD_TMP_DIR = Path(env("HUB_UPLOAD_TMP_DIR", str(DATA_DIR / "tmp")))
UPLOAD_TMP_DIR.mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_TMP_DIR)
# Largest single file accepted (bytes); larger uploads get 413.
MAX_FILE_SIZE = envint("HUB_MAX_FILE_SIZE", 50 * 1024**3)
# Largest JSON request body (inline base64 commits); big files go through the blob upload route.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("HUB_MAX_JSON_BODY", 64 * 1024**2)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# Files at least this big are uploaded as "lfs" (Xet for huggingface_hub 2.x, the LFS batch API for older
# clients); smaller ones travel inline in the NDJSON commit.
HF_LFS_THRESHOLD = envint("HUB_HF_LFS_THRESHOLD", 10 * 1024**2)
# Largest NDJSON line accepted in an HF commit (inline files are below HF_LFS_THRESHOLD, base64 adds a third).
HF_MAX_NDJSON_LINE = envint("HUB_HF_MAX_NDJSON_LINE", 64 * 1024**2)

# Git LFS uploads larger than this are split into parts of this size (multipart transfer).
HUB_LFS_MULTIPART_CHUNK = envint("HUB_LFS_MULTIPART_CHUNK", 64 * 1024**2)

# Web catalog: public facet counts are cached this long (the viewer's own private repos are counted live).
CATALOG_CACHE_SECONDS = envint("HUB_CATALOG_CACHE_SECONDS", 60)
HUB_ALLOW_SIGNUP = envbool("HUB_ALLOW_SIGNUP", True)

# --- static files ---------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True  # serve app and static/ files without a collectstatic step
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- auth and security ----------------------------------------------------------------------------------
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/settings/tokens"
LOGOUT_REDIRECT_URL = "/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("HUB_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# HSTS is sent on HTTPS requests only; on by default when cookies are marked secure (the hub is served over HTTPS).
SECURE_HSTS_SECONDS = envint("HUB_HSTS_SECONDS", 31_536_000 if SESSION_COOKIE_SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("HUB_HSTS_INCLUDE_SUBDOMAINS", False)
# Brute-force limits (hub.security.middleware): sign-in per username and per client, sign-up per client,
# token creation per user. "N/period" as hub.core.ratelimit.parse_rate reads it; "" turns a limit off.
HUB_RATE_LOGIN = env("HUB_RATE_LOGIN", "10/minute")
HUB_RATE_LOGIN_IP = env("HUB_RATE_LOGIN_IP", "60/minute")
HUB_RATE_SIGNUP = env("HUB_RATE_SIGNUP", "20/hour")
HUB_RATE_TOKENS = env("HUB_RATE_TOKENS", "30/hour")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if envbool("HUB_BEHIND_PROXY") else None
USE_X_FORWARDED_HOST = envbool("HUB_BEHIND_PROXY", False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- REST framework -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "hub.core.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["hub.core.permissions.TokenRolePermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "hub.core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Model hub API",
    "DESCRIPTION": "Native REST API of the hub: accounts, tokens, repositories, commits, files.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served by the hub itself: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------------------------
# Embedded default: kombu's SQLAlchemy transport over a SQLite file, so one machine needs no broker server.
CELERY_BROKER_URL = env("CELERY_BROKER_URL") or f"sqla+sqlite:///{DATA_DIR / 'broker.sqlite3'}"
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else f"db+sqlite:///{DATA_DIR / 'results.sqlite3'}"
)
CELERY_KEY_PREFIX = env("CELERY_KEY_PREFIX")  # isolates test runs (or hubs) that share one Redis
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("redis"):
    # Redis re-delivers a message nobody acknowledged after this many seconds (a worker that died mid-job). Long jobs
    # outlast it: the job lease (below) makes the second delivery wait or drop, never run the job twice.
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = envint("CELERY_VISIBILITY_TIMEOUT", 3600)
if CELERY_KEY_PREFIX and CELERY_BROKER_URL.startswith("redis"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = CELERY_KEY_PREFIX
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": CELERY_KEY_PREFIX}
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 24 * 3600)
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # a killed worker child puts its job message back at once
CELERY_BEAT_SCHEDULE = {
    "reconcile-jobs": {
        "task": "workers.jobs.reconcile",
        "schedule": float(envint("HUB_JOB_RECONCILE_SECONDS", 30)),
        "options": {"queue": "cpu", "expires": 60},
    },
}

# --- Jobs -----------------------------------------------------------------------------------------------
# Workers reach the hub over HTTP at HUB_URL (the HF protocol, like any client); unset = same machine, direct.
HUB_URL = env("HUB_URL")
HUB_JOB_LEASE_SECONDS = envint("HUB_JOB_LEASE_SECONDS", 60)  # a worker's claim on a job, renewed by its heartbeat
HUB_JOB_RESEND_SECONDS = envint("HUB_JOB_RESEND_SECONDS", 120)  # reconciler: re-send a queued job after this
HUB_MAX_RUNNING_JOBS_PER_USER = envint("HUB_MAX_RUNNING_JOBS_PER_USER", 2)
HUB_JOB_QUEUES = {"cpu": env("HUB_JOB_QUEUE_CPU", "cpu"), "gpu": env("HUB_JOB_QUEUE_GPU", "gpu")}
HUB_WORKER_CACHE_MAX_GB = float(env("HUB_WORKER_CACHE_MAX_GB", "50"))  # snapshot cache bound per machine (LRU)
HUB_JOB_STEP_DELAY_SECONDS = float(env("HUB_JOB_STEP_DELAY_SECONDS", "0"))  # fault tests and demos only
CELERY_RESULT_EXPIRES = 24 * 3600

# --- Inference endpoints ---------------------------------------------------------------------------------
HUB_INFERENCE_TIMEOUT = envint("HUB_INFERENCE_TIMEOUT", 120)  # seconds a request may wait (incl. a cold start)
HUB_INFERENCE_RATE_LIMIT = env("HUB_INFERENCE_RATE_LIMIT", "600/minute")  # per token; "" = no limit
# Encoder requests of one web process travel to the worker in groups, at most this many groups in flight per endpoint
# (hub.endpoints.coalesce); 0 sends one task per request.
HUB_INFERENCE_COALESCE_LANES = envint("HUB_INFERENCE_COALESCE_LANES", 2)
# Usage is written in batches (hub.endpoints.metering): every this many ms, or at once when this many records wait.
HUB_USAGE_FLUSH_MS = envint("HUB_USAGE_FLUSH_MS", 200)  # 0 = one INSERT per request
HUB_USAGE_BATCH = envint("HUB_USAGE_BATCH", 256)
# Token and endpoint lookups are cached per process, invalidated at once by an access stamp in Redis (hub.core.stamp);
# this bounds an entry's age (the only bound without Redis, where it defaults to 1 s). 0 = no cache.
HUB_LOOKUP_CACHE_S = float(env("HUB_LOOKUP_CACHE_S", "5" if CELERY_BROKER_URL.startswith("redis") else "1"))
HUB_ENDPOINT_CONTROL_TIMEOUT = float(env("HUB_ENDPOINT_CONTROL_TIMEOUT", "1.0"))  # Celery remote-control replies
# Rolling revision updates: the new commit's warm-up may take this long; the reconciler re-sends a lost one after.
HUB_ENDPOINT_WARMUP_TIMEOUT = envint("HUB_ENDPOINT_WARMUP_TIMEOUT", 600)
HUB_ENDPOINT_ROLL_RESEND_SECONDS = envint("HUB_ENDPOINT_ROLL_RESEND_SECONDS", HUB_ENDPOINT_WARMUP_TIMEOUT + 60)
# Autoscaling (reconciler, Redis/AMQP only): one more replica when the queue holds more than this per replica; one
# fewer after the cool-down with an empty queue and at most HUB_AUTOSCALE_IDLE_RPS requests/s per replica.
HUB_AUTOSCALE_BACKLOG_PER_REPLICA = envint("HUB_AUTOSCALE_BACKLOG_PER_REPLICA", 8)
HUB_AUTOSCALE_COOLDOWN_S = envint("HUB_AUTOSCALE_COOLDOWN_S", 300)
HUB_AUTOSCALE_WINDOW_S = envint("HUB_AUTOSCALE_WINDOW_S", 120)
HUB_AUTOSCALE_IDLE_RPS = float(env("HUB_AUTOSCALE_IDLE_RPS", "0.5"))
# A started task names its worker, so a request whose worker died fails at once instead of at its timeout.
CELERY_TASK_TRACK_STARTED = True
CELERY_BEAT_SCHEDULE["reconcile-endpoints"] = {
    "task": "workers.endpoints.reconcile",
    "schedule": float(envint("HUB_ENDPOINT_RECONCILE_SECONDS", 15)),
    "options": {"queue": "cpu", "expires": 30},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
