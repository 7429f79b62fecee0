"""Smoke test of the embedded default, end to end, in real processes: SQLite, files on disk and the
embedded broker (no Postgres, no Redis): start, issue a token, call the API, run a task on a worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, token: str | None = None, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def embedded_hub(tmp_path):
    cluster = {"DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_KEY_PREFIX", "SECRET_KEY"}
    env = {k: v for k, v in os.environ.items() if k not in cluster}
    env.update(DJANGO_SETTINGS_MODULE="hub.settings", HUB_DATA_DIR=str(tmp_path / "data"), PORT=str(_free_port()),
               PYTHON=sys.executable, WEB_WORKERS="1")  # fmt: skip
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    issue = [*manage, "issue_token", "smoke", "--role", "write"]
    token = subprocess.run(issue, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout.strip()
    log = open(tmp_path / "serve.log", "w")
    server = subprocess.Popen(["bash", "scripts/serve.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call(f"{base}/api/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("embedded hub did not start:\n" + (tmp_path / "serve.log").read_text()[-3000:])
            time.sleep(0.3)
        yield base, token, tmp_path / "data"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def test_embedded_default_end_to_end(embedded_hub):
    base, token, data_dir = embedded_hub
    assert _call(f"{base}/api/v1/health")[1] == {"status": "ok", "database": "sqlite"}
    assert _call(f"{base}/api/v1/me")[0] == 401
    status, me = _call(f"{base}/api/v1/me", token)
    assert status == 200 and me["username"] == "smoke"
    status, repo = _call(f"{base}/api/v1/repos", token, "POST", {"name": "tiny-model"})
    assert status == 201
    card = "---\npipeline_tag: text-classification\n---\nA tiny sentiment classifier."
    ops = [{"op": "add", "path": "README.md", "content": card}]
    status, _ = _call(f"{base}/api/v1/models/smoke/tiny-model/commits", token, "POST", {"operations": ops})
    assert status == 201
    status, found = _call(f"{base}/api/v1/models?q=sentiment")
    assert status == 200 and [r["id"] for r in found["results"]] == ["smoke/tiny-model"]
    status, health = _call(f"{base}/api/v1/health/worker?timeout=60", token, "POST")
    assert status == 200, health
    assert health["reply"]["pong"] == "ping"
    assert (data_dir / "hub.sqlite3").exists() and (data_dir / "broker.sqlite3").exists()
    assert (data_dir / "secret_key").exists()
