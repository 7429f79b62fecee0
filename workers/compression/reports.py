"""The teacher-vs-students report: a table (dict, markdown), a quality-vs-latency chart (SVG) and the model card."""

from __future__ import annotations

import html

import yaml

LOWER_IS_BETTER = {"perplexity", "eval_loss"}
FIELDS = (
    "accuracy", "f1", "eval_loss", "perplexity", "params", "file_size_bytes", "latency_p50_ms_b1", "throughput_b32",
    "gpu_latency_p50_ms_b1", "gpu_throughput_b32",
)  # fmt: skip


def report(teacher: dict, students: dict[str, dict], *, teacher_name: str = "teacher") -> dict:
    """Rows for the teacher and each student (evaluate() results) with retention and speed-ups against the teacher.

    retention = student metric / teacher metric (accuracy), or teacher / student for perplexity (lower is better),
    so 1.0 means as good as the teacher either way.
    """
    metric = teacher.get("metric") or ("accuracy" if "accuracy" in teacher else "perplexity")
    rows = [_row(teacher_name, teacher, teacher, metric, role="teacher")]
    rows += [_row(name, result, teacher, metric, role="student") for name, result in students.items()]
    return {"metric": metric, "higher_is_better": metric not in LOWER_IS_BETTER, "rows": rows}


def _ratio(a, b):
    return a / b if a is not None and b else None


def _row(name: str, result: dict, teacher: dict, metric: str, *, role: str) -> dict:
    row = {"name": name, "role": role, **{k: result[k] for k in FIELDS if result.get(k) is not None}}
    value, base = result.get(metric), teacher.get(metric)
    row["retention"] = _ratio(base, value) if metric in LOWER_IS_BETTER else _ratio(value, base)
    row["speedup_b1"] = _ratio(teacher.get("latency_p50_ms_b1"), result.get("latency_p50_ms_b1"))
    row["speedup_b32"] = _ratio(result.get("throughput_b32"), teacher.get("throughput_b32"))
    row["size_ratio"] = _ratio(result.get("file_size_bytes"), teacher.get("file_size_bytes"))
    if teacher.get("gpu_throughput_b32") and result.get("gpu_throughput_b32"):
        row["gpu_speedup_b32"] = result["gpu_throughput_b32"] / teacher["gpu_throughput_b32"]
    for key in ("method", "notes"):
        if result.get(key):
            row[key] = result[key]
    return row


def _size(n: float | None) -> str:
    if n is None:
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _num(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def report_markdown(data: dict) -> str:
    """The report as a markdown table."""
    metric = data["metric"]
    gpu = any("gpu_throughput_b32" in r for r in data["rows"])
    head = ["model", metric]
    if metric == "accuracy":
        head.append("macro F1")
    head += ["retention", "params", "file size", "p50 b1 (ms)", "speed-up b1", "rows/s b32", "speed-up b32"]
    if gpu:
        head += ["GPU p50 b1 (ms)", "GPU rows/s b32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in data["rows"]:
        value = r.get(metric)
        cells = [r["name"], _num(value * 100 if metric == "accuracy" and value is not None else value, ".2f")]
        if metric == "accuracy":
            cells[-1] += " %" if value is not None else ""
            cells.append(_num(r.get("f1") * 100 if r.get("f1") is not None else None, ".2f"))
        cells += [
            _num(r["retention"] * 100 if r.get("retention") is not None else None, ".1f") + " %",
            _num(r.get("params") / 1e6 if r.get("params") else None, ".2f") + "M",
            _size(r.get("file_size_bytes")),
            _num(r.get("latency_p50_ms_b1"), ".1f"),
            _num(r.get("speedup_b1"), ".2f") + "×",
            _num(r.get("throughput_b32"), ".1f"),
            _num(r.get("speedup_b32"), ".2f") + "×",
        ]
        if gpu:
            cells += [_num(r.get("gpu_latency_p50_ms_b1"), ".2f"), _num(r.get("gpu_throughput_b32"), ".0f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_svg(data: dict, *, width: int = 560, height: int = 340) -> str:
    """A scatter of quality (y: the report's metric) against CPU latency at batch 1 (x), teacher and students."""
    metric = data["metric"]
    points = [
        (r["name"], r["role"], r["latency_p50_ms_b1"], r[metric])
        for r in data["rows"]
        if r.get("latency_p50_ms_b1") is not None and r.get(metric) is not None
    ]
    left, right, top, bottom = 60, 20, 30, 45
    plot_w, plot_h = width - left - right, height - top - bottom
    xmax = max([p[2] for p in points] or [1.0]) * 1.15
    ys = [p[3] for p in points] or [0.0, 1.0]
    ylo, yhi = min(ys), max(ys)
    pad = (yhi - ylo) * 0.15 or abs(yhi) * 0.05 or 1.0
    ylo, yhi = ylo - pad, yhi + pad

    def x(v: float) -> float:
        return left + plot_w * v / xmax

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - ylo) / (yhi - ylo))

    label = f"{metric} ({'higher' if data.get('higher_is_better', True) else 'lower'} is better)"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{html.escape(label)} against CPU latency" font-family="sans-serif" font-size="11">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>',
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle">CPU latency p50, batch 1 (ms)</text>',
        f'<text x="14" y="{top + plot_h / 2}" text-anchor="middle" transform="rotate(-90 14 {top + plot_h / 2})">'
        f"{html.escape(label)}</text>",
    ]
    for i in range(5):
        xv, yv = xmax * i / 4, ylo + (yhi - ylo) * i / 4
        out.append(f'<text x="{x(xv):.1f}" y="{top + plot_h + 14}" text-anchor="middle">{xv:.3g}</text>')
        out.append(f'<text x="{left - 4}" y="{y(yv) + 4:.1f}" text-anchor="end">{_tick(yv, metric)}</text>')
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(yv):.1f}" y2="{y(yv):.1f}" stroke="#eee"/>')
    for name, role, latency, value in points:
        colour = "#d62728" if role == "teacher" else "#1f77b4"
        out.append(
            f'<circle cx="{x(latency):.1f}" cy="{y(value):.1f}" r="5" fill="{colour}"><title>{html.escape(name)}: '
            f"{html.escape(_tick(value, metric))}, {latency:.1f} ms</title></circle>"
        )
        out.append(f'<text x="{x(latency) + 8:.1f}" y="{y(value) - 6:.1f}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _tick(value: float, metric: str) -> str:
    return f"{value * 100:.1f}%" if metric in ("accuracy", "f1") else f"{value:.3g}"


RELATION_TAG = {"distillation": "distillation", "quantization": "quantized", "pruning": "pruned"}


def method_kind(method: str) -> str:
    """'distillation', 'quantization' or 'pruning' from a result's method name."""
    if method.startswith("prune"):
        return "pruning"
    if "int" in method or method.startswith("quant"):
        return "quantization"
    return "distillation"


def card(
    *,
    teacher_repo: str,
    method: str,
    task: str,
    report_data: dict | None = None,
    student_name: str | None = None,
    datasets: list[str] | None = None,
    config: dict | None = None,
    license: str | None = None,
    notes: str | None = None,
) -> str:
    """README.md of a compressed model: front matter (lineage, tags) and the teacher-vs-student table."""
    kind = method_kind(method)
    front = {
        "base_model": teacher_repo,
        "base_model_relation": "quantized" if kind == "quantization" else "finetune",
        "library_name": "transformers",
        "pipeline_tag": "text-classification" if task == "text-classification" else "text-generation",
        "tags": ["compressed", RELATION_TAG[kind]] + ([method] if method not in RELATION_TAG else []),
    }
    if license:
        front["license"] = license
    if datasets:
        front["datasets"] = list(datasets)
    if report_data:
        front["metrics"] = [report_data["metric"]]
    title = student_name or f"{teacher_repo.rsplit('/', 1)[-1]}-{method}"
    body = [f"# {title}", "", f"A {_describe(kind, method)} of [{teacher_repo}](/{teacher_repo})."]
    if config:
        settings = ", ".join(f"{k}={v}" for k, v in config.items() if v not in (None, [], ""))
        body += ["", f"Settings: {settings}."]
    if notes:
        body += ["", f"{notes[0].upper()}{notes[1:]}."]
    if report_data:
        body += ["", "## Teacher vs student", "", "Measured on held-out data in the compression job itself.", ""]
        body += [report_markdown(report_data)]
        body += [
            "Retention is the student's metric over the teacher's (teacher over student for perplexity). Latency "
            "is the median of single-row forward passes on CPU; throughput uses batches of 32.",
        ]
    body += ["", "## How to load", "", "```python", *_load_snippet(kind, task, title), "```", ""]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)


def _describe(kind: str, method: str) -> str:
    return {
        "distillation": "distilled student",
        "quantization": f"{method} quantization",
        "pruning": f"pruned version ({method.removeprefix('prune-')})",
    }[kind]


def _load_snippet(kind: str, task: str, name: str) -> list[str]:
    auto = "AutoModelForSequenceClassification" if task == "text-classification" else "AutoModelForCausalLM"
    if kind == "quantization":
        return [
            "# int8/int4 weights and scales in model.quantized.safetensors, described by hub_quantization.json",
            "from huggingface_hub import snapshot_download",
            "from workers.compression import load_quantized  # this hub's loader (torch + transformers only)",
            "",
            f'model = load_quantized(snapshot_download("{name}"))',
        ]
    return [f"from transformers import {auto}, AutoTokenizer", "", f'model = {auto}.from_pretrained("{name}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{name}")']  # fmt: skip
