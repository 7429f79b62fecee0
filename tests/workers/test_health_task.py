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


def test_hub_never_imports_workers_or_torch():
    """The web process sends tasks by name; only workers/tasks imports Celery and hub."""
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
                assert top not in {"workers", "torch", "transformers", "peft"}, f"{path} imports {name}"
