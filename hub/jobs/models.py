"""Jobs: a row first (inputs pinned to commits, parameters validated), then a Celery message carrying its id."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from hub.accounts.models import Namespace


class JobKind(models.TextChoices):
    FINETUNE = "finetune", "fine-tune"
    DISTILL = "distill", "distillation"
    QUANTIZE = "quantize", "quantization"
    PRUNE = "prune", "pruning"
    LADDER = "ladder", "compression ladder"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


FINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class Job(models.Model):
    kind = models.CharField(max_length=12, choices=JobKind.choices)
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    namespace = models.ForeignKey(
        Namespace,
        on_delete=models.CASCADE,
        related_name="jobs",
        help_text="Where the outputs go; its admins may see and cancel the job",
    )
    hardware = models.CharField(max_length=8, default="cpu")
    queue = models.CharField(max_length=64, default="cpu")
    spec = models.JSONField(default=dict, help_text="Validated task, method, columns and hyper-parameters")
    # Inputs, pinned to commits at creation.
    base_repo = models.CharField(max_length=200, blank=True)
    base_commit = models.CharField(max_length=40, blank=True)
    dataset_repo = models.CharField(max_length=200, blank=True)
    dataset_commit = models.CharField(max_length=40, blank=True)
    # Outputs.
    output_repo = models.CharField(max_length=200)
    output_commit = models.CharField(max_length=40, blank=True)
    extra_outputs = models.JSONField(
        default=list, blank=True, help_text="Other repos published (merged model, students)"
    )
    checkpoint_commit = models.CharField(max_length=40, blank=True)
    checkpoint_step = models.IntegerField(default=0)
    # Progress.
    steps_done = models.IntegerField(default=0)
    steps_total = models.IntegerField(default=0)
    attempt_started_at = models.DateTimeField(null=True, blank=True)
    attempt_start_step = models.IntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    log_tail = models.JSONField(default=list, blank=True)
    # Delivery and leases: a worker holds a job while its lease is alive; the reconciler re-sends lost messages.
    attempts = models.IntegerField(default=0)
    dispatches = models.IntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "queue", "created_at"]),
            models.Index(fields=["namespace", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.kind}, {self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class JobEvent(models.Model):
    """What happened, in order: status changes, log lines, metrics, checkpoints. Pages and clients follow them live."""

    class Kind(models.TextChoices):
        STATUS = "status"
        LOG = "log"
        METRICS = "metrics"
        CHECKPOINT = "checkpoint"
        ERROR = "error"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["job", "id"]), models.Index(fields=["job", "kind", "id"])]
