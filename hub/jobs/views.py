"""Job pages: your jobs, one job followed live (log, charts, metrics), and the Fine-tune form.

The pages only read; every action (create, cancel, retry) goes through the native API from the page's static JS,
so the rules live once, in hub/jobs/services.py and hub/jobs/requests.py."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from rest_framework import serializers

from hub.accounts.models import Role
from hub.accounts.selectors import has_role, user_organisations
from hub.core.errors import HubError, NotFound
from hub.jobs import services, specs
from hub.jobs.models import Job, JobEvent, JobKind, JobStatus
from hub.registry.models import RepoType
from hub.registry.selectors import get_repo

PAGE_SIZE = 25
LOG_LINES = 300
GENERATIVE_TAGS = {"text-generation", "text2text-generation", "conversational"}


# ---------------------------------------------------------------------------------------------------------- list


@login_required
def listing(request: HttpRequest) -> HttpResponse:
    """The signed-in user's jobs and those of organisations they administer, newest first."""
    status, kind = request.GET.get("status", ""), request.GET.get("kind", "")
    error = None
    jobs = services.visible_jobs(request.user).select_related("owner")
    if status and status not in JobStatus.values:
        error = f"Unknown status '{status}'; choose one of {', '.join(JobStatus.values)}."
    elif status:
        jobs = jobs.filter(status=status)
    if kind and kind not in JobKind.values:
        error = f"Unknown kind '{kind}'; choose one of {', '.join(JobKind.values)}."
    elif kind:
        jobs = jobs.filter(kind=kind)
    page = Paginator(jobs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"job": job, "progress": services.progress(job)} for job in page]
    context = {
        "rows": rows,
        "page": page,
        "status": status,
        "kind": kind,
        "statuses": JobStatus.choices,
        "kinds": JobKind.choices,
        "error": error,
        "filtered": bool(status or kind),
    }
    return render(request, "jobs/list.html", context, status=400 if error else 200)


# -------------------------------------------------------------------------------------------------------- detail


def _job_or_404(user, job_id: int) -> Job:
    try:
        return services.get_job(user, job_id)
    except NotFound:
        raise Http404(f"Job {job_id} not found.") from None


def _log_line(event: JobEvent) -> dict:
    data = event.data or {}
    if event.kind == JobEvent.Kind.STATUS:
        text = f"[{data.get('status', '')}] {data.get('message', '')}".strip()
    elif event.kind == JobEvent.Kind.CHECKPOINT:
        text = f"[checkpoint] step {data.get('step')} → {str(data.get('commit', ''))[:12]}"
    else:
        text = str(data.get("message") or data.get("error") or "")
    return {"id": event.pk, "kind": event.kind, "text": text}


def _final_metrics(metrics: dict) -> list[dict]:
    """Rows of (metric, final value, baseline value) from the job's final metrics (baseline_* keys pair up)."""
    rows, seen = [], set()
    for key, value in (metrics or {}).items():
        if key.startswith("baseline_"):
            continue
        seen.add(key)
        rows.append({"name": key, "value": number(value), "baseline": number(metrics.get(f"baseline_{key}"))})
    for key, value in (metrics or {}).items():
        name = key.removeprefix("baseline_")
        if key.startswith("baseline_") and name not in seen:
            rows.append({"name": name, "value": "—", "baseline": number(value)})
    return rows


def number(value) -> str:
    """Four significant decimals for floats; anything else as it is; — for nothing."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _report_rows(report: dict) -> list[dict]:
    rows = report.get("rows") if isinstance(report, dict) else None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _report_cells(rows: list[dict]) -> list[dict]:
    """The comparison table's cells, formatted (the raw rows go to the scatter chart as JSON)."""
    cells = []
    for row in rows:
        size = row.get("size_bytes")
        cells.append(
            {
                "name": row.get("name", "?"),
                "notes": str(row.get("notes") or ""),
                "metric": number(row.get("metric")),
                "retention": number(row.get("retention")),
                "latency": number(row.get("latency_p50_ms_b1")),
                "throughput": number(row.get("throughput_b32")),
                "params": f"{row['params']:,}" if isinstance(row.get("params"), int) else number(row.get("params")),
                "size": filesizeformat(size) if isinstance(size, int | float) else "—",
            }
        )
    return cells


@login_required
def detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_or_404(request.user, job_id)
    events = list(JobEvent.objects.filter(job=job).exclude(kind=JobEvent.Kind.METRICS).order_by("-id")[:LOG_LINES])
    last_id = JobEvent.objects.filter(job=job).order_by("-id").values_list("id", flat=True).first() or 0
    report_rows = _report_rows(job.report)
    progress = services.progress(job)
    data = {
        "id": job.pk,
        "status": job.status,
        "final": job.is_final,
        "after": last_id,
        "stream": f"/api/v1/jobs/{job.pk}/events/stream",
        "api": f"/api/v1/jobs/{job.pk}",
        "series": services.metric_series(job),
        "report": {"rows": report_rows, "metric_name": (job.report or {}).get("metric_name") or "quality"},
    }
    spec = job.spec or {}
    context = {
        "job": job,
        "progress": progress,
        "eta_text": duration(progress["eta_seconds"]),
        "queue_position": services.queue_position(job),
        "hyperparameters": _hyperparameters(spec),
        "settings_rows": _settings_rows(job),
        "log": [_log_line(e) for e in reversed(events)],
        "final_metrics": _final_metrics(job.metrics),
        "report_rows": _report_cells(report_rows),
        "report_metric": data["report"]["metric_name"],
        "data": data,
        "can_cancel": not job.is_final,
        "can_retry": job.status in (JobStatus.FAILED, JobStatus.CANCELLED),
    }
    return render(request, "jobs/detail.html", context)


TASK_COLUMNS = {"text-classification": ("text", "text_pair", "label"), "causal-lm": ("prompt", "response", "messages")}


def _hyperparameters(spec: dict) -> list[tuple[str, object]]:
    """The job's hyper-parameters; LoRA's only for LoRA jobs."""
    values = spec.get("hyperparameters") or {}
    lora = spec.get("method") == "lora"
    return sorted((k, v) for k, v in values.items() if lora or not k.startswith("lora_"))


def _settings_rows(job: Job) -> list[tuple[str, object]]:
    spec = job.spec or {}
    rows = [("kind", job.get_kind_display()), ("hardware", job.hardware), ("queue", job.queue)]
    for key in ("task", "method", "train_split", "validation_split", "validation_fraction", "merge_adapter"):
        if spec.get(key) not in (None, ""):
            rows.append((key.replace("_", " "), spec[key]))
    columns = spec.get("columns") or {}
    wanted = TASK_COLUMNS.get(spec.get("task"))
    columns = {k: v for k, v in columns.items() if wanted is None or k in wanted}
    if columns:
        rows.append(("columns", ", ".join(f"{k}={v}" for k, v in columns.items() if v)))
    if spec.get("labels"):
        rows.append(("labels", ", ".join(map(str, spec["labels"]))))
    return rows


# ----------------------------------------------------------------------------------------------------------- new


def hyperparameter_fields(method: str = "full") -> list[dict]:
    """The form's inputs for specs.HyperParameters: name, default, bounds and step, so the page and the API agree."""
    fields = []
    for name, field in specs.HyperParameters().fields.items():
        if isinstance(field, serializers.ListField):
            continue  # lora_target_modules: a free list, shown as a comma-separated text input by the template
        integer = isinstance(field, serializers.IntegerField)
        default = field.default if field.default is not serializers.empty else None
        fields.append(
            {
                "name": name,
                "label": name.replace("_", " ").removeprefix("lora "),
                "default": default,
                "min": field.min_value,
                "max": field.max_value,
                "step": "1" if integer else "any",
                "lora": name.startswith("lora_"),
                "optional": default is None,
            }
        )
    return fields


def _writable_namespaces(user) -> list[str]:
    names = [user.username]
    names += [org.name for org, role in user_organisations(user) if has_role(role, Role.WRITE)]
    return names


@login_required
def new(request: HttpRequest) -> HttpResponse:
    """The Fine-tune form; the page's JS posts it as JSON to /api/v1/jobs and shows the API's message on error."""
    base_name = (request.GET.get("base") or "").strip()
    base, warning = None, None
    if base_name:
        try:
            base = get_repo(user=request.user, type=RepoType.MODEL, full_name=base_name)
        except HubError as exc:
            warning = exc.message
    task = "causal-lm" if base is not None and _is_generative(base) else "text-classification"
    short = base.name if base is not None else (base_name.rpartition("/")[2] or "model")
    context = {
        "base_name": base.full_name if base is not None else base_name,
        "base": base,
        "warning": warning,
        "revision": request.GET.get("revision") or "main",
        "dataset": request.GET.get("dataset") or "",
        "task": task,
        "tasks": specs.TASKS,
        "methods": specs.METHODS,
        "hardware": specs.HARDWARE,
        "hyperparameters": hyperparameter_fields(),
        "namespaces": _writable_namespaces(request.user),
        "base_short": short,
        "defaults": {"validation_fraction": specs.FinetuneRequest().fields["validation_fraction"].default},
        "jobs_url": reverse("jobs"),
    }
    return render(request, "jobs/new.html", context)


def _is_generative(repo) -> bool:
    tags = set(repo.tags or [])
    return repo.pipeline_tag in GENERATIVE_TAGS or bool(tags & GENERATIVE_TAGS)


# ------------------------------------------------------------------------------------------------- compress form

COMPRESS_PRESETS = [
    ("fastest", "Fastest with ≤ 1 point loss", "A student with half the layers, distilled from this model, and dynamic "
     "int8 of this model; the report shows which keeps the quality at what speed."),
    ("smallest", "Smallest", "int4 and int8 weights and a student with a third of the layers, compared."),
    ("custom", "Custom", "One method with your settings."),
]  # fmt: skip


def _compress_body(post, base_name: str) -> dict:
    """The API body from the form (server-side: the form works without JavaScript)."""
    preset = post.get("preset", "fastest")
    body = {
        "base_model": base_name, "base_revision": post.get("base_revision") or "main",
        "dataset": post.get("dataset", "").strip(), "dataset_revision": post.get("dataset_revision") or "main",
        "task": post.get("task", "text-classification"), "output": post.get("output", "").strip(),
        "private": post.get("private") == "on", "hardware": post.get("hardware", "cpu"),
    }  # fmt: skip
    if post.get("validation_split"):
        body["validation_split"] = post["validation_split"].strip()
    for name in ("max_length",):
        if post.get(name):
            body[name] = post[name]
    if preset in ("fastest", "smallest"):
        body.update(kind="ladder", preset=preset)
        return body
    method = post.get("method", "distill")
    body["kind"] = method
    if method == "distill":
        keys = ("num_student_layers", "intermediate_size", "epochs", "alpha", "temperature")
        body["config"] = {k: post[k] for k in keys if post.get(k)}
    elif method == "quantize":
        body["config"] = {"method": post.get("quant_method", "dynamic-int8")}
    else:
        body["config"] = {"method": post.get("prune_method", "magnitude")}
        if post.get("target_sparsity"):
            body["config"]["target_sparsity"] = post["target_sparsity"]
        if post.get("recovery_steps"):
            body["config"]["recovery_steps"] = post["recovery_steps"]
    for key, value in list(body.get("config", {}).items()):
        try:
            body["config"][key] = float(value) if "." in str(value) else int(value)
        except (TypeError, ValueError):
            pass  # the API names the bad value
    return body


@login_required
def compress(request: HttpRequest) -> HttpResponse:
    """The model page's Compress button: presets, or one method with custom settings; posts server-side."""
    from hub.core.auth import token_role
    from hub.jobs import compression
    from hub.registry.selectors import visible_repos

    base_name = (request.POST.get("base_model") or request.GET.get("base") or "").strip()
    base = None
    if base_name:
        try:
            base = get_repo(user=request.user, type=RepoType.MODEL, full_name=base_name)
        except Exception:
            raise Http404(f"Model '{base_name}' not found.") from None
    error = None
    if request.method == "POST" and base is not None:
        body = _compress_body(request.POST, base.full_name)
        try:
            job = compression.create(request.user, body, token_role=token_role(request))
        except HubError as exc:
            error = exc.message
        except serializers.ValidationError as exc:
            from hub.core.api import _drf_message

            error = _drf_message(exc.detail)
        else:
            from django.shortcuts import redirect

            return redirect(reverse("job", args=[job.pk]))
    datasets = list(visible_repos(request.user).filter(type=RepoType.DATASET).order_by("full_name")
                    .values_list("full_name", flat=True)[:500])  # fmt: skip
    generative = base is not None and _is_generative(base)
    short = base.full_name.rsplit("/", 1)[-1] if base else "model"
    return render(request, "jobs/compress.html", {
        "base": base, "error": error, "datasets": datasets, "presets": COMPRESS_PRESETS, "form": request.POST,
        "task": "causal-lm" if generative else "text-classification",
        "default_output": f"{request.user.username}/{short}-compressed",
    }, status=400 if error else 200)  # fmt: skip
