"""Registry benchmark: commits, trees, search and uploads through a real server, against baselines from the same run.

    .venv/bin/python bench/registry.py [--repos 100000] [--quick] [--requests 200] [--out table.md]

It creates its own Postgres database (dropped at the end), a temp HUB_DATA_DIR, migrates, and serves the hub with
gunicorn on a free localhost port. Every number is compared with a baseline measured in the same run (the same
SQL timed directly with psycopg, the file system, a minimal WSGI app), so read the ratios, not the absolute
times: this is meant to run on small, noisy machines. It prints one markdown table; targets are checked only
here, never in tests.

Measured:
  1. one commit of 1,000 small inline files (API) vs writing the same files to a local folder;
  2. tree listing of a 10,000-file repo: recursive vs os.walk of the same files on disk; the root (11 entries)
     vs the same request on a repo holding one file;
  3. search over N synthetic repos (API p50/p99) vs the exact SQL the view runs (captured from Django), timed
     with psycopg in the same run; target p50 <= 2x raw, p99 <= 100 ms; again with DB_CONN_MAX_AGE=60;
  4. blob uploads of two sizes, each into a fresh server: peak worker RSS (VmHWM); target: the big upload's peak
     at most 50 MB above the small one's. MB/s vs a minimal WSGI app doing the same work on the same gunicorn,
     vs `cp`, vs hashing the file.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import http.client
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

MiB = 1024**2
MB = 1000**2
SEARCH_P50_RATIO_TARGET = 2.0
SEARCH_P99_TARGET_MS = 100.0
UPLOAD_RSS_DELTA_TARGET_MB = 50.0


# --- small helpers -------------------------------------------------------------------------------------------


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def times(x: float) -> str:
    return f"{x:.1f}×" if x < 10 else f"{x:.0f}×"


def dur(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of a process, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) * 1024
    return out


def children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


# --- HTTP ------------------------------------------------------------------------------------------------------


class Http:
    """A keep-alive HTTP/1.1 client with next to no overhead of its own (http.client)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=900)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method: str, path: str, body=None, headers: dict | None = None, *, auth: bool = True):
        headers = dict(headers or {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        retry = method == "GET"
        while True:
            conn = self._connect()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                if not retry:
                    raise  # the caller may still read an early answer from self.conn
                self.close()
                retry = False
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return response.status, data

    def json(self, method: str, path: str, payload=None, *, expect: int = 200, auth: bool = True):
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self.request(method, path, body, {"Content-Type": "application/json"}, auth=auth)
        if status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {status}: {data[:500]!r}")
        return json.loads(data) if data else None


# --- the server ------------------------------------------------------------------------------------------------


class Server:
    """gunicorn hub.wsgi with one gthread worker (so that one process holds every request's memory)."""

    def __init__(
        self, env: dict, logdir: Path, name: str, *, threads: int = 4, app: str = "hub.wsgi:application"
    ) -> None:
        self.port = free_port()
        self.logfile = logdir / f"server-{name}.log"
        self._log = open(self.logfile, "wb")
        health = "/api/v1/health" if app == "hub.wsgi:application" else "/"
        cmd = [
            sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{self.port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", str(threads), "--timeout", "900",
            "--graceful-timeout", "5", "--keep-alive", "30",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status, _ = Http(self.port).request("GET", health)
                if status in (200, 201) and self.worker_pids():
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.tail()}")
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid)

    def worker_status(self) -> dict[str, int]:
        pids = self.worker_pids()
        if len(pids) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {pids}")
        return proc_status(pids[0])

    def tail(self, n: int = 4000) -> str:
        self._log.flush()
        return self.logfile.read_bytes()[-n:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def sink_app(environ, start_response):
    """A minimal WSGI app doing what a blob upload must (read, sha256 + sha1, write to a temp file): the upload
    baseline, served by the same gunicorn setup (`gunicorn bench.registry:sink_app`)."""
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(f"blob {remaining}\0".encode())
    with tempfile.NamedTemporaryFile(dir=os.environ.get("BENCH_SINK_DIR")) as out:
        while remaining > 0:
            chunk = stream.read(min(remaining, MiB))
            if not chunk:
                break
            remaining -= len(chunk)
            sha256.update(chunk)
            sha1.update(chunk)
            out.write(chunk)
    body = json.dumps({"sha256": sha256.hexdigest()}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


# --- setup ----------------------------------------------------------------------------------------------------


def create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- synthetic repos --------------------------------------------------------------------------------------------

ML_WORDS = [
    "model", "llama", "mistral", "bert", "vision", "speech", "chat", "instruct", "quantized", "german", "french",
    "multilingual", "summarization", "translation", "embedding", "retrieval", "diffusion", "audio", "medical",
    "legal", "finance", "code", "math", "reasoning", "distilled", "merged", "adapter", "lora", "tokenizer",
    "classifier", "detection", "segmentation", "whisper", "transformer", "sentiment", "biomedical",
]  # fmt: skip
SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "ven", "zor", "pel", "dri", "qua", "nex", "bo", "sil", "tar", "gum", "fey"]
TASKS = [
    ("text-generation", 30), ("text-classification", 12), ("token-classification", 6), ("translation", 6),
    ("summarization", 4), ("image-classification", 10), ("automatic-speech-recognition", 6),
    ("text-to-image", 8), ("feature-extraction", 10), ("fill-mask", 8),
]  # fmt: skip
LIBRARIES = ["transformers", "diffusers", "sentence-transformers", "timm", "peft", "gguf"]
LICENSES = ["mit", "apache-2.0", "cc-by-4.0", "llama3", "other", "openrail"]
LANGS = ["en", "de", "fr", "es", "zh", "ja"]


def vocabulary(size: int = 3000) -> list[str]:
    words = list(ML_WORDS)
    for a, b, c in itertools.product(SYLLABLES, repeat=3):
        if len(words) >= size:
            break
        words.append(a + b + c)
    return words


def seed_repos(dsn: str, n: int, seed: int = 7) -> dict:
    """N repos in N/100 organisations, with card text (Zipf-distributed words), tags and RepoTag rows.

    Rows go in with COPY (the search_vector column is generated by Postgres, as for the hub's own writes).
    Returns the words to query: a common one (~5% of repos), a rare one (~0.05%).
    """
    rng = random.Random(seed)
    words = vocabulary()
    cum = list(itertools.accumulate(1 / (rank + 1) ** 1.05 for rank in range(len(words))))
    doc_freq: dict[str, int] = {}
    model_count = 0
    task_names = [t for t, _ in TASKS]
    task_cum = list(itertools.accumulate(w for _, w in TASKS))
    norgs = max(10, n // 100)
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO accounts_organisation (name, display_name, created_at) "
            "SELECT 'org-' || g, '', now() FROM generate_series(1, %s) g",
            [norgs],
        )
        cur.execute(
            "INSERT INTO accounts_namespace (name, organisation_id) "
            "SELECT name, id FROM accounts_organisation WHERE name LIKE 'org-%%' RETURNING id, name"
        )
        namespaces = cur.fetchall()
        cols = (
            "type, namespace_id, name, full_name, private, created_at, last_modified, head_sha, downloads, likes, "
            "trending_score, trending_at, card_data, card_error, license, pipeline_tag, library_name, tags, "
            "search_text"
        )
        with cur.copy(f"COPY registry_repo ({cols}) FROM STDIN") as copy:
            for i in range(n):
                ns_id, ns_name = namespaces[i % norgs]
                text = rng.choices(words, cum_weights=cum, k=rng.randint(15, 40))
                is_model = rng.random() < 0.9
                if is_model:
                    model_count += 1
                    for w in set(text):
                        doc_freq[w] = doc_freq.get(w, 0) + 1
                name = f"{rng.choice(words[:200])}-{rng.choice(words[:200])}-{i}"
                task = task_names[bisect.bisect_left(task_cum, rng.random() * task_cum[-1])]
                library, license = rng.choice(LIBRARIES), rng.choice(LICENSES)
                tags = [task, library, f"license:{license}", rng.choice(LANGS)]
                if rng.random() < 0.2:
                    tags.append(f"base_model:org-1/{rng.choice(words[:50])}")
                created = now - timedelta(seconds=rng.randint(0, 2 * 365 * 86400))
                copy.write_row(
                    (
                        "model" if is_model else "dataset", ns_id, name, f"{ns_name}/{name}", rng.random() < 0.02,
                        created, created + timedelta(seconds=rng.randint(0, 86400 * 30)), f"{i:040x}",
                        int(rng.paretovariate(1.2) * 10), int(rng.paretovariate(1.5)), rng.random() * 100, now,
                        json.dumps({"license": license, "pipeline_tag": task}), "", license, task, library,
                        json.dumps(tags), " ".join(text),
                    )
                )  # fmt: skip
        cur.execute(
            "INSERT INTO registry_repotag (repo_id, tag) "
            "SELECT id, jsonb_array_elements_text(tags) FROM registry_repo WHERE full_name LIKE 'org-%%'"
        )
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    total_models = max(1, model_count)
    candidates = [w for w in words if len(w) >= 6 and w in doc_freq]

    def closest(share: float) -> str:
        return min(candidates, key=lambda w: abs(doc_freq[w] / total_models - share))

    common, rare = closest(0.05), closest(0.0005)
    return {
        "common": common,
        "common_share": doc_freq[common] / total_models,
        "rare": rare,
        "rare_share": doc_freq[rare] / total_models,
    }


# --- measurements ---------------------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, measurement: str, value: str, baseline: str = "—", ratio: str = "—", verdict: str = "info") -> None:
        self.rows.append((measurement, value, baseline, ratio, verdict))
        log(f"{measurement}: {value} | {baseline} | {ratio} | {verdict}")

    def markdown(self) -> str:
        head = ("measurement", "value", "baseline (same run)", "ratio / target", "pass/fail")
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def bench_commit(http: Http, workdir: Path, table: Table, runs: int) -> None:
    """One commit of 1,000 small inline (base64) files, vs writing the same files into a local folder."""
    api_times, fs_times = [], []
    for run in range(runs):
        rng = random.Random(100 + run)
        files = {
            f"data/part-{i // 100:02d}/file-{i:04d}.txt": rng.randbytes(rng.randint(200, 2000)) for i in range(1000)
        }
        name = f"commit-1k-{run}"
        http.json("POST", "/api/v1/repos", {"name": name}, expect=201)
        payload = {
            "title": "1,000 small files",
            "operations": [
                {"op": "add", "path": p, "content_base64": base64.b64encode(c).decode()} for p, c in files.items()
            ],
        }
        body = json.dumps(payload).encode()
        http.close()
        start = time.perf_counter()
        status, data = http.request(
            "POST", f"/api/v1/models/bench/{name}/commits", body, {"Content-Type": "application/json"}
        )
        api_times.append(time.perf_counter() - start)
        if status != 201:
            raise RuntimeError(f"commit: HTTP {status}: {data[:500]!r}")
        target = workdir / f"fs-commit-{run}"
        start = time.perf_counter()
        for path, content in files.items():
            full = target / path
            full.parent.mkdir(parents=True, exist_ok=True)
            with open(full, "wb") as f:
                f.write(content)
        fs_times.append(time.perf_counter() - start)
        shutil.rmtree(target)
    api, fs = pct(api_times, 0.5), pct(fs_times, 0.5)
    table.add(
        f"commit of 1,000 small files, API (one request, median of {runs})",
        dur(api),
        f"write the same files to a local dir: {dur(fs)}",
        times(api / fs),
    )


def bench_tree(http: Http, workdir: Path, table: Table, requests: int) -> None:
    """Tree of a 10,000-file repo: recursive (limit=10000) and root, vs os.walk / os.scandir of the same files."""
    name = "tree-10k"
    http.json("POST", "/api/v1/repos", {"name": name}, expect=201)
    content = b"x" * 100
    status, data = http.request("POST", "/api/v1/blobs", content, {"Content-Length": str(len(content))})
    if status != 201:
        raise RuntimeError(f"blob upload: HTTP {status}: {data[:300]!r}")
    sha = json.loads(data)["sha256"]
    paths = [f"dir{a:02d}/sub{b:02d}/file{c:03d}.bin" for a in range(10) for b in range(10) for c in range(100)]
    ops = [{"op": "add", "path": p, "blob": sha} for p in paths]
    http.close()
    start = time.perf_counter()
    http.json("POST", f"/api/v1/models/bench/{name}/commits", {"title": "10k files", "operations": ops}, expect=201)
    commit_time = time.perf_counter() - start
    table.add("commit of 10,000 files by blob reference, API (one request)", dur(commit_time))

    fs_root = workdir / "fs-tree"
    for p in [*paths, ".gitattributes"]:
        full = fs_root / p
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(content)

    def walk() -> int:
        n = 0
        for dirpath, dirnames, filenames in os.walk(fs_root):
            for entry in dirnames + filenames:
                os.stat(os.path.join(dirpath, entry))
                n += 1
        return n

    # The root listing has 11 entries whatever the repo's size: its baseline is the same request on a repo
    # whose tree holds one file (.gitattributes), which shows how the listing scales with the repo.
    http.json("POST", "/api/v1/repos", {"name": "tree-1"}, expect=201)

    def small_root() -> int:
        status, _ = http.request("GET", "/api/v1/models/bench/tree-1/tree", auth=False)
        return status

    base = f"/api/v1/models/bench/{name}/tree"
    for label, url, baseline, baseline_label, n in (
        ("recursive, limit=10000", f"{base}?recursive=1&limit=10000", walk, "os.walk + stat", max(10, requests // 5)),
        ("root, not recursive", base, small_root, "same request, 1-file repo", requests),
    ):
        status, data = http.request("GET", url, auth=False)  # warm (the worker decodes the tree once)
        if status != 200:
            raise RuntimeError(f"tree: HTTP {status}: {data[:300]!r}")
        entries = len(json.loads(data)["results"])
        baseline()
        api_times, base_times = [], []
        for _ in range(n):
            start = time.perf_counter()
            status, _ = http.request("GET", url, auth=False)
            api_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            baseline()
            base_times.append(time.perf_counter() - start)
        for q, qname in ((0.5, "p50"), (0.99, "p99")):
            api, fs = pct(api_times, q), pct(base_times, q)
            table.add(
                f"tree of a 10,000-file repo, {label} ({entries} entries), {qname} of {n}",
                ms(api),
                f"{baseline_label}: {ms(fs)}",
                times(api / fs),
            )


def capture_queries(url: str) -> list[tuple[str, list | tuple | None]]:
    """The SQL the view runs for `url` (in this process, through Django's test client, anonymous)."""
    from django.db import connection
    from django.test import Client

    captured: list[tuple[str, list | tuple | None]] = []

    def wrapper(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        response = Client().get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url}: HTTP {response.status_code} in process")
    return captured


def bench_search(
    http: Http, dsn: str, words: dict, table: Table, requests: int, label: str, verdicts: bool
) -> list[dict]:
    variants = [
        ("floor: GET /api/v1/health (one SELECT 1, no serializer)", None),
        (f'q="{words["common"]}" (in {words["common_share"]:.1%} of models)', {"q": words["common"]}),
        (f'q="{words["rare"]}" (in {words["rare_share"]:.2%} of models)', {"q": words["rare"]}),
        (
            f'q="{words["common"]}" + task=text-generation, sort=downloads',
            {"q": words["common"], "task": "text-generation", "sort": "downloads"},
        ),
        ("no q, sort=downloads (browse)", {"sort": "downloads"}),
    ]
    results = []
    with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as raw:
        for title, params in variants:
            floor = params is None
            url = "/api/v1/health" if floor else "/api/v1/models?" + urlencode({**params, "limit": 20})
            queries = capture_queries(url)

            def run_raw(queries=queries) -> None:
                with raw.cursor() as cur:
                    for sql, args in queries:
                        cur.execute(sql, args)
                        cur.fetchall()

            for _ in range(10):  # warm both sides
                status, body = http.request("GET", url, auth=False)
                run_raw()
            if status != 200:
                raise RuntimeError(f"{url}: HTTP {status}: {body[:300]!r}")
            hits = "" if floor else f", {json.loads(body)['count']:,} hits"
            api_times, raw_times = [], []
            for _ in range(requests):
                start = time.perf_counter()
                http.request("GET", url, auth=False)
                api_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                run_raw()
                raw_times.append(time.perf_counter() - start)
            api50, raw50, api99, raw99 = (
                pct(api_times, 0.5),
                pct(raw_times, 0.5),
                pct(api_times, 0.99),
                pct(raw_times, 0.99),
            )
            name = f"search {label}{title}{hits}"
            verdict = verdicts and not floor
            ratio = api50 / raw50
            table.add(
                f"{name}: p50 of {requests}",
                ms(api50),
                f"same {len(queries)} SQL queries via psycopg: {ms(raw50)}",
                f"{ratio:.1f}× (target ≤ {SEARCH_P50_RATIO_TARGET:.0f}×)",
                ("PASS" if ratio <= SEARCH_P50_RATIO_TARGET else "FAIL") if verdict else "info",
            )
            table.add(
                f"{name}: p99 of {requests}",
                ms(api99),
                f"raw SQL p99: {ms(raw99)}",
                f"target ≤ {SEARCH_P99_TARGET_MS:.0f} ms",
                ("PASS" if api99 * 1000 <= SEARCH_P99_TARGET_MS else "FAIL") if verdict else "info",
            )
            results.append({"url": url, "queries": queries, "api50": api50, "raw50": raw50, "api99": api99})
    return results


def make_file(path: Path, size: int) -> str:
    """A file of `size` bytes whose every MiB differs (no accidental dedup); returns its sha256."""
    block = random.Random(size).randbytes(MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(0, size, MiB):
            chunk = (i.to_bytes(8, "little") + block[8:])[: min(MiB, size - i)]
            digest.update(chunk)
            f.write(chunk)
    return digest.hexdigest()


def upload_once(env: dict, workdir: Path, token: str, size: int) -> dict:
    """Upload a file of `size` into a fresh server; peak (VmHWM) and sampled RSS of its worker, throughput vs cp."""
    src = workdir / f"upload-{size}.bin"
    sha = make_file(src, size)
    server = Server(env, workdir, f"upload-{size}")
    try:
        http = Http(server.port, token)
        # Warm the code path (imports, DB connection) with a small upload, so the idle figure is comparable.
        small = os.urandom(4096)
        status, data = http.request("POST", "/api/v1/blobs", small, {"Content-Length": str(len(small))})
        if status != 201:
            raise RuntimeError(f"warm-up upload: HTTP {status}: {data[:300]!r}")
        http.close()
        idle = server.worker_status()
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            pid = server.worker_pids()[0]
            while not done.is_set():
                try:
                    samples.append(proc_status(pid)["VmRSS"])
                except (OSError, KeyError):  # the worker is gone (or a zombie)
                    break
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def body():
            with open(src, "rb") as f:
                while chunk := f.read(MiB):
                    yield chunk

        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream", "X-Content-Sha256": sha}
        start = time.perf_counter()
        try:
            status, data = http.request("POST", "/api/v1/blobs", body(), headers)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered before reading the whole body (an error): read what it said.
            try:
                response = http.conn.getresponse()
                status, data = response.status, response.read()
            except (OSError, http.client.HTTPException, AttributeError):
                status, data = 0, b"connection closed by the server"
        finally:
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
        peak = server.worker_status()
        http.close()
    finally:
        server.stop()
    if status != 201 or json.loads(data)["sha256"] != sha:
        src.unlink()
        return {"size": size, "error": f"HTTP {status}: {data[:200].decode(errors='replace')}"}
    sink = Server({**env, "BENCH_SINK_DIR": str(workdir)}, workdir, f"sink-{size}", app="bench.registry:sink_app")
    try:
        http = Http(sink.port)
        start = time.perf_counter()
        status, data = http.request("POST", "/", body(), {"Content-Length": str(size)})
        sink_time = time.perf_counter() - start
        http.close()
        if status != 201 or json.loads(data)["sha256"] != sha:
            raise RuntimeError(f"sink upload: HTTP {status}: {data[:300]!r}")
    finally:
        sink.stop()
    dst = workdir / f"cp-{size}.bin"
    start = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    cp_time = time.perf_counter() - start
    dst.unlink()
    # What the server must do to each byte at the least: sha256 and the git sha1, in one thread.
    start = time.perf_counter()
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(f"blob {size}\0".encode())
    with open(src, "rb") as f:
        while chunk := f.read(MiB):
            sha256.update(chunk)
            sha1.update(chunk)
    hash_time = time.perf_counter() - start
    src.unlink()
    return {
        "size": size,
        "idle_rss": idle["VmRSS"],
        "peak": peak["VmHWM"],
        "sampled_max": max(samples, default=0),
        "mbps": size / MB / elapsed,
        "cp_mbps": size / MB / cp_time,
        "hash_mbps": size / MB / hash_time,
        "sink_mbps": size / MB / sink_time,
    }


def size_label(size: int) -> str:
    return f"{size // MiB} MiB" if size < 1024**3 else f"{size / 1024**3:g} GiB"


def bench_uploads(env: dict, workdir: Path, token: str, table: Table, sizes: tuple[int, int]) -> None:
    small, big = (upload_once(env, workdir, token, size) for size in sizes)
    for r in (small, big):
        label = size_label(r["size"])
        if "error" in r:
            table.add(f"upload {label} (POST /api/v1/blobs, fresh server)", "failed", "—", r["error"], "FAIL")
            continue
        table.add(
            f"upload {label} (POST /api/v1/blobs, fresh server): peak worker RSS",
            f"{r['peak'] / MB:.0f} MB",
            f"idle after a 4 KiB upload: {r['idle_rss'] / MB:.0f} MB",
            f"+{(r['peak'] - r['idle_rss']) / MB:.0f} MB (max sampled RSS {r['sampled_max'] / MB:.0f} MB)",
        )
        table.add(
            f"upload {label}: throughput",
            f"{r['mbps']:.0f} MB/s",
            f"minimal WSGI app on the same gunicorn (read, sha256 + sha1, write): {r['sink_mbps']:.0f} MB/s; "
            f"cp: {r['cp_mbps']:.0f} MB/s; sha256 + sha1 alone: {r['hash_mbps']:.0f} MB/s",
            f"{r['mbps'] / r['sink_mbps']:.2f}× the minimal app's speed, {r['mbps'] / r['cp_mbps']:.2f}× cp's",
        )
    if "error" in small or "error" in big:
        return
    delta = (big["peak"] - small["peak"]) / MB
    table.add(
        f"upload peak RSS, {size_label(big['size'])} minus {size_label(small['size'])}",
        f"{delta:+.0f} MB",
        f"{size_label(small['size'])} peak: {small['peak'] / MB:.0f} MB",
        f"target ≤ +{UPLOAD_RSS_DELTA_TARGET_MB:.0f} MB",
        "PASS" if delta <= UPLOAD_RSS_DELTA_TARGET_MB else "FAIL",
    )


# --- main -----------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=None, help="synthetic repos for search (default 100000)")
    parser.add_argument("--quick", action="store_true", help="small sizes: 5,000 repos, 64 vs 256 MiB, fewer runs")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per search variant (200)")
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="an admin connection to Postgres (the bench creates and drops its own database)",
    )  # fmt: skip
    parser.add_argument("--db", default="hub_bench", help="name of the database to (re)create")
    parser.add_argument("--keep", action="store_true", help="keep the database and temp dir")
    parser.add_argument("--skip-uploads", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--label", default="", help="a note for the table's header (the code's version, say)")
    args = parser.parse_args()
    repos = args.repos or (5_000 if args.quick else 100_000)
    requests = args.requests or (50 if args.quick else 200)
    commit_runs = 1 if args.quick else 3
    sizes = (64 * MiB, 256 * MiB) if args.quick else (64 * MiB, 1024 * MiB)

    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    dsn = with_db(args.pg, args.db)
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "HUB_DATA_DIR": str(workdir / "data"),
        "SECRET_KEY": "bench-secret-key",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{workdir / 'broker.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("DB_CONN_MAX_AGE", "HUB_S3_BUCKET", "DJANGO_SETTINGS_MODULE"):
        env.pop(key, None)
    servers: list[Server] = []
    table = Table()
    started = time.monotonic()
    try:
        log(f"database {args.db}, data dir {workdir}")
        create_database(args.pg, args.db)
        manage(env, "migrate", "--noinput")
        token = manage(env, "issue_token", "bench", "--role", "write").strip()

        # This process speaks Django too, to capture the exact SQL the search view runs.
        os.environ.update({k: env[k] for k in ("DATABASE_URL", "HUB_DATA_DIR", "SECRET_KEY", "CELERY_BROKER_URL")})
        os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
        import django

        django.setup()

        log(f"seeding {repos:,} repos")
        t0 = time.perf_counter()
        words = seed_repos(dsn, repos)
        log(f"seeded in {time.perf_counter() - t0:.1f} s; words {words}")

        server = Server(env, workdir, "main")
        servers.append(server)
        http = Http(server.port, token)
        log("commit of 1,000 files")
        bench_commit(http, workdir, table, commit_runs)
        log("tree of 10,000 files")
        bench_tree(http, workdir, table, requests)
        log(f"search over {repos:,} repos")
        bench_search(http, dsn, words, table, requests, "", verdicts=True)
        http.close()
        server.stop()

        # The same search with persistent DB connections, to show what a new connection per request costs.
        server = Server({**env, "DB_CONN_MAX_AGE": "60"}, workdir, "conn-max-age")
        servers.append(server)
        http = Http(server.port, token)
        bench_search(http, dsn, words, table, requests, "[DB_CONN_MAX_AGE=60] ", verdicts=False)
        http.close()
        server.stop()

        if not args.skip_uploads:
            log("uploads")
            bench_uploads(env, workdir, token, table, sizes)
    finally:
        for server in servers:
            server.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - django may not be set up yet
            pass
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            try:
                drop_database(args.pg, args.db)
            except psycopg.Error as exc:
                log(f"could not drop {args.db}: {exc}")
        else:
            log(f"kept database {args.db} and {workdir}")

    header = (
        f"Registry benchmark{' (' + args.label + ')' if args.label else ''}: {repos:,} repos, "
        f"{requests} requests per search variant, {os.cpu_count()} CPUs, total {time.monotonic() - started:.0f} s\n\n"
    )
    output = header + table.markdown()
    print(output)
    if args.out:
        args.out.write_text(output + "\n")
    return 1 if any(row[4] == "FAIL" for row in table.rows) else 0


if __name__ == "__main__":
    sys.exit(main())
