"""The teacher-vs-student report, its markdown table and chart, and the student's model card."""

import xml.etree.ElementTree as ET

import yaml

from workers.compression import card, compare, report, report_markdown, report_svg

TEACHER = {"metric": "accuracy", "accuracy": 0.95, "f1": 0.94, "params": 22_700_000, "file_size_bytes": 90_900_000,
           "latency_p50_ms_b1": 12.0, "throughput_b32": 100.0}  # fmt: skip
STUDENT = {**TEACHER, "accuracy": 0.931, "params": 17_400_000, "file_size_bytes": 69_600_000,
           "latency_p50_ms_b1": 6.0, "throughput_b32": 190.0}  # fmt: skip


def test_retention_and_speedups_are_relative_to_the_teacher():
    data = report(TEACHER, {"3-layer": STUDENT})
    teacher, student = data["rows"]
    assert teacher["retention"] == 1.0 and teacher["speedup_b32"] == 1.0
    assert round(student["retention"], 3) == 0.98
    assert student["speedup_b1"] == 2.0 and student["speedup_b32"] == 1.9
    assert round(student["size_ratio"], 3) == round(69.6 / 90.9, 3)


def test_perplexity_retention_is_inverted():
    teacher = {"metric": "perplexity", "perplexity": 10.0, "latency_p50_ms_b1": 5.0, "throughput_b32": 10.0}
    data = report(teacher, {"small": {**teacher, "perplexity": 12.5}})
    assert data["higher_is_better"] is False and data["rows"][1]["retention"] == 0.8


def test_markdown_table_has_a_row_per_model():
    table = report_markdown(report(TEACHER, {"3-layer": STUDENT, "int8": {**TEACHER, "accuracy": 0.945}}))
    lines = table.strip().splitlines()
    assert lines[0].startswith("| model | accuracy | macro F1 | retention | params | file size | p50 b1 (ms)")
    assert len(lines) == 5
    assert "| 3-layer | 93.10 % | 94.00 | 98.0 % | 17.40M | 69.6 MB | 6.0 | 2.00× | 190.0 | 1.90× |" in table


def test_svg_chart_plots_every_model():
    svg = report_svg(report(TEACHER, {"3-layer <KD>": STUDENT}))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == 2
    assert "3-layer <KD>" in [t.text for t in root.findall(f"{ns}text")]


def test_card_names_the_teacher_with_a_relation_the_hub_accepts():
    data = report(TEACHER, {"student": STUDENT})
    text = card(teacher_repo="alice/minilm-bbc", method="distillation", task="text-classification",
                report_data=data, datasets=["alice/bbc"], config={"alpha": 0.5})  # fmt: skip
    front = yaml.safe_load(text.split("---")[1])
    assert front["base_model"] == "alice/minilm-bbc" and front["base_model_relation"] == "finetune"
    assert front["tags"] == ["compressed", "distillation"] and front["pipeline_tag"] == "text-classification"
    assert front["datasets"] == ["alice/bbc"]
    assert "| student | 93.10 % |" in text and "AutoModelForSequenceClassification" in text
    quantized = yaml.safe_load(card(teacher_repo="a/b", method="dynamic-int8", task="causal-lm").split("---")[1])
    assert quantized["base_model_relation"] == "quantized" and "quantized" in quantized["tags"]
    assert quantized["pipeline_tag"] == "text-generation"
    pruned = yaml.safe_load(card(teacher_repo="a/b", method="prune-heads", task="causal-lm").split("---")[1])
    assert pruned["base_model_relation"] == "finetune" and "pruned" in pruned["tags"]


def test_compare_times_every_model_and_reports(tiny_bert, rows, tmp_path):
    from workers.compression import PruneConfig, prune
    from workers.reporting import RecordingReporter

    prune(PruneConfig(method="layers", target_sparsity=0.5, max_length=32), model_dir=tiny_bert, train_rows=None,
          eval_rows=rows[:8], output_dir=tmp_path / "p", reporter=RecordingReporter())  # fmt: skip
    data = compare(tiny_bert, {"2-layer": tmp_path / "p"}, task="text-classification", eval_rows=rows, rounds=2,
                   latency_rows=4, throughput_batches=1, max_length=32)  # fmt: skip
    assert [r["name"] for r in data["rows"]] == ["teacher", "2-layer"]
    assert data["rows"][1]["params"] < data["rows"][0]["params"]
    assert data["rows"][1]["speedup_b32"] > 0 and data["rounds"] == 2


def test_ladder_runs_each_step_and_compares_them(tiny_bert, rows, tmp_path):
    from workers.compression import DistillConfig, PruneConfig, QuantizeConfig, ladder
    from workers.reporting import RecordingReporter

    steps = [
        DistillConfig(num_student_layers=2, max_length=32, batch_size=16, max_steps=1),
        QuantizeConfig(method="dynamic-int8", max_length=32),
        PruneConfig(method="layers", target_sparsity=0.25, max_length=32),
    ]
    out = ladder(steps, model_dir=tiny_bert, train_rows=rows, eval_rows=rows[:32], output_dir=tmp_path,
                 reporter=RecordingReporter(), rounds=1)  # fmt: skip
    names = [r["name"] for r in out["report"]["rows"]]
    assert names == ["teacher", "distilled-2l", "dynamic-int8", "prune-layers-25"]
    assert [r["method"] for r in out["report"]["rows"][1:]] == ["distillation", "dynamic-int8", "prune-layers"]
    assert all((tmp_path / name / "config.json").is_file() for name in names[1:])


def test_ladder_steps_must_share_a_task():
    import pytest

    from workers.compression import DistillConfig, QuantizeConfig, ladder

    with pytest.raises(ValueError, match="same task"):
        ladder([DistillConfig(), QuantizeConfig(task="causal-lm")], model_dir="x", train_rows=[], eval_rows=[],
               output_dir="y", reporter=None)  # fmt: skip
