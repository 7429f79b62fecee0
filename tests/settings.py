"""Test settings: the real Postgres and Redis by default (override with the same environment variables)."""

import os
import tempfile
import uuid

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CELERY_KEY_PREFIX", f"hubtest-{uuid.uuid4().hex[:8]}:")
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-test-"))
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from hub.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
# Live-server threads must not keep connections open past a test (the test database is dropped at the end).
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
