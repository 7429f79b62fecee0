"""Inference benchmark: the hub's endpoint against the model in-process and a naive server, all in one run.

    .venv/bin/python bench/inference.py [--texts 512] [--clients 32] [--threads 1] [--smollm-dir DIR] [--keep]
                                        [--out docs/benchmarks.md]

Embeddings (the real all-MiniLM-L6-v2, short BBC News texts, one text per request):
  (a) in-process: the engine's tokenize + forward + pool called directly, at the best batch size (the limit);
  (b) naive: a stdlib http.server answering one request at a time with a transformers pipeline, 32 clients;
  (c) the hub: POST /v1/embeddings through gunicorn (Django) → Redis → a Celery worker (-P threads -c 32) that
      batches, 32 clients; and at 1 client for the added latency at batch 1.
Chat streaming (SmolLM2-135M-Instruct, greedy, 64 new tokens): time to first token and tokens/s, in-process
(transformers generate with a streamer) against POST /v1/chat/completions with stream=true through the hub.

It creates its own Postgres database (hub_bench_inference, dropped at the end unless --keep) and data directory,
seeds the two models with `manage.py seed_catalog`, creates the endpoints with the services, and starts the worker
and the web server itself. Every part gets the same number of torch threads (--threads). Targets (issue): hub ≥
0.85× (a) and ≥ 3× (b) throughput; added p50 at batch 1 ≤ 10 ms; TTFT overhead ≤ 50 ms; tokens/s ≥ 0.9× in-process.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "hub_bench_inference"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"
CHAT_PROMPT = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]
CHAT_TOKENS = 64
SECTION_START, SECTION_END = "<!-- bench/inference.py:start -->", "<!-- bench/inference.py:end -->"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid → (parent pid, command name, CPU seconds used so far: user + system) for every process (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        stats[int(entry)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / tick)
    return stats


def cpu_by_part(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each part: a process and its descendants (gunicorn's workers), plus Redis and Postgres."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    totals = {}
    for part, root in roots.items():
        todo, seen = [root], 0.0
        while todo:
            pid = todo.pop()
            seen += stats.get(pid, (0, "", 0.0))[2]
            todo += children.get(pid, [])
        totals[part] = seen
    totals["redis"] = sum(cpu for _, name, cpu in stats.values() if name.startswith("redis-server"))
    totals["postgres"] = sum(cpu for _, name, cpu in stats.values() if name.startswith("postgres"))
    return totals


def bench_texts(n: int) -> list[str]:
    from workers.sample_data import bbc_news_rows, sample

    return [row["text"] for row in sample(bbc_news_rows(max_chars=240), n, seed=1)]


# --- (a) in-process -------------------------------------------------------------------------------------------


def in_process(folder: Path, texts: list[str]) -> dict:
    from workers.inference import encoders
    from workers.inference.engine import load

    loaded = load(folder, "feature-extraction")
    encoders._forward(loaded, texts[:8], [{}] * 8)  # warm up
    throughput = {}
    cpu_ms = {}
    for batch in (1, 8, 16, 32, 64):
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            encoders._forward(loaded, chunk, [{}] * len(chunk))
        throughput[batch] = len(texts) / (time.perf_counter() - started)
        cpu_ms[batch] = (time.process_time() - cpu) * 1000 / len(texts)
        log(f"(a) in-process batch {batch}: {throughput[batch]:.0f} texts/s")
    latencies = []
    for text in texts[:100]:
        started = time.perf_counter()
        encoders._forward(loaded, [text], [{}])
        latencies.append((time.perf_counter() - started) * 1000)
    best = max(throughput, key=throughput.get)
    return {"throughput": throughput, "best_batch": best, "best": throughput[best], "p50_ms": p50(latencies),
            "cpu_ms": cpu_ms, "loaded": loaded}  # fmt: skip


def in_process_round(loaded, texts: list[str], batch: int) -> dict:
    """One round of (a): throughput at the best batch size, and p50 latency alone (batch 1)."""
    from workers.inference import encoders

    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        encoders._forward(loaded, chunk, [{}] * len(chunk))
    throughput = len(texts) / (time.perf_counter() - started)
    latencies = []
    for text in texts[:100]:
        started = time.perf_counter()
        encoders._forward(loaded, [text], [{}])
        latencies.append((time.perf_counter() - started) * 1000)
    return {"throughput": throughput, "p50_ms": p50(latencies)}


# --- (b) naive server -----------------------------------------------------------------------------------------


def naive_server(port: int, folder: str, threads: int) -> None:
    """One request at a time: http.server (not threading) + a transformers feature-extraction pipeline."""
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import numpy as np
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    extractor = pipeline("feature-extraction", model=folder, tokenizer=folder)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one connection per request: a keep-alive client would hold the server

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            tokens = np.asarray(extractor(body["inputs"], truncation=True)[0])  # (tokens, hidden)
            vector = tokens.mean(0)
            vector = (vector / np.linalg.norm(vector)).tolist()
            data = json.dumps([vector]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(HTTPServer):
        request_queue_size = 256  # the 32 clients wait in the backlog, not refused

    Server(("127.0.0.1", port), Handler).serve_forever()


class Client:
    """One keep-alive HTTP connection (a client thread's own)."""

    def __init__(self, port: int, token: str | None = None):
        self.port, self.token = port, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def post(self, path: str, payload: dict) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (0, 1):
            try:
                self.conn.request("POST", path, body=json.dumps(payload), headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
                if attempt:
                    raise
        raise AssertionError


def load_test(make_client, send, texts: list[str], clients: int) -> dict:
    """`clients` threads, each sending its share of `texts` one per request; throughput and latency."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(share: list[str]) -> None:
        client = make_client()
        for text in share:
            started = time.perf_counter()
            ok, detail = send(client, text)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed) if ok else errors.append(detail)

    shares = [texts[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, shares))
    wall = time.perf_counter() - started
    if errors:
        log(f"   {len(errors)} errors, first: {errors[0][:300]}")
    return {"throughput": len(latencies) / wall, "p50_ms": p50(latencies), "errors": len(errors)}


def wait_http(port: int, path: str = "/", timeout: float = 180, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered on port {port}")


class Naive:
    """(b) in its own process, up for the whole run so that its rounds interleave with the others."""

    def __init__(self, folder: Path, threads: int):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--naive-server", str(self.port), str(folder), "--threads", str(threads)],
            cwd=ROOT,
        )
        wait_http(self.port, process=self.process)
        load_test(lambda: Client(self.port), self.send, ["warm up"] * 16, 1)

    @staticmethod
    def send(client, text):
        status, body = client.post("/", {"inputs": text})
        return status == 200, body.decode(errors="replace")

    def round(self, texts: list[str], clients: int) -> dict:
        one = load_test(lambda: Client(self.port), self.send, texts[:100], 1)
        many = load_test(lambda: Client(self.port), self.send, texts, clients)
        return {"throughput": many["throughput"], "p50_ms": one["p50_ms"], "p50_loaded_ms": many["p50_ms"]}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# --- (c) the hub ----------------------------------------------------------------------------------------------


class Hub:
    """A throwaway hub: its own database, data directory, Celery key prefix, worker and web server."""

    def __init__(self, threads: int, smollm_dir: Path | None, keep: bool):
        self.keep, self.threads, self.smollm_dir = keep, threads, smollm_dir
        self.data = Path(tempfile.mkdtemp(prefix="hub-bench-inference-"))
        base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hub")
        self.base_db = base
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "hub.settings",
            "DATABASE_URL": urlsplit(base)._replace(path=f"/{DB_NAME}").geturl(),
            "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
            "CELERY_KEY_PREFIX": f"bench-inference-{uuid.uuid4().hex[:6]}:",
            "HUB_DATA_DIR": str(self.data),
            "HUB_INFERENCE_RATE_LIMIT": "",
            "HUB_INFERENCE_THREADS": str(threads),
            "SECRET_KEY": "bench-inference",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.processes: list[subprocess.Popen] = []
        self.port = free_port()

    def manage(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self) -> None:
        import psycopg

        admin = urlsplit(self.base_db)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DB_NAME}")
        log("(c) migrating and seeding the two models")
        self.manage("migrate", "--noinput")
        cache = self.data / "seed-cache"
        cache.mkdir()
        from workers.seed import export_minilm

        export_minilm(cache / "minilm")
        if self.smollm_dir:
            shutil.copytree(self.smollm_dir, cache / "smollm")
        self.manage("seed_catalog")
        log("(c) starting the inference worker and the web server")
        worker = [sys.executable, "-m", "celery", "-A", "hub", "worker", "-P", "threads", "-c", "32", "-Q",
                  "inference", "--loglevel", "WARNING", "-n", f"bench-{os.getpid()}@%h"]  # fmt: skip
        self.processes.append(subprocess.Popen(worker, cwd=ROOT, env=self.env))
        web = [sys.executable, "-m", "gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
               "--workers", "2", "--worker-class", "gthread", "--threads", "32", "--timeout", "300",
               "--keep-alive", "60", "--log-level", "warning"]  # fmt: skip
        self.processes.append(subprocess.Popen(web, cwd=ROOT, env=self.env))
        wait_http(self.port, process=self.processes[-1])
        time.sleep(3)  # the worker joins the broker
        script = f"""
import time
from hub.accounts import services as accounts
from hub.endpoints import services
from hub.registry.models import Repo
user = accounts.create_user(username="bench", password="bench-password-123")
token = accounts.issue_token(user=user, name="bench", role="write")[1]
for name, repo, task in (("minilm", "{MINILM}", "feature-extraction"), ("smollm", "{SMOLLM}", "chat")):
    for attempt in range(30):
        try:
            services.create_endpoint(user=user, namespace=user.namespace, name=name, task=task, max_batch_size=64,
                                     max_wait_ms=5, repo=Repo.objects.get(full_name=repo))
            break
        except Exception as exc:
            print("retry", exc)
            time.sleep(1)
print("TOKEN=" + token)
"""
        out = self.manage("shell", stdin=script)
        self.token = next(line[6:] for line in out.splitlines() if line.startswith("TOKEN="))

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        if not self.keep:
            import psycopg

            admin = urlsplit(self.base_db)._replace(path="/postgres").geturl()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            shutil.rmtree(self.data, ignore_errors=True)


def hub_send(client, text):
    status, body = client.post("/v1/embeddings", {"model": "bench/minilm", "input": text})
    return status == 200, f"{status} {body[:300]!r}"


def hub_warm(hub: Hub, texts: list[str], clients: int) -> float:
    """The cold start (the endpoint wakes, the worker loads the model), then a warm-up; the cold start in ms."""
    started = time.perf_counter()
    for _ in range(120):
        status, body = Client(hub.port, hub.token).post("/v1/embeddings", {"model": "bench/minilm", "input": "hi"})
        if status == 200:
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"/v1/embeddings never answered: {status} {body[:500]!r}")
    cold_ms = (time.perf_counter() - started) * 1000
    load_test(lambda: Client(hub.port, hub.token), hub_send, texts[:64], clients)
    return cold_ms


def hub_round(hub: Hub, texts: list[str], clients: int) -> dict:
    """One round of (c): `clients` concurrent clients (with the CPU each part used), then one client alone."""
    roots = {"web (gunicorn)": hub.processes[1].pid, "serving worker (Celery)": hub.processes[0].pid}
    before = cpu_by_part(roots)
    many = load_test(lambda: Client(hub.port, hub.token), hub_send, texts, clients)
    after = cpu_by_part(roots)
    many["cpu_ms"] = {part: (after[part] - before[part]) * 1000 / len(texts) for part in after}
    one = load_test(lambda: Client(hub.port, hub.token), hub_send, texts[:100], 1)
    return {"throughput": many["throughput"], "p50_ms": one["p50_ms"], "many": many, "one": one}


def embeddings(folder: Path, texts: list[str], args, hub: Hub) -> dict:
    """(a), (b) and (c) measured in interleaved rounds on the same machine: a slow spell of a shared machine lands
    on all three alike. Each figure is the median over the rounds; each ratio is the median of the rounds' ratios."""
    a = in_process(folder, texts)
    naive = Naive(folder, args.threads)
    try:
        cold_ms = hub_warm(hub, texts, args.clients)
        rounds = []
        for r in range(args.rounds):
            ra = in_process_round(a["loaded"], texts, a["best_batch"])
            rb = naive.round(texts, args.clients)
            rc = hub_round(hub, texts, args.clients)
            rounds.append({"a": ra, "b": rb, "c": rc})
            log(f"round {r + 1}: (a) {ra['throughput']:.0f} texts/s, p50 {ra['p50_ms']:.1f} ms | (b) "
                f"{rb['throughput']:.0f} | (c) {rc['throughput']:.0f}, p50 {rc['p50_ms']:.1f} ms")  # fmt: skip
        eight = load_test(lambda: Client(hub.port, hub.token), hub_send, texts, 8)
    finally:
        naive.stop()

    def median(part: str, key: str) -> float:
        return p50([r[part][key] for r in rounds])

    a["best"], a["p50_ms"] = median("a", "throughput"), median("a", "p50_ms")
    a["throughput"][a["best_batch"]] = a["best"]
    b = {key: median("b", key) for key in ("throughput", "p50_ms", "p50_loaded_ms")}
    middle = sorted(rounds, key=lambda r: r["c"]["throughput"])[len(rounds) // 2]["c"]  # its CPU table
    curve = {1: {"throughput": p50([r["c"]["one"]["throughput"] for r in rounds]), "p50_ms": median("c", "p50_ms")},
             8: eight, args.clients: {**middle["many"], "throughput": median("c", "throughput")}}  # fmt: skip
    c = {"throughput": median("c", "throughput"), "p50_ms": median("c", "p50_ms"), "curve": curve, "cold_ms": cold_ms}
    ratios = {
        "vs_a": [r["c"]["throughput"] / r["a"]["throughput"] for r in rounds],
        "vs_b": [r["c"]["throughput"] / r["b"]["throughput"] for r in rounds],
        "added_ms": [r["c"]["p50_ms"] - r["a"]["p50_ms"] for r in rounds],
    }
    return {"a": a, "b": b, "c": c, "ratios": ratios}


# --- chat streaming -------------------------------------------------------------------------------------------


def chat_in_process(folder: Path, runs: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    inputs = tokenizer.apply_chat_template(CHAT_PROMPT, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)  # fmt: skip
    results = []
    for _ in range(runs + 1):
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = {**inputs, "max_new_tokens": CHAT_TOKENS, "do_sample": False, "streamer": streamer}
        started = time.perf_counter()
        thread = threading.Thread(target=lambda kwargs=kwargs: model.generate(**kwargs))
        thread.start()
        times = [time.perf_counter() for chunk in streamer if chunk]
        thread.join()
        results.append(_stream_figures(started, times))
    return _median(results[1:])


def _stream_figures(started: float, times: list[float]) -> dict:
    ttft = (times[0] - started) * 1000
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else float("nan")
    return {"ttft_ms": ttft, "tokens_per_s": rate, "chunks": len(times)}


def _median(results: list[dict]) -> dict:
    return {key: p50([r[key] for r in results]) for key in results[0]}


def chat_hub(hub: Hub, runs: int) -> dict:
    payload = {"model": "bench/smollm", "messages": CHAT_PROMPT, "max_tokens": CHAT_TOKENS, "temperature": 0,
               "stream": True}  # fmt: skip
    results = []
    for i in range(runs + 1):
        conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=300)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {hub.token}"}
        started = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=json.dumps(payload), headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"/v1/chat/completions: {response.status} {response.read()[:500]!r}")
        times = []
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data:") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            if any((c.get("delta") or {}).get("content") for c in chunk.get("choices", [])):
                times.append(time.perf_counter())
        conn.close()
        if i == 0:
            log(f"(c) chat cold start: first token after {(times[0] - started) * 1000:.0f} ms")
            continue
        results.append(_stream_figures(started, times))
    return _median(results)


# --- report ---------------------------------------------------------------------------------------------------


def svg_plot(points: dict[str, list[tuple[float, float, str]]], path: Path) -> None:
    """Latency (p50, ms) against throughput (texts/s): one coloured series per setup, labelled points."""
    width, height, pad = 640, 400, 60
    xs = [x for series in points.values() for x, _, _ in series]
    ys = [y for series in points.values() for _, y, _ in series]
    xmax, ymax = max(xs) * 1.1, max(ys) * 1.15

    def sx(x):
        return pad + x / xmax * (width - 2 * pad)

    def sy(y):
        return height - pad - y / ymax * (height - 2 * pad)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           'font-size="11"><rect width="100%" height="100%" fill="white"/>',
           f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
           f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
           f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">throughput (texts/s)</text>',
           f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" text-anchor="middle">'
           "p50 latency (ms)</text>"]  # fmt: skip
    for i in range(6):
        x, y = xmax * i / 5, ymax * i / 5
        out.append(f'<text x="{sx(x)}" y="{height - pad + 15}" text-anchor="middle">{x:.0f}</text>')
        out.append(f'<text x="{pad - 5}" y="{sy(y) + 4}" text-anchor="end">{y:.0f}</text>')
    for n, (name, series) in enumerate(points.items()):
        colour = colours[n % len(colours)]
        path_d = " ".join(f"{'M' if k == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for k, (x, y, _) in enumerate(series))
        out.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
        for x, y, label in series:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{colour}"/>')
            out.append(f'<text x="{sx(x) + 5:.1f}" y="{sy(y) - 5:.1f}" fill="{colour}">{label}</text>')
        out.append(f'<text x="{width - pad - 150}" y="{pad + 15 * n}" fill="{colour}">■ {name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def report(figures: dict, args, out: Path | None) -> str:
    a, b, c = figures["a"], figures["b"], figures.get("c")
    chat_a, chat_c = figures.get("chat_a"), figures.get("chat_c")
    lines = [
        SECTION_START,
        "## Inference endpoints (bench/inference.py)",
        "",
        f"One run on one machine ({os.cpu_count()} CPU cores, shared), every part with {args.threads} torch "
        f"threads. Embeddings: the real all-MiniLM-L6-v2 on {args.texts} BBC News texts (≤ 240 characters), one "
        f"text per request, {args.clients} concurrent clients. (a) the engine's tokenize + forward + pool called "
        "directly at each batch size; (b) a stdlib `http.server` answering one request at a time with a "
        "transformers pipeline; (c) `POST /v1/embeddings` through gunicorn (2 processes × 32 threads; each process "
        "sends its concurrent requests as one Celery task, hub.endpoints.coalesce) → Redis → one Celery worker "
        "(`-P threads -c 32`) whose batcher runs what arrives together as one forward pass (max_batch_size 64, "
        f"max_wait_ms 5). After a sweep of (a)'s batch sizes, (a) at its best batch, (b) and (c) are measured in "
        f"{args.rounds} interleaved rounds: each figure is the median of the rounds, each ratio the median of the "
        "rounds' ratios (the rounds' own in brackets).",
        "",
        "| setup | texts/s | p50 alone (ms) |",
        "|---|---:|---:|",
    ]
    for batch, rate in a["throughput"].items():
        lines.append(f"| (a) in-process, batch {batch} | {rate:.0f} | {a['p50_ms']:.1f} |" if batch == 1 else
                     f"| (a) in-process, batch {batch} | {rate:.0f} | |")  # fmt: skip
    lines.append(f"| (b) naive server, {args.clients} clients | {b['throughput']:.0f} | {b['p50_ms']:.1f} |")
    if c:
        for n, point in c["curve"].items():
            lines.append(f"| (c) hub, {n} client{'s' if n > 1 else ''} | {point['throughput']:.0f} | "
                         f"{point['p50_ms']:.1f} |")  # fmt: skip
    if c and "cpu_ms" in c["curve"].get(args.clients, {}):
        parts = c["curve"][args.clients]["cpu_ms"]
        model = a["cpu_ms"][a["best_batch"]]
        lines += ["", f"CPU time per text at {args.clients} clients (whole machine: every process of each part; the "
                  f"model's own share is (a)'s CPU per text at batch {a['best_batch']}: {model:.1f} ms):", "",
                  "| part | CPU ms per request |", "|---|---:|"]  # fmt: skip
        lines += [f"| {part} | {ms:.1f} |" for part, ms in parts.items()]
        lines.append(f"| **all** | **{sum(parts.values()):.1f}** |")
    lines += ["", "| ratio | measured | target |", "|---|---:|---:|"]
    if c:
        ratios = figures["ratios"]

        def each(values: list[float], form: str) -> str:
            return f"{form.format(p50(values))} ({', '.join(form.format(v) for v in values)})"

        lines += [
            f"| hub / (a) best (batch {a['best_batch']}) throughput | {each(ratios['vs_a'], '{:.2f}×')} | ≥ 0.85× |",
            f"| hub / (b) naive throughput | {each(ratios['vs_b'], '{:.2f}×')} | ≥ 3× |",
            f"| added p50 at batch 1, hub − (a) | {each(ratios['added_ms'], '{:+.1f} ms')} | ≤ 10 ms |",
            f"| cold start (first request: wake + load) | {c['cold_ms']:.0f} ms | |",
        ]
    if chat_a and chat_c:
        lines += [
            f"| chat TTFT overhead, hub − in-process ({chat_a['ttft_ms']:.0f} ms) | "
            f"{chat_c['ttft_ms'] - chat_a['ttft_ms']:+.0f} ms | ≤ 50 ms |",
            f"| chat tokens/s, hub / in-process ({chat_c['tokens_per_s']:.1f} / {chat_a['tokens_per_s']:.1f}) | "
            f"{chat_c['tokens_per_s'] / chat_a['tokens_per_s']:.2f}× | ≥ 0.9× |",
        ]
    lines += ["", "![p50 latency against throughput](inference-bench.svg)", "", figures.get("notes", ""), SECTION_END]
    text = "\n".join(lines) + "\n"
    if out:
        points = {"(a) in-process, by batch size": [(r, a["p50_ms"] if k == 1 else 1000 * k / r, f"b{k}")
                                                    for k, r in a["throughput"].items()]}  # fmt: skip
        points["(b) naive"] = [(b["throughput"], b["p50_loaded_ms"], f"{args.clients} clients")]
        if c:
            points["(c) hub"] = [(p["throughput"], p["p50_ms"], f"{n} cl.") for n, p in c["curve"].items()]
        svg_plot(points, out.parent / "inference-bench.svg")
        existing = out.read_text() if out.exists() else "# Benchmarks\n"
        if SECTION_START in existing:
            before, rest = existing.split(SECTION_START, 1)
            existing = before + rest.split(SECTION_END, 1)[1].lstrip("\n")
        out.write_text(existing.rstrip("\n") + "\n\n" + text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)  # 2 spin-waits badly on a shared 2-core box
    parser.add_argument("--chat-runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (a), (b) and (c)")
    parser.add_argument("--smollm-dir", type=Path, help="an export of `python -m workers.seed smollm` (saves ~50 s)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--naive-server", nargs=2, metavar=("PORT", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.naive_server:
        naive_server(int(args.naive_server[0]), args.naive_server[1], args.threads)
        return 0
    import torch

    from workers.seed import minilm_source

    torch.set_num_threads(args.threads)
    texts = bench_texts(args.texts)
    folder = minilm_source()
    hub = Hub(args.threads, args.smollm_dir, args.keep)
    try:
        hub.start()
        figures: dict = embeddings(folder, texts, args, hub)
        smollm = hub.data / "seed-cache" / "smollm"
        figures["chat_a"] = chat_in_process(smollm, args.chat_runs)
        log(f"chat in-process: {figures['chat_a']}")
        figures["chat_c"] = chat_hub(hub, args.chat_runs)
        log(f"chat hub: {figures['chat_c']}")
    finally:
        hub.stop()
    print(report(figures, args, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
