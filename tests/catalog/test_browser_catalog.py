"""The catalog in headless Chromium against a live server: sign up and in, search and filter, read a card (whose
scripts never run), browse files at an older commit, compare two versions, upload a model, manage tokens.

Every test leaves a full-page screenshot in test-output/screenshots/ (see tests/browser_support.py)."""

import re

import pytest

from tests.browser_support import SCREENSHOTS
from tests.catalog.conftest import card

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVIL_CARD = card(
    "# Sentiment BERT\n\nClassifies movie reviews.\n\n"
    "<script>document.title='pwned'</script>\n\n"
    "<img src=x onerror=\"document.title='pwned'\">\n\n"
    '<a href="javascript:document.title=\'pwned\'">click me</a>\n',
    license="mit", pipeline_tag="text-classification", library_name="transformers",
)  # fmt: skip


@pytest.fixture
def models(make_user, make_repo):
    from hub.registry.services.commits import AddFile, create_commit, create_tag

    alice = make_user("alice")
    bob = make_user("bob")
    base = make_repo(alice, "sentiment-bert", files={"README.md": EVIL_CARD, "config.json": b'{"hidden_size": 8}\n'})
    create_tag(repo=base, name="v1")
    create_commit(repo=base, author=alice, title="Bigger model", operations=[
        AddFile(path="config.json", content=b'{"hidden_size": 16}\n')])  # fmt: skip
    make_repo(bob, "embedder", files={"README.md": card("Embeddings.", pipeline_tag="feature-extraction")})
    make_repo(bob, "sentiment-small", files={"README.md": card(
        "Smaller.", pipeline_tag="text-classification", base_model="alice/sentiment-bert")})  # fmt: skip
    make_repo(bob, "sentiment-private", private=True, files={"README.md": card("Hidden.")})
    return {"alice": alice, "bob": bob}


def shot(tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"catalog-{name}.png"), full_page=True)


def sign_in(tab, live_server, username: str) -> None:
    tab.goto(f"{live_server.url}/login?next=/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", "correct-horse-battery")
    tab.keyboard.press("Enter")
    tab.wait_for_url(f"{live_server.url}/")


def test_sign_in_search_and_filter(live_server, page, models):  # noqa: F811
    sign_in(page, live_server, "alice")
    assert page.get_by_role("heading", name="Trending").is_visible()
    shot(page, "home")
    page.fill("#nav-q", "sentiment")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/models\?q=sentiment$"))
    results = page.locator("#results .repo-item")
    assert results.count() == 2  # bob's private model stays hidden from alice
    assert page.inner_text("#result-count") == "2"
    page.locator('[data-facet="owner"] a', has_text="bob").click()
    page.wait_for_url(re.compile(r".*owner=bob"))
    assert page.locator("#results .repo-item").all_inner_texts()[0].startswith("bob/sentiment-small")
    page.select_option("#sort", "likes")  # autosubmits
    page.wait_for_url(re.compile(r".*sort=likes"))
    assert page.get_by_label("Remove filter owner: bob").is_visible()
    shot(page, "search-filtered")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: everything fits the width
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "search-phone")


def test_model_card_renders_and_its_scripts_never_run(live_server, page, models):  # noqa: F811
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/models")
    page.get_by_role("link", name="alice/sentiment-bert", exact=True).click()
    page.wait_for_url(f"{live_server.url}/alice/sentiment-bert")
    card_box = page.locator("#model-card")
    assert card_box.locator("h1").inner_text() == "Sentiment BERT"
    assert "Classifies movie reviews." in card_box.inner_text()
    card_box.get_by_text("click me").click()  # its javascript: href was removed
    page.wait_for_timeout(300)
    assert page.title() == "alice/sentiment-bert · Models · Model hub"
    assert "pwned" not in page.title() and not dialogs
    assert page.locator(".side-panel").get_by_text("text-classification").is_visible()
    page.get_by_text("Use this model").click()
    page.get_by_role("tab", name="huggingface_hub").focus()
    page.keyboard.press("ArrowRight")  # keyboard tabs
    assert page.get_by_role("tab", name="transformers").get_attribute("aria-selected") == "true"
    assert "pipeline(" in page.locator("#snippet-transformers").inner_text()
    assert live_server.url in page.locator("#snippet-transformers").inner_text()
    shot(page, "model-card")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Lineage", exact=True).click()
    assert page.get_by_role("link", name="bob/sentiment-small").is_visible()
    page.get_by_role("link", name="bob/sentiment-small").click()
    page.locator(".repo-title").get_by_role("link", name="bob").click()
    page.wait_for_url(f"{live_server.url}/bob")
    assert page.locator("#models-h").is_visible() and "sentiment-private" not in page.content()
    shot(page, "owner")


def test_browse_files_at_an_older_commit_and_compare(live_server, page, models):  # noqa: F811
    page.goto(f"{live_server.url}/alice/sentiment-bert")
    page.get_by_role("link", name="Files and versions").click()
    page.wait_for_url(re.compile(r".*/tree/main$"))
    page.select_option("#rev-select", "v1")
    page.wait_for_url(re.compile(r".*/tree/v1$"))
    page.get_by_role("link", name="config.json", exact=True).click()
    page.wait_for_url(re.compile(r".*/blob/v1/config.json$"))
    assert "8" in page.locator(".code-view td.code").inner_text()
    shot(page, "file-at-v1")
    page.get_by_role("link", name="History", exact=True).click()
    rows = page.locator(".commit-row")
    assert rows.count() == 3
    rows.nth(0).locator("input[name=head]").check()
    rows.nth(2).locator("input[name=base]").check()
    page.get_by_role("button", name="Compare selected versions").click()
    page.wait_for_url(re.compile(r".*/compare\?.*base=.*"))
    diff = page.locator('.diff-file[data-path="config.json"]')
    assert "+" in diff.locator(".line.add").first.inner_text() and "16" in diff.inner_text()
    assert page.locator('.diff-file[data-path="README.md"]').is_visible()
    shot(page, "compare")


def test_upload_a_new_model_through_the_form(live_server, page, models, tmp_path):  # noqa: F811
    sign_in(page, live_server, "alice")
    page.get_by_role("link", name="+ New model").click()
    page.fill("#id_name", "my-upload")
    page.get_by_role("button", name="Create repository").click()
    page.wait_for_url(f"{live_server.url}/alice/my-upload/upload")
    page.set_input_files("#file-input", [
        {"name": "README.md", "mimeType": "text/markdown", "buffer": card("# Uploaded\n\nFrom the browser.",
                                                                          license="apache-2.0")},
        {"name": "config.json", "mimeType": "application/json", "buffer": b'{"a": 1}'},
    ])  # fmt: skip
    folder = tmp_path / "weights"
    (folder / "shards").mkdir(parents=True)
    (folder / "shards" / "part-1.bin").write_bytes(b"\x00" * 300_000)
    page.set_input_files("#folder-input", str(folder))
    assert page.locator("#upload-list tbody tr").count() == 3
    page.fill("#upload-prefix", "")
    page.fill("#commit-title", "First upload")
    shot(page, "upload-form")
    page.get_by_role("button", name="Commit changes").click()
    page.wait_for_url(f"{live_server.url}/alice/my-upload")
    assert page.locator("#model-card h1").inner_text() == "Uploaded"
    page.get_by_role("link", name="Files and versions").click()
    assert page.locator('tr[data-path="shards"]').is_visible()
    page.get_by_role("link", name="History", exact=True).click()
    assert "First upload" in page.locator(".commit-row").first.inner_text()


def test_sign_up_then_create_and_revoke_a_token(live_server, page, db):  # noqa: F811
    page.goto(f"{live_server.url}/")
    page.get_by_role("link", name="Sign up").click()
    page.fill("#id_username", "carol")
    page.fill("#id_password", "a-long-passphrase")
    page.fill("#id_password2", "a-long-passphrase")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="Tokens").click()
    page.fill("#token-name", "ci")
    page.select_option("#token-role", "read")
    page.get_by_role("button", name="Create token").click()
    token = page.inner_text("#new-token-value").strip()
    assert token.startswith("hf_")
    shot(page, "token-created")
    page.get_by_role("button", name="Revoke ci").click()
    assert "revoked" in page.locator("tr[data-token=ci]").inner_text()
    page.reload()
    assert token not in page.content()
