"""Compression jobs: the checks before queueing, and a ladder on a real worker (tiny random BERT teacher)."""

import json

import pytest
from rest_framework.test import APIClient

from tests.jobs.conftest import job_state, jsonl, sentiment_rows, wait_for


def compress_body(**overrides) -> dict:
    body = {
        "kind": "distill",
        "base_model": "alice/tiny-bert",
        "dataset": "alice/sentiment",
        "task": "text-classification",
        "output": "alice/tiny-bert-small",
        "max_length": 32,
        "config": {"num_student_layers": 1, "epochs": 1, "batch_size": 8},
    }
    body.update(overrides)
    return body


@pytest.fixture
def teacher_repo(alice, make_repo, tiny_bert_files, tmp_path):
    """The tiny BERT as a fine-tuned classifier (random weights, labels neg/pos): what compression starts from."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = json.loads(tiny_bert_files["config.json"])
    config = {k: v for k, v in config.items() if k not in ("architectures", "transformers_version")}
    torch.manual_seed(2)
    model = BertForSequenceClassification(
        BertConfig(**config, id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1})
    )
    model.save_pretrained(tmp_path / "teacher", safe_serialization=True)
    files = {
        **tiny_bert_files,
        "config.json": (tmp_path / "teacher" / "config.json").read_bytes(),
        "model.safetensors": (tmp_path / "teacher" / "model.safetensors").read_bytes(),
    }
    return make_repo(alice, "tiny-bert", files=files)


@pytest.fixture
def smaller_and_foreign(alice, make_repo, tiny_bert_files, tmp_path):
    """A 1-layer BERT with the same tokenizer, and one with another vocabulary."""
    import torch
    from transformers import BertConfig, BertModel

    config = json.loads(tiny_bert_files["config.json"])
    config["num_hidden_layers"] = 1
    torch.manual_seed(1)
    BertModel(
        BertConfig(**{k: v for k, v in config.items() if k not in ("architectures", "transformers_version")})
    ).save_pretrained(tmp_path, safe_serialization=True)
    small = {
        **tiny_bert_files,
        "config.json": (tmp_path / "config.json").read_bytes(),
        "model.safetensors": (tmp_path / "model.safetensors").read_bytes(),
    }
    make_repo(alice, "tiny-bert-1l", files=small)
    tokenizer = json.loads(tiny_bert_files["tokenizer.json"])
    vocab = tokenizer["model"]["vocab"]
    vocab["zzzz-foreign"] = vocab.pop(next(iter(vocab)))
    make_repo(alice, "foreign-1l", files={**small, "tokenizer.json": json.dumps(tokenizer).encode()})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"config": {"num_student_layers": 2}}, "num_student_layers must be between 1 and 1"),
        ({"config": {"keep_layers": [0, 7]}}, "out of range"),
        ({"config": {"alpha": 3}}, "alpha"),
        ({"config": {"bogus": 1}}, "bogus"),
        ({"kind": "quantize", "config": {"method": "int3"}}, "method must be one of"),
        ({"kind": "prune", "config": {"target_sparsity": 1.5}}, "target_sparsity"),
        ({"kind": "ladder", "steps": []}, "steps"),
        ({"kind": "ladder", "steps": [{"kind": "quantize"}, {"kind": "quantize"}]}, "same student"),
        ({"kind": "ladder", "steps": [{"kind": "teleport"}]}, "kind must be distill, quantize or prune"),
        ({"columns": {"label": "stars"}}, "stars"),
        ({"task": "causal-lm"}, "unsupported architecture 'bert' for causal-lm"),
        ({"config": {"student": "existing"}}, "needs student_model"),
        ({"config": {"student": "existing"}, "student_model": "alice/tiny-bert"}, "not smaller"),
        ({"config": {"student": "existing"}, "student_model": "alice/foreign-1l"}, "different tokenizers"),
        ({"output": "alice/tiny-bert"}, "output must differ"),
        ({"config": {"num_student_layers": 1, "intermediate_size": 64}}, "intermediate_size must be between 1 and 63"),
        ({"config": {"num_student_layers": 3, "intermediate_size": 32}}, "num_student_layers must be between 1 and 2"),
        ({"config": {"num_student_layers": 1, "num_heads": 1}}, "a bert model cannot have fewer attention heads"),
        ({"config": {"intermediate_size": "wide"}}, "intermediate_size must be a positive integer"),
        ({"kind": "prune", "config": {"method": "ffn", "target_sparsity": 0.001}}, "removes no neuron"),
    ],
)
def test_bad_compression_requests_are_400_before_queueing(
    teacher_repo, sentiment_dataset, smaller_and_foreign, alice_api, overrides, needle
):
    from hub.jobs.models import Job

    response = alice_api.post("/api/v1/jobs", compress_body(**overrides), format="json")
    assert response.status_code == 400, response.content
    assert needle in response.json()["error"], response.json()["error"]
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_teacher_must_be_a_classifier(bert_repo, sentiment_dataset, alice_api):
    response = alice_api.post("/api/v1/jobs", compress_body(), format="json")
    assert response.status_code == 400 and "not a fine-tuned classifier" in response.json()["error"]


@pytest.mark.django_db
def test_unsupported_architecture_is_named(alice, make_repo, sentiment_dataset, alice_api):
    make_repo(
        alice, "t5ish", files={"config.json": b'{"model_type": "t5", "num_layers": 2}', "model.safetensors": b"x"}
    )
    response = alice_api.post("/api/v1/jobs", compress_body(base_model="alice/t5ish"), format="json")
    assert response.status_code == 400 and "unsupported architecture 't5'" in response.json()["error"]


@pytest.mark.django_db
def test_existing_student_and_presets_are_accepted(teacher_repo, sentiment_dataset, smaller_and_foreign, alice_api):
    response = alice_api.post(
        "/api/v1/jobs",
        compress_body(config={"student": "existing", "epochs": 1}, student_model="alice/tiny-bert-1l"),
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["spec"]["student"]["repo"] == "alice/tiny-bert-1l"
    ladder = alice_api.post(
        "/api/v1/jobs", compress_body(kind="ladder", preset="fastest", output="alice/tb"), format="json"
    ).json()
    assert ladder["spec"]["outputs"] == ["alice/tb-distilled-1l", "alice/tb-dynamic-int8"]  # half of 2 layers
    assert ladder["spec"]["preset"] == "fastest"


@pytest.mark.django_db
def test_narrower_students_are_accepted_and_named(teacher_repo, sentiment_dataset, alice_api):
    body = compress_body(
        kind="ladder",
        output="alice/tb",
        steps=[
            {"kind": "distill", "num_student_layers": 2, "intermediate_size": 32},
            {"kind": "distill", "num_student_layers": 1, "intermediate_size": 16},
            {"kind": "prune", "method": "ffn", "target_sparsity": 0.5},
        ],
    )
    response = alice_api.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 201, response.content
    spec = response.json()["spec"]
    assert spec["outputs"] == ["alice/tb-distilled-2l-ff32", "alice/tb-distilled-1l-ff16", "alice/tb-prune-ffn-50"]
    assert spec["steps"][0]["settings"]["intermediate_size"] == 32


@pytest.mark.django_db(transaction=True)
def test_a_ladder_publishes_students_with_a_report_and_lineage(
    alice, make_repo, teacher_repo, alice_api, job_queue, start_worker
):
    from hub.registry import selectors
    from hub.registry.models import Repo
    from tests.jobs.test_worker_jobs import files_at, read_file

    rows = sentiment_rows(96)
    make_repo(
        alice, "sentiment", type="dataset", files={"train.jsonl": jsonl(rows[:64]), "test.jsonl": jsonl(rows[64:])}
    )
    start_worker(job_queue)
    body = compress_body(
        kind="ladder",
        output="alice/tb",
        validation_split="test",
        steps=[
            {"kind": "distill", "num_student_layers": 1, "epochs": 2, "batch_size": 8, "learning_rate": 1e-3},
            {"kind": "quantize", "method": "dynamic-int8"},
            {"kind": "prune", "method": "magnitude", "target_sparsity": 0.5},
            {"kind": "distill", "num_student_layers": 2, "intermediate_size": 16, "max_steps": 2, "batch_size": 8},
        ],
    )
    response = alice_api.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 201, response.content
    job = wait_for(lambda: (j := job_state(response.json()["id"])).is_final and j, timeout=300, what="the ladder")
    assert job.status == "succeeded", (job.error, job.log_tail)
    outputs = {
        "alice/tb-distilled-1l": "distillation",
        "alice/tb-dynamic-int8": "quantized",
        "alice/tb-prune-magnitude-50": "pruned",
        "alice/tb-distilled-2l-ff16": "distillation",
    }
    for name, relation in outputs.items():
        repo = Repo.objects.get(full_name=name)
        assert [(n.repo.full_name, n.relation) for n in selectors.parents(alice, repo)] == [
            ("alice/tiny-bert", relation)
        ]
        card = read_file(name, "README.md").decode()
        assert "base_model: alice/tiny-bert" in card and "Teacher vs student" in card
        assert "compression_report.svg" in files_at(name)
    assert "hub_quantization.json" in files_at("alice/tb-dynamic-int8")
    rows = job.report["rows"]
    names = ["teacher", "distilled-1l", "dynamic-int8", "prune-magnitude-50", "distilled-2l-ff16"]
    assert [r["name"] for r in rows] == names
    assert all(r.get("latency_p50_ms_b1") and r.get("throughput_b32") and r.get("params") for r in rows)
    assert rows[1]["params"] < rows[0]["params"] and rows[1]["retention"] is not None
    # A narrower student keeps every layer but a quarter of the FFN: smaller, and the report says its shape.
    assert rows[4]["params"] < rows[0]["params"] and rows[4]["notes"] == "student: FFN 16 of 64"
    assert "Student: FFN 16 of 64." in read_file("alice/tb-distilled-2l-ff16", "README.md").decode()
    assert job.report["metric_name"] == "accuracy"
    # The teacher's page lists its compressed descendants with their report rows; others see only public ones.
    teacher_page = alice_api.get("/alice/tiny-bert").content.decode()
    assert "Compressed versions" in teacher_page
    assert all(f'href="/{name}"' in teacher_page for name in outputs)
    Repo.objects.filter(full_name="alice/tb-dynamic-int8").update(private=True)
    anonymous = APIClient().get("/alice/tiny-bert").content.decode()
    assert 'href="/alice/tb-distilled-1l"' in anonymous and "tb-dynamic-int8" not in anonymous


@pytest.mark.django_db
def test_the_compress_form_from_the_model_page(teacher_repo, sentiment_dataset, alice, client):
    from hub.jobs.models import Job

    client.force_login(alice)
    page = client.get("/alice/tiny-bert").content.decode()
    assert 'href="/jobs/compress?base=alice/tiny-bert"' in page
    form = client.get("/jobs/compress?base=alice/tiny-bert").content.decode()
    assert "Fastest with ≤ 1 point loss" in form and "Smallest" in form and 'value="alice/sentiment"' in form
    # An error is shown in the form, nothing is queued.
    bad = client.post(
        "/jobs/compress",
        {
            "base_model": "alice/tiny-bert",
            "dataset": "alice/nope",
            "preset": "fastest",
            "output": "alice/tb",
            "task": "text-classification",
        },
    )
    assert bad.status_code == 400 and "not found" in bad.content.decode() and not Job.objects.exists()
    good = client.post(
        "/jobs/compress",
        {
            "base_model": "alice/tiny-bert",
            "dataset": "alice/sentiment",
            "preset": "custom",
            "method": "quantize",
            "quant_method": "weight-int8",
            "output": "alice/tb-int8",
            "task": "text-classification",
        },
    )
    job = Job.objects.get()
    assert good.status_code == 302 and good["Location"] == f"/jobs/{job.pk}"
    assert job.kind == "quantize" and job.spec["steps"][0]["settings"]["method"] == "weight-int8"
    assert client.get("/jobs/compress?base=bob/secret").status_code == 404
    client.logout()
    assert client.get("/jobs/compress?base=alice/tiny-bert").status_code == 302


@pytest.mark.django_db
def test_the_compress_form_takes_a_student_ffn_width(teacher_repo, sentiment_dataset, alice, client):
    from hub.jobs.models import Job

    client.force_login(alice)
    assert 'name="intermediate_size"' in client.get("/jobs/compress?base=alice/tiny-bert").content.decode()
    fields = {
        "base_model": "alice/tiny-bert",
        "dataset": "alice/sentiment",
        "preset": "custom",
        "method": "distill",
        "output": "alice/tb-narrow",
        "task": "text-classification",
        "num_student_layers": "1",
    }
    bad = client.post("/jobs/compress", {**fields, "intermediate_size": "64"})
    assert bad.status_code == 400 and "intermediate_size must be between 1 and 63" in bad.content.decode()
    assert client.post("/jobs/compress", {**fields, "intermediate_size": "32"}).status_code == 302
    assert Job.objects.get().spec["steps"][0]["settings"]["intermediate_size"] == 32
