"""Inference endpoints: models served by warm Celery workers."""
