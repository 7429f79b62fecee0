"""The model card's front matter carries the lineage; the curve is a well-formed, self-contained SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import yaml

from workers.training.card import build_card, build_curve_svg
from workers.training.finetune import FinetuneConfig, FinetuneResult

SVG = "{http://www.w3.org/2000/svg}"
HISTORY = [
    {"step": 0, "epoch": 0.0, "split": "eval", "loss": 1.61, "accuracy": 0.2, "f1": 0.07},
    *({"step": s, "epoch": s / 10, "split": "train", "loss": 1.6 / s, "learning_rate": 5e-5} for s in range(1, 21)),
    {"step": 10, "epoch": 1.0, "split": "eval", "loss": 0.41, "accuracy": 0.9, "f1": 0.89},
    {"step": 20, "epoch": 2.0, "split": "eval", "loss": 0.32, "accuracy": 0.93, "f1": 0.92},
]


def result(task: str = "text-classification", **kw) -> FinetuneResult:
    classification = task == "text-classification"
    defaults = dict(
        metrics={"train_loss": 0.08, "eval_loss": 0.32, "accuracy": 0.93, "f1": 0.92}
        if classification
        else {"train_loss": 1.2, "eval_loss": 1.5, "perplexity": 4.48},
        baseline={"eval_loss": 1.61, "accuracy": 0.2, "f1": 0.07, "majority_accuracy": 0.23, "majority_f1": 0.075}
        if classification
        else {"eval_loss": 2.5, "perplexity": 12.18},
        steps=20,
        epochs=2.0,
        duration_s=75.3,
        device="cpu",
        dtype="float32",
        train_rows=160,
        eval_rows=40,
        labels=["business", "sport", "tech|misc"] if classification else None,
        history=HISTORY,
    )
    return FinetuneResult(**{**defaults, **kw})


def split_card(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def card(config: FinetuneConfig, relation: str, **kw) -> str:
    return build_card(
        base_repo="sentence-transformers/all-MiniLM-L6-v2",
        base_revision="a" * 40,
        dataset_repo="alice/bbc-news",
        dataset_revision="b" * 40,
        config=config,
        result=result(config.task),
        relation=relation,
        **kw,
    )


def test_a_full_fine_tune_card_names_its_base_and_data():
    config = FinetuneConfig(task="text-classification", epochs=2, max_steps=20)
    meta, body = split_card(card(config, "finetune", job_url="/jobs/7", license="apache-2.0", repo_id="alice/news"))
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["base_model_relation"] == "finetune"
    assert meta["datasets"] == ["alice/bbc-news"]
    assert meta["pipeline_tag"] == "text-classification" and meta["library_name"] == "transformers"
    assert "fine-tuned" in meta["tags"] and meta["license"] == "apache-2.0"
    metrics = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics["accuracy"] == 0.93 and meta["model-index"][0]["name"] == "alice/news"

    assert "`aaaaaaaaaaaa`" in body and "`bbbbbbbbbbbb`" in body and "[/jobs/7](/jobs/7)" in body
    assert "| accuracy | 0.9300 | 0.2000 | 0.2300 |" in body  # fine-tuned, base model, majority class
    assert "| learning rate | 5e-05 (default) |" in body and "| epochs | 2 (max_steps 20) |" in body
    assert "![Training curve](training_curve.svg)" in body
    assert 'AutoModelForSequenceClassification.from_pretrained("alice/news")' in body
    assert "`tech|misc`" in body


def test_an_adapter_card_is_a_peft_card_that_loads_on_the_base():
    config = FinetuneConfig(task="causal-lm", method="lora", merge_adapter=True)
    meta, body = split_card(card(config, "adapter", extra_tags=["chat"]))
    assert meta["base_model_relation"] == "adapter" and meta["library_name"] == "peft"
    assert meta["pipeline_tag"] == "text-generation" and {"fine-tuned", "lora", "chat"} <= set(meta["tags"])
    assert "license" not in meta
    assert "| perplexity | 4.4800 | 12.1800 |" in body and "majority" not in body
    assert "PeftModel.from_pretrained(base," in body and "LoRA r / alpha / dropout | 8 / 16 / 0.05" in body
    assert "merged into the base weights" in body


def test_a_classification_adapter_snippet_gives_the_base_its_labels():
    config = FinetuneConfig(task="text-classification", method="lora")
    _, body = split_card(card(config, "adapter"))
    assert 'id2label={0: "business", 1: "sport", 2: "tech|misc"}' in body


def test_the_relation_is_checked():
    with pytest.raises(ValueError, match="relation"):
        card(FinetuneConfig(task="causal-lm"), "quantized")


def test_the_curve_is_a_self_contained_svg_with_both_losses():
    svg = build_curve_svg(HISTORY)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2 and len(lines[0].get("points").split()) == 20  # train: 20 points; eval: 3
    assert len(root.findall(f"{SVG}circle")) == 3
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"step", "loss", "train loss", "held-out loss"} <= texts
    assert "<script" not in svg and "href" not in svg and "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_the_curve_copes_with_little_or_no_data():
    assert ET.fromstring(build_curve_svg([])).find(f"{SVG}text").text == "no metrics"
    one = build_curve_svg([{"step": 3, "split": "train", "loss": 0.5}])
    assert len(ET.fromstring(one).findall(f"{SVG}circle")) == 1
