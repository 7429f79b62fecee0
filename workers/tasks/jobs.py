"""Job tasks. Thin: the message carries only the job id; everything else is in the database."""

from __future__ import annotations

from hub.celery import app


@app.task(name="workers.jobs.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run(self, job_id: int) -> str:
    import workers.jobs.compress  # noqa: F401  (registers the compression kinds)
    from hub.jobs import services
    from workers.jobs.runner import run_job

    outcome = run_job(int(job_id))
    queue = self.request.delivery_info.get("routing_key") or "cpu"
    if outcome == services.Claim.WAIT:  # the owner is at their running-jobs limit: look again shortly
        from django.conf import settings

        self.app.send_task(
            self.name, args=[job_id], queue=queue, countdown=getattr(settings, "HUB_JOB_WAIT_SECONDS", 10)
        )
    elif outcome == services.Claim.BUSY:
        # Another worker holds a live lease. It may be running the job (then this copy comes back, finds the lease
        # renewed and waits again, until the job is final), or it may have died a moment ago (a re-delivery after a
        # SIGKILL arrives before its lease runs out): then this copy takes the job over once the lease expires.
        self.app.send_task(self.name, args=[job_id], queue=queue, countdown=services.lease_remaining(job_id) + 1)
    return outcome


@app.task(name="workers.jobs.reconcile", ignore_result=True)
def reconcile() -> dict:
    from hub.jobs import services

    return services.reconcile()
