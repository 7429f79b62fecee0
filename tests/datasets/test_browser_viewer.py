"""The dataset viewer in headless Chromium: the preview table renders, scrolls sideways, and data never runs."""

from __future__ import annotations

import pytest

from tests.browser_support import SCREENSHOTS
from tests.datasets.conftest import jsonl, parquet, reviews

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_viewer_renders_and_data_never_runs(live_server, page, alice, make_dataset):  # noqa: F811
    evil = {"text": "<img src=x onerror=\"document.title='pwned'\">", "label": 1}
    wide = {f"feature_{i}": "x" * 40 for i in range(12)}
    make_dataset(alice, "reviews", files={
        "train.jsonl": jsonl([evil] + reviews(40)),
        "test.parquet": parquet([{**r, **wide} for r in reviews(3)]),
    })  # fmt: skip
    page.goto(f"{live_server.url}/datasets/alice/reviews")
    viewer = page.get_by_role("region", name="Dataset viewer")
    assert viewer.is_visible()
    assert page.locator("#split-train [data-rows]").inner_text() == "41 rows"
    assert page.locator("#split-test [data-rows]").inner_text() == "3 rows"
    assert page.locator("#split-train tbody tr").count() == 20
    assert page.locator("#split-train tbody tr").first.inner_text().startswith("<img src=x")
    assert page.title() != "pwned"
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the wide table scrolls inside its box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "datasets-viewer.png"), full_page=True)
