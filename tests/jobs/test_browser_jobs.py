"""The job pages in headless Chromium against a live server: from a model page to a queued job through the
Fine-tune form, and a job page that follows new events live (log lines, charts, progress) without a reload.

No worker runs: jobs go to a queue of the test's own (job_queue) and stay queued. Screenshots land in
test-output/screenshots/jobs-*.png."""

from __future__ import annotations

import re

import pytest
from django.core.signals import request_started
from playwright.sync_api import expect

from hub.jobs import services
from hub.jobs.models import Job, JobEvent, JobStatus
from tests.browser_support import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WAIT = 15_000  # ms; two shared CPUs: give the live server and the event stream room


def shot(tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"jobs-{name}.png"), full_page=True)


def sign_in(tab, live_server, username: str, next_url: str) -> None:
    tab.goto(f"{live_server.url}/login?next={next_url}")
    tab.fill("#id_username", username)
    tab.fill("#id_password", "correct-horse-battery")
    tab.keyboard.press("Enter")
    tab.wait_for_url(f"{live_server.url}{next_url}")


def wait_until(tab, predicate, what: str, timeout_ms: int = WAIT * 2) -> None:
    for _ in range(timeout_ms // 100):
        if predicate():
            return
        tab.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_fine_tune_from_the_model_page_to_a_queued_job(
    live_server, page, alice, bert_repo, sentiment_dataset, job_queue, make_repo
):
    make_repo(alice, "chat-logs", type="dataset", files={"train.jsonl": b'{"prompt": "hi", "response": "hello"}\n'})
    ahead = Job.objects.create(kind="finetune", owner=alice, namespace=alice.namespace, queue=job_queue,
                               output_repo="alice/earlier")  # fmt: skip
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, "alice", "/alice/tiny-bert")
    page.get_by_role("link", name="Fine-tune").click()
    page.wait_for_url(re.compile(r".*/jobs/new\?base=alice/tiny-bert$"))
    assert page.input_value("#f-base") == "alice/tiny-bert"
    assert page.input_value("#hp-epochs") == "3.0" and page.get_attribute("#hp-epochs", "max") == "100"
    assert page.locator("#lora-fields").is_hidden()
    page.select_option("#f-method", "lora")
    assert page.locator("#lora-fields").is_visible() and page.input_value("#hp-lora_r") == "8"
    page.select_option("#f-method", "full")
    assert page.locator("#lora-fields").is_hidden()

    # Search datasets as you type, pick one: its splits and columns come from the dataset viewer.
    page.locator("#f-dataset").press_sequentially("senti", delay=30)
    expect(page.get_by_role("option", name="alice/chat-logs")).to_have_count(
        0, timeout=WAIT
    )  # listed on focus, not for "senti"
    option = page.get_by_role("option", name="alice/sentiment")
    expect(option).to_have_count(1, timeout=WAIT)
    option.click()
    assert page.input_value("#f-dataset") == "alice/sentiment"
    assert page.input_value("#f-output") == "tiny-bert-sentiment"
    info = page.locator("#dataset-info")
    expect(info).not_to_be_empty(timeout=WAIT)
    if "Splits:" in info.inner_text():  # the dataset viewer answered
        assert "train (64 rows)" in info.inner_text() and "label" in info.inner_text()
        assert page.input_value("#f-validation-split") == "validation"
    page.fill("#hp-epochs", "2")
    page.fill("#hp-batch_size", "8")
    page.fill("#hp-max_length", "32")

    # A bound the browser checks, then a rule only the API knows: both shown inline.
    page.fill("#hp-batch_size", "5000")
    page.get_by_role("button", name="Start fine-tuning").click()
    assert "batch size" in page.locator("#form-error").inner_text()
    page.fill("#hp-batch_size", "8")
    page.fill("#f-output", "tiny-bert")
    page.get_by_role("button", name="Start fine-tuning").click()
    expect(page.locator("#form-error")).to_contain_text("output must differ from base_model", timeout=WAIT)
    shot(page, "form-error")
    page.fill("#f-output", "tiny-bert-sentiment")
    page.get_by_role("button", name="Start fine-tuning").click()

    page.wait_for_url(re.compile(r".*/jobs/\d+$"))
    job = Job.objects.exclude(pk=ahead.pk).get()
    assert page.url.endswith(f"/jobs/{job.pk}")
    assert job.status == JobStatus.QUEUED and job.queue == job_queue
    assert job.spec["hyperparameters"]["epochs"] == 2 and job.spec["hyperparameters"]["batch_size"] == 8
    assert job.output_repo == "alice/tiny-bert-sentiment" and len(job.base_commit) == 40
    assert page.locator("#job-status .job-status").inner_text() == "queued"
    assert page.locator("#job-queue").inner_text().startswith("Position 2 in queue")
    assert page.locator("#job-log").inner_text().startswith("[queued] Job created")
    assert page.get_by_role("link", name="alice/tiny-bert", exact=True).is_visible()
    shot(page, "queued")

    # Cancel from the page: the API answers, the badge follows without a reload.
    page.evaluate("window.__same_page = true")
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-status .job-status")).to_have_text("cancelled", timeout=WAIT)
    assert page.get_by_role("button", name="Retry").is_visible()
    assert page.get_by_role("button", name="Cancel job").is_hidden()
    assert page.evaluate("window.__same_page") is True
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    page.goto(f"{live_server.url}/jobs")
    assert page.locator(f'tr[data-job="{job.pk}"] .job-status').inner_text() == "cancelled"
    shot(page, "list")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors


@pytest.fixture
def stream_requests():
    """The Last-Event-ID header (or None) of each request the live server gets for a job's event stream."""
    seen = []

    def record(sender, environ, **kwargs):
        if environ["PATH_INFO"].endswith("/events/stream"):
            seen.append(environ.get("HTTP_LAST_EVENT_ID"))

    request_started.connect(record, weak=False, dispatch_uid="test-stream-requests")
    yield seen
    request_started.disconnect(dispatch_uid="test-stream-requests")


def test_job_page_draws_charts_and_follows_new_events_live(live_server, page, alice, settings, stream_requests):
    streams = stream_requests
    settings.HUB_JOB_STREAM_POLL_SECONDS = 0.2
    settings.HUB_JOB_STREAM_MAX_SECONDS = 2  # the server ends each stream soon: the page must reconnect
    job = Job.objects.create(kind="finetune", owner=alice, namespace=alice.namespace, status=JobStatus.RUNNING,
                             output_repo="alice/tiny-bert-sentiment", base_repo="alice/tiny-bert", base_commit="a" * 40,
                             dataset_repo="alice/sentiment", dataset_commit="b" * 40, steps_done=4, steps_total=16,
                             spec={"task": "text-classification", "method": "full",
                                   "hyperparameters": {"epochs": 2.0, "batch_size": 8}})  # fmt: skip
    services.add_event(job, JobEvent.Kind.STATUS, {"status": "running", "message": "Running on w1 (attempt 1)"})
    for step, loss in [(1, 0.71), (2, 0.66), (3, 0.61), (4, 0.55)]:
        services.add_event(
            job, JobEvent.Kind.METRICS, {"step": step, "epoch": step / 8, "split": "train", "loss": loss}
        )
    services.add_event(
        job, JobEvent.Kind.METRICS, {"step": 4, "split": "eval", "loss": 0.6, "accuracy": 0.7, "f1": 0.68}
    )
    services.append_log(job.pk, ["step 4/16 loss 0.5500"])

    sign_in(page, live_server, "alice", f"/jobs/{job.pk}")
    train = page.locator('figure[data-chart="train-loss"] path.line')
    assert train.count() == 1 and train.get_attribute("d").count("L") == 3  # four points
    assert page.locator('figure[data-chart="eval-loss"] path.line').count() == 1
    assert page.locator('figure[data-chart="quality"] path.line').count() == 2  # accuracy and f1
    assert page.locator('figure[data-chart="perplexity"]').count() == 0  # a classifier has none
    assert "step 4/16 loss 0.5500" in page.locator("#job-log").inner_text()
    assert page.locator("#job-percent").inner_text() == "25.0%"
    expect(page.locator("#live-state")).to_have_text("live", timeout=WAIT)
    page.evaluate("window.__same_page = true")
    shot(page, "running")

    wait_until(page, lambda: len(streams) >= 2, "the page to reconnect once the server ended the first stream")

    # The worker goes on: more steps, a log line, metrics, a checkpoint. The page follows without a reload.
    Job.objects.filter(pk=job.pk).update(steps_done=8, checkpoint_commit="d" * 40, checkpoint_step=8)
    services.append_log(job.pk, ["step 8/16 loss 0.4100"])
    for step, loss in [(6, 0.48), (8, 0.41)]:
        services.add_event(
            job, JobEvent.Kind.METRICS, {"step": step, "epoch": step / 8, "split": "train", "loss": loss}
        )
    services.add_event(
        job, JobEvent.Kind.METRICS, {"step": 8, "split": "eval", "loss": 0.45, "accuracy": 0.9, "f1": 0.89}
    )
    services.add_event(job, JobEvent.Kind.CHECKPOINT, {"step": 8, "commit": "d" * 40, "branch": "checkpoints"})
    expect(page.locator("#job-log")).to_contain_text("step 8/16 loss 0.4100", timeout=WAIT)
    expect(page.locator('figure[data-chart="train-loss"] circle')).to_have_count(6, timeout=WAIT)
    expect(page.locator("#job-percent")).to_have_text("50.0%", timeout=WAIT)
    expect(page.locator("#job-checkpoint")).to_contain_text("step 8", timeout=WAIT)
    assert "accuracy 0.9" in page.locator('figure[data-chart="quality"] figcaption').inner_text()
    assert page.evaluate("window.__same_page") is True
    shot(page, "live")
    wait_until(page, lambda: any(streams), "a reconnection that resumes after the last event (Last-Event-ID)")
    assert page.locator("#job-log li").all_inner_texts().count("step 8/16 loss 0.4100") == 1  # nothing replayed

    # It finishes: the final status, metrics and output arrive; the stream ends.
    Job.objects.filter(pk=job.pk).update(
        steps_done=16, output_commit="c" * 40, metrics={"accuracy": 0.95, "baseline_accuracy": 0.5}
    )
    services.finish(Job.objects.get(pk=job.pk), JobStatus.SUCCEEDED, message="Published alice/tiny-bert-sentiment")
    expect(page.locator("#job-status .job-status")).to_have_text("succeeded", timeout=WAIT)
    expect(page.locator("#final-metrics table")).to_be_visible(timeout=WAIT)
    assert "0.95" in page.locator("#final-metrics").inner_text()
    assert page.locator(f'#job-facts a[href="/alice/tiny-bert-sentiment/commit/{"c" * 40}"]').count() == 1
    assert page.locator("#job-percent").inner_text() == "100.0%"
    assert page.evaluate("window.__same_page") is True
    shot(page, "succeeded")
