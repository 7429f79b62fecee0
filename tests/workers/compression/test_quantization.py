"""Quantized models are saved as safetensors + JSON (no pickled code) and load back with load_quantized."""

import json

import pytest
import torch
from safetensors import safe_open

from workers.compression import QuantizeConfig, evaluate, load_quantized, modeling, quantize
from workers.compression.quantization import WeightOnlyLinear
from workers.reporting import RecordingReporter

IDS = torch.tensor([[101, 2204, 2307, 2986, 102], [101, 2919, 9643, 3532, 102]])


@pytest.mark.parametrize("method", ["dynamic-int8", "weight-int8", "weight-int4"])
def test_each_method_writes_a_folder_that_loads_back(tiny_bert, rows, tmp_path, method):
    out = tmp_path / method
    result = quantize(QuantizeConfig(method=method, max_length=32), model_dir=tiny_bert, output_dir=out,
                      reporter=RecordingReporter(), eval_rows=rows[:16])  # fmt: skip
    assert result["quantized_modules"] == 4 * 6 + 2  # q, k, v, attention out, intermediate, output; pooler, head
    assert {p.name for p in out.iterdir()} >= {"config.json", "hub_quantization.json", "model.quantized.safetensors",
                                               "tokenizer.json"}  # fmt: skip
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    meta = json.loads((out / "hub_quantization.json").read_text())
    assert meta["method"] == method and meta["task"] == "text-classification"
    original = modeling.load_model(tiny_bert, "text-classification")
    model = load_quantized(out)
    with torch.inference_mode():
        expected, got = original(input_ids=IDS).logits, model(input_ids=IDS).logits
    tolerance = 0.05 if method == "weight-int4" else 0.02
    assert torch.allclose(got, expected, atol=tolerance), (got, expected)
    assert abs(result["metrics"]["eval_loss"] - result["original_metrics"]["eval_loss"]) < 0.05


def test_int8_weights_are_stored_as_int8(tiny_bert, tmp_path):
    quantize(QuantizeConfig(method="dynamic-int8"), model_dir=tiny_bert, output_dir=tmp_path / "q",
             reporter=RecordingReporter())  # fmt: skip
    with safe_open(tmp_path / "q" / "model.quantized.safetensors", "pt") as f:
        weight = f.get_tensor("bert.encoder.layer.0.intermediate.dense.qweight")
        scales = f.get_tensor("bert.encoder.layer.0.intermediate.dense.scales")
        assert "bert.embeddings.word_embeddings.weight" in set(f.keys())  # noqa: SIM118 (safe_open is not a dict)
    assert weight.dtype == torch.int8 and weight.shape == (64, 32) and scales.shape == (64,)
    model = load_quantized(tmp_path / "q")
    assert type(model.bert.encoder.layer[0].intermediate.dense).__module__.startswith("torch.ao.nn.quantized")


def test_int4_packs_two_weights_per_byte():
    linear = torch.nn.Linear(64, 16)
    module = WeightOnlyLinear.from_linear(linear, bits=4, group_size=32)
    assert module.qweight.dtype == torch.uint8 and module.qweight.shape == (16, 32)
    assert module.scales.shape == (16, 2)
    error = (module.dequantized() - linear.weight).abs().max() / linear.weight.abs().max()
    assert error < 0.1


def test_llama_quantization_keeps_the_embeddings_in_float(tiny_llama, chat_rows, tmp_path):
    result = quantize(QuantizeConfig(task="causal-lm", method="dynamic-int8", max_length=32), model_dir=tiny_llama,
                      output_dir=tmp_path / "q", reporter=RecordingReporter(), eval_rows=chat_rows[:8])  # fmt: skip
    assert result["quantized_modules"] == 4 * 7 + 1  # q, k, v, o, gate, up, down per layer; lm_head
    model = load_quantized(tmp_path / "q")
    assert model.model.embed_tokens.weight.dtype == torch.float32
    ratio = result["metrics"]["perplexity"] / result["original_metrics"]["perplexity"]
    assert 0.95 < ratio < 1.05
    out = model.generate(torch.tensor([[101, 2054]]), max_new_tokens=3, do_sample=False)
    assert out.shape[1] == 5


def test_evaluate_reports_size_params_and_speed(tiny_bert, rows, tmp_path):
    quantize(QuantizeConfig(method="weight-int4"), model_dir=tiny_bert, output_dir=tmp_path / "q4",
             reporter=RecordingReporter())  # fmt: skip
    base = evaluate(tiny_bert, task="text-classification", eval_rows=rows, max_length=32, latency_rows=4)
    small = evaluate(tmp_path / "q4", task="text-classification", eval_rows=rows, max_length=32, latency_rows=4)
    for result in (base, small):
        assert {"accuracy", "f1", "params", "file_size_bytes", "latency_p50_ms_b1", "throughput_b32"} <= set(result)
        assert result["latency_p50_ms_b1"] > 0 and result["throughput_b32"] > 0
    assert small["params"] == base["params"]
    assert small["file_size_bytes"] < base["file_size_bytes"]
