"""Pruning reaches its target, saves a model stock transformers loads, and recovery keeps the pruned weights at 0."""

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

from workers.compression import PruneConfig, prune
from workers.reporting import RecordingReporter


def test_magnitude_pruning_reaches_the_target_sparsity_after_recovery(tiny_bert, rows, tmp_path):
    config = PruneConfig(method="magnitude", target_sparsity=0.6, recovery_steps=3, batch_size=8, max_length=32)
    result = prune(config, model_dir=tiny_bert, train_rows=rows, eval_rows=rows[:16], output_dir=tmp_path / "p",
                   reporter=RecordingReporter())  # fmt: skip
    assert abs(result["sparsity"] - 0.6) < 0.01 and result["steps"] == 3
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "p")
    weight = model.bert.encoder.layer[0].intermediate.dense.weight
    assert 0.4 < float((weight == 0).float().mean()) < 0.8
    assert float((model.classifier.weight == 0).float().mean()) == 0.0  # the head stays dense


def test_layer_pruning_removes_blocks(tiny_bert, rows, tmp_path):
    config = PruneConfig(method="layers", target_sparsity=0.5, max_length=32)
    result = prune(config, model_dir=tiny_bert, train_rows=None, eval_rows=rows[:16], output_dir=tmp_path / "p",
                   reporter=RecordingReporter())  # fmt: skip
    assert result["keep_layers"] == [0, 2] and result["params"] < result["original_params"]
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "p").config.num_hidden_layers == 2


def test_bert_head_pruning_zeroes_whole_heads(tiny_bert, rows, tmp_path):
    config = PruneConfig(method="heads", target_sparsity=0.5, recovery_steps=2, batch_size=8, max_length=32)
    result = prune(config, model_dir=tiny_bert, train_rows=rows, eval_rows=rows[:16], output_dir=tmp_path / "p",
                   reporter=RecordingReporter())  # fmt: skip
    assert result["heads_per_layer"] == 2
    assert result["structure"] == "zeroed" and "zeroed, not removed" in result["notes"]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "p")
    query = model.bert.encoder.layer[1].attention.self.query.weight.reshape(4, 8, 32)
    zero_heads = [(query[h] == 0).all().item() for h in range(4)]
    assert sum(zero_heads) == 2


def test_llama_head_pruning_shrinks_the_model(tiny_llama, chat_rows, tmp_path):
    config = PruneConfig(task="causal-lm", method="heads", target_sparsity=0.5, max_length=32)
    result = prune(config, model_dir=tiny_llama, train_rows=None, eval_rows=chat_rows[:8], output_dir=tmp_path / "p",
                   reporter=RecordingReporter())  # fmt: skip
    assert result["heads_per_layer"] == 2 and result["params"] < result["original_params"]
    assert result["structure"] == "removed" and result["notes"] == "removed: 2 of 4 heads"
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "p")
    assert model.config.num_attention_heads == 2 and model.config.num_key_value_heads == 2
    assert model.model.layers[0].self_attn.q_proj.weight.shape == (16, 32)
    out = model.generate(torch.tensor([[101, 2054]]), max_new_tokens=3, do_sample=False)
    assert out.shape[1] == 5


def test_ffn_pruning_removes_neurons_in_both_families(tiny_bert, tiny_llama, rows, chat_rows, tmp_path):
    config = PruneConfig(method="ffn", target_sparsity=0.75, recovery_steps=2, batch_size=8, max_length=32)
    result = prune(
        config,
        model_dir=tiny_bert,
        train_rows=rows,
        eval_rows=rows[:16],
        output_dir=tmp_path / "b",
        reporter=RecordingReporter(),
    )
    assert result["intermediate_size"] == 16 and result["structure"] == "removed"
    assert result["notes"] == "removed: FFN 16 of 64" and result["params"] < result["original_params"]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "b")
    assert model.bert.encoder.layer[3].output.dense.weight.shape == (32, 16)
    assert torch.isfinite(model(input_ids=torch.tensor([[101, 2204, 102]])).logits).all()
    config = PruneConfig(task="causal-lm", method="ffn", target_sparsity=0.5, max_length=32)
    result = prune(
        config,
        model_dir=tiny_llama,
        train_rows=None,
        eval_rows=chat_rows[:8],
        output_dir=tmp_path / "l",
        reporter=RecordingReporter(),
    )
    assert result["intermediate_size"] == 32 and result["params"] < result["original_params"]
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "l").model.layers[0].mlp.up_proj.weight.shape == (32, 32)
