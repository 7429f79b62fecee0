"""Files and versions: the tree at a branch, tag or commit; highlighted text files; downloads."""

import re

import pytest

pytestmark = pytest.mark.django_db


def paths(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<tr class="(?:file|dir)" data-path="([^"]+)"', response.content.decode())


def test_tree_at_branch_tag_and_commit(hub, client):
    assert paths(client.get("/alice/sentiment-bert/tree/main")) == ["src", ".gitattributes", "config.json", "README.md"]
    assert paths(client.get("/alice/sentiment-bert/tree/v1")) == [".gitattributes", "config.json", "README.md"]
    sha = hub["base"].commits.order_by("created_at")[1].sha  # the commit tagged v1
    assert paths(client.get(f"/alice/sentiment-bert/tree/{sha}")) == [".gitattributes", "config.json", "README.md"]
    assert paths(client.get(f"/alice/sentiment-bert/tree/{sha[:8]}")) == [".gitattributes", "config.json", "README.md"]
    assert paths(client.get("/alice/sentiment-bert/tree/main/src")) == ["src/train.py"]


def test_file_at_an_older_commit(hub, client):
    old = client.get("/alice/sentiment-bert/blob/v1/config.json").content.decode()
    new = client.get("/alice/sentiment-bert/blob/main/config.json").content.decode()
    assert ">8<" in old and ">16<" not in old and ">16<" in new


def test_text_file_is_highlighted_with_line_anchors(hub, client):
    html = client.get("/alice/sentiment-bert/blob/main/src/train.py").content.decode()
    assert '<span class="k">def</span>' in html and 'href="#L-2"' in html
    assert 'href="/alice/sentiment-bert/resolve/' in html and " download" in html


def test_binary_and_missing_files(alice, make_repo, client):
    make_repo(alice, "bin", files={"weights.bin": b"\x00\x01\x02" * 100})
    html = client.get("/alice/bin/blob/main/weights.bin").content.decode()
    assert "This is a binary file." in html
    assert client.get("/alice/bin/blob/main/nope.txt").status_code == 404
    assert client.get("/alice/bin/tree/main/nope").status_code == 404
    assert client.get("/alice/bin/tree/no-such-branch").status_code == 404


def test_file_text_is_escaped(alice, make_repo, client):
    make_repo(alice, "html", files={"page.html": b"<script>alert(1)</script>", "notes.txt": b"<b>hi</b>"})
    assert "<script>alert" not in client.get("/alice/html/blob/main/page.html").content.decode()
    assert "&lt;b&gt;hi&lt;/b&gt;" in client.get("/alice/html/blob/main/notes.txt").content.decode()


def test_branch_names_with_slashes(hub, client):
    from hub.registry.services.commits import AddFile, create_branch, create_commit

    create_branch(repo=hub["base"], name="feat/x")
    create_commit(repo=hub["base"], author=hub["alice"], branch="feat/x", title="feature",
                  operations=[AddFile(path="src/feature.py", content=b"x = 1\n")])  # fmt: skip
    assert "src/feature.py" in paths(client.get("/alice/sentiment-bert/tree/feat/x/src"))
    assert "x = " in client.get("/alice/sentiment-bert/blob/feat/x/src/feature.py").content.decode().replace(
        '<span class="w"> </span>', " "
    ).replace('<span class="n">x</span>', "x").replace('<span class="o">=</span>', "=")
    picker = client.get("/alice/sentiment-bert/tree?rev=feat/x&path=src")
    assert picker.status_code == 302 and picker["Location"] == "/alice/sentiment-bert/tree/feat/x/src"


def test_download_link_serves_the_file_and_counts(hub, client):
    from hub.registry.models import Repo

    response = client.get("/alice/sentiment-bert/resolve/main/config.json")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b'{"hidden_size": 16}\n'
    assert Repo.objects.get(pk=hub["base"].pk).downloads == 1
