"""How jobs look in the API."""

from __future__ import annotations

from rest_framework import serializers

from hub.jobs import services
from hub.jobs.models import Job, JobEvent


class JobSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    base_model = serializers.SerializerMethodField()
    dataset = serializers.SerializerMethodField()
    output = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "status",
            "owner",
            "hardware",
            "queue",
            "spec",
            "base_model",
            "dataset",
            "output",
            "progress",
            "queue_position",
            "metrics",
            "report",
            "error",
            "log_tail",
            "attempts",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
            "urls",
        ]

    def get_base_model(self, job: Job) -> dict | None:
        return {"repo": job.base_repo, "commit": job.base_commit} if job.base_repo else None

    def get_dataset(self, job: Job) -> dict | None:
        return {"repo": job.dataset_repo, "commit": job.dataset_commit} if job.dataset_repo else None

    def get_output(self, job: Job) -> dict:
        return {
            "repo": job.output_repo,
            "commit": job.output_commit or None,
            "checkpoint": {"commit": job.checkpoint_commit, "step": job.checkpoint_step}
            if job.checkpoint_commit
            else None,
            "extra": job.extra_outputs,
        }

    def get_progress(self, job: Job) -> dict:
        return services.progress(job)

    def get_queue_position(self, job: Job) -> int | None:
        return services.queue_position(job)

    def get_urls(self, job: Job) -> dict:
        base = f"/api/v1/jobs/{job.pk}"
        return {
            "self": base,
            "events": f"{base}/events",
            "stream": f"{base}/events/stream",
            "metrics": f"{base}/metrics",
            "page": f"/jobs/{job.pk}",
        }


class JobEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobEvent
        fields = ["id", "kind", "data", "created_at"]
