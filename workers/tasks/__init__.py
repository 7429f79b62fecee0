"""Celery tasks: the only code that is both Celery- and Django-aware. Keep each task thin."""

from workers.inference import tasks as inference  # noqa: F401  (registers workers.inference.run)
from workers.tasks.endpoints import reconcile as reconcile_endpoints  # noqa: F401
from workers.tasks.health import ping
from workers.tasks.jobs import reconcile, run

__all__ = ["ping", "reconcile", "run"]
