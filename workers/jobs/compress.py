"""Compression jobs (distill, quantize, prune, ladder): run each step, compare all students with the teacher on the
held-out rows in this job, publish every student as a model repo with the report in its card."""

from __future__ import annotations

from pathlib import Path

from hub.jobs.models import Job
from workers import hubclient
from workers.jobs.runner import JobReporter, load_dataset_rows, register


def _config(step: dict):
    from workers.compression import DistillConfig, PruneConfig, QuantizeConfig

    return {"distill": DistillConfig, "quantize": QuantizeConfig, "prune": PruneConfig}[step["kind"]](
        **step["settings"]
    )


def page_report(report: dict) -> dict:
    """The report as the job page and API show it: each row also carries `metric` and `size_bytes`."""
    metric = report.get("metric")
    rows = [{**row, "metric": row.get(metric), "size_bytes": row.get("file_size_bytes")} for row in report["rows"]]
    return {**report, "rows": rows, "metric_name": metric}


def execute_compression(job: Job, reporter: JobReporter, workdir: Path) -> None:
    from workers.compression import card as student_card
    from workers.compression import compare, distill, prune, quantize
    from workers.compression.reports import report_svg

    spec = job.spec
    reporter.log(f"fetching the teacher {job.base_repo}@{job.base_commit[:12]}")
    teacher_dir = hubclient.fetch_snapshot(job.base_repo, job.base_commit, user_id=job.owner_id)
    train_rows, eval_rows = load_dataset_rows(job, reporter)
    student_dir = None
    if spec.get("student"):
        student_dir = hubclient.fetch_snapshot(spec["student"]["repo"], spec["student"]["commit"], user_id=job.owner_id)
    names, outputs = spec["names"], spec["outputs"]
    if len(outputs) == 1:
        hubclient.ensure_repo(outputs[0], user_id=job.owner_id, private=spec.get("private", False))
    resume = None
    if job.checkpoint_commit and len(outputs) == 1:
        reporter.log(f"resuming from checkpoint {job.checkpoint_commit[:12]} (step {job.checkpoint_step})")
        resume = hubclient.fetch_snapshot(job.output_repo, job.checkpoint_commit, user_id=job.owner_id)
    folders: dict[str, Path] = {}
    results: dict[str, dict] = {}
    for index, (name, step) in enumerate(zip(names, spec["steps"], strict=True), start=1):
        reporter.log(f"step {index}/{len(names)}: {name}")
        config, target = _config(step), workdir / name
        if step["kind"] == "distill":
            results[name] = distill(
                config,
                teacher_dir=teacher_dir,
                train_rows=train_rows,
                eval_rows=eval_rows,
                output_dir=target,
                reporter=reporter,
                resume_from=resume,
                student_dir=student_dir if step["settings"].get("student") == "existing" else None,
            )
        elif step["kind"] == "quantize":
            results[name] = quantize(config, model_dir=teacher_dir, output_dir=target, reporter=reporter)
        else:
            results[name] = prune(
                config,
                model_dir=teacher_dir,
                train_rows=train_rows,
                eval_rows=eval_rows,
                output_dir=target,
                reporter=reporter,
            )
        folders[name] = target
        reporter.check_cancelled()
    reporter.log(f"measuring the teacher and {len(folders)} student(s) on {len(eval_rows)} held-out rows")
    first = _config(spec["steps"][0])
    columns = {k: getattr(first, k) for k in ("text_column", "label_column", "prompt_column", "response_column")}
    report = compare(
        teacher_dir, folders, task=spec["task"], eval_rows=eval_rows, max_length=spec["max_length"], **columns
    )
    for row in report["rows"][1:]:
        row["method"] = results[row["name"]].get("method") or row["name"]
        if results[row["name"]].get("notes"):  # the student's shape, or how pruned heads were handled
            row["notes"] = results[row["name"]]["notes"]
    reporter.check_cancelled()
    extra, commits = [], []
    for name, output in zip(names, outputs, strict=True):
        folder = folders[name]
        method = results[name].get("method") or name
        row = next(r for r in report["rows"] if r["name"] == name)
        (folder / "README.md").write_text(
            student_card(
                teacher_repo=job.base_repo,
                method=method,
                task=spec["task"],
                report_data=report,
                student_name=output.rsplit("/", 1)[-1],
                datasets=[job.dataset_repo],
                config=step_summary(spec, name),
                notes=results[name].get("notes"),
            )
        )
        (folder / "compression_report.svg").write_text(report_svg(report))
        hubclient.ensure_repo(output, user_id=job.owner_id, private=spec.get("private", False))
        sha = hubclient.publish_folder(
            output,
            folder,
            user_id=job.owner_id,
            title=f"{method} of {job.base_repo} (job {job.pk})",
            message=f"Job {job.pk}: retention {row.get('retention')}",
        )
        commits.append(sha)
        extra.append(
            {
                "repo": output,
                "commit": sha,
                "what": name,
                "retention": row.get("retention"),
                "speedup_b32": row.get("speedup_b32"),
            }
        )
        reporter.log(f"published {output}@{sha[:12]}")
    teacher_row = report["rows"][0]
    metrics = {"teacher_" + k: v for k, v in teacher_row.items() if isinstance(v, (int, float))}
    for entry in extra:
        metrics[f"{entry['what']}_retention"] = entry["retention"]
        metrics[f"{entry['what']}_speedup_b32"] = entry["speedup_b32"]
    Job.objects.filter(pk=job.pk).update(
        output_commit=commits[0],
        extra_outputs=extra[1:] if len(extra) > 1 else [],
        report=page_report(report),
        metrics=metrics,
    )
    job.output_commit = commits[0]


def step_summary(spec: dict, name: str) -> dict:
    step = spec["steps"][spec["names"].index(name)]
    keep = (
        "method",
        "num_student_layers",
        "keep_layers",
        "intermediate_size",
        "num_heads",
        "alpha",
        "temperature",
        "hidden_weight",
        "epochs",
        "learning_rate",
        "target_sparsity",
        "recovery_steps",
        "student",
        "group_size",
        "seed",
    )
    return {k: v for k, v in step["settings"].items() if k in keep}


for _kind in ("distill", "quantize", "prune", "ladder"):
    register(_kind, execute_compression)
