"""Bad requests fail before queueing with a clear ValueError (the job API maps it to a 400)."""

import json
import shutil

import pytest

from workers.compression import (
    DistillConfig,
    PruneConfig,
    QuantizeConfig,
    check_architecture,
    check_columns,
    check_compatible,
    check_compatible_configs,
    check_keep_layers,
)
from workers.compression.validation import default_keep_layers, vocab_fingerprint

BERT = {"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6, "intermediate_size": 1536,
        "vocab_size": 30522, "num_attention_heads": 12, "max_position_embeddings": 512}  # fmt: skip


def test_every_kth_layer_is_kept_by_default():
    assert default_keep_layers(6, 3) == [0, 2, 4]
    assert default_keep_layers(12, 4) == [0, 3, 6, 9]


def test_keep_layers_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"out of range: the teacher has layers 0-5"):
        check_keep_layers([0, 6], 6)
    with pytest.raises(ValueError, match="fewer than the teacher's 6 layers"):
        check_keep_layers([0, 1, 2, 3, 4, 5], 6)
    with pytest.raises(ValueError, match="num_student_layers must be between 1 and 5"):
        check_compatible_configs(DistillConfig(num_student_layers=6), teacher_config=BERT)


def test_unsupported_architecture_names_the_supported_ones():
    with pytest.raises(ValueError, match=r"unsupported architecture 't5' for text-classification: supported are bert"):
        check_architecture({"model_type": "t5"}, "text-classification")
    with pytest.raises(ValueError, match="unsupported architecture 'bert' for causal-lm: supported are llama"):
        check_compatible_configs(QuantizeConfig(task="causal-lm"), teacher_config=BERT)


def test_student_that_is_not_smaller_is_rejected():
    bigger = {**BERT, "num_hidden_layers": 12}
    with pytest.raises(ValueError, match="the student is not smaller than the teacher"):
        check_compatible_configs(DistillConfig(student="existing"), teacher_config=BERT, student_config=bigger)
    smaller = {**BERT, "num_hidden_layers": 3}
    check_compatible_configs(DistillConfig(student="existing"), teacher_config=BERT, student_config=smaller)


def test_mismatched_tokenizers_are_rejected(tiny_bert, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(tiny_bert, student)
    config = json.loads((student / "config.json").read_text())
    config["num_hidden_layers"] = 2
    (student / "config.json").write_text(json.dumps(config))
    check_compatible(DistillConfig(student="existing"), teacher_dir=tiny_bert, student_dir=student)  # same vocab
    data = json.loads((student / "tokenizer.json").read_text())
    data["model"]["vocab"]["zzzunseen"] = data["model"]["vocab"].pop("[unused0]")
    (student / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="different tokenizers"):
        check_compatible(DistillConfig(student="existing"), teacher_dir=tiny_bert, student_dir=student)


def test_vocab_fingerprint_needs_a_tokenizer():
    with pytest.raises(ValueError, match="no tokenizer found"):
        vocab_fingerprint({"config.json": b"{}"})


def test_data_set_without_the_needed_columns_is_rejected():
    with pytest.raises(ValueError, match=r"lacks the column\(s\) label \(it has: sentence, text\)"):
        check_columns([{"text": "a", "sentence": "b"}], DistillConfig())
    with pytest.raises(ValueError, match="needs a 'text' column, or 'prompt' and 'response' columns"):
        check_columns(["question", "answer"], DistillConfig(task="causal-lm"))
    check_columns(["prompt", "response"], DistillConfig(task="causal-lm"))
    check_columns([{"text": "x"}], QuantizeConfig(task="causal-lm"))
    with pytest.raises(ValueError, match="empty"):
        check_columns([], DistillConfig())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (DistillConfig(alpha=1.5), "alpha must be between 0 and 1"),
        (DistillConfig(temperature=0), "temperature must be positive"),
        (DistillConfig(student="narrow"), "student must be 'layers'"),
        (DistillConfig(task="translation"), "task must be one of"),
        (QuantizeConfig(method="fp8"), "method must be one of dynamic-int8, weight-int8, weight-int4"),
        (PruneConfig(target_sparsity=1.0), "target_sparsity must be between 0 and 1"),
        (PruneConfig(method="channels"), "method must be one of magnitude, heads, layers"),
    ],
)
def test_bad_hyper_parameters_are_rejected(config, message):
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_unknown_parameters_are_rejected():
    with pytest.raises(ValueError, match="unknown parameter"):
        DistillConfig.from_dict({"alpha": 0.5, "temprature": 2})
    assert DistillConfig.from_dict({"alpha": 0.3}).alpha == 0.3


def test_layers_student_takes_no_student_model():
    with pytest.raises(ValueError, match="do not pass a student model"):
        check_compatible_configs(DistillConfig(), teacher_config=BERT, student_config=BERT)


def test_pruning_everything_is_rejected():
    with pytest.raises(ValueError, match="would remove all 6 layers"):
        check_compatible_configs(PruneConfig(method="layers", target_sparsity=0.95), teacher_config=BERT)


def test_validation_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, workers.compression as c; c.check_columns(['text', 'label'], c.DistillConfig()); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


LLAMA = {
    "model_type": "llama",
    "hidden_size": 576,
    "num_hidden_layers": 30,
    "intermediate_size": 1536,
    "vocab_size": 49152,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
}


@pytest.mark.parametrize(
    ("config", "teacher", "message"),
    [
        (DistillConfig(intermediate_size=1536), BERT, "intermediate_size must be between 1 and 1535"),
        (DistillConfig(intermediate_size=4096), BERT, "the teacher's feed-forward layers have 1536 neurons"),
        (DistillConfig(num_heads=6), BERT, "a bert model cannot have fewer attention heads"),
        (DistillConfig(task="causal-lm", num_heads=9), LLAMA, r"num_heads 9 is not possible .* possible: 3, 6$"),
        (DistillConfig(task="causal-lm", num_heads=4), LLAMA, "a multiple of its key/value heads and a divisor of"),
        (
            DistillConfig(intermediate_size=768, num_student_layers=7),
            BERT,
            "num_student_layers must be between 1 and 6",
        ),
        (DistillConfig(keep_layers=[0, 1, 2, 3, 4, 5]), BERT, "fewer than the teacher's 6 layers"),
    ],
)
def test_narrower_students_out_of_bounds_are_rejected(config, teacher, message):
    with pytest.raises(ValueError, match=message):
        check_compatible_configs(config, teacher_config=teacher)


def test_narrower_students_within_bounds_pass():
    check_compatible_configs(DistillConfig(num_student_layers=6, intermediate_size=768), teacher_config=BERT)
    check_compatible_configs(DistillConfig(keep_layers=list(range(6)), intermediate_size=1), teacher_config=BERT)
    check_compatible_configs(
        DistillConfig(task="causal-lm", num_student_layers=10, num_heads=6, intermediate_size=768), teacher_config=LLAMA
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"intermediate_size": 0}, "intermediate_size must be a positive integer"),
        ({"num_heads": "8"}, "num_heads must be a positive integer"),
        ({"num_heads": 1.5}, "num_heads must be a positive integer"),
        ({"student": "existing", "intermediate_size": 64}, "use it with student='layers'"),
    ],
)
def test_narrowing_settings_must_be_sensible(data, message):
    with pytest.raises(ValueError, match=message):
        DistillConfig.from_dict(data)


def test_ffn_pruning_must_keep_and_remove_a_neuron():
    with pytest.raises(ValueError, match="removes no neuron or every neuron of the 1536-wide"):
        check_compatible_configs(PruneConfig(method="ffn", target_sparsity=0.0001), teacher_config=BERT)
    check_compatible_configs(PruneConfig(method="ffn", target_sparsity=0.5), teacher_config=BERT)


def test_multi_head_llama_may_lose_any_number_of_heads():
    mha = {**LLAMA, "num_attention_heads": 8, "num_key_value_heads": 8, "hidden_size": 640}
    check_compatible_configs(DistillConfig(task="causal-lm", num_student_layers=10, num_heads=5), teacher_config=mha)
    with pytest.raises(ValueError, match="possible: 1, 2, 4, 5$"):
        check_compatible_configs(
            DistillConfig(task="causal-lm", num_student_layers=10, num_heads=3), teacher_config=mha
        )


def test_decoder_head_pruning_must_leave_a_head_count_the_config_holds():
    odd = {**LLAMA, "num_attention_heads": 8, "num_key_value_heads": 8, "hidden_size": 640}
    with pytest.raises(ValueError, match="num_heads 3 is not possible"):
        check_compatible_configs(PruneConfig(task="causal-lm", method="heads", target_sparsity=0.6), teacher_config=odd)
    check_compatible_configs(PruneConfig(task="causal-lm", method="heads", target_sparsity=0.5), teacher_config=LLAMA)
