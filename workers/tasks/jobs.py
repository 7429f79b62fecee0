"""Job tasks. Thin: the message carries only the job id; everything else is in the database."""

from __future__ import annotations

from hub.celery import app

DB_RETRIES = 12  # about half an hour of backoff; after that the reconciler (celery beat) sends the job again


@app.task(name="workers.jobs.run", bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run(self, job_id: int) -> str:
    from django.db import InterfaceError, OperationalError, connection

    import workers.jobs.compress  # noqa: F401  (registers the compression kinds)
    from hub.jobs import services
    from workers.jobs.runner import run_job

    try:
        outcome = run_job(int(job_id))
    except (OperationalError, InterfaceError) as exc:
        # The database is unreachable (restart, failover, no free connection slot). Acknowledging this message would
        # leave the job queued until the reconciler's next pass; send it again with a growing delay instead. A lease
        # taken before the failure makes the next copy wait for it to expire, then resume from the last checkpoint.
        connection.close()
        delay = min(5 * 2**self.request.retries, 300)
        raise self.retry(exc=exc, countdown=delay, max_retries=DB_RETRIES) from None
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
