"""The health task runs on a real worker process consuming from the real Redis."""

import pytest

pytestmark = pytest.mark.django_db


def test_celery_uses_redis_not_eager():
    from hub.celery import app

    assert app.conf.broker_url.startswith("redis://")
    assert not app.conf.task_always_eager


def test_health_task_round_trip_through_api(celery_worker, alice_api):
    response = alice_api.post("/api/v1/health/worker?timeout=30")
    assert response.status_code == 200, response.content
    reply = response.json()["reply"]
    assert reply["pong"] == "ping"
    assert reply["pid"] == celery_worker.pid or reply["pid"] != 0


def test_queues_are_declared_and_routed():
    from hub.celery import app

    assert {q.name for q in app.conf.task_queues} == {"cpu", "gpu", "inference"}
    assert app.amqp.router.route({}, "workers.health.ping")["queue"].name == "cpu"


def test_worker_health_needs_authentication(api):
    assert api().post("/api/v1/health/worker").status_code == 401


# Worker modules the web process may import: plain Python that never loads torch (checked below, in a fresh process).
WEB_SAFE_WORKER_MODULES = {
    "workers.training.finetune",  # FinetuneConfig and validate_rows: checks before a job is queued
    "workers.compression",  # configs and validators (the torch parts load lazily, on first use)
    "workers.compression.validation",
    "workers.compression.ladders",  # step names
    "workers.inference.streams",  # token streams between workers and the web (Redis streams)
}


def test_hub_never_imports_workers_or_torch():
    """The web process sends tasks by name; it imports no ML library and only the torch-free worker modules above."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in (root / "hub").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"torch", "transformers", "peft"}, f"{path} imports {name}"
                if top == "workers":
                    assert name in WEB_SAFE_WORKER_MODULES, f"{path} imports {name}"


def test_the_web_process_never_loads_torch():
    """Every URL's view and every web-safe worker module imported in a fresh process: torch stays out."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import django, importlib, sys; django.setup();"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "import hub.jobs.requests, hub.jobs.compression, hub.endpoints.dispatch;"
        f"[importlib.import_module(m) for m in {sorted(WEB_SAFE_WORKER_MODULES)!r}];"
        "bad = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules);"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
