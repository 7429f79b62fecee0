"""Web catalog benchmark: server-side render time of /models over 100,000 seeded repos, against a baseline.

    .venv/bin/python bench/catalog.py [--repos 100000] [--requests 200] [--keep] [--out table.md]

It creates its own Postgres database (hub_bench_catalog, dropped at the end unless --keep), migrates it, seeds
N repos in one INSERT … SELECT generate_series (with RepoTag and RepoLink rows for the facets and lineage), and
serves the hub with gunicorn on a free localhost port, twice:

  * "warm": the settings as deployed (LocMem cache, so facet counts of public repos are cached for 60 s);
  * "no cache": a DummyCache, so every request recomputes the total and the six facet counts (the cost of the
    first request after the cache expires).

Requests are sequential (one at a time), so the latency is the server's render time plus a localhost round trip.
The baseline, measured in the same run on the same database, is the exact SQL each page ran (captured from Django
in-process), replayed with psycopg: the ratio page/SQL is what Django, the template and HTTP add.

Targets (issue): p50 <= 150 ms and p99 <= 400 ms for /models. They are checked here, never in the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

DB_NAME = "hub_bench_catalog"
TARGET_P50_MS, TARGET_P99_MS = 150.0, 400.0
OWNER_TOKEN = "hf_bench-catalog-owner-token-0123456789"
TASKS = ["text-generation", "text-classification", "feature-extraction", "image-classification", "fill-mask",
         "automatic-speech-recognition", "translation", "summarization", "token-classification", "text-to-image",
         "question-answering", "zero-shot-classification", "object-detection", "image-segmentation",
         "sentence-similarity", "text-to-speech", "image-to-text", "depth-estimation", "video-classification",
         "reinforcement-learning"]  # fmt: skip
LIBRARIES = ["transformers", "peft", "sentence-transformers", "diffusers", "timm", "gguf", "onnx", "keras",
             "pytorch", "mlx", "spacy", "fastai"]  # fmt: skip
LICENSES = ["apache-2.0", "mit", "llama3", "cc-by-4.0", "other", "openrail", "gemma", "cc-by-nc-4.0", "bsd-3-clause"]
FREE_TAGS = ["en", "de", "fr", "zh", "ja", "es", "conversational", "safetensors", "gguf", "4-bit", "lora", "medical",
             "code", "math", "chat", "instruct", "multilingual", "legal", "finance", "vision"]  # fmt: skip
WORDS = ["llama", "mistral", "bert", "vision", "speech", "chat", "instruct", "quantized", "german", "french", "tiny",
         "multilingual", "summarization", "translation", "embedding", "retrieval", "diffusion", "audio", "medical",
         "legal", "finance", "code", "math", "reasoning", "distilled", "merged", "adapter", "lora", "tokenizer",
         "classifier", "detection", "segmentation", "whisper", "transformer", "sentiment", "biomedical", "small",
         "large", "base", "mini", "turbo", "fast", "qwen", "phi", "gemma", "falcon", "bloom", "t5",
         "roberta"]  # fmt: skip
SCENARIOS = [
    ("GET /models", "/models", None),
    ("GET /models filtered + sorted", "/models?task=text-generation&library=transformers&sort=downloads", None),
    ("GET /models tags + license, page 3", "/models?tags=en&license=apache-2.0&sort=likes&page=3", None),
    ("GET /models?q=llama", "/models?q=llama", None),
    ("GET /models signed in (owns private repos)", "/models?sort=updated", OWNER_TOKEN),
    ("GET / (home)", "/", None),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def app(cache: str = "locmem"):
    """WSGI app for gunicorn ('bench.catalog:app("none")' runs without a cache)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    from django.conf import settings

    if cache == "none":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


# --- database -------------------------------------------------------------------------------------------------


def admin_dsn(base_url: str) -> str:
    parts = urlsplit(base_url)
    return parts._replace(path="/postgres").geturl()


def recreate_database(base_url: str) -> str:
    with psycopg.connect(admin_dsn(base_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return urlsplit(base_url)._replace(path=f"/{DB_NAME}").geturl()


def drop_database(base_url: str) -> None:
    with psycopg.connect(admin_dsn(base_url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def seed(dsn: str, n: int) -> None:
    """N repos (90% models, 2.5% private) in N/50 organisations plus one user who owns 200 of them."""
    norgs = max(10, n // 50)

    def arr(values: list[str]) -> str:
        return "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"

    # power(random(), k) skews the picks towards the first values, as real hubs are skewed.
    pick = "({a})[1 + floor(power(random(), {k}) * {n})::int]"
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            "INSERT INTO accounts_organisation (name, display_name, created_at) "
            "SELECT 'org-' || g, '', now() FROM generate_series(1, %s) g",
            [norgs],
        )
        cur.execute("INSERT INTO accounts_namespace (name, organisation_id) SELECT name, id FROM accounts_organisation")
        cur.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined) VALUES ('!', false, 'bench-owner', '', '', '', false, true, now()) RETURNING id"
        )
        owner_id = cur.fetchone()[0]
        cur.execute("INSERT INTO accounts_namespace (name, user_id) VALUES ('bench-owner', %s)", [owner_id])
        cur.execute(
            "INSERT INTO accounts_apitoken (user_id, name, role, key_hash, prefix, created_at) "
            "VALUES (%s, 'bench', 'read', %s, %s, now())",
            [owner_id, hashlib.sha256(OWNER_TOKEN.encode()).hexdigest(), OWNER_TOKEN[:8]],
        )
        cur.execute(
            "CREATE TEMP TABLE ns AS SELECT id, name, row_number() OVER (ORDER BY id) - 1 AS rn "
            "FROM accounts_namespace WHERE organisation_id IS NOT NULL"
        )
        task = pick.format(a=arr(TASKS), k=2, n=len(TASKS))
        library = pick.format(a=arr(LIBRARIES), k=2, n=len(LIBRARIES))
        license = pick.format(a=arr(LICENSES), k=2, n=len(LICENSES))
        word = pick.format(a=arr(WORDS), k=1.5, n=len(WORDS))
        free_tag = pick.format(a=arr(FREE_TAGS), k=2, n=len(FREE_TAGS))
        cur.execute(
            f"""
            WITH rows AS (
                SELECT g, {task} AS task, {library} AS library, {license} AS license, {word} AS w1, {word} AS w2,
                       {free_tag} AS t1, {free_tag} AS t2, random() AS r, now() - random() * interval '730 days' AS at,
                       CASE WHEN random() < 0.2 THEN 'org-' || (1 + g %% 40) || '/base-' || (g %% 97) END AS base
                FROM generate_series(1, %(n)s) g
            )
            INSERT INTO registry_repo (type, namespace_id, name, full_name, private, created_at, last_modified,
                head_sha, downloads, likes, trending_score, card_data, card_error, license, pipeline_tag,
                library_name, tags, search_text)
            SELECT CASE WHEN g %% 10 = 0 THEN 'dataset' ELSE 'model' END, ns.id,
                   w1 || '-' || w2 || '-' || g, ns.name || '/' || w1 || '-' || w2 || '-' || g, g %% 40 = 0,
                   at, at + r * interval '30 days', '', floor(power(r, 6) * 5e6)::bigint,
                   floor(power(r, 8) * 5e3)::int, power(r, 10) * 1e3,
                   jsonb_build_object('license', license), '', license, task, library,
                   jsonb_build_array(task, library, 'license:' || license, t1, t2)
                     || CASE WHEN base IS NULL THEN '[]'::jsonb
                        ELSE jsonb_build_array('base_model:' || base, 'base_model:finetune:' || base) END,
                   'A ' || w1 || ' ' || w2 || ' model for ' || task || ' with ' || library || ', trained on '
                     || t1 || ' ' || t2 || ' data. Card text for repo ' || g || '.'
            FROM rows JOIN ns ON ns.rn = (g * 7919) %% (SELECT count(*) FROM ns)
            """,
            {"n": n},
        )
        # The signed-in user owns 200 repos, a quarter of them private.
        cur.execute(
            "UPDATE registry_repo SET namespace_id = (SELECT id FROM accounts_namespace WHERE name = 'bench-owner'), "
            "full_name = 'bench-owner/' || name, private = (id / 500 % 4 = 0) WHERE id % 500 = 1"
        )
        cur.execute(
            "INSERT INTO registry_repotag (repo_id, tag) "
            "SELECT DISTINCT id, t FROM registry_repo, jsonb_array_elements_text(tags) t"
        )
        cur.execute(
            "INSERT INTO registry_repolink (child_id, parent_name, relation) "
            "SELECT id, substr(t, length('base_model:') + 1), 'finetune' FROM registry_repo, "
            "jsonb_array_elements_text(tags) t WHERE t LIKE 'base_model:%' AND t NOT LIKE 'base_model:%:%'"
        )
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT count(*), count(*) FILTER (WHERE private) FROM registry_repo")
        total, private = cur.fetchone()
        cur.execute("SELECT count(*) FROM registry_repotag")
        log(f"seeded {total} repos ({private} private), {cur.fetchone()[0]} tag rows, {norgs} organisations")


# --- measuring ------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env: dict, cache: str, workers: int, logfile: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", f'bench.catalog:app("{cache}")', "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--access-logfile", "-", "--timeout", "120"],
        cwd=ROOT, env=env, stdout=logfile.open("a"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get(port, "/api/v1/health", accept="application/json")
            return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {logfile}") from None
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("gunicorn did not answer in 60 s")


def get(port: int, path: str, token: str | None = None, accept: str = "text/html") -> float:
    """One request; returns milliseconds. Raises on a non-200 answer."""
    headers = {"Accept": accept} | ({"Authorization": f"Bearer {token}"} if token else {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return elapsed


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def measure_http(port: int, requests: int) -> dict[str, tuple[float, float]]:
    results = {}
    for label, path, token in SCENARIOS:
        for _ in range(5):
            get(port, path, token)  # warm-up: connections, caches, imports
        results[label] = percentiles([get(port, path, token) for _ in range(requests)])
        log(f"  {label}: p50 {results[label][0]:.1f} ms, p99 {results[label][1]:.1f} ms")
    return results


def capture_queries(cache: str) -> dict[str, list[tuple[str, object]]]:
    """The SQL each page runs (in-process Django test client, same settings), for the psycopg baseline.

    "none": the cache is emptied before the captured request, so it runs every count, as without a cache."""
    from django.core.cache import cache as django_cache
    from django.db import connection
    from django.test import Client

    captured: dict[str, list] = {}
    for label, path, token in SCENARIOS:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}") if token else Client()
        django_cache.clear()
        if cache == "locmem":
            client.get(path)  # fill the cache as the warm server has
        queries: list = []

        def record(execute, sql, params, many, context, queries=queries):
            queries.append((sql, params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = client.get(path, HTTP_ACCEPT="text/html")
        assert response.status_code == 200, (path, response.status_code)
        captured[label] = queries
    return captured


def measure_sql(dsn: str, captured: dict[str, list], requests: int) -> dict[str, tuple[float, float, int]]:
    results = {}
    with psycopg.connect(dsn, cursor_factory=psycopg.ClientCursor, autocommit=True) as conn:
        for label, queries in captured.items():
            samples = []
            for i in range(requests + 5):
                start = time.perf_counter()
                with conn.cursor() as cur:
                    for sql, params in queries:
                        cur.execute(sql, params)
                        if cur.description:
                            cur.fetchall()
                if i >= 5:
                    samples.append((time.perf_counter() - start) * 1000)
            p50, p99 = percentiles(samples)
            results[label] = (p50, p99, len(queries))
    return results


def configure_django(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per scenario and server")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the database (and reuse it with --reuse)")
    parser.add_argument("--reuse", action="store_true", help="use the database a --keep run left")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    data_dir = Path(tempfile.mkdtemp(prefix="hub-bench-catalog-"))
    dsn = urlsplit(base_url)._replace(path=f"/{DB_NAME}").geturl()
    env = dict(os.environ) | {
        "DATABASE_URL": dsn,
        "DJANGO_SETTINGS_MODULE": "hub.settings",
        "HUB_DATA_DIR": str(data_dir),
        "SECRET_KEY": "bench-catalog",
        "DEBUG": "0",
        "DB_CONN_MAX_AGE": "60",  # as docker-compose.yml deploys it
        "LOG_LEVEL": "WARNING",
    }
    try:
        if not args.reuse:
            log(f"creating database {DB_NAME}")
            recreate_database(base_url)
            subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
            start = time.perf_counter()
            seed(dsn, args.repos)
            log(f"seeded in {time.perf_counter() - start:.1f} s")
        configure_django(env)
        http_results, sql_results = {}, {}
        for cache in ("locmem", "none"):
            log(f"serving with gunicorn ({args.workers} workers, cache: {cache})")
            process, port = start_server(env, cache, args.workers, data_dir / "gunicorn.log")
            try:
                http_results[cache] = measure_http(port, args.requests)
            finally:
                process.terminate()
                process.wait(timeout=30)
            sql_results[cache] = measure_sql(dsn, capture_queries(cache), args.requests)
        table = render(args.repos, http_results, sql_results)
        print(table)
        if args.out:
            args.out.write_text(table)
        p50, p99 = http_results["locmem"]["GET /models"]
        cold_p50, cold_p99 = http_results["none"]["GET /models"]
        ok = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS
        verdict = "targets met" if ok else "TARGETS MISSED"
        log(f"/models: p50 {p50:.0f} ms, p99 {p99:.0f} ms: {verdict} (without the cache, as on the first request "
            f"after it expires: p50 {cold_p50:.0f} ms, p99 {cold_p99:.0f} ms)")  # fmt: skip
        return 0 if ok else 1
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not args.keep:
            drop_database(base_url)


def render(repos: int, http_results: dict, sql_results: dict) -> str:
    lines = [
        f"{repos:,} repos on PostgreSQL; gunicorn, sequential requests; times in ms.",
        "",
        "| page | cache | p50 | p99 | SQL baseline p50 (queries) | page / SQL |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for cache, name in (("locmem", "warm"), ("none", "no cache")):
        for label, (p50, p99) in http_results[cache].items():
            sql_p50, _, count = sql_results[cache][label]
            ratio = p50 / max(sql_p50, 0.01)
            lines.append(f"| {label} | {name} | {p50:.1f} | {p99:.1f} | {sql_p50:.1f} ({count}) | {ratio:.1f}x |")
    lines.append("")
    lines.append(f"Targets for GET /models: p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms.")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
