"""Transfer benchmark: uploads and downloads through the real huggingface_hub client, against `cp` and `sha256sum`
of the same file in the same run, and the web process's peak memory for two upload sizes.

    .venv/bin/python bench/transfer.py [--size-mib 1024] [--small-mib 256]

Each upload size gets a fresh server (gunicorn, SQLite and files under a temp dir) so that its peak RSS (VmHWM of
the web workers) belongs to that upload alone. Uploads run in fresh processes (empty client caches): the default
client (Xet, since the file is over the LFS threshold) and HF_HUB_DISABLE_XET=1 (the Git LFS batch API).
Downloads: Xet and plain HTTP. Times are measured inside the client process around the call (no interpreter
start-up, no hashing of the result). Baselines: `cp` of the file, and `cp` + `sha256sum`, which is the least work an
upload (copy + hash) has to do. Targets: upload and download at least 0.5x the `cp` path; the RSS of the big
upload at most 50 MB above the small one's. Xet dedup of a modified second version: bench/xet_dedup.py.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.xet_dedup import PY, ROOT, MiB, free_port, log, peak_rss_mb, sha256_file, write_weights  # noqa: E402


class Hub:
    """A fresh hub (own data dir) served by gunicorn on a free port."""

    def __init__(self, work: Path, name: str) -> None:
        self.data = work / f"data-{name}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUB_", "DATABASE_URL"))}
        self.env.update(HUB_DATA_DIR=str(self.data), SECRET_KEY="bench", DJANGO_SETTINGS_MODULE="hub.settings")
        subprocess.run([PY, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        issue = [PY, "manage.py", "issue_token", "bench", "--role", "write"]
        self.token = subprocess.run(issue, cwd=ROOT, env=self.env, check=True, capture_output=True, text=True)
        self.token = self.token.stdout.strip()
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        command = [PY, "-m", "gunicorn", "hub.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                   "--worker-class", "gthread", "--threads", "8", "--timeout", "600"]  # fmt: skip
        self.log = open(work / f"server-{name}.log", "w")
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if self.client("api.whoami()", check=False)[2] == 0:
                break
            time.sleep(0.3)
        pgrep = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        self.workers = [int(p) for p in pgrep.stdout.split()]

    def client(self, code: str, *, env: dict | None = None, check: bool = True) -> tuple[float, str, int]:
        home = tempfile.mkdtemp(prefix="hf-home-")
        cenv = dict(self.env, HF_HOME=home, HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1",
                    HF_XET_TELEMETRY_ENABLED="0", **(env or {}))  # fmt: skip
        prelude = ("import hashlib\nfrom huggingface_hub import HfApi, hf_hub_download\n"
                   f"api = HfApi(endpoint={self.endpoint!r}, token={self.token!r})\n")  # fmt: skip
        start = time.monotonic()
        out = subprocess.run([PY, "-c", prelude + code], env=cenv, capture_output=True, text=True)
        elapsed = time.monotonic() - start
        shutil.rmtree(home, ignore_errors=True)
        if check and out.returncode:
            raise SystemExit(f"client failed:\n{out.stdout}\n{out.stderr[-3000:]}")
        return elapsed, out.stdout.strip(), out.returncode

    def upload(self, path: Path, repo: str, *, xet: bool) -> float:
        code = (f"api.create_repo({repo!r}, exist_ok=True)\nimport time\nstart = time.monotonic()\n"
                f"api.upload_file(path_or_fileobj={str(path)!r}, path_in_repo='model.safetensors', repo_id={repo!r})\n"
                "print(time.monotonic() - start)")  # fmt: skip
        return float(self.client(code, env=None if xet else {"HF_HUB_DISABLE_XET": "1"})[1].split()[-1])

    def download(self, repo: str, *, xet: bool) -> tuple[float, str]:
        code = ("import time\nstart = time.monotonic()\n"
                f"p = hf_hub_download({repo!r}, 'model.safetensors', endpoint=api.endpoint, token=api.token)\n"
                "seconds = time.monotonic() - start\n"
                "h = hashlib.sha256()\nf = open(p, 'rb')\nwhile b := f.read(1 << 23): h.update(b)\n"
                "print(seconds, h.hexdigest())")  # fmt: skip
        _, out, _ = self.client(code, env=None if xet else {"HF_HUB_DISABLE_XET": "1"})
        seconds, digest = out.split()[-2:]
        return float(seconds), digest

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def timed(command: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--small-mib", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="transfer-bench-"))
    rows: list[tuple[str, str, str, str]] = []
    try:
        big, small, other = work / "big.safetensors", work / "small.safetensors", work / "other.safetensors"
        log("writing test files")
        write_weights(big, args.size_mib * MiB, seed=1)
        write_weights(small, args.small_mib * MiB, seed=2)
        write_weights(other, args.size_mib * MiB, seed=3)  # for the LFS upload: new bytes, nothing to dedupe
        want, want_other = sha256_file(big), sha256_file(other)
        t_cp = timed(["cp", str(big), str(work / "copy.bin")])
        t_sum = timed(["sha256sum", str(big)])
        os.unlink(work / "copy.bin")
        mb = args.size_mib * MiB / 1e6
        rows.append(("cp (baseline)", f"{t_cp:.2f} s", f"{mb / t_cp:.0f} MB/s", ""))
        rows.append(("cp + sha256sum (baseline)", f"{t_cp + t_sum:.2f} s", f"{mb / (t_cp + t_sum):.0f} MB/s", ""))

        rss = {}
        for label, path in ((f"{args.small_mib} MiB", small), (f"{args.size_mib} MiB", big)):
            hub = Hub(work, label.split()[0])
            try:
                log(f"upload {label} (Xet)")
                t = hub.upload(path, "bench/xet", xet=True)
                rss[label] = peak_rss_mb(hub.workers)
                if path is big:
                    rows.append(("upload, default client (Xet)", f"{t:.2f} s", f"{mb / t:.0f} MB/s",
                                 f"{t_cp / t:.2f}× cp, {(t_cp + t_sum) / t:.2f}× cp+sha256sum"))  # fmt: skip
                    log("upload (Git LFS, HF_HUB_DISABLE_XET=1)")
                    t = hub.upload(other, "bench/lfs", xet=False)
                    rows.append(("upload, HF_HUB_DISABLE_XET=1 (LFS)", f"{t:.2f} s", f"{mb / t:.0f} MB/s",
                                 f"{t_cp / t:.2f}× cp, {(t_cp + t_sum) / t:.2f}× cp+sha256sum"))  # fmt: skip
                    downloads = (("Xet", "bench/xet", True, want), ("plain HTTP", "bench/xet", False, want),
                                 ("plain HTTP, LFS-stored", "bench/lfs", False, want_other))  # fmt: skip
                    for name, repo, xet, expected in downloads:
                        log(f"download ({name})")
                        t, got = hub.download(repo, xet=xet)
                        ok = "identical" if got == expected else "MISMATCH"
                        rows.append((f"download via {name}", f"{t:.2f} s", f"{mb / t:.0f} MB/s",
                                     f"{t_cp / t:.2f}× cp, {ok}"))  # fmt: skip
            finally:
                hub.close()
        small_label, big_label = list(rss)
        delta = rss[big_label] - rss[small_label]
        rows.append((f"peak web RSS, {small_label} upload", f"{rss[small_label]:.0f} MB", "", ""))
        rows.append((f"peak web RSS, {big_label} upload", f"{rss[big_label]:.0f} MB", "",
                     f"+{delta:.0f} MB ({'met' if delta <= 50 else 'MISSED'}: ≤ 50 MB)"))  # fmt: skip
        print(f"\n### Transfers, {args.size_mib} MiB safetensors-like file (SQLite, local disk)\n")
        print("| measurement | time / value | throughput | against the baseline |")
        print("|---|---:|---:|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
