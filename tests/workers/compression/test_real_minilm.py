"""The real MiniLM-L6, briefly fine-tuned on BBC News: distillation and dynamic int8 keep its accuracy."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bbc_teacher(tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification

    from tests.workers.compression.conftest import minilm_dir
    from workers.compression import DistillConfig, loop, modeling
    from workers.compression.data import encode
    from workers.reporting import RecordingReporter
    from workers.sample_data import bbc_news_rows, sample, split

    train, test = split(sample(bbc_news_rows(), 700, seed=1), test_fraction=200 / 700, seed=0, stratify="label")
    labels = sorted({r["label"] for r in train})
    torch.manual_seed(42)
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_dir(), num_labels=5, id2label=dict(enumerate(labels)), label2id={v: i for i, v in enumerate(labels)}
    )
    config = DistillConfig(max_length=64)
    encoded = encode(train, modeling.load_tokenizer(minilm_dir()), config, labels=labels)
    loop.train(model, encoded=encoded, loss_fn=lambda b: (model(**b).loss, {}), reporter=RecordingReporter(),
               batch_size=16, learning_rate=2e-4, weight_decay=0.01, total_steps=2 * 32, seed=42)  # fmt: skip
    folder = tmp_path_factory.mktemp("minilm-bbc")
    modeling.save_model(model, minilm_dir(), folder)
    return folder, train, test


def test_three_layer_student_keeps_the_accuracy_and_is_faster(bbc_teacher, tmp_path):
    from workers.compression import DistillConfig, compare, distill
    from workers.reporting import RecordingReporter

    teacher, train, test = bbc_teacher
    config = DistillConfig(num_student_layers=3, max_length=64, batch_size=16, epochs=2, learning_rate=2e-4)
    result = distill(config, teacher_dir=teacher, train_rows=train, eval_rows=test, output_dir=tmp_path / "s",
                     reporter=RecordingReporter())  # fmt: skip
    assert result["teacher_metrics"]["accuracy"] > 0.85
    data = compare(teacher, {"3-layer": tmp_path / "s"}, task="text-classification", eval_rows=test, rounds=1,
                   latency_rows=8, throughput_batches=2, max_length=64)  # fmt: skip
    student = data["rows"][1]
    assert student["retention"] >= 0.95, data
    assert student["speedup_b32"] > 1.2, data


def test_dynamic_int8_keeps_the_accuracy(bbc_teacher, tmp_path):
    from workers.compression import QuantizeConfig, quantize
    from workers.reporting import RecordingReporter

    teacher, _, test = bbc_teacher
    result = quantize(QuantizeConfig(method="dynamic-int8", max_length=64), model_dir=teacher,
                      output_dir=tmp_path / "q", reporter=RecordingReporter(), eval_rows=test)  # fmt: skip
    drop = result["original_metrics"]["accuracy"] - result["metrics"]["accuracy"]
    assert drop <= 0.02, result
    assert result["file_size_bytes"] < 0.7 * result["original_file_size_bytes"]  # 58.8 of 90.9 MB: embeddings stay fp32
