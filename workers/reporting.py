"""How training and compression code reports to whoever runs it, without knowing about Celery or the database.

The job runner (workers/jobs) passes a Reporter that writes job events, publishes checkpoints as commits and
polls for cancellation; tests and benchmarks pass a RecordingReporter. Training code calls, in a loop:

    reporter.check_cancelled()              # raises Cancelled when the job was cancelled (cheap; call each step)
    reporter.progress(step, total_steps)    # steps done / planned (percent and ETA are derived from it)
    reporter.metrics(step, {"loss": 0.71, "learning_rate": 4e-5}, epoch=0.5, split="train")
    reporter.metrics(step, {"loss": 0.52, "accuracy": 0.91, "f1": 0.90}, epoch=1.0, split="eval")
    reporter.log("epoch 1/3 done")
    reporter.checkpoint(step, folder)       # a folder the code wrote: published, then it may be deleted
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Cancelled(Exception):
    """The job was cancelled: stop now, publish nothing to main."""


class Reporter(Protocol):
    def log(self, message: str) -> None: ...

    def progress(self, done: int, total: int) -> None: ...

    def metrics(
        self, step: int, values: dict[str, float], *, epoch: float | None = None, split: str = "train"
    ) -> None: ...

    def checkpoint(self, step: int, folder: Path) -> None: ...

    def check_cancelled(self) -> None: ...


@dataclass
class RecordingReporter:
    """Keeps everything in memory; `cancel_at_step` simulates a cancel request; `checkpoints` keeps copies' paths."""

    echo: bool = False
    cancel_at_step: int | None = None
    logs: list[str] = field(default_factory=list)
    progress_updates: list[tuple[int, int]] = field(default_factory=list)
    series: list[dict] = field(default_factory=list)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    keep_checkpoints_in: Path | None = None

    def log(self, message: str) -> None:
        self.logs.append(message)
        if self.echo:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def progress(self, done: int, total: int) -> None:
        self.progress_updates.append((done, total))

    def metrics(self, step: int, values: dict[str, float], *, epoch: float | None = None, split: str = "train") -> None:
        self.series.append({"step": step, "epoch": epoch, "split": split, **values})
        if self.echo:
            print(f"  step {step} {split}: {values}", flush=True)

    def checkpoint(self, step: int, folder: Path) -> None:
        if self.keep_checkpoints_in is not None:
            import shutil

            target = self.keep_checkpoints_in / f"step-{step}"
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(folder, target)
            folder = target
        self.checkpoints.append((step, folder))

    def check_cancelled(self) -> None:
        done = self.progress_updates[-1][0] if self.progress_updates else 0
        if self.cancel_at_step is not None and done >= self.cancel_at_step:
            raise Cancelled("cancelled by the test")
