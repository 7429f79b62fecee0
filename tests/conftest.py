"""Personas and builders shared by the suite, plus a real Celery worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent

# One headless Chromium per session, shared by every browser test (tests/browser_support.py).
from tests.browser_support import browser, page  # noqa: E402,F401

# Fault tests (docs/reliability.md) carry @pytest.mark.fault("<letter>"); HUB_FAULT_REPEAT=N runs each N times
# (bench/faults.py counts the runs). The default of 1 leaves test ids and CI time as they are.
FAULT_REPEAT = int(os.environ.get("HUB_FAULT_REPEAT") or 1)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fault(name): a fault test of docs/reliability.md, repeated HUB_FAULT_REPEAT times"
    )


def pytest_generate_tests(metafunc):
    if FAULT_REPEAT > 1 and metafunc.definition.get_closest_marker("fault"):
        metafunc.fixturenames.append("fault_run")
        metafunc.parametrize("fault_run", range(1, FAULT_REPEAT + 1), indirect=True, ids=lambda n: f"run{n}")


@pytest.fixture
def fault_run(request) -> int:
    """Which repetition of a fault test this is (1 when not repeated)."""
    return getattr(request, "param", 1)


@pytest.fixture
def make_user(db):
    from hub.accounts import services

    counter = iter(range(10**6))

    def make(username: str | None = None, password: str = "correct-horse-battery", **kw):
        return services.create_user(username=username or f"user{next(counter)}", password=password, **kw)

    return make


@pytest.fixture
def make_token(db):
    from hub.accounts import services

    def make(user, role: str = "write", name: str = "test") -> str:
        return services.issue_token(user=user, name=name, role=role)[1]

    return make


@pytest.fixture
def api():
    """An API client factory: api(token) sends it as a Bearer token; api() is anonymous."""

    def make(token: str | None = None) -> APIClient:
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def alice_api(alice, make_token, api):
    return api(make_token(alice, "write"))


def worker_env(database_name: str | None = None) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["HUB_DATA_DIR"] = str(settings.DATA_DIR)
    env["CELERY_KEY_PREFIX"] = settings.CELERY_KEY_PREFIX
    if database_name:
        base = env["DATABASE_URL"].rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{base}/{database_name}"
    return env


@pytest.fixture(autouse=True)
def _usage_written_at_once(settings):
    """Usage records are written by the request itself in tests (HUB_USAGE_FLUSH_MS=0), so that no flusher thread
    writes while a test's database is flushed between tests; tests/endpoints/test_metering.py covers the batching."""
    settings.HUB_USAGE_FLUSH_MS = 0


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real worker process consuming the cpu, gpu and inference queues from the real Redis."""
    from django.db import connection

    from hub.celery import app

    log = open(ROOT / "test-output" / "celery-worker.log", "w") if (ROOT / "test-output").is_dir() else None
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "hub", "worker", "-Q", "cpu,gpu,inference", "-c", "1",
         "--loglevel", "INFO", "-n", f"test-{os.getpid()}@%h"],
        cwd=ROOT, env=worker_env(connection.settings_dict["NAME"]),
        stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                app.send_task("workers.health.ping", args=["ready"], queue="cpu").get(timeout=5)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the Celery worker did not start") from None
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            log.close()


@pytest.fixture
def make_repo(db):
    """make_repo(owner_user_or_org, name, files={path: bytes}, private=False, type="model") -> Repo."""
    from hub.registry.services.commits import AddFile, create_commit
    from hub.registry.services.repos import create_repo

    def make(owner, name: str = "model", *, files: dict[str, bytes] | None = None, private=False, type="model"):
        author = owner if hasattr(owner, "username") else None
        repo = create_repo(namespace=owner.namespace, name=name, type=type, private=private, author=author)
        if files:
            ops = [AddFile(path=p, content=c) for p, c in files.items()]
            create_commit(repo=repo, author=author, operations=ops, title="add files")
            repo.refresh_from_db()
        return repo

    return make
