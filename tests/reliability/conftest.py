"""A real hub web process (gunicorn, as deployed) over the test database, and checks that a fault changed nothing."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, worker_env

MB = 1024 * 1024


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HubServer:
    """gunicorn (gthread, two workers) in its own process group, so one SIGKILL takes master and workers."""

    def __init__(self, log_path: Path) -> None:
        from django.db import connection

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_name = f"hub-fault-web-{self.port}"  # tells this server's Postgres backends from the test's own
        self.database = connection.settings_dict["NAME"]
        self.env = worker_env(self.database)
        # hub.settings, not tests.settings: persistent connections (DB_CONN_MAX_AGE) with health checks, as deployed.
        self.env.update(
            DJANGO_SETTINGS_MODULE="hub.settings",
            DATABASE_URL=f"{self.env['DATABASE_URL']}?application_name={self.app_name}",
            DB_CONN_MAX_AGE="60",
        )
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        server = ["gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"]
        command = [sys.executable, "-m", *server, "--worker-class", "gthread", "--threads", "8", "--timeout", "120"]
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def healthy() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError("the hub did not start:\n" + self.log_path.read_text()[-3000:])
            try:
                return requests.get(f"{self.url}/api/v1/health", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(healthy, timeout=120, what="the hub to answer", interval=0.3)
        except BaseException:  # one that never answered must not outlive the test: fixtures stop started ones only
            if self.process.poll() is None:
                self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL the master and every worker at once: no cleanup code runs, as on a crash or an OOM kill."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def backends(self, **where: str) -> list[int]:
        """Process ids of this server's Postgres backends (optionally filtered on pg_stat_activity columns)."""
        from django.db import connection

        sql = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()"
        params = [self.app_name]
        for column, value in where.items():
            sql += f" AND {column} = %s"
            params.append(value)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

    def terminate_backends(self, pids: list[int] | None = None) -> list[int]:
        from django.db import connection

        pids = self.backends() if pids is None else pids
        with connection.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        return pids


@pytest.fixture
def hub_server(transactional_db, tmp_path):
    server = HubServer(tmp_path / "web.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hf_api(hub_server, alice, make_token):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.url, token=make_token(alice, "write"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lock_holder():
    """A connection of the test's own (outside Django) that takes locks the server's requests will wait on."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    return psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=params["dbname"],
        password=params.get("password") or None,
        application_name="hub-fault-lock",
    )


def lock_branch(repo, branch: str = "main"):
    """Hold the branch's row lock (a commit lands by SELECT … FOR UPDATE on it), so a commit request waits inside
    its transaction: the hook point for a fault during the commit itself. holder.rollback() releases it."""
    from hub.registry.models import Ref

    holder = lock_holder()
    holder.execute(
        f"SELECT id FROM {Ref._meta.db_table} WHERE repo_id = %s AND kind = %s AND name = %s FOR UPDATE",
        [repo.pk, Ref.BRANCH, branch],
    )
    return holder


def assert_nothing_landed(repo, *, head: str, commits: int, path: str, sha: str | None = None, url: str | None = None):
    """The fault left no trace a user can see: main where it was, no new commit, the path absent, and (given its
    sha256) the bytes referenced by no repository; over HTTP too when the server is up."""
    from hub.registry import selectors, trees
    from hub.registry.models import Commit, Ref, RepoBlob

    repo.refresh_from_db()
    main = selectors.resolve_revision(repo, "main")
    assert (main.sha, repo.head_sha) == (head, head)
    assert Commit.objects.filter(repo=repo).count() == commits
    assert path not in selectors.snapshot(main).files
    if sha is not None:  # no repository references the bytes, on any branch head
        assert not RepoBlob.objects.filter(sha256=sha).exists()
        for ref in Ref.objects.filter(kind=Ref.BRANCH).select_related("commit"):
            assert sha not in {f.sha256 for f in trees.load(ref.commit.tree_id).files.values()}
    if url is not None:
        listed = requests.get(f"{url}/api/models/{repo.full_name}/tree/main", timeout=30)
        assert listed.status_code == 200 and path not in {f["path"] for f in listed.json()}
        assert requests.get(f"{url}/api/models/{repo.full_name}", timeout=30).json()["sha"] == head
        assert requests.head(f"{url}/{repo.full_name}/resolve/main/{path}", timeout=30).status_code == 404
