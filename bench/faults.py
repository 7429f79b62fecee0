"""Fault tests, repeated and counted: every test marked @pytest.mark.fault (docs/reliability.md, faults a–f), run N
times each against the real Postgres, Redis, Celery workers and gunicorn, then one table of runs and outcomes.

    nice -n 19 .venv/bin/python bench/faults.py --repeat 5 [--repeat-slow 2] [--faults cdef] [--out table.md]

--repeat-slow sets the count for the job-worker faults (a, b: real fine-tunes, minutes a run); it defaults to
--repeat. pytest runs with a database of this script's own (--database-url, default hub_faults; pytest adds its
test_ prefix) and HUB_FAULT_REPEAT=N, loading this module as a plugin (-p bench.faults) to record each run's
fault letter, outcome and wall time (setup + call + teardown: starting the server or worker is part of a run).
Exit status 1 when any run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAULTS = {
    "a": "worker SIGKILLed mid fine-tune",
    "b": "broker loses the queued messages",
    "c": "web process SIGKILLed mid-upload",
    "d": "20 concurrent committers, one branch",
    "e": "blob storage write fails",
    "f": "database connection dropped",
}
SLOW = {"a", "b"}
PATHS = {
    "a": "tests/jobs/test_worker_jobs.py",
    "b": "tests/jobs/test_worker_jobs.py tests/reliability/test_redis_restart.py",
    "c": "tests/reliability/test_web_killed.py",
    "d": "tests/registry/test_concurrency.py tests/reliability/test_http_concurrency.py",
    "e": "tests/reliability/test_storage_failure.py",
    "f": "tests/reliability/test_database_drop.py tests/reliability/test_connection_pool.py",
}

# --- pytest plugin (loaded in the pytest process with -p bench.faults) -------------------------------------
_letters: dict[str, str] = {}
_runs: dict[str, dict] = {}


def pytest_collection_modifyitems(session, config, items) -> None:
    wanted = set(os.environ.get("HUB_FAULT_LETTERS", "") or FAULTS)
    keep = []
    for item in items:
        marker = item.get_closest_marker("fault")
        if marker and marker.args and marker.args[0] in wanted:
            _letters[item.nodeid] = marker.args[0]
            keep.append(item)
    items[:] = keep


def pytest_runtest_logreport(report) -> None:
    if report.nodeid not in _letters:
        return
    run = _runs.setdefault(report.nodeid, {"outcome": "passed", "seconds": 0.0})
    run["seconds"] += report.duration
    if report.failed:
        run["outcome"] = "failed"
    elif report.skipped and run["outcome"] == "passed":
        run["outcome"] = "skipped"


def pytest_sessionfinish(session, exitstatus) -> None:
    path = os.environ.get("HUB_FAULT_REPORT")
    if path:
        rows = [{"nodeid": n, "fault": _letters[n], **r} for n, r in _runs.items()]
        Path(path).write_text(json.dumps(rows))


# --- runner ------------------------------------------------------------------------------------------------


def run_pytest(letters: str, repeat: int, database_url: str, report: Path) -> list[dict]:
    paths = sorted({p for letter in letters for p in PATHS[letter].split()})
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        HUB_FAULT_REPEAT=str(repeat),
        HUB_FAULT_LETTERS=letters,
        HUB_FAULT_REPORT=str(report),
        PYTHONPATH=str(ROOT),
    )
    command = [sys.executable, "-m", "pytest", "-p", "bench.faults", "-p", "no:cacheprovider", "-q", *paths]
    print(f"$ HUB_FAULT_REPEAT={repeat} {' '.join(command[2:])}", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=False)
    return json.loads(report.read_text()) if report.exists() else []


def table(rows: list[dict]) -> str:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        path, _, name = row["nodeid"].partition("::")
        groups.setdefault((row["fault"], f"{Path(path).name}::{name.split('[')[0]}"), []).append(row)
    lines = ["| fault | test | runs | passed | failed | median s/run |", "|---|---|---:|---:|---:|---:|"]
    for (letter, test), runs in sorted(groups.items()):
        passed = sum(r["outcome"] == "passed" for r in runs)
        failed = sum(r["outcome"] == "failed" for r in runs)
        median = statistics.median(r["seconds"] for r in runs)
        lines.append(f"| ({letter}) {FAULTS[letter]} | `{test}` | {len(runs)} | {passed} | {failed} | {median:.1f} |")
    total = len(rows)
    ok = sum(r["outcome"] == "passed" for r in rows)
    lines.append(f"| **all** | | **{total}** | **{ok}** | **{sum(r['outcome'] == 'failed' for r in rows)}** | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--repeat-slow", type=int, default=None, help="runs of the job-worker faults (a, b)")
    parser.add_argument("--faults", default="".join(FAULTS), help="which faults, e.g. 'cdef'")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/hub_faults")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    unknown = set(args.faults) - set(FAULTS)
    if unknown or args.repeat < 1:
        parser.error(f"unknown faults {sorted(unknown)}" if unknown else "--repeat must be at least 1")
    slow_repeat = args.repeat_slow or args.repeat
    started = time.monotonic()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="hub-faults-") as tmp:
        batches = [
            ("".join(f for f in args.faults if f not in SLOW), args.repeat),
            ("".join(f for f in args.faults if f in SLOW), slow_repeat),
        ]
        for n, (letters, repeat) in enumerate(batches):
            if letters:
                rows += run_pytest(letters, repeat, args.database_url, Path(tmp) / f"report-{n}.json")
    text = table(rows)
    print(f"\nFault tests, repeated ({time.monotonic() - started:.0f} s in all):\n\n{text}")
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if any(r["outcome"] != "passed" for r in rows) or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
