"""Creating, dispatching, cancelling and retrying jobs; recording their events. Used by the web and the workers."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from hub.accounts.models import Role, TokenRole, User
from hub.accounts.selectors import get_namespace, has_role, namespace_role
from hub.core.errors import Conflict, Forbidden, Invalid, NotFound
from hub.core.names import validate_name
from hub.jobs.models import ACTIVE_STATUSES, FINAL_STATUSES, Job, JobEvent, JobKind, JobStatus
from hub.registry import selectors as registry
from hub.registry.models import Repo, RepoType

log = logging.getLogger(__name__)

TASK_NAME = "workers.jobs.run"
LOG_TAIL = 50


# ---------------------------------------------------------------------------------------------------------- inputs


def pin(user, type: str, full_name: str, revision: str, *, what: str) -> tuple[Repo, str]:
    """The repo (readable by `user`) and the 40-hex commit `revision` names in it."""
    if not isinstance(full_name, str) or full_name.count("/") != 1:
        raise Invalid(f"{what} must be 'owner/name'.", code="invalid_repo")
    try:
        repo = registry.get_repo(user=user, type=type, full_name=full_name, follow_redirects=False)
    except NotFound:
        raise NotFound(f"{what} '{full_name}' not found (or you cannot read it).", code="repo_not_found") from None
    try:
        commit = registry.resolve_revision(repo, revision)
    except NotFound:
        raise Invalid(f"{what} '{full_name}' has no revision '{revision}'.", code="revision_not_found") from None
    return repo, commit.sha


def output_target(user, output: str, *, token_role: str) -> tuple[str, object, Repo | None]:
    """(full name, namespace, existing repo or None) for the output; the caller must be able to write there."""
    if not isinstance(output, str) or not output.strip():
        raise Invalid("output must name a model repo ('owner/name' or a name in your namespace).", code="invalid")
    owner, _, name = output.strip().rpartition("/")
    owner = owner or user.username
    validate_name(name)
    try:
        namespace = get_namespace(owner)
    except NotFound:
        raise Invalid(f"Output owner '{owner}' does not exist.", code="invalid_output") from None
    if not has_role(namespace_role(user, namespace), Role.WRITE):
        raise Forbidden(f"You cannot write to '{namespace.name}'.", code="forbidden")
    if token_role == TokenRole.READ:
        raise Forbidden("This token is read-only; use a write token to start jobs.", code="read_only_token")
    full_name = f"{namespace.name}/{name}"
    existing = Repo.objects.filter(type=RepoType.MODEL, full_name__iexact=full_name).first()
    if existing is not None:
        full_name = existing.full_name
        if not has_role(namespace_role(user, existing.namespace), Role.WRITE):
            raise Forbidden(f"You cannot write to '{full_name}'.", code="forbidden")
    busy = Job.objects.filter(output_repo__iexact=full_name, status__in=ACTIVE_STATUSES)
    if busy.exists():
        raise Conflict(
            f"Job {busy.first().pk} is already writing to '{full_name}'; wait for it or cancel it.", code="output_busy"
        )
    return full_name, namespace, existing


# -------------------------------------------------------------------------------------------------------- creation


def queue_for(hardware: str) -> str:
    """The Celery queue for a kind of hardware (HUB_JOB_QUEUES maps them; a deployment may rename queues)."""
    queues = getattr(settings, "HUB_JOB_QUEUES", None) or {"cpu": "cpu", "gpu": "gpu"}
    return queues.get(hardware, "cpu")


def create_job(
    *,
    owner: User,
    namespace,
    kind: str,
    hardware: str,
    spec: dict,
    output_repo: str,
    base: tuple[str, str] = ("", ""),
    dataset: tuple[str, str] = ("", ""),
) -> Job:
    """Store the job, then send its message once the row is committed."""
    job = Job.objects.create(
        kind=kind,
        owner=owner,
        namespace=namespace,
        hardware=hardware,
        queue=queue_for(hardware),
        spec=spec,
        output_repo=output_repo,
        base_repo=base[0],
        base_commit=base[1],
        dataset_repo=dataset[0],
        dataset_commit=dataset[1],
    )
    add_event(job, JobEvent.Kind.STATUS, {"status": JobStatus.QUEUED, "message": "Job created"})
    transaction.on_commit(lambda: dispatch(job.pk))
    return job


def dispatch(job_id: int) -> None:
    """Send the job's message (its id only) to its queue. Safe to repeat: a worker drops messages for jobs it can't
    claim. A broker outage leaves the job queued; the reconciler sends it again."""
    from hub.celery import app

    job = Job.objects.filter(pk=job_id).only("queue", "status").first()
    if job is None or job.status not in ACTIVE_STATUSES:
        return
    Job.objects.filter(pk=job_id).update(dispatched_at=timezone.now(), dispatches=F("dispatches") + 1)
    try:
        app.send_task(TASK_NAME, args=[job_id], queue=job.queue)
    except Exception:  # the broker is down: the reconciler re-sends later
        log.exception("could not send job %s to the broker", job_id)


# ----------------------------------------------------------------------------------------------------- permissions


def can_manage(user, job: Job) -> bool:
    if not user or not user.is_authenticated:
        return False
    if job.owner_id == user.pk or user.is_superuser:
        return True
    return has_role(namespace_role(user, job.namespace), Role.ADMIN)


def get_job(user, job_id) -> Job:
    """The job if `user` is its owner or an admin of its namespace; otherwise NotFound (it is not theirs to know)."""
    try:
        job = Job.objects.select_related("owner", "namespace").get(pk=int(job_id))
    except (Job.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound(f"Job {job_id} not found.", code="job_not_found") from None
    if not can_manage(user, job):
        raise NotFound(f"Job {job_id} not found.", code="job_not_found")
    return job


def visible_jobs(user):
    from django.db.models import Q

    from hub.accounts.models import Membership

    if user.is_superuser:
        return Job.objects.all()
    admin_of = Membership.objects.filter(user=user, role=Role.ADMIN).values("organisation__namespace")
    return Job.objects.filter(Q(owner=user) | Q(namespace__in=admin_of))


# --------------------------------------------------------------------------------------------- cancel and retry


def cancel(job: Job) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop and stops within seconds."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_final:
            raise Conflict(f"Job {job.pk} already {job.status}.", code="job_final")
        if job.status == JobStatus.QUEUED and not lease_alive(job):
            finish(job, JobStatus.CANCELLED, message="Cancelled before it started")
        else:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
            add_event(job, JobEvent.Kind.LOG, {"message": "Cancellation requested"})
    return job


def retry(job: Job) -> Job:
    """Run a failed or cancelled job again, from its last checkpoint when it has one."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise Conflict(
                f"Job {job.pk} is {job.status}; only failed or cancelled jobs can be retried.", code="job_not_retryable"
            )
        other = Job.objects.filter(output_repo__iexact=job.output_repo, status__in=ACTIVE_STATUSES).exclude(pk=job.pk)
        if other.exists():
            raise Conflict(f"Job {other.first().pk} is writing to '{job.output_repo}' now.", code="output_busy")
        job.status = JobStatus.QUEUED
        job.cancel_requested = False
        job.error = ""
        job.finished_at = None
        job.lease_owner = ""
        job.lease_expires_at = None
        job.save()
        add_event(job, JobEvent.Kind.STATUS, {"status": JobStatus.QUEUED, "message": "Retry requested"})
        transaction.on_commit(lambda: dispatch(job.pk))
    return job


# ------------------------------------------------------------------------------------------------------- events


def add_event(job: Job, kind: str, data: dict) -> JobEvent:
    return JobEvent.objects.create(job_id=job.pk, kind=kind, data=data)


def append_log(job_id: int, lines: list[str]) -> None:
    """Log lines as events, and the tail kept on the row for listings and failures."""
    if not lines:
        return
    JobEvent.objects.bulk_create([JobEvent(job_id=job_id, kind=JobEvent.Kind.LOG, data={"message": m}) for m in lines])
    with transaction.atomic():
        job = Job.objects.select_for_update().only("log_tail").get(pk=job_id)
        Job.objects.filter(pk=job_id).update(log_tail=(list(job.log_tail) + lines)[-LOG_TAIL:])


def finish(job: Job, status: str, *, message: str = "", error: str = "") -> None:
    fields = {"status": status, "finished_at": timezone.now(), "lease_owner": "", "lease_expires_at": None}
    if error:
        fields["error"] = error[:10_000]
    Job.objects.filter(pk=job.pk).update(**fields)
    for key, value in fields.items():
        setattr(job, key, value)
    add_event(
        job,
        JobEvent.Kind.STATUS,
        {"status": status, "message": message or status, **({"error": error} if error else {})},
    )


# -------------------------------------------------------------------------------------------------------- leases


def lease_alive(job: Job) -> bool:
    return bool(job.lease_owner) and job.lease_expires_at is not None and job.lease_expires_at > timezone.now()


def lease_remaining(job_id: int) -> float:
    """Seconds until the job's lease expires (0 when it has none)."""
    expires = Job.objects.filter(pk=job_id).values_list("lease_expires_at", flat=True).first()
    return max((expires - timezone.now()).total_seconds(), 0.0) if expires else 0.0


def lease_seconds() -> float:
    return float(getattr(settings, "HUB_JOB_LEASE_SECONDS", 60))


def running_limit() -> int:
    return int(getattr(settings, "HUB_MAX_RUNNING_JOBS_PER_USER", 2))


class Claim:
    CLAIMED = "claimed"
    BUSY = "busy"  # another worker holds a live lease: drop this message
    FINAL = "final"  # nothing to do: drop
    WAIT = "wait"  # the owner is at their limit of running jobs: try later


def claim(job_id: int, worker: str) -> tuple[str, Job | None]:
    """Take the job's lease if nobody holds a live one. Atomic: two workers never both get it."""
    now = timezone.now()
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_final:
            return Claim.FINAL, job
        if lease_alive(job) and job.lease_owner != worker:
            return Claim.BUSY, job
        if job.cancel_requested:
            finish(job, JobStatus.CANCELLED, message="Cancelled")
            return Claim.FINAL, job
        if job.status == JobStatus.QUEUED:
            # Claims of one owner's jobs take turns (a row lock on the owner), so two workers can't both pass the limit.
            User.objects.select_for_update().filter(pk=job.owner_id).first()
            running = Job.objects.filter(owner_id=job.owner_id, status=JobStatus.RUNNING, lease_expires_at__gt=now)
            if running.exclude(pk=job.pk).count() >= running_limit():
                return Claim.WAIT, job
        resumed = job.status == JobStatus.RUNNING
        job.status = JobStatus.RUNNING
        job.lease_owner = worker
        job.lease_expires_at = now + timedelta(seconds=lease_seconds())
        job.attempts += 1
        job.started_at = job.started_at or now
        job.attempt_started_at = now
        job.attempt_start_step = job.checkpoint_step
        job.save()
        message = f"Running on {worker} (attempt {job.attempts})"
        if resumed or job.checkpoint_step:
            message += f", resuming from step {job.checkpoint_step}" if job.checkpoint_commit else ", from the start"
        add_event(job, JobEvent.Kind.STATUS, {"status": JobStatus.RUNNING, "message": message, "worker": worker})
    return Claim.CLAIMED, job


def heartbeat(job_id: int, worker: str) -> bool | None:
    """Extend the lease. Returns cancel_requested, or None when the lease was lost (another worker took over)."""
    now = timezone.now()
    updated = Job.objects.filter(pk=job_id, lease_owner=worker, status=JobStatus.RUNNING).update(
        lease_expires_at=now + timedelta(seconds=lease_seconds())
    )
    if not updated:
        return None
    return Job.objects.filter(pk=job_id).values_list("cancel_requested", flat=True).first()


def release(job_id: int, worker: str) -> None:
    Job.objects.filter(pk=job_id, lease_owner=worker).update(lease_owner="", lease_expires_at=None)


# ---------------------------------------------------------------------------------------------------- reconciler


def reconcile(*, now=None) -> dict:
    """Re-send what a lost message or a dead worker left behind. Idempotent; run periodically (celery beat).

    - queued jobs whose last send is older than the resend delay (doubling per send, capped) are sent again;
    - running jobs whose lease expired (the worker died; its message may be lost with a broker restart) are sent
      again, and resume from their last checkpoint.
    """
    now = now or timezone.now()
    base = float(getattr(settings, "HUB_JOB_RESEND_SECONDS", 120))
    resent = []
    for job in Job.objects.filter(status=JobStatus.QUEUED).only(
        "id", "dispatched_at", "dispatches", "lease_owner", "lease_expires_at"
    ):
        delay = base * (2 ** min(max(job.dispatches - 1, 0), 5))
        if lease_alive(job) or (job.dispatched_at and (now - job.dispatched_at).total_seconds() < delay):
            continue
        dispatch(job.pk)
        resent.append(job.pk)
    for job in Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now).only("id", "dispatched_at"):
        if job.dispatched_at and (now - job.dispatched_at).total_seconds() < base:
            continue
        add_event(job, JobEvent.Kind.LOG, {"message": "Worker lost (lease expired): sending the job again"})
        dispatch(job.pk)
        resent.append(job.pk)
    return {"resent": resent}


# --------------------------------------------------------------------------------------------------- read models


def queue_position(job: Job) -> int | None:
    """1 = next to start on its queue. None unless queued."""
    if job.status != JobStatus.QUEUED:
        return None
    ahead = Job.objects.filter(status=JobStatus.QUEUED, queue=job.queue, created_at__lt=job.created_at).count()
    return ahead + 1


def progress(job: Job) -> dict:
    percent = 100.0 if job.status == JobStatus.SUCCEEDED else 0.0
    eta = None
    if job.steps_total:
        percent = min(100.0, 100.0 * job.steps_done / job.steps_total) if job.status != JobStatus.SUCCEEDED else 100.0
        done_now = job.steps_done - job.attempt_start_step
        if job.status == JobStatus.RUNNING and job.attempt_started_at and done_now > 0:
            elapsed = (timezone.now() - job.attempt_started_at).total_seconds()
            eta = round(elapsed / done_now * max(job.steps_total - job.steps_done, 0), 1)
    return {
        "percent": round(percent, 1),
        "steps_done": job.steps_done,
        "steps_total": job.steps_total,
        "eta_seconds": eta,
    }


def metric_series(job: Job) -> dict:
    """{"train": [{step, epoch, loss, …}], "eval": [...]} from the metrics events, in order."""
    series: dict[str, list] = {}
    for data in JobEvent.objects.filter(job=job, kind=JobEvent.Kind.METRICS).values_list("data", flat=True):
        split = data.get("split", "train")
        series.setdefault(split, []).append({k: v for k, v in data.items() if k != "split"})
    return series


__all__ = ["JobKind", "FINAL_STATUSES"]


def compressed_descendants(user, repo) -> list[dict]:
    """The report rows of this model's students from succeeded compression jobs, for students `user` can read."""
    from hub.registry.selectors import can_read

    jobs = Job.objects.filter(
        base_repo__iexact=repo.full_name,
        status=JobStatus.SUCCEEDED,
        kind__in=[JobKind.DISTILL, JobKind.QUANTIZE, JobKind.PRUNE, JobKind.LADDER],
    )
    rows = []
    for job in jobs.order_by("-finished_at")[:20]:
        report = job.report or {}
        by_name = {r.get("name"): r for r in report.get("rows", []) if isinstance(r, dict)}
        for name, output in zip(job.spec.get("names", []), job.spec.get("outputs", []), strict=False):
            student = (
                Repo.objects.filter(type=RepoType.MODEL, full_name__iexact=output).select_related("namespace").first()
            )
            row = by_name.get(name)
            if student is None or row is None or not can_read(user, student):
                continue
            rows.append(
                {
                    "repo": student.full_name,
                    "method": row.get("method") or name,
                    "job": job.pk,
                    "metric_name": report.get("metric_name"),
                    "metric": row.get("metric"),
                    "retention": row.get("retention"),
                    "speedup_b32": row.get("speedup_b32"),
                    "latency_ms": row.get("latency_p50_ms_b1"),
                    "size_bytes": row.get("size_bytes"),
                }
            )
    return rows
