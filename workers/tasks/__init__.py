"""Celery tasks: the only code that is both Celery- and Django-aware. Keep each task thin."""

from celery.signals import worker_ready

from workers.inference import tasks as inference  # noqa: F401  (registers workers.inference.run)
from workers.tasks.endpoints import reconcile as reconcile_endpoints  # noqa: F401
from workers.tasks.health import ping
from workers.tasks.jobs import reconcile, run

__all__ = ["ping", "reconcile", "run"]


@worker_ready.connect
def _sweep_on_start(**_kwargs) -> None:
    """Clear what a crashed worker on this machine left behind (workers.housekeeping)."""
    from workers import housekeeping

    housekeeping.sweep()
