"""A ladder: several compression methods applied to one model, then one report comparing them all."""

from __future__ import annotations

from pathlib import Path

from workers.compression.configs import DistillConfig, PruneConfig, QuantizeConfig


def step_name(config: DistillConfig | QuantizeConfig | PruneConfig) -> str:
    """A folder-safe name: distilled-3l, distilled-3l-ff768-h8 (narrower), dynamic-int8, prune-magnitude-50."""
    if isinstance(config, DistillConfig):
        if config.student != "layers":
            return "distilled"
        layers = len(config.keep_layers) if config.keep_layers else config.num_student_layers
        name = f"distilled-{layers}l"
        if config.intermediate_size is not None:
            name += f"-ff{config.intermediate_size}"
        if config.num_heads is not None:
            name += f"-h{config.num_heads}"
        return name
    if isinstance(config, QuantizeConfig):
        return config.method
    return f"prune-{config.method}-{round(config.target_sparsity * 100)}"


def ladder(
    steps: list[DistillConfig | QuantizeConfig | PruneConfig],
    *,
    model_dir: str | Path,
    train_rows: list[dict],
    eval_rows: list[dict],
    output_dir: str | Path,
    reporter,
    rounds: int = 3,
    threads: int | None = None,
) -> dict:
    """Run every step on `model_dir` into output_dir/<step name>, then compare() them all against the model.

    Returns {"results": {name: step result}, "report": the report} (the report's rows are named by step).
    """
    from workers.compression.distillation import distill
    from workers.compression.evaluation import compare
    from workers.compression.pruning import prune
    from workers.compression.quantization import quantize

    if not steps:
        raise ValueError("a ladder needs at least one step")
    tasks = {s.task for s in steps}
    if len(tasks) != 1:
        raise ValueError(f"every step of a ladder must have the same task (got {', '.join(sorted(tasks))})")
    names = [step_name(s) for s in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"two ladder steps would have the same name: {', '.join(names)}")
    output_dir = Path(output_dir)
    results = {}
    for index, (name, config) in enumerate(zip(names, steps, strict=True), start=1):
        reporter.log(f"ladder step {index}/{len(steps)}: {name}")
        target = output_dir / name
        if isinstance(config, DistillConfig):
            results[name] = distill(config, teacher_dir=model_dir, train_rows=train_rows, eval_rows=eval_rows,
                                    output_dir=target, reporter=reporter)  # fmt: skip
        elif isinstance(config, QuantizeConfig):
            results[name] = quantize(config, model_dir=model_dir, output_dir=target, reporter=reporter)
        else:
            results[name] = prune(config, model_dir=model_dir, train_rows=train_rows, eval_rows=eval_rows,
                                  output_dir=target, reporter=reporter)  # fmt: skip
    first = steps[0]
    columns = {k: getattr(first, k) for k in ("text_column", "label_column", "prompt_column", "response_column")}
    data = compare(model_dir, {name: output_dir / name for name in names}, task=first.task, eval_rows=eval_rows,
                   rounds=rounds, threads=threads, max_length=first.max_length, **columns)  # fmt: skip
    for row in data["rows"][1:]:
        row["method"] = results[row["name"]]["method"]
        if results[row["name"]].get("notes"):
            row["notes"] = results[row["name"]]["notes"]
    return {"results": results, "report": data}
