"""Inference endpoints: one model at a pinned commit served for one task, their events and metered usage."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from hub.accounts.models import ApiToken, Namespace
from hub.registry.models import Repo


class Task(models.TextChoices):
    FEATURE_EXTRACTION = "feature-extraction", "feature extraction (embeddings)"
    TEXT_CLASSIFICATION = "text-classification", "text classification"
    FILL_MASK = "fill-mask", "fill mask"
    TOKEN_CLASSIFICATION = "token-classification", "token classification"
    TEXT_GENERATION = "text-generation", "text generation"
    CHAT = "chat", "chat (chat template)"


GENERATIVE_TASKS = frozenset({Task.TEXT_GENERATION, Task.CHAT})


class Hardware(models.TextChoices):
    CPU = "cpu", "CPU"
    GPU = "gpu", "GPU"


class State(models.TextChoices):
    PENDING = "pending", "pending"
    INITIALIZING = "initializing", "initializing"
    RUNNING = "running", "running"
    SCALED_TO_ZERO = "scaled_to_zero", "scaled to zero"
    PAUSED = "paused", "paused"
    FAILED = "failed", "failed"


# The only moves an endpoint's state may make (services.transition enforces them with a conditional UPDATE).
TRANSITIONS: dict[str, frozenset[str]] = {
    State.PENDING: frozenset({State.INITIALIZING, State.PAUSED, State.FAILED}),
    State.INITIALIZING: frozenset({State.RUNNING, State.PAUSED, State.FAILED, State.SCALED_TO_ZERO}),
    State.RUNNING: frozenset({State.SCALED_TO_ZERO, State.PAUSED, State.FAILED, State.INITIALIZING}),
    State.SCALED_TO_ZERO: frozenset({State.INITIALIZING, State.PAUSED, State.FAILED}),
    State.PAUSED: frozenset({State.PENDING}),
    State.FAILED: frozenset({State.PENDING, State.PAUSED}),
}


class Endpoint(models.Model):
    namespace = models.ForeignKey(Namespace, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=96)
    repo = models.ForeignKey(Repo, on_delete=models.CASCADE, related_name="endpoints")
    revision = models.CharField(max_length=255, default="main", help_text="what the creator asked for")
    commit_sha = models.CharField(max_length=40, help_text="the pinned commit being served")
    pending_commit_sha = models.CharField(
        max_length=40, blank=True, help_text="a rolling update in progress: served once a replica has warmed it"
    )
    task = models.CharField(max_length=24, choices=Task.choices)
    hardware = models.CharField(max_length=3, choices=Hardware.choices, default=Hardware.CPU)
    min_replicas = models.PositiveSmallIntegerField(default=0)
    max_replicas = models.PositiveSmallIntegerField(default=1)
    replicas = models.PositiveSmallIntegerField(default=1, help_text="replicas wanted while awake")
    idle_timeout_s = models.PositiveIntegerField(default=900, help_text="scale to zero after this idle time")
    max_batch_size = models.PositiveSmallIntegerField(default=32)
    max_wait_ms = models.PositiveSmallIntegerField(default=5)
    private = models.BooleanField(default=False, help_text="only members of the namespace may call it")
    queue = models.CharField(max_length=120, unique=True, help_text="Celery queue: inference.<queue>")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    last_error = models.TextField(blank=True)
    cold_start_ms = models.FloatField(null=True, blank=True, help_text="last measured wake-up to first answer")
    woke_at = models.DateTimeField(null=True, blank=True)
    last_request_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint("namespace", Lower("name"), name="endpoint_unique_name_ci")]
        indexes = [models.Index(fields=["repo", "state"]), models.Index(fields=["state"])]

    @property
    def full_name(self) -> str:
        return f"{self.namespace.name}/{self.name}"

    @property
    def celery_queue(self) -> str:
        return f"inference.{self.queue}"

    def __str__(self) -> str:
        return self.full_name


class EndpointEvent(models.Model):
    STATE, SCALE, ERROR, REVISION, INFO = "state", "scale", "error", "revision", "info"
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10)
    message = models.CharField(max_length=1000)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-created_at"])]


class UsageRecord(models.Model):
    """One inference request: who, through which endpoint and protocol, tokens in and out, time spent."""

    OK, ERROR, TIMEOUT, CANCELLED, REJECTED = "ok", "error", "timeout", "cancelled", "rejected"
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="usage")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token = models.ForeignKey(ApiToken, null=True, on_delete=models.SET_NULL, related_name="+")
    route = models.CharField(max_length=40)
    status = models.CharField(max_length=10)
    stream = models.BooleanField(default=False)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    compute_ms = models.FloatField(default=0.0)
    latency_ms = models.FloatField(default=0.0)
    load_ms = models.FloatField(default=0.0)
    batch_size = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-created_at"]), models.Index(fields=["token", "-created_at"])]
