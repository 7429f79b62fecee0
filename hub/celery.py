"""The Celery app. Tasks live in workers/tasks and are sent by name: the web process never imports them."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")

app = Celery("hub", include=["workers.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")

# One queue per kind of hardware, plus the inference queue; endpoints add inference.<name> queues later.
QUEUES = ("cpu", "gpu", "inference")
app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in QUEUES]
app.conf.task_routes = {
    "workers.health.*": {"queue": "cpu"},
    "workers.jobs.gpu.*": {"queue": "gpu"},
    "workers.inference.*": {"queue": "inference"},
}
