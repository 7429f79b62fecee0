"""The model card (README.md) and the training-curve SVG published with a fine-tuned model or adapter."""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

import yaml

from workers.training.finetune import FinetuneConfig, FinetuneResult

PIPELINE_TAGS = {"text-classification": "text-classification", "causal-lm": "text-generation"}
METRIC_NAMES = {
    "eval_loss": "eval loss",
    "accuracy": "accuracy",
    "f1": "F1 (macro)",
    "perplexity": "perplexity",
    "train_loss": "train loss",
}
LOWER_IS_BETTER = {"eval_loss", "perplexity", "train_loss"}


def build_card(
    *,
    base_repo: str,
    base_revision: str,
    dataset_repo: str,
    dataset_revision: str,
    config: FinetuneConfig,
    result: FinetuneResult,
    relation: str,  # "finetune" | "adapter"
    job_url: str | None = None,
    extra_tags: list[str] | tuple[str, ...] = (),
    license: str | None = None,
    repo_id: str | None = None,
) -> str:
    """README.md: YAML front matter (lineage: base_model + base_model_relation, datasets, pipeline_tag,
    library_name, tags, license, model-index) and a body with metrics vs baseline, hyper-parameters, the
    training curve (training_curve.svg next to it) and how to load the model. repo_id: the output repo, for the
    snippets (a placeholder otherwise)."""
    if relation not in ("finetune", "adapter"):
        raise ValueError(f"relation must be 'finetune' or 'adapter' (got {relation!r})")
    pipeline_tag = PIPELINE_TAGS[config.task]
    adapter = relation == "adapter"
    tags = ["fine-tuned", config.task, "lora" if config.method == "lora" else "full-fine-tune"]
    tags += [t for t in extra_tags if t not in tags]
    front: dict = {
        "base_model": base_repo,
        "base_model_relation": relation,
        "datasets": [dataset_repo],
        "pipeline_tag": pipeline_tag,
        "library_name": "peft" if adapter else "transformers",
        "tags": tags,
    }
    if license:
        front["license"] = license
    model_index = _model_index(repo_id or _placeholder(base_repo), pipeline_tag, dataset_repo, result.metrics)
    if model_index:
        front["model-index"] = model_index
    body = "\n".join(
        [
            _summary(base_repo, base_revision, dataset_repo, dataset_revision, config, result, adapter, job_url),
            _metrics_section(config, result),
            _hyperparameters_section(config, result),
            "## Training curve\n\n![Training curve](training_curve.svg)\n\n"
            "Train loss (averaged between reports) and held-out loss over optimizer steps; the point at step 0 is "
            "the base model before training.\n",
            _usage_section(repo_id or _placeholder(base_repo), base_repo, config, result, adapter),
        ]
    )
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + body


def _placeholder(base_repo: str) -> str:
    return f"your-name/{base_repo.rsplit('/', 1)[-1]}-finetuned"


def _model_index(name: str, pipeline_tag: str, dataset_repo: str, metrics: dict) -> list:
    values = [
        {"type": k, "name": METRIC_NAMES.get(k, k), "value": round(float(v), 6)}
        for k, v in metrics.items()
        if k != "train_loss"  # held-out metrics only
    ]
    if not values:
        return []
    return [
        {
            "name": name,
            "results": [
                {
                    "task": {"type": pipeline_tag},
                    "dataset": {"name": dataset_repo, "type": dataset_repo, "split": "held-out"},
                    "metrics": values,
                }
            ],
        }
    ]


def _summary(base_repo, base_revision, dataset_repo, dataset_revision, config, result, adapter, job_url) -> str:
    task = "text classification" if config.task == "text-classification" else "chat / text generation (SFT)"
    base = f"[{base_repo}](/{base_repo}) (commit `{base_revision[:12]}`)"
    if adapter:
        what = f"A LoRA adapter for **{task}** on top of {base}"
    elif config.method == "lora":
        what = f"A model for **{task}**: {base} with a LoRA adapter merged into its weights"
    else:
        what = f"A model for **{task}**, fully fine-tuned from {base}"
    lines = [
        f"# {base_repo.rsplit('/', 1)[-1]} fine-tuned on {dataset_repo.rsplit('/', 1)[-1]}",
        "",
        f"{what}, trained on [{dataset_repo}](/datasets/{dataset_repo}) (commit `{dataset_revision[:12]}`).",
        "",
        f"- training: {result.train_rows} rows, {result.steps} steps ({result.epochs:g} epochs) in "
        f"{_duration(result.duration_s)} on {result.device} ({result.dtype})",
        f"- evaluation: {result.eval_rows} held-out rows",
    ]
    if result.labels:
        shown = ", ".join(f"`{label}`" for label in result.labels[:20])
        more = f" and {len(result.labels) - 20} more" if len(result.labels) > 20 else ""
        lines.append(f"- labels ({len(result.labels)}): {shown}{more}")
    if adapter and config.merge_adapter:
        lines.append("- a copy with the adapter merged into the base weights is published as a separate model")
    if job_url:
        lines.append(f"- produced by the fine-tuning job [{job_url}]({job_url})")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _metrics_section(config: FinetuneConfig, result: FinetuneResult) -> str:
    if not result.metrics:
        return "## Evaluation\n\nNo held-out rows: the model was not evaluated.\n"
    classification = config.task == "text-classification"
    header = "| metric | fine-tuned | base model |" + (" majority class |" if classification else "")
    rule = "|---|---|---|" + ("---|" if classification else "")
    rows = [header, rule]
    for key, value in result.metrics.items():
        if key == "train_loss":
            continue
        cells = [METRIC_NAMES.get(key, key), _num(value), _num(result.baseline.get(key))]
        if classification:
            cells.append(_num(result.baseline.get(f"majority_{key}")))
        rows.append("| " + " | ".join(cells) + " |")
    note = (
        "The base model column is the model before training (for classification, with its new, untrained head); "
        "the majority class always predicts the most frequent training label."
        if classification
        else "The base model column is the model before training. Perplexity is exp(mean loss per reply token)."
    )
    lower = ", ".join(METRIC_NAMES[k] for k in result.metrics if k in LOWER_IS_BETTER and k != "train_loss")
    return "## Evaluation (held-out rows)\n\n" + "\n".join(rows) + f"\n\n{note} Lower is better for {lower}.\n"


def _num(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def _hyperparameters_section(config: FinetuneConfig, result: FinetuneResult) -> str:
    rows = [
        ("task", config.task),
        ("method", config.method),
        ("epochs", f"{config.epochs:g}" + (f" (max_steps {config.max_steps})" if config.max_steps else "")),
        ("learning rate", f"{config.lr:g}" + ("" if config.learning_rate is not None else " (default)")),
        ("batch size", config.batch_size),
        ("max length", config.max_length),
        ("warm-up ratio", config.warmup_ratio),
        ("weight decay", config.weight_decay),
        ("optimizer", f"AdamW, linear warm-up and decay, gradient clipping at {config.max_grad_norm:g}"),
        ("seed", config.seed),
    ]
    if config.method == "lora":
        targets = ", ".join(config.lora_target_modules) if config.lora_target_modules else "architecture default"
        rows += [
            ("LoRA r / alpha / dropout", f"{config.lora_r} / {config.lora_alpha} / {config.lora_dropout:g}"),
            ("LoRA target modules", targets),
        ]
    if config.task == "causal-lm":
        rows.append(("loss", "on the reply tokens only (prompt and system turns masked)"))
    table = "\n".join(f"| {name} | {_cell(value)} |" for name, value in rows)
    return "## Training hyper-parameters\n\n| parameter | value |\n|---|---|\n" + table + "\n"


def _cell(value) -> str:
    return str(value).replace("|", "\\|")


def _usage_section(repo_id: str, base_repo: str, config: FinetuneConfig, result: FinetuneResult, adapter: bool) -> str:
    classification = config.task == "text-classification"
    head = "AutoModelForSequenceClassification" if classification else "AutoModelForCausalLM"
    if adapter:
        labels = ""
        if classification and result.labels:  # the base needs a head of the adapter's size before loading it
            id2label = {i: label for i, label in enumerate(result.labels)}
            labels = f",\n    id2label={{{', '.join(f'{i}: {json.dumps(v)}' for i, v in id2label.items())}}}"
        code = f"""from peft import PeftModel
from transformers import {head}, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo_id)})
base = {head}.from_pretrained({json.dumps(base_repo)}{labels})
model = PeftModel.from_pretrained(base, {json.dumps(repo_id)})
model = model.merge_and_unload()  # optional: one plain model, faster at inference
"""
    else:
        code = f"""from transformers import {head}, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo_id)})
model = {head}.from_pretrained({json.dumps(repo_id)})
"""
    if classification:
        code += """
inputs = tokenizer(["An example sentence to classify"], return_tensors="pt", truncation=True)
predicted = model(**inputs).logits.argmax(-1).item()
print(model.config.id2label[predicted])
"""
    else:
        code += """
messages = [{"role": "user", "content": "Hello!"}]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
output = model.generate(**inputs, max_new_tokens=64)
print(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))
"""
    note = (
        "The adapter holds the LoRA matrices"
        + (" and the trained classification head" if classification else "")
        + "; it loads on top of the base model."
        if adapter
        else ""
    )
    return (
        "## How to use\n\nPoint the Hugging Face clients at this hub first: `export HF_ENDPOINT=<this hub's URL>` "
        "(and `HF_TOKEN` for a private repo).\n\n```python\n" + code + "```\n" + (f"\n{note}\n" if note else "")
    )


# --- training curve ----------------------------------------------------------------------------------------------

WIDTH, HEIGHT = 640, 320
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 45
SERIES = (("train", "train loss", "#2563eb"), ("eval", "held-out loss", "#dc2626"))


def build_curve_svg(history: list[dict]) -> str:
    """A self-contained SVG (no script, no external reference): train and held-out loss against the step."""
    lines = {
        split: sorted(
            (float(p["step"]), float(p.get("loss", p.get("eval_loss"))))
            for p in history
            if p.get("split") == split and isinstance(p.get("loss", p.get("eval_loss")), int | float)
        )
        for split, _, _ in SERIES
    }
    points = [pt for series in lines.values() for pt in series]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        "<title>Training curve</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    if not points:
        out.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#666">no metrics</text>')
        return "\n".join(out + ["</svg>"]) + "\n"
    x_max = max(x for x, _ in points) or 1.0
    y_low, y_high = min(y for _, y in points), max(y for _, y in points)
    if y_high - y_low < 1e-9:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    pad = (y_high - y_low) * 0.05
    y_low, y_high = max(0.0, y_low - pad) if y_low >= 0 else y_low - pad, y_high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + plot_w * x / x_max

    def sy(y: float) -> float:
        return TOP + plot_h * (1 - (y - y_low) / (y_high - y_low))

    out.append(
        f'<g stroke="#999" stroke-width="1" fill="none"><path d="M{LEFT} {TOP}V{TOP + plot_h}H{LEFT + plot_w}"/></g>'
    )
    for i in range(5):  # grid and tick labels
        y = y_low + (y_high - y_low) * i / 4
        out.append(f'<line x1="{LEFT}" y1="{sy(y):.1f}" x2="{LEFT + plot_w}" y2="{sy(y):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end" fill="#444">{y:.3g}</text>')
        x = x_max * i / 4
        out.append(f'<text x="{sx(x):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" fill="#444">{x:.0f}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle" fill="#222">step</text>')
    out.append(
        f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" fill="#222" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2})">loss</text>'
    )
    legend_x = LEFT + 10
    for split, label, color in SERIES:
        series = lines[split]
        if not series:
            continue
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in series)
        if len(series) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        if split == "eval" or len(series) == 1:
            out += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in series]
        out.append(f'<rect x="{legend_x}" y="{TOP - 18}" width="12" height="3" fill="{color}"/>')
        out.append(f'<text x="{legend_x + 16}" y="{TOP - 13}" fill="#222">{escape(label)}</text>')
        legend_x += 110
    return "\n".join(out + ["</svg>"]) + "\n"
