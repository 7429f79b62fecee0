"""Celery tasks (workers/tasks) and the plain-Python ML code they call. Only workers/tasks imports Celery or hub."""
