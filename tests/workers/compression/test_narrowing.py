"""Narrower students: the most important FFN neurons and heads kept, saved as a stock model that loads back."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from workers.compression import DistillConfig, distill, modeling, narrowing
from workers.reporting import RecordingReporter

IDS = torch.tensor([[101, 2204, 2307, 2003, 102], [101, 6659, 2919, 102, 0]])
MASK = (IDS != 0).long()


def params(model) -> int:
    return modeling.count_params(model)


def test_keeping_every_unit_reproduces_the_teacher(tiny_bert, tiny_llama):
    bert = modeling.load_model(tiny_bert, "text-classification")
    same = narrowing.narrow(bert, intermediate_size=64)
    assert torch.equal(same(input_ids=IDS, attention_mask=MASK).logits, bert(input_ids=IDS, attention_mask=MASK).logits)
    llama = modeling.load_model(tiny_llama, "causal-lm")
    same = narrowing.narrow(llama, intermediate_size=64, num_heads=4)
    assert torch.equal(same(input_ids=IDS).logits, llama(input_ids=IDS).logits)


def test_narrower_bert_ffn_keeps_the_strongest_neurons_and_loads_back(tiny_bert, tmp_path):
    teacher = modeling.load_model(tiny_bert, "text-classification")
    layer = teacher.bert.encoder.layer[0]
    with torch.no_grad():
        layer.intermediate.dense.weight[:32] *= 0.01  # neurons 0-31 of layer 0 hardly matter
    student = narrowing.narrow(teacher, intermediate_size=32)
    kept = student.bert.encoder.layer[0]
    assert kept.intermediate.dense.weight.shape == (32, 32) and kept.output.dense.weight.shape == (32, 32)
    assert torch.equal(kept.intermediate.dense.weight, layer.intermediate.dense.weight[32:])
    assert torch.equal(kept.intermediate.dense.bias, layer.intermediate.dense.bias[32:])
    assert torch.equal(kept.output.dense.weight, layer.output.dense.weight[:, 32:])
    assert params(student) == params(teacher) - 4 * (32 * 32 * 2 + 32)
    modeling.save_model(student, tiny_bert, tmp_path / "s")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "s")
    assert loaded.config.intermediate_size == 32 and loaded.config.num_attention_heads == 4
    batch = AutoTokenizer.from_pretrained(tmp_path / "s")(["good fine", "awful day"], padding=True, return_tensors="pt")
    logits = loaded(**batch).logits
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()
    assert torch.allclose(logits, student(**batch).logits, atol=1e-6)


def test_narrower_llama_keeps_heads_per_group_and_loads_back(tiny_llama, tmp_path):
    teacher = modeling.load_model(tiny_llama, "causal-lm")
    student = narrowing.narrow(modeling.layer_subset(teacher, [0, 3]), intermediate_size=48, num_heads=2)
    attention, mlp = student.model.layers[1].self_attn, student.model.layers[1].mlp
    assert attention.q_proj.weight.shape == (16, 32) and attention.o_proj.weight.shape == (32, 16)
    assert attention.k_proj.weight.shape == (16, 32)  # both key/value heads stay
    assert mlp.gate_proj.weight.shape == (48, 32) and mlp.down_proj.weight.shape == (32, 48)
    assert params(student) < params(modeling.layer_subset(teacher, [0, 3]))
    modeling.save_model(student, tiny_llama, tmp_path / "s")
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    assert (loaded.config.num_attention_heads, loaded.config.num_key_value_heads, loaded.config.head_dim) == (2, 2, 8)
    assert loaded.config.intermediate_size == 48 and loaded.config.num_hidden_layers == 2
    assert torch.isfinite(loaded(input_ids=IDS).logits).all()
    assert torch.allclose(loaded(input_ids=IDS).logits, student(input_ids=IDS).logits, atol=1e-5)
    assert loaded.generate(torch.tensor([[101, 2054]]), max_new_tokens=3, do_sample=False).shape[1] == 5


def test_keep_heads_takes_the_best_of_every_group():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.3, 0.8, 0.2])
    assert narrowing.keep_heads(scores, 2, 2) == [1, 2, 3, 4]
    assert narrowing.keep_heads(scores, 3, 1) == [1, 2, 4]


def test_bert_cannot_lose_heads(tiny_bert):
    teacher = modeling.load_model(tiny_bert, "text-classification")
    with pytest.raises(ValueError, match="cannot have fewer attention heads"):
        narrowing.narrow(teacher, num_heads=2)


def test_distilling_a_shallower_narrower_classifier(tiny_bert, rows, tmp_path):
    config = DistillConfig(num_student_layers=2, intermediate_size=16, batch_size=8, max_length=32, max_steps=3)
    result = distill(
        config,
        teacher_dir=tiny_bert,
        train_rows=rows,
        eval_rows=rows[:16],
        output_dir=tmp_path / "s",
        reporter=RecordingReporter(),
    )
    assert result["keep_layers"] == [0, 2] and result["steps"] == 3
    assert (result["student_intermediate_size"], result["teacher_intermediate_size"]) == (16, 64)
    assert result["notes"] == "student: 2 of 4 layers, FFN 16 of 64"
    assert result["params"] < result["teacher_params"]
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "s")
    assert loaded.config.intermediate_size == 16 and loaded.config.num_hidden_layers == 2


def test_distilling_a_narrower_llama_keeping_every_layer(tiny_llama, chat_rows, tmp_path):
    config = DistillConfig(
        task="causal-lm",
        num_student_layers=4,
        num_heads=2,
        intermediate_size=32,
        hidden_weight=0.5,
        batch_size=8,
        max_length=32,
        max_steps=2,
    )
    result = distill(
        config,
        teacher_dir=tiny_llama,
        train_rows=chat_rows,
        eval_rows=chat_rows[:8],
        output_dir=tmp_path / "s",
        reporter=RecordingReporter(),
    )
    assert result["keep_layers"] == [0, 1, 2, 3] and result["student_num_heads"] == 2
    assert result["notes"] == "student: FFN 32 of 64, 2 of 4 heads"
    assert result["params"] < result["teacher_params"] and result["student_metrics"]["perplexity"] > 1
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    assert loaded.config.num_attention_heads == 2 and loaded.config.intermediate_size == 32


@pytest.mark.parametrize("family", ["mistral", "qwen2"])
def test_other_decoder_families_narrow_and_load_back(family, tmp_path):
    from transformers import AutoConfig

    config = AutoConfig.for_model(
        family,
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    teacher = AutoModelForCausalLM.from_config(config).eval()
    ids = torch.tensor([[1, 5, 9, 13]])
    same = narrowing.narrow(teacher, intermediate_size=64, num_heads=4)
    assert torch.equal(same(input_ids=ids).logits, teacher(input_ids=ids).logits)
    student = narrowing.narrow(teacher, intermediate_size=16, num_heads=2)
    student.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.config.num_attention_heads == 2 and loaded.config.intermediate_size == 16
    assert torch.allclose(loaded(input_ids=ids).logits, student(input_ids=ids).logits, atol=1e-5)


def test_multi_head_llama_loses_heads_with_their_keys_and_values(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=128,
        hidden_size=48,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    teacher = LlamaForCausalLM(config).eval()
    ids = torch.tensor([[1, 5, 9, 13]])
    assert torch.equal(narrowing.narrow(teacher, num_heads=4)(input_ids=ids).logits, teacher(input_ids=ids).logits)
    student = narrowing.narrow(teacher, num_heads=3)
    assert student.model.layers[0].self_attn.k_proj.weight.shape == (36, 48)
    student.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert (loaded.config.num_attention_heads, loaded.config.num_key_value_heads) == (3, 3)
    assert torch.allclose(loaded(input_ids=ids).logits, student(input_ids=ids).logits, atol=1e-5)
