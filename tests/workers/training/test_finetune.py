"""finetune() on tiny random models: both tasks, both methods, outputs, checkpoints, resume and cancel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from tests.workers.training.conftest import as_messages, chat_pairs, sentiment_rows
from workers.reporting import Cancelled, RecordingReporter
from workers.training import data
from workers.training.finetune import FinetuneConfig, FinetuneResult, choose_device, finetune


def run(config, base, tmp_path, *, train, eval_rows, reporter=None, **kw) -> tuple[FinetuneResult, RecordingReporter]:
    reporter = reporter or RecordingReporter()
    result = finetune(
        config,
        base_model_dir=base,
        train_rows=train,
        eval_rows=eval_rows,
        output_dir=tmp_path / "output",
        reporter=reporter,
        device="cpu",
        **kw,
    )
    return result, reporter


def files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def cls_config(**kw) -> FinetuneConfig:
    defaults = dict(task="text-classification", epochs=6, batch_size=8, learning_rate=5e-3, warmup_ratio=0.1)
    return FinetuneConfig(**{**defaults, **kw})


def lm_config(**kw) -> FinetuneConfig:
    defaults = dict(task="causal-lm", epochs=4, batch_size=8, learning_rate=3e-3, max_length=48)
    return FinetuneConfig(**{**defaults, **kw})


def test_classification_full_learns_the_task_and_saves_a_labelled_model(tiny_bert, tmp_path):
    result, reporter = run(cls_config(), tiny_bert, tmp_path, train=sentiment_rows(64), eval_rows=sentiment_rows(32, 1))

    assert result.steps == 48 and result.epochs == 6.0 and result.train_rows == 64 and result.eval_rows == 32
    assert result.labels == ["negative", "positive"] and result.device == "cpu" and result.dtype == "float32"
    assert set(result.metrics) >= {"eval_loss", "accuracy", "f1"}
    assert result.baseline["majority_accuracy"] == 0.5
    assert result.metrics["accuracy"] >= 0.9 and result.metrics["eval_loss"] < result.baseline["eval_loss"]
    # Reporting: progress every step, train loss every step (tiny run), eval at step 0 and each epoch end.
    assert reporter.progress_updates == [(0, 48)] + [(s, 48) for s in range(1, 49)]
    assert [p["step"] for p in reporter.series if p["split"] == "train"] == list(range(1, 49))
    assert [p["step"] for p in reporter.series if p["split"] == "eval"] == [0, 8, 16, 24, 32, 40, 48]
    assert reporter.series == result.history
    logs = "\n".join(reporter.logs)
    assert "device: cpu" in logs and "labels (2): negative, positive" in logs and "epoch 6/6 done" in logs

    out = tmp_path / "output"
    assert files(out) == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "training_metrics.json",
    } | (files(out) & {"special_tokens_map.json", "vocab.txt"})
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"} and config["label2id"]["positive"] == 1
    assert json.loads((out / "training_metrics.json").read_text())["metrics"] == result.metrics
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    batch = tokenizer(["the cat sat on a good mat", "the awful dog"], return_tensors="pt", padding=True)
    logits = model(**batch).logits
    assert logits.argmax(-1).tolist() == [1, 0]


def test_classification_lora_trains_the_head_and_merges(tiny_bert, tmp_path):
    # Through a random encoder the keyword barely reaches [CLS]: adapt the dense layers too (pooler included).
    targets = ["query", "value", "dense"]
    config = cls_config(method="lora", learning_rate=2e-2, lora_target_modules=targets, merge_adapter=True)
    merged = tmp_path / "merged"
    train = sentiment_rows(64)
    result, reporter = run(config, tiny_bert, tmp_path, train=train, eval_rows=sentiment_rows(32, 1), merged_dir=merged)

    assert result.metrics["accuracy"] > result.baseline["majority_accuracy"] + 0.1
    assert result.metrics["eval_loss"] < result.baseline["eval_loss"]
    out = tmp_path / "output"
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "training_metrics.json"} <= files(out)
    assert not {"model.safetensors", "README.md"} & files(out)
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["task_type"] == "SEQ_CLS" and set(adapter_config["target_modules"]) == set(targets)
    assert "classifier" in adapter_config["modules_to_save"]
    with safe_open(out / "adapter_model.safetensors", framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    assert any("classifier" in k for k in tensors)  # the head is saved with the adapter
    assert all(t.abs().sum() > 0 for k, t in tensors.items() if "lora_B" in k)  # B starts at zero: it trained
    assert "trainable of" in "\n".join(reporter.logs)

    # The merged model is a plain classifier that predicts what base + adapter predicts.
    from peft import PeftModel

    assert {"model.safetensors", "config.json", "tokenizer.json"} <= files(merged)
    plain = AutoModelForSequenceClassification.from_pretrained(merged).eval()
    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    with_adapter = PeftModel.from_pretrained(base, out).eval()
    batch = AutoTokenizer.from_pretrained(out)(["a good film", "a sad plot"], return_tensors="pt", padding=True)
    with torch.no_grad():
        torch.testing.assert_close(plain(**batch).logits, with_adapter(**batch).logits, atol=1e-4, rtol=1e-4)


def test_causal_lm_full_without_chat_template_learns_replies_and_keeps_the_base_dtype(tiny_plain_llama, tmp_path):
    result, reporter = run(lm_config(), tiny_plain_llama, tmp_path, train=chat_pairs(32), eval_rows=chat_pairs(8))

    assert result.labels is None and set(result.metrics) >= {"eval_loss", "perplexity"}
    assert result.metrics["eval_loss"] < result.baseline["eval_loss"] - 1.0
    assert "prompt\\nresponse<eos>" in "\n".join(reporter.logs)
    out = tmp_path / "output"
    assert {"model.safetensors", "config.json", "tokenizer.json", "training_metrics.json"} <= files(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.dtype == torch.bfloat16  # saved as the base was
    assert AutoTokenizer.from_pretrained(out).pad_token == "<|endoftext|>"  # eos became the padding token


def test_causal_lm_loss_covers_only_the_reply_tokens(tiny_chat_llama, tiny_plain_llama):
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_llama)
    config = lm_config()
    [example], dropped = data.encode_causal_lm(tokenizer, as_messages(chat_pairs(1)), config)
    assert dropped == 0
    learned = tokenizer.decode([t for t in example["labels"] if t != data.IGNORE])
    assert learned == "hi how are you<|im_end|>\n"

    plain = AutoTokenizer.from_pretrained(tiny_plain_llama)
    plain.pad_token = plain.eos_token
    [example], _ = data.encode_causal_lm(plain, chat_pairs(1), config)
    assert plain.decode(example["input_ids"]) == "hello\nhi how are you<|endoftext|>"
    assert plain.decode([t for t in example["labels"] if t != data.IGNORE]) == "hi how are you<|endoftext|>"

    # A prompt longer than max_length leaves nothing to learn: the row is dropped, not trained on.
    long_prompt = [{"prompt": "the cat sat " * 40, "response": "yes"}]
    assert data.encode_causal_lm(plain, long_prompt, lm_config(max_length=16)) == ([], 1)


def test_causal_lm_lora_on_chat_messages(tiny_chat_llama, tmp_path):
    config = lm_config(method="lora", learning_rate=2e-2, lora_r=8, lora_alpha=16)
    rows = as_messages(chat_pairs(32))
    result, reporter = run(config, tiny_chat_llama, tmp_path, train=rows, eval_rows=as_messages(chat_pairs(8)))

    assert result.metrics["eval_loss"] < result.baseline["eval_loss"]
    assert "messages rendered with the chat template" in "\n".join(reporter.logs)
    out = tmp_path / "output"
    assert {"adapter_model.safetensors", "adapter_config.json", "chat_template.jinja"} <= files(out) or {
        "adapter_model.safetensors",
        "adapter_config.json",
    } <= files(out)
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["task_type"] == "CAUSAL_LM" and set(adapter_config["target_modules"]) == {"q_proj", "v_proj"}
    assert AutoTokenizer.from_pretrained(out).chat_template


@pytest.mark.parametrize("method", ["full", "lora"])
def test_a_cancelled_run_resumes_from_its_checkpoint_to_the_same_result(tiny_bert, tmp_path, method):
    config = cls_config(method=method, checkpoint_every=4, epochs=2, learning_rate=5e-3)
    train, eval_rows = sentiment_rows(48), sentiment_rows(16, 1)
    whole, _ = run(config, tiny_bert, tmp_path / "whole", train=train, eval_rows=eval_rows)

    kept = tmp_path / "kept"
    kept.mkdir()
    stopped = RecordingReporter(cancel_at_step=6, keep_checkpoints_in=kept)
    with pytest.raises(Cancelled):
        run(config, tiny_bert, tmp_path / "first", train=train, eval_rows=eval_rows, reporter=stopped)
    assert [step for step, _ in stopped.checkpoints] == [4]
    if method == "lora":  # the architecture's default targets
        adapter_config = json.loads((stopped.checkpoints[0][1] / "adapter_config.json").read_text())
        assert set(adapter_config["target_modules"]) == {"query", "value"}
    assert not (tmp_path / "first" / "output").exists()  # nothing published
    assert not list((tmp_path / "first").glob("checkpoint-*"))  # the temporary folder is gone
    checkpoint = stopped.checkpoints[0][1]
    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    assert {weights, "tokenizer.json", "training_state.pt", "trainer_state.json"} <= files(checkpoint)
    state = torch.load(checkpoint / "training_state.pt", weights_only=True)
    assert state["step"] == 4 and {"optimizer", "scheduler", "rng"} <= set(state)
    trainer = json.loads((checkpoint / "trainer_state.json").read_text())
    assert trainer["step"] == 4 and trainer["history"] and trainer["baseline"] == whole.baseline

    second = RecordingReporter()
    kw = dict(train=train, eval_rows=eval_rows, reporter=second, resume_from=checkpoint)
    resumed, _ = run(config, tiny_bert, tmp_path / "second", **kw)
    assert second.progress_updates[0] == (4, 12) and second.progress_updates[-1] == (12, 12)
    assert "resuming at step 4/12" in "\n".join(second.logs)
    assert resumed.steps == whole.steps == 12
    assert resumed.metrics["eval_loss"] == pytest.approx(whole.metrics["eval_loss"], abs=1e-3)
    assert resumed.metrics["accuracy"] == whole.metrics["accuracy"]
    assert [p["step"] for p in resumed.history] == [p["step"] for p in whole.history]
    assert resumed.baseline == whole.baseline


def test_cancel_stops_before_the_next_step_and_writes_nothing(tiny_bert, tmp_path):
    reporter = RecordingReporter(cancel_at_step=2)
    with pytest.raises(Cancelled):
        run(cls_config(), tiny_bert, tmp_path, train=sentiment_rows(64), eval_rows=[], reporter=reporter)
    assert reporter.progress_updates[-1] == (2, 48)
    assert not (tmp_path / "output").exists()


def test_max_steps_caps_training_and_eval_every_sets_the_cadence(tiny_bert, tmp_path):
    config = cls_config(max_steps=5, eval_every=2, epochs=10)
    result, reporter = run(config, tiny_bert, tmp_path, train=sentiment_rows(32), eval_rows=sentiment_rows(8, 1))
    assert result.steps == 5 and result.epochs == 1.25
    assert [p["step"] for p in reporter.series if p["split"] == "eval"] == [0, 2, 4, 5]


def test_unusable_inputs_fail_with_a_clear_message(tiny_bert, tmp_path):
    with pytest.raises(ValueError, match="column 'label' not found"):
        run(cls_config(), tiny_bert, tmp_path, train=[{"text": "a"}, {"text": "b"}], eval_rows=[])
    with pytest.raises(ValueError, match="LoRA target modules"):
        run(
            cls_config(method="lora", lora_target_modules=["nope"]),
            tiny_bert,
            tmp_path,
            train=sentiment_rows(8),
            eval_rows=[],
        )
    (tmp_path / "output").mkdir(exist_ok=True)
    (tmp_path / "output" / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        run(cls_config(), tiny_bert, tmp_path, train=sentiment_rows(8), eval_rows=[])


def test_choose_device_falls_back_to_the_cpu():
    assert choose_device("cpu") == ("cpu", None)
    if not torch.cuda.is_available():
        assert choose_device() == ("cpu", None)
        with pytest.raises(ValueError, match="no CUDA"):
            choose_device("cuda")
    with pytest.raises(ValueError, match="device must be"):
        choose_device("tpu")
