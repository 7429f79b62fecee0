"""Runs one job on this worker: claim its lease, keep it alive, report, publish, record the outcome.

Plain Python over the database and workers.hubclient; the Celery task in workers/tasks/jobs.py only calls run_job.
A job may be delivered more than once (late acks, visibility timeouts, the reconciler): the lease makes sure only one
worker runs it at a time, and checkpoints make a second run continue where the first stopped.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import traceback
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from hub.jobs import services
from hub.jobs.models import Job, JobEvent, JobKind, JobStatus
from workers import housekeeping, hubclient
from workers.reporting import Cancelled

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker took the job over (this one stalled past its lease): stop without touching the job."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobReporter:
    """The Reporter the training code talks to: events, throttled progress, checkpoints as commits, cancellation."""

    def __init__(self, job: Job, worker: str):
        self.job = job
        self.worker = worker
        self.cancelled = threading.Event()
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._progress: tuple[int, int] | None = None
        self._progress_written = 0.0
        self.step_delay = float(getattr(settings, "HUB_JOB_STEP_DELAY_SECONDS", 0) or 0)
        self._thread = threading.Thread(target=self._beat, name=f"job-{job.pk}-heartbeat", daemon=True)

    # Heartbeat: extends the lease, notices cancel requests within a second, flushes log lines and progress.
    def start(self) -> JobReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()

    def _beat(self) -> None:
        interval = min(1.0, services.lease_seconds() / 4)
        last_lease = time.monotonic()
        try:
            while not self._stop.wait(interval):
                try:
                    if time.monotonic() - last_lease >= services.lease_seconds() / 4:
                        state = services.heartbeat(self.job.pk, self.worker)
                        last_lease = time.monotonic()
                        if state is None:
                            self.lost.set()
                            return
                    cancel = Job.objects.filter(pk=self.job.pk).values_list("cancel_requested", flat=True).first()
                    if cancel:
                        self.cancelled.set()
                    self.flush()
                except Exception:  # a database blip: try again next beat; the lease has slack
                    log.exception("heartbeat of job %s failed", self.job.pk)
                    close_old_connections()
        finally:
            connection.close()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
            progress, self._progress = self._progress, None
        if lines:
            services.append_log(self.job.pk, lines)
        if progress:
            Job.objects.filter(pk=self.job.pk).update(steps_done=progress[0], steps_total=progress[1])
            self._progress_written = time.monotonic()

    # Reporter protocol.
    def log(self, message: str) -> None:
        stamped = f"{timezone.now():%H:%M:%S} {message}"
        log.info("job %s: %s", self.job.pk, message)
        with self._lock:
            self._lines.append(stamped)

    def progress(self, done: int, total: int) -> None:
        with self._lock:
            self._progress = (int(done), int(total))
        if self.step_delay:  # HUB_JOB_STEP_DELAY_SECONDS: slows steps down for fault tests and demos
            time.sleep(self.step_delay)

    def metrics(self, step: int, values: dict, *, epoch: float | None = None, split: str = "train") -> None:
        data = {"step": int(step), "epoch": epoch, "split": split}
        data.update({k: (float(v) if isinstance(v, (int, float)) else v) for k, v in values.items()})
        services.add_event(self.job, JobEvent.Kind.METRICS, data)

    def checkpoint(self, step: int, folder: Path) -> None:
        self.check_cancelled()
        sha = hubclient.publish_folder(
            self.job.output_repo,
            folder,
            user_id=self.job.owner_id,
            branch="checkpoints",
            create_branch_from="main",
            delete_missing=True,
            title=f"Checkpoint at step {step} (job {self.job.pk})",
        )
        Job.objects.filter(pk=self.job.pk).update(checkpoint_commit=sha, checkpoint_step=int(step))
        self.job.checkpoint_commit, self.job.checkpoint_step = sha, int(step)
        services.add_event(
            self.job, JobEvent.Kind.CHECKPOINT, {"step": int(step), "commit": sha, "branch": "checkpoints"}
        )
        self.log(f"checkpoint at step {step} published as {sha[:12]} on branch 'checkpoints'")

    def check_cancelled(self) -> None:
        if self.lost.is_set():
            raise LeaseLost()
        if self.cancelled.is_set():
            raise Cancelled("cancelled")


def run_job(job_id: int, *, worker: str | None = None) -> str:
    """Returns what happened: a final status, or 'busy' / 'final' / 'wait' for messages that were dropped."""
    worker = worker or worker_name()
    outcome, job = services.claim(job_id, worker)
    if outcome != services.Claim.CLAIMED:
        return outcome
    reporter = JobReporter(job, worker).start()
    workdir = Path(tempfile.mkdtemp(prefix=f"job-{job.pk}-", dir=work_root()))
    try:
        if job.output_commit:  # published by an earlier attempt that died before recording success
            services.finish(job, JobStatus.SUCCEEDED, message="Already published")
            return JobStatus.SUCCEEDED
        EXECUTORS[job.kind](job, reporter, workdir)
        reporter.check_cancelled()
        reporter.stop()
        services.finish(job, JobStatus.SUCCEEDED, message=f"Published {job.output_repo}@{job.output_commit[:12]}")
        return JobStatus.SUCCEEDED
    except LeaseLost:
        reporter.stop()
        log.warning("job %s: lease lost to another worker; stopping", job.pk)
        return "lease_lost"
    except Cancelled:
        reporter.log("cancelled: stopped; main was not changed")
        reporter.stop()
        services.finish(job, JobStatus.CANCELLED, message="Cancelled while running")
        return JobStatus.CANCELLED
    except Exception as exc:
        reporter.log(f"error: {type(exc).__name__}: {exc}")
        for line in traceback.format_exc().splitlines()[-8:]:
            reporter.log(line)
        reporter.stop()
        job.refresh_from_db()
        services.finish(job, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return JobStatus.FAILED
    finally:
        reporter._stop.set()
        services.release(job.pk, worker)
        shutil.rmtree(workdir, ignore_errors=True)
        housekeeping.sweep()


def work_root() -> Path:
    root = Path(os.environ.get("HUB_WORKER_TMP") or (settings.DATA_DIR / "worker-tmp"))
    root.mkdir(parents=True, exist_ok=True)
    return root


# ---------------------------------------------------------------------------------------------------- fine-tune


def load_dataset_rows(job: Job, reporter) -> tuple[list[dict], list[dict]]:
    """Train and held-out rows from the dataset snapshot: the validation split, else a seeded hold-out of train."""
    from hub.datasets import tables
    from hub.datasets.splits import resolve_splits
    from workers.sample_data import split as holdout

    spec = job.spec
    folder = hubclient.fetch_snapshot(job.dataset_repo, job.dataset_commit, repo_type="dataset", user_id=job.owner_id)
    paths = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".hub-")
    )
    splits = resolve_splits(paths)

    def read(split: str) -> list[dict]:
        rows: list[dict] = []
        for path in splits.get(split, []):
            rows += tables.read_rows(folder / path, tables.detect_format(path) or "", name=path)
        return rows

    if spec["train_split"] not in splits:
        raise ValueError(f"split '{spec['train_split']}' not found; the dataset has: {', '.join(sorted(splits))}")
    train = read(spec["train_split"])
    validation = spec.get("validation_split") or ("validation" if "validation" in splits else None)
    if validation:
        eval_rows = read(validation)
        reporter.log(
            f"data: {len(train)} training rows ({spec['train_split']}), {len(eval_rows)} held-out ({validation})"
        )
        return train, eval_rows
    stratify = spec["columns"]["label"] if spec["task"] == "text-classification" else None
    seed = spec["hyperparameters"].get("seed", 42)
    train, eval_rows = holdout(train, test_fraction=spec.get("validation_fraction", 0.1), seed=seed, stratify=stratify)
    reporter.log(
        f"data: {len(train)} training rows, {len(eval_rows)} held out ({spec.get('validation_fraction', 0.1):.0%} of "
        f"'{spec['train_split']}', seed {seed})"
    )
    return train, eval_rows


def finetune_config_from_spec(spec: dict):
    from workers.training.finetune import FinetuneConfig

    cols = spec["columns"]
    return FinetuneConfig(
        task=spec["task"],
        method=spec["method"],
        merge_adapter=spec.get("merge_adapter", False),
        text_column=cols["text"],
        text_pair_column=cols.get("text_pair"),
        label_column=cols["label"],
        prompt_column=cols["prompt"],
        response_column=cols["response"],
        messages_column=cols["messages"],
        **spec["hyperparameters"],
    )


def execute_finetune(job: Job, reporter: JobReporter, workdir: Path) -> None:
    import json

    from workers.training.card import build_card, build_curve_svg
    from workers.training.finetune import finetune

    spec = job.spec
    reporter.log(f"fetching {job.base_repo}@{job.base_commit[:12]}")
    base_dir = hubclient.fetch_snapshot(job.base_repo, job.base_commit, user_id=job.owner_id)
    train_rows, eval_rows = load_dataset_rows(job, reporter)
    hubclient.ensure_repo(job.output_repo, user_id=job.owner_id, private=spec.get("private", False))
    resume = None
    if job.checkpoint_commit:
        reporter.log(f"resuming from checkpoint {job.checkpoint_commit[:12]} (step {job.checkpoint_step})")
        resume = hubclient.fetch_snapshot(job.output_repo, job.checkpoint_commit, user_id=job.owner_id)
    config = finetune_config_from_spec(spec)
    output = workdir / "output"
    merged = workdir / "merged" if spec.get("merge_adapter") else None
    result = finetune(
        config,
        base_model_dir=base_dir,
        train_rows=train_rows,
        eval_rows=eval_rows,
        output_dir=output,
        reporter=reporter,
        resume_from=resume,
        merged_dir=merged,
    )
    reporter.check_cancelled()
    job_url = f"/jobs/{job.pk}"
    relation = "adapter" if spec["method"] == "lora" else "finetune"
    adapter_config = output / "adapter_config.json"
    if adapter_config.exists():
        data = json.loads(adapter_config.read_text())
        data["base_model_name_or_path"] = job.base_repo
        adapter_config.write_text(json.dumps(data, indent=2))
    card_args = dict(
        base_repo=job.base_repo,
        base_revision=job.base_commit,
        dataset_repo=job.dataset_repo,
        dataset_revision=job.dataset_commit,
        config=config,
        result=result,
        job_url=job_url,
    )
    (output / "README.md").write_text(build_card(relation=relation, repo_id=job.output_repo, **card_args))
    (output / "training_curve.svg").write_text(build_curve_svg(result.history))
    sha = hubclient.publish_folder(
        job.output_repo,
        output,
        user_id=job.owner_id,
        title=f"Fine-tune of {job.base_repo} on {job.dataset_repo} (job {job.pk})",
        message=f"Job {job.pk}: {spec['task']}, {spec['method']}",
    )
    extra = []
    if merged is not None and merged.exists():
        merged_repo = f"{job.output_repo}-merged"
        hubclient.ensure_repo(merged_repo, user_id=job.owner_id, private=spec.get("private", False))
        (merged / "README.md").write_text(
            build_card(relation="finetune", repo_id=merged_repo, **card_args, extra_tags=["merged-lora"])
        )
        (merged / "training_curve.svg").write_text(build_curve_svg(result.history))
        merged_sha = hubclient.publish_folder(
            merged_repo, merged, user_id=job.owner_id, title=f"Merged LoRA fine-tune of {job.base_repo} (job {job.pk})"
        )
        extra.append({"repo": merged_repo, "commit": merged_sha, "what": "merged model"})
    metrics = {
        **{f"baseline_{k}": v for k, v in result.baseline.items()},
        **result.metrics,
        "steps": result.steps,
        "duration_s": round(result.duration_s, 2),
        "device": result.device,
    }
    Job.objects.filter(pk=job.pk).update(output_commit=sha, extra_outputs=extra, metrics=metrics)
    job.output_commit, job.extra_outputs, job.metrics = sha, extra, metrics
    reporter.log(f"published {job.output_repo}@{sha[:12]}")


EXECUTORS = {JobKind.FINETUNE: execute_finetune}


def register(kind: str, executor) -> None:
    EXECUTORS[kind] = executor
