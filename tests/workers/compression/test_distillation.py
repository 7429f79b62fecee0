"""Distillation writes a smaller student that loads back with stock transformers and evaluates."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from workers.compression import DistillConfig, distill, modeling
from workers.reporting import Cancelled, RecordingReporter


def test_layer_subset_copies_the_kept_layers(tiny_bert):
    teacher = modeling.load_model(tiny_bert, "text-classification")
    student = modeling.layer_subset(teacher, [1, 3])
    assert student.config.num_hidden_layers == 2
    t, s = teacher.state_dict(), student.state_dict()
    assert torch.equal(s["bert.encoder.layer.0.output.dense.weight"], t["bert.encoder.layer.1.output.dense.weight"])
    assert torch.equal(s["bert.encoder.layer.1.output.dense.weight"], t["bert.encoder.layer.3.output.dense.weight"])
    assert torch.equal(s["classifier.weight"], t["classifier.weight"])
    full = modeling.layer_subset(teacher, [0, 1, 2, 3])
    ids = torch.tensor([[101, 2204, 2307, 102]])
    assert torch.allclose(full(input_ids=ids).logits, teacher(input_ids=ids).logits, atol=1e-6)


def test_classification_student_is_smaller_and_loads_back(tiny_bert, rows, tmp_path):
    reporter = RecordingReporter()
    config = DistillConfig(num_student_layers=2, batch_size=8, max_length=32, learning_rate=1e-3, hidden_weight=0.5)
    result = distill(config, teacher_dir=tiny_bert, train_rows=rows, eval_rows=rows[:16],
                     output_dir=tmp_path / "student", reporter=reporter)  # fmt: skip
    assert result["keep_layers"] == [0, 2]
    assert result["steps"] == 6 and reporter.progress_updates[-1] == (6, 6)
    assert result["params"] < result["teacher_params"]
    assert {"accuracy", "f1", "eval_loss"} <= set(result["student_metrics"])
    train = [s for s in reporter.series if s["split"] == "train"]
    assert {"kl", "task_loss", "hidden_mse", "loss"} <= set(train[-1])
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "student")
    assert model.config.num_hidden_layers == 2 and model.config.id2label == {0: "negative", 1: "positive"}
    assert (tmp_path / "student" / "model.safetensors").is_file()
    assert (tmp_path / "student" / "tokenizer.json").is_file()
    assert not (tmp_path / "student" / ".checkpoints").exists()


def test_distillation_lowers_the_kl_to_the_teacher(tiny_bert, rows, tmp_path):
    reporter = RecordingReporter()
    config = DistillConfig(keep_layers=[3], alpha=1.0, batch_size=8, epochs=4, max_length=32, learning_rate=3e-3)
    distill(config, teacher_dir=tiny_bert, train_rows=rows, eval_rows=rows[:8], output_dir=tmp_path / "s",
            reporter=reporter)  # fmt: skip
    kl = [s["kl"] for s in reporter.series if s["split"] == "train"]
    assert kl[-1] < kl[0]


def test_existing_student_gets_the_teachers_labels(tiny_bert, rows, tmp_path):
    from transformers import BertConfig, BertModel

    small = tmp_path / "small"
    BertModel(BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(small)  # fmt: skip
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (small / name).write_bytes((tiny_bert / name).read_bytes())
    config = DistillConfig(student="existing", batch_size=16, max_length=32, max_steps=2)
    result = distill(config, teacher_dir=tiny_bert, student_dir=small, train_rows=rows, eval_rows=rows[:8],
                     output_dir=tmp_path / "out", reporter=RecordingReporter())  # fmt: skip
    assert result["steps"] == 2
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["hidden_size"] == 16 and saved["id2label"] == {"0": "negative", "1": "positive"}


def test_causal_lm_logit_distillation_on_prompt_response_rows(tiny_llama, chat_rows, tmp_path):
    reporter = RecordingReporter()
    config = DistillConfig(task="causal-lm", num_student_layers=2, batch_size=8, max_length=32, learning_rate=1e-3)
    result = distill(config, teacher_dir=tiny_llama, train_rows=chat_rows, eval_rows=chat_rows[:8],
                     output_dir=tmp_path / "student", reporter=reporter)  # fmt: skip
    assert result["keep_layers"] == [0, 2]
    assert result["student_metrics"]["perplexity"] > 1
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "student")
    assert model.config.num_hidden_layers == 2
    out = model.generate(torch.tensor([[101, 2054]]), max_new_tokens=3, do_sample=False)
    assert out.shape[1] == 5


def test_checkpoints_are_published_and_a_run_resumes(tiny_bert, rows, tmp_path):
    kept = tmp_path / "published"
    kept.mkdir()
    reporter = RecordingReporter(keep_checkpoints_in=kept, cancel_at_step=4)
    config = DistillConfig(num_student_layers=2, batch_size=8, max_length=32, checkpoint_every=2)
    with pytest.raises(Cancelled):
        distill(config, teacher_dir=tiny_bert, train_rows=rows, eval_rows=rows[:8], output_dir=tmp_path / "a",
                reporter=reporter)  # fmt: skip
    assert [step for step, _ in reporter.checkpoints] == [2, 4]
    assert not (tmp_path / "a" / "model.safetensors").exists()
    resumed = RecordingReporter()
    result = distill(config, teacher_dir=tiny_bert, train_rows=rows, eval_rows=rows[:8], output_dir=tmp_path / "b",
                     reporter=resumed, resume_from=kept / "step-4")  # fmt: skip
    assert result["steps"] == 6
    assert resumed.progress_updates[0] == (5, 6) and "resumed from step 4" in resumed.logs
