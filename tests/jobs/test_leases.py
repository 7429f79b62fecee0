"""Leases, limits and the reconciler, on the real database (no worker needed)."""

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_job(alice):
    from hub.jobs.models import Job

    def make(owner=None, status="queued", **kw):
        owner = owner or alice
        return Job.objects.create(kind="finetune", owner=owner, namespace=owner.namespace, status=status,
                                  output_repo=f"{owner.username}/out-{Job.objects.count()}", **kw)  # fmt: skip

    return make


def test_one_worker_at_a_time(make_job):
    from hub.jobs import services
    from hub.jobs.models import Job

    job = make_job()
    assert services.claim(job.pk, "w1")[0] == services.Claim.CLAIMED
    assert services.claim(job.pk, "w2")[0] == services.Claim.BUSY  # a re-delivered message is dropped
    assert services.heartbeat(job.pk, "w1") is False
    # w1 stalls past its lease: w2 takes over, and w1's heartbeat learns it lost the job.
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    outcome, claimed = services.claim(job.pk, "w2")
    assert outcome == services.Claim.CLAIMED and claimed.attempts == 2
    assert services.heartbeat(job.pk, "w1") is None
    services.finish(claimed, "succeeded")
    assert services.claim(job.pk, "w3")[0] == services.Claim.FINAL


def test_claim_honours_cancel_requests(make_job):
    from hub.jobs import services
    from hub.jobs.models import Job

    job = make_job(cancel_requested=True)
    assert services.claim(job.pk, "w1")[0] == services.Claim.FINAL
    assert Job.objects.get(pk=job.pk).status == "cancelled"


def test_running_jobs_per_user_are_limited(make_job, settings, make_user):
    from hub.jobs import services

    settings.HUB_MAX_RUNNING_JOBS_PER_USER = 1
    first, second = make_job(), make_job()
    assert services.claim(first.pk, "w1")[0] == services.Claim.CLAIMED
    assert services.claim(second.pk, "w2")[0] == services.Claim.WAIT
    other = make_job(owner=make_user("bob"))
    assert services.claim(other.pk, "w2")[0] == services.Claim.CLAIMED  # other users are not held up
    services.finish(first, "succeeded")
    assert services.claim(second.pk, "w2")[0] == services.Claim.CLAIMED


def test_reconciler_resends_lost_messages_with_backoff(make_job, settings, monkeypatch):
    from hub.jobs import services
    from hub.jobs.models import Job

    sent = []
    monkeypatch.setattr("hub.celery.app.send_task", lambda name, args, queue: sent.append((name, args[0], queue)))
    settings.HUB_JOB_RESEND_SECONDS = 60
    now = timezone.now()
    fresh = make_job(dispatched_at=now, dispatches=1)
    stale = make_job(dispatched_at=now - timedelta(seconds=61), dispatches=1)
    never = make_job()
    dead = make_job(status="running", lease_owner="w9", lease_expires_at=now - timedelta(seconds=5),
                    dispatched_at=now - timedelta(hours=1))  # fmt: skip
    alive = make_job(status="running", lease_owner="w8", lease_expires_at=now + timedelta(seconds=30))
    result = services.reconcile(now=now)
    assert sorted(result["resent"]) == sorted([stale.pk, never.pk, dead.pk])
    assert {job_id for _, job_id, _ in sent} == {stale.pk, never.pk, dead.pk}
    assert fresh.pk not in result["resent"] and alive.pk not in result["resent"]
    # A second send waits twice as long before the next one.
    stale.refresh_from_db()
    assert stale.dispatches == 2
    Job.objects.filter(pk=stale.pk).update(dispatched_at=now - timedelta(seconds=90))
    assert stale.pk not in services.reconcile(now=now)["resent"]
    Job.objects.filter(pk=stale.pk).update(dispatched_at=now - timedelta(seconds=121))
    assert stale.pk in services.reconcile(now=now)["resent"]


def test_progress_and_eta(make_job):
    from hub.jobs import services

    job = make_job(status="running", steps_done=25, steps_total=100, attempt_start_step=0,
                   attempt_started_at=timezone.now() - timedelta(seconds=10))  # fmt: skip
    progress = services.progress(job)
    assert progress["percent"] == 25.0
    assert 25 <= progress["eta_seconds"] <= 35
