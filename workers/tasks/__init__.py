"""Celery tasks: the only code that is both Celery- and Django-aware. Keep each task thin."""

from workers.tasks.health import ping

__all__ = ["ping"]
