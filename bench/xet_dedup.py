"""Xet benchmark: storage added by a second version of a big file, upload/download through the real client.

    .venv/bin/python bench/xet_dedup.py [--size-mib 1024] [--changed 0.01] [--regions 16] [--database URL]

Serves the hub with gunicorn (its own temp HUB_DATA_DIR; SQLite unless --database names a Postgres URL, which
must not exist: it is created and dropped), then, each from a fresh process with an empty Xet cache (a new
machine, so dedup must come from the server):
  1. uploads a safetensors-like file by path with the default client (Xet);
  2. uploads a second version with `--changed` of its bytes rewritten in `--regions` places;
  3. uploads the first version to another repo;
  4. downloads the second version through Xet and through plain HTTP and checks both are byte-identical.
Reports bytes of xorbs on disk after each step (target: the second version adds <= 5% of its size) and the
peak RSS of the web workers. Not part of the test suite (it takes minutes and GBs of disk).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
MiB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def write_weights(path: Path, size: int, seed: int) -> None:
    """float32 weights (what safetensors mostly holds) in 64 MiB slabs, never all in memory."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(64 * MiB, left)
            f.write(rng.standard_normal(n // 4 + 1).astype(np.float32).tobytes()[:n])
            left -= n


def rewrite_regions(src: Path, dst: Path, fraction: float, regions: int, seed: int) -> int:
    shutil.copyfile(src, dst)
    size = dst.stat().st_size
    per = int(size * fraction / regions)
    rng = np.random.default_rng(seed)
    with open(dst, "r+b") as f:
        for i in range(regions):
            f.seek(int((i + 0.5) * size / regions))
            f.write(rng.standard_normal(per // 4 + 1).astype(np.float32).tobytes()[:per])
    return per * regions


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            pass
    return peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--regions", type=int, default=16)
    parser.add_argument("--database", default="")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="xet-bench-"))
    data = work / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUB_", "DATABASE_URL"))}
    env.update(HUB_DATA_DIR=str(data), SECRET_KEY="bench", DJANGO_SETTINGS_MODULE="hub.settings")
    if args.database:
        env["DATABASE_URL"] = args.database
        admin, name = args.database.rsplit("/", 1)
        subprocess.run(["psql", f"{admin}/postgres", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    server = None
    try:
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        token = subprocess.run([PY, "manage.py", "issue_token", "bench", "--role", "write"], cwd=ROOT, env=env,
                               check=True, capture_output=True, text=True).stdout.strip().split()[-1]  # fmt: skip
        port = free_port()
        server = subprocess.Popen(
            [PY, "-m", "gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--worker-class", "gthread", "--threads", "8", "--timeout", "600"],
            cwd=ROOT, env=env, stdout=open(work / "server.log", "w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True,
                                                   text=True).stdout.split()]  # fmt: skip

        size = args.size_mib * MiB
        v1, v2 = work / "v1.safetensors", work / "v2.safetensors"
        log(f"writing {args.size_mib} MiB")
        write_weights(v1, size, seed=1)
        changed = rewrite_regions(v1, v2, args.changed, args.regions, seed=2)

        def client(code: str, home: str, extra: dict | None = None) -> tuple[float, str]:
            cenv = dict(env, HF_HOME=str(work / f"hf-{home}"), HF_HUB_DISABLE_PROGRESS_BARS="1", **(extra or {}))
            prelude = (
                "import hashlib\nfrom huggingface_hub import HfApi, hf_hub_download\n"
                f"api = HfApi(endpoint={endpoint!r}, token={token!r})\n"
            )
            start = time.monotonic()
            out = subprocess.run([PY, "-c", prelude + code], env=cenv, cwd=work, capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"client failed:\n{out.stdout}\n{out.stderr[-3000:]}")
            return time.monotonic() - start, out.stdout.strip()

        def upload(repo: str, path: Path, home: str) -> float:
            code = (f"api.create_repo({repo!r}, exist_ok=True)\n"
                    f"api.upload_file(path_or_fileobj={str(path)!r}, path_in_repo='model.safetensors', repo_id={repo!r})")  # fmt: skip  # noqa: E501
            return client(code, home)[0]

        xorbs = data / "blobs" / "xet"
        rows = []
        t = upload("bench/model", v1, "a")
        s1 = dir_bytes(xorbs)
        rows.append(("upload v1 (fresh cache)", t, s1, s1 / size))
        t = upload("bench/model", v2, "b")
        s2 = dir_bytes(xorbs)
        rows.append((f"upload v2, {changed / size:.2%} changed in {args.regions} places (fresh cache)", t, s2 - s1,
                     (s2 - s1) / size))  # fmt: skip
        t = upload("bench/copy", v1, "c")
        s3 = dir_bytes(xorbs)
        rows.append(("upload v1 to another repo (fresh cache)", t, s3 - s2, (s3 - s2) / size))

        want = sha256_file(v2)
        code = ("p = hf_hub_download('bench/model', 'model.safetensors', endpoint=api.endpoint, token=api.token)\n"
                "h = hashlib.sha256()\nf = open(p, 'rb')\nwhile b := f.read(1 << 23): h.update(b)\nprint(h.hexdigest())")  # fmt: skip  # noqa: E501
        t_xet, got_xet = client(code, "d")
        t_http, got_http = client(code, "e", {"HF_HUB_DISABLE_XET": "1"})
        rss = peak_rss_mb(workers)

        db = "Postgres" if args.database else "SQLite"
        print(f"\n### Xet dedup, {args.size_mib} MiB safetensors-like file ({db})\n")
        print("| step | seconds | bytes added to storage | of file size |")
        print("|---|---:|---:|---:|")
        for name, secs, added, ratio in rows:
            print(f"| {name} | {secs:.1f} | {added:,} | {ratio:.2%} |")
        ok = "byte-identical" if got_xet == want == got_http else "MISMATCH"
        print(f"| download v2 via Xet | {t_xet:.1f} | | {ok if got_xet == want else 'MISMATCH'} |")
        print(f"| download v2 via plain HTTP | {t_http:.1f} | | {ok if got_http == want else 'MISMATCH'} |")
        print(f"\npeak web worker RSS: {rss:.0f} MB; target (v2 adds <= 5%): "
              f"{'met' if (s2 - s1) <= 0.05 * size else 'MISSED'}")  # fmt: skip
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if args.database:
            admin, name = args.database.rsplit("/", 1)
            subprocess.run(["psql", f"{admin}/postgres", "-c", f"DROP DATABASE IF EXISTS {name}"], capture_output=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
