"""The hub: a self-hosted model registry, job runner and inference service (Django project)."""

from hub.celery import app as celery_app

__all__ = ["celery_app"]
