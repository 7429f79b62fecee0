"""Native REST API for jobs: create, list, get, cancel, retry, events (paged and live), metrics."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.core.auth import token_role
from hub.core.errors import Invalid
from hub.core.http import int_param
from hub.core.permissions import IsAuthenticated
from hub.jobs import requests as job_requests
from hub.jobs import services, specs
from hub.jobs.api.serializers import JobEventSerializer, JobSerializer
from hub.jobs.models import Job, JobEvent, JobKind, JobStatus

MAX_PAGE = 500


_int = int_param  # one parser for every API module (hub.core.http)


class JobListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="List your jobs (and those of organisations you administer)",
        parameters=[
            OpenApiParameter("status", str),
            OpenApiParameter("kind", str),
            OpenApiParameter("output", str),
            OpenApiParameter("page", int),
            OpenApiParameter("limit", int),
        ],
        responses=JobSerializer(many=True),
    )
    def get(self, request):
        p = request.query_params
        qs = services.visible_jobs(request.user).select_related("owner")
        if p.get("status"):
            statuses = p["status"].split(",")
            if not set(statuses) <= set(JobStatus.values):
                raise Invalid(f"status must be among {', '.join(JobStatus.values)}.")
            qs = qs.filter(status__in=statuses)
        if p.get("kind"):
            if p["kind"] not in JobKind.values:
                raise Invalid(f"kind must be one of {', '.join(JobKind.values)}.")
            qs = qs.filter(kind=p["kind"])
        if p.get("output"):
            qs = qs.filter(output_repo__iexact=p["output"])
        page = _int(p.get("page"), 1, name="page", low=1, high=100_000)
        limit = _int(p.get("limit"), 20, name="limit", low=1, high=100)
        total = qs.count()
        items = list(qs[(page - 1) * limit : page * limit])
        return Response({"count": total, "page": page, "limit": limit, "results": JobSerializer(items, many=True).data})

    @extend_schema(summary="Create a job", request=specs.FinetuneRequest, responses={201: JobSerializer})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise Invalid("The body must be a JSON object.")
        kind = request.data.get("kind", "finetune")
        if kind == JobKind.FINETUNE:
            serializer = specs.FinetuneRequest(data=request.data)
            serializer.is_valid(raise_exception=True)
            job = job_requests.create_finetune(
                request.user, dict(serializer.validated_data), token_role=token_role(request)
            )
        else:
            from hub.jobs import compression

            job = compression.create(request.user, request.data, token_role=token_role(request))
        return Response(JobSerializer(job).data, status=201)


class JobDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Get a job", responses=JobSerializer)
    def get(self, request, job_id: int):
        return Response(JobSerializer(services.get_job(request.user, job_id)).data)


class JobCancelView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="Cancel a job", request=None, responses=JobSerializer)
    def post(self, request, job_id: int):
        job = services.cancel(services.get_job(request.user, job_id))
        return Response(JobSerializer(job).data)


class JobRetryView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Retry a failed or cancelled job (resumes from its last checkpoint)",
        request=None,
        responses=JobSerializer,
    )
    def post(self, request, job_id: int):
        job = services.retry(services.get_job(request.user, job_id))
        return Response(JobSerializer(job).data, status=202)


class JobEventsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="A job's events, oldest first, after an event id",
        parameters=[OpenApiParameter("after", int), OpenApiParameter("kind", str), OpenApiParameter("limit", int)],
        responses=JobEventSerializer(many=True),
    )
    def get(self, request, job_id: int):
        job = services.get_job(request.user, job_id)
        after = _int(request.query_params.get("after"), 0, name="after")
        limit = _int(request.query_params.get("limit"), 100, name="limit", low=1, high=MAX_PAGE)
        qs = JobEvent.objects.filter(job=job, id__gt=after)
        if request.query_params.get("kind"):
            qs = qs.filter(kind__in=request.query_params["kind"].split(","))
        events = list(qs[: limit + 1])
        more = len(events) > limit
        events = events[:limit]
        next_after = events[-1].id if events else after
        return Response(
            {
                "results": JobEventSerializer(events, many=True).data,
                "next": f"/api/v1/jobs/{job.pk}/events?after={next_after}&limit={limit}" if more else None,
                "after": next_after,
                "status": job.status,
            }
        )


class JobMetricsView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="A job's metric series (train loss, eval loss, accuracy/F1 or perplexity by step)")
    def get(self, request, job_id: int):
        job = services.get_job(request.user, job_id)
        return Response({"job": job.pk, "series": services.metric_series(job), "final": job.metrics})


def _sse(event_id: int | None, event: str, data: dict) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n".encode()


class JobStreamView(APIView):
    """Server-sent events: every event after Last-Event-ID (or ?after=), then live ones until the job ends."""

    permission_classes = [IsAuthenticated]

    def perform_content_negotiation(self, request, force=False):
        # Browsers' EventSource sends Accept: text/event-stream, which no DRF renderer offers: don't answer 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(summary="Follow a job live (text/event-stream)", responses={(200, "text/event-stream"): str})
    def get(self, request, job_id: int):
        job = services.get_job(request.user, job_id)
        after = _int(request.headers.get("Last-Event-ID") or request.query_params.get("after"), 0, name="after")
        poll = float(getattr(settings, "HUB_JOB_STREAM_POLL_SECONDS", 0.5))
        max_seconds = float(getattr(settings, "HUB_JOB_STREAM_MAX_SECONDS", 300))

        def stream():
            last = after
            started = time.monotonic()
            last_beat = started
            try:
                yield b"retry: 2000\n\n"
                while True:
                    events = list(JobEvent.objects.filter(job_id=job.pk, id__gt=last)[:200])
                    for event in events:
                        last = event.id
                        yield _sse(event.id, event.kind, {**JobEventSerializer(event).data})
                    current = Job.objects.get(pk=job.pk)
                    if events or time.monotonic() - last_beat > 5:
                        last_beat = time.monotonic()
                        yield _sse(
                            None,
                            "job",
                            {
                                "status": current.status,
                                "progress": services.progress(current),
                                "queue_position": services.queue_position(current),
                                "metrics": current.metrics,
                            },
                        )
                    if current.is_final and not events:
                        yield _sse(None, "end", {"status": current.status})
                        return
                    if time.monotonic() - started > max_seconds:
                        return  # the client reconnects with Last-Event-ID
                    time.sleep(poll)
            finally:
                close_old_connections()

        response = StreamingHttpResponse(stream(), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
