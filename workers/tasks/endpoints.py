"""Periodic endpoint reconciler: replicas back after a worker restart, idle endpoints scaled to zero."""

from __future__ import annotations

from hub.celery import app


@app.task(name="workers.endpoints.reconcile", ignore_result=True)
def reconcile() -> dict:
    from hub.endpoints.services import reconcile as run

    return run()
