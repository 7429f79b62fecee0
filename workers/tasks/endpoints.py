"""Endpoint tasks: the periodic reconciler (replicas back after a worker restart, autoscaling, idle endpoints scaled
to zero) and the rolling revision update's warm-up."""

from __future__ import annotations

from hub.celery import app


@app.task(name="workers.endpoints.reconcile", ignore_result=True)
def reconcile() -> dict:
    from hub.endpoints.services import reconcile as run

    return run()


@app.task(name="workers.endpoints.roll", ignore_result=True)
def roll(endpoint_id: int, commit: str) -> str:
    from hub.endpoints.rolling import roll as run

    return run(endpoint_id=endpoint_id, commit=commit)
