"""The job pages with Django's test client: who may see what, and what each page shows."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from hub.jobs import services
from hub.jobs.models import Job, JobEvent, JobKind, JobStatus

pytestmark = pytest.mark.django_db


def make_job(owner, *, status=JobStatus.QUEUED, namespace=None, output="out", **fields) -> Job:
    """A job row straight through the ORM (no message is sent), with its 'created' event."""
    namespace = namespace or owner.namespace
    job = Job.objects.create(
        kind=fields.pop("kind", JobKind.FINETUNE),
        status=status,
        owner=owner,
        namespace=namespace,
        output_repo=f"{namespace.name}/{output}",
        base_repo="alice/tiny-bert",
        base_commit="a" * 40,
        dataset_repo="alice/sentiment",
        dataset_commit="b" * 40,
        spec={
            "task": "text-classification",
            "method": "full",
            "train_split": "train",
            "hyperparameters": {"epochs": 2.0, "learning_rate": 0.001, "batch_size": 8},
        },  # fmt: skip
        **fields,
    )
    services.add_event(job, JobEvent.Kind.STATUS, {"status": "queued", "message": "Job created"})
    return job


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    return client


def data_block(html: str) -> dict:
    match = re.search(r'<script id="job-data" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries its data in a JSON block"
    return json.loads(match.group(1))


# ----------------------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("url", ["/jobs", "/jobs/new", "/jobs/new?base=alice/tiny-bert", "/jobs/1"])
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=")


def test_someone_elses_job_is_not_found(client, alice, make_user):
    job = make_job(alice)
    client.force_login(make_user("mallory"))
    response = client.get(f"/jobs/{job.pk}", HTTP_ACCEPT="text/html")
    assert response.status_code == 404
    assert b"Not found" in response.content and b"tiny-bert" not in response.content
    assert client.get("/jobs/999999", HTTP_ACCEPT="text/html").status_code == 404


def test_an_org_admin_sees_the_org_job_and_a_member_does_not(client, alice, make_user):
    from hub.accounts.models import Role
    from hub.accounts.services import create_organisation, set_membership

    org = create_organisation(name="acme")
    admin, member = make_user("boss"), make_user("worker")
    set_membership(organisation=org, user=admin, role=Role.ADMIN)
    set_membership(organisation=org, user=member, role=Role.WRITE)
    job = make_job(alice, namespace=org.namespace, output="acme-model")
    client.force_login(admin)
    assert client.get(f"/jobs/{job.pk}").status_code == 200
    assert f'href="/jobs/{job.pk}"' in client.get("/jobs").content.decode()
    client.force_login(member)
    assert client.get(f"/jobs/{job.pk}").status_code == 404
    assert f'href="/jobs/{job.pk}"' not in client.get("/jobs").content.decode()


# ------------------------------------------------------------------------------------------------------- list


def test_list_shows_my_jobs_with_status_progress_and_output(signed_in, alice, make_user):
    running = make_job(alice, status=JobStatus.RUNNING, output="run", steps_done=5, steps_total=20)
    done = make_job(alice, status=JobStatus.SUCCEEDED, output="done", output_commit="c" * 40,
                    finished_at=timezone.now())  # fmt: skip
    other = make_job(make_user("bob"), output="bobs")
    html = signed_in.get("/jobs").content.decode()
    assert f'href="/jobs/{running.pk}"' in html and f'href="/jobs/{done.pk}"' in html
    assert f'href="/jobs/{other.pk}"' not in html
    assert 'status-running" data-status="running">running</span>' in html
    assert 'status-succeeded" data-status="succeeded">succeeded</span>' in html
    assert 'value="25.0"' in html and "25%" in html  # 5 of 20 steps
    assert '<a href="/alice/done" class="output-link">alice/done</a>' in html
    assert 'id="job-count">2<' in html


def test_list_filters_by_status_and_kind(signed_in, alice):
    queued = make_job(alice, output="q")
    failed = make_job(alice, status=JobStatus.FAILED, output="f")
    html = signed_in.get("/jobs?status=failed").content.decode()
    assert f'href="/jobs/{failed.pk}"' in html and f'href="/jobs/{queued.pk}"' not in html
    assert "No jobs match these filters." in signed_in.get("/jobs?kind=distill").content.decode()


def test_list_rejects_an_unknown_filter_with_a_message(signed_in):
    response = signed_in.get("/jobs?status=exploded")
    assert response.status_code == 400
    assert "Unknown status" in response.content.decode()


# ----------------------------------------------------------------------------------------------------- detail


def test_job_page_shows_inputs_settings_log_and_queue_position(signed_in, alice):
    job = make_job(alice, output="tiny-bert-sentiment")
    services.append_log(job.pk, ["loading the base model", "tokenising 64 rows"])
    response = signed_in.get(f"/jobs/{job.pk}")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/alice/tiny-bert/commit/{"a" * 40}"' in html
    assert f'href="/datasets/alice/sentiment/commit/{"b" * 40}"' in html
    assert "alice/tiny-bert-sentiment" in html and "(not published yet)" in html
    assert 'status-queued" data-status="queued">queued</span>' in html
    assert re.search(r'id="job-queue">Position <strong id="job-queue-position">1</strong> in queue', html)
    assert "loading the base model</li>" in html and "[queued] Job created</li>" in html
    assert '<th scope="row">learning_rate</th><td class="num">0.001</td>' in html
    assert 'data-action="cancel"' in html and 'data-action="retry" data-url' in html
    data = data_block(html)
    assert data["stream"] == f"/api/v1/jobs/{job.pk}/events/stream" and data["final"] is False
    assert data["after"] == JobEvent.objects.filter(job=job).latest("id").pk
    # The CSP allows no inline script: the only <script> blocks are external files or JSON data.
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag


def test_job_page_carries_the_metric_series_for_the_charts(signed_in, alice):
    job = make_job(alice, status=JobStatus.RUNNING)
    for step, loss in [(1, 0.7), (2, 0.6), (3, 0.5)]:
        services.add_event(
            job, JobEvent.Kind.METRICS, {"step": step, "epoch": step / 3, "split": "train", "loss": loss}
        )
    services.add_event(
        job, JobEvent.Kind.METRICS, {"step": 3, "split": "eval", "loss": 0.55, "accuracy": 0.8, "f1": 0.79}
    )
    data = data_block(signed_in.get(f"/jobs/{job.pk}").content.decode())
    assert [p["loss"] for p in data["series"]["train"]] == [0.7, 0.6, 0.5]
    assert data["series"]["eval"][0]["accuracy"] == 0.8


def test_finished_job_shows_output_checkpoint_final_metrics_with_baseline_and_error(signed_in, alice):
    job = make_job(
        alice, status=JobStatus.SUCCEEDED, output="done", output_commit="c" * 40, checkpoint_commit="d" * 40,
        checkpoint_step=8, finished_at=timezone.now(),
        metrics={"accuracy": 0.9375, "baseline_accuracy": 0.5, "eval_loss": 0.2, "baseline_majority_f1": 0.33,
                 "steps": 16, "device": "cpu"},
    )  # fmt: skip
    html = signed_in.get(f"/jobs/{job.pk}").content.decode()
    assert f'href="/alice/done/commit/{"c" * 40}"' in html
    assert 'href="/alice/done/tree/checkpoints">checkpoints</a> branch, step 8' in html
    assert '<th scope="row">accuracy</th><td class="num">0.9375</td><td class="num">0.5</td>' in html
    assert '<th scope="row">majority_f1</th><td class="num">—</td><td class="num">0.33</td>' in html
    assert '<th scope="row">device</th><td class="num">cpu</td>' in html
    assert f'data-action="cancel" data-url="/api/v1/jobs/{job.pk}/cancel" hidden' in html
    assert data_block(html)["final"] is True
    failed = make_job(alice, status=JobStatus.FAILED, output="broken", error="CUDA out of memory <boom>")
    html = signed_in.get(f"/jobs/{failed.pk}").content.decode()
    assert "CUDA out of memory &lt;boom&gt;" in html  # escaped
    assert re.search(r'data-action="retry" data-url="[^"]+">Retry', html)


def test_compression_report_becomes_a_table_and_chart_data(signed_in, alice):
    rows = [
        {"name": "teacher", "metric": 0.91, "latency_p50_ms_b1": 12.5, "throughput_b32": 400.0, "params": 22_000_000,
         "size_bytes": 90_000_000, "retention": 1.0},
        {"name": "int8", "metric": 0.9, "latency_p50_ms_b1": 6.1, "throughput_b32": 900.0, "params": 22_000_000,
         "size_bytes": 25_000_000, "retention": 0.989},
        {"name": "narrow", "metric": 0.88, "latency_p50_ms_b1": 5.0, "throughput_b32": 950.0, "params": 15_000_000,
         "size_bytes": 60_000_000, "retention": 0.967, "notes": "student: 3 of 6 layers, FFN 768 of 1536"},
    ]  # fmt: skip
    job = make_job(alice, kind=JobKind.LADDER, status=JobStatus.SUCCEEDED, report={"rows": rows, "metric_name": "f1"})
    html = signed_in.get(f"/jobs/{job.pk}").content.decode()
    assert '<th scope="row">int8</th><td class="num">0.9</td><td class="num">0.989</td>' in html
    assert '<th scope="row">narrow<br><small class="muted">student: 3 of 6 layers, FFN 768 of 1536</small></th>' in html
    assert 'id="report-chart"' in html and "23.8\xa0MB" in html
    assert data_block(html)["report"]["metric_name"] == "f1"


# -------------------------------------------------------------------------------------------------------- new


def test_new_form_prefills_base_defaults_bounds_and_output(signed_in, alice, make_repo):
    make_repo(alice, "tiny-bert", files={"config.json": b'{"model_type": "bert"}'})
    html = signed_in.get("/jobs/new?base=alice/tiny-bert").content.decode()
    assert 'id="f-base" name="base_model" value="alice/tiny-bert"' in html
    assert re.search(r'data-hp="epochs" data-kind="float"\s+min="0.01" max="100" step="any"\s+value="3.0"', html)
    assert re.search(r'data-hp="batch_size" data-kind="int"\s+min="1" max="1024" step="1"\s+value="16"', html)
    assert re.search(r'data-hp="learning_rate"[^>]*placeholder="auto"', html)
    assert re.search(r'data-hp="lora_r" data-kind="int"\s+min="1" max="256"', html)
    assert 'id="f-output" name="output" value="tiny-bert-finetuned"' in html
    assert '<option value="text-classification" selected>' in html
    assert "<option>alice</option>" in html
    assert 'data-csrf="' in html and "jobs/new.js" in html


def test_new_form_guesses_causal_lm_for_a_generative_model(signed_in, alice, make_repo):
    card = b"---\npipeline_tag: text-generation\n---\nA chat model.\n"
    make_repo(alice, "tiny-llama", files={"README.md": card, "config.json": b'{"model_type": "llama"}'})
    html = signed_in.get("/jobs/new?base=alice/tiny-llama").content.decode()
    assert '<option value="causal-lm" selected>' in html


def test_new_form_for_an_unreadable_base_says_so(signed_in, make_user, make_repo):
    make_repo(make_user("bob"), "secret", private=True)
    response = signed_in.get("/jobs/new?base=bob/secret")
    assert response.status_code == 200
    html = response.content.decode()
    assert "not found" in html and 'role="alert"' in html
    assert "Fine-tune a model" in html


def test_model_page_fine_tune_button_links_to_the_form(client, alice, make_repo):
    make_repo(alice, "tiny-bert", files={"config.json": b"{}"})
    client.force_login(alice)
    html = client.get("/alice/tiny-bert").content.decode()
    assert 'href="/jobs/new?base=alice/tiny-bert"' in html and 'data-feature="finetune">Fine-tune</a>' in html
    assert '<a href="/jobs">Jobs</a>' in html
