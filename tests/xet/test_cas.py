"""The Xet CAS over HTTP (Django test client) with client-built xorbs and shards: flow, checks and refusals."""

import hashlib
import io
import os
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from hub.registry import storage
from hub.registry.models import Blob
from hub.registry.services.commits import AddFile, create_commit
from hub.xet import formats, services, store
from hub.xet.models import DedupChunk, XetFile, Xorb
from tests.xet.builders import build_shard, build_xorb, split

pytestmark = pytest.mark.django_db


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def hub_token(alice, make_token):
    return make_token(alice, "write")


@pytest.fixture
def repo(alice, make_repo):
    return make_repo(alice, "m", files={"README.md": b"# m\n"})


def xet_token(client, hub_token, kind="write", repo="alice/m", rev="main"):
    response = client.get(f"/api/models/{repo}/xet-{kind}-token/{rev}", **auth(hub_token))
    assert response.status_code == 200, response.content
    return response.json()["accessToken"]


def post(client, path, body, token):
    return client.post(path, data=body, content_type="application/octet-stream", **auth(token))


def upload(client, token, content: bytes, *, chunk_size=64 * 1024):
    """Upload content as one xorb and one shard; returns (xorb, file hash)."""
    xorb = build_xorb(split(content, chunk_size))
    assert post(client, f"/xet/cas/v1/xorbs/default/{xorb.hash}", xorb.body, token).status_code == 200
    shard, (file_hash,) = build_shard([([(xorb, 0, len(xorb.chunks))], content)])
    response = post(client, "/xet/cas/v1/shards", shard, token)
    assert response.status_code == 200, response.content
    return xorb, file_hash


def fetch_range(client, recon: dict, size: int) -> bytes:
    """What hf_xet does with a reconstruction answer: fetch xorb ranges, decode, cut."""
    out = []
    for term in recon["terms"]:
        start, end = term["range"]["start"], term["range"]["end"]
        entry = next(
            e for e in recon["fetch_info"][term["hash"]] if e["range"]["start"] <= start and end <= e["range"]["end"]
        )
        url = urlsplit(entry["url"])
        assert url.netloc == "testserver"
        b0, b1 = entry["url_range"]["start"], entry["url_range"]["end"]
        response = client.get(f"{url.path}?{url.query}", HTTP_RANGE=f"bytes={b0}-{b1}")  # no Authorization
        assert response.status_code == 206
        chunks = list(formats.iter_chunk_data(b"".join(response.streaming_content)))
        out.append(b"".join(chunks[start - entry["range"]["start"] : end - entry["range"]["start"]]))
    data = b"".join(out)[recon["offset_into_first_range"] :]
    return data[:size]


def test_token_routes(client, alice, make_token, repo, hub_token):
    response = client.get("/api/models/alice/m/xet-write-token/main", HTTP_HOST="localhost:8123", **auth(hub_token))
    body = response.json()
    assert body["casUrl"] == "http://localhost:8123/xet/cas" == response["X-Xet-Cas-Url"]
    assert body["accessToken"].startswith("xet_") and response["X-Xet-Access-Token"] == body["accessToken"]
    assert int(response["X-Xet-Token-Expiration"]) == body["exp"]
    read_only = make_token(alice, "read")
    assert client.get("/api/models/alice/m/xet-write-token/main", **auth(read_only)).status_code == 403
    assert client.get("/api/models/alice/m/xet-read-token/main", **auth(read_only)).status_code == 200
    assert client.get("/api/models/alice/m/xet-read-token/main").status_code == 200  # public repo, anonymous
    assert client.get("/api/models/alice/m/xet-write-token/main").status_code in (401, 403)
    assert client.get("/api/models/alice/m/xet-read-token/nope", **auth(hub_token)).status_code == 404
    assert client.get("/api/models/alice/nope/xet-read-token/main", **auth(hub_token)).status_code == 404


def test_upload_commit_and_read_back(client, alice, repo, hub_token):
    content = os.urandom(150_000) + b"\0" * 300_000 + os.urandom(70_001)
    token = xet_token(client, hub_token)
    xorb, file_hash = upload(client, token, content)
    sha = hashlib.sha256(content).hexdigest()
    blob = Blob.objects.get(pk=sha)
    assert blob.xet_hash == file_hash and blob.size == len(content)
    assert blob.git_sha1 == hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    assert services.xet_hashes_for([sha, "0" * 64]) == {sha: file_hash}
    assert storage.read_blob(sha) == content  # the registry's reader rebuilds it from chunks
    with storage.open_blob(sha) as f:
        f.seek(300_000)
        assert f.read(200_000) == content[300_000:500_000]
        assert f.tell() == 500_000
    # the same xorb again is a no-op; a re-sent shard too
    assert post(client, f"/xet/cas/v1/xorbs/default/{xorb.hash}", xorb.body, token).json() == {"was_inserted": False}

    create_commit(repo=repo, author=alice, operations=[AddFile(path="w.bin", blob_sha256=sha)], title="w")
    read = xet_token(client, hub_token, "read")
    response = client.get(f"/xet/cas/v1/reconstructions/{file_hash}", HTTP_RANGE=f"bytes=0-{len(content) - 1}",
                          **auth(read))  # fmt: skip
    assert response.status_code == 200
    recon = response.json()
    assert set(recon["fetch_info"]) == {xorb.hash}
    assert fetch_range(client, recon, len(content)) == content
    for start, end in [(0, 0), (65_535, 65_536), (100_000, 400_000), (len(content) - 10, len(content) - 1)]:
        recon = client.get(f"/xet/cas/v1/reconstructions/{file_hash}", HTTP_RANGE=f"bytes={start}-{end}",
                           **auth(read)).json()  # fmt: skip
        assert fetch_range(client, recon, end - start + 1) == content[start : end + 1]
    past = client.get(f"/xet/cas/v1/reconstructions/{file_hash}", HTTP_RANGE=f"bytes={len(content)}-", **auth(read))
    assert past.status_code == 416


def test_refusals(client, alice, make_repo, make_user, make_token, repo, hub_token):
    token = xet_token(client, hub_token)
    read = xet_token(client, hub_token, "read")
    content = os.urandom(200_000)
    xorb = build_xorb(split(content))
    # no token, a hub token, a read token, a forged token
    assert post(client, f"/xet/cas/v1/xorbs/default/{xorb.hash}", xorb.body, "xet_forged").status_code == 401
    assert client.post("/xet/cas/v1/shards", data=b"", content_type="application/octet-stream").status_code == 401
    assert post(client, f"/xet/cas/v1/xorbs/default/{xorb.hash}", xorb.body, read).status_code == 403
    # bytes that do not hash to the name, or are not a xorb
    assert post(client, f"/xet/cas/v1/xorbs/default/{'0' * 64}", xorb.body, token).status_code == 400
    assert post(client, f"/xet/cas/v1/xorbs/default/{xorb.hash}", b"\x09" * 64, token).status_code == 400
    assert not Xorb.objects.exists()
    # a shard citing a xorb nobody uploaded
    shard, _ = build_shard([([(xorb, 0, len(xorb.chunks))], content)])
    assert post(client, "/xet/cas/v1/shards", shard, token).json()["code"] == "xorb_missing"
    post(client, f"/xet/cas/v1/xorbs/default/{xorb.hash}", xorb.body, token)
    # no verification hashes, a lying sha256, garbage
    unverified, _ = build_shard([([(xorb, 0, len(xorb.chunks))], content)], verify=False)
    assert post(client, "/xet/cas/v1/shards", unverified, token).json()["code"] == "verification_failed"
    lying, _ = build_shard([([(xorb, 0, len(xorb.chunks))], b"other content")])
    assert post(client, "/xet/cas/v1/shards", lying, token).json()["code"] == "hash_mismatch"
    assert post(client, "/xet/cas/v1/shards", b"not a shard" * 10, token).status_code == 400
    assert not XetFile.objects.exists() and not Blob.objects.exclude(xet_hash="").exists()

    # a read token opens only the files of its own snapshot
    _, file_hash = upload(client, token, content)
    recon = client.get(f"/xet/cas/v1/reconstructions/{file_hash}", **auth(read))
    assert recon.status_code == 404  # not committed to alice/m at the token's revision
    bob = make_user("bob")
    make_repo(bob, "secret", private=True)
    sha = hashlib.sha256(content).hexdigest()
    other = make_repo(bob, "public")
    create_commit(repo=other, author=None, operations=[AddFile(path="w.bin", blob_sha256=sha)], title="w")
    bob_read = xet_token(client, make_token(bob), "read", repo="bob/public")
    ok = client.get(f"/xet/cas/v1/reconstructions/{file_hash}", **auth(bob_read))
    assert ok.status_code == 200
    assert client.get("/api/models/bob/secret/xet-read-token/main", **auth(hub_token)).status_code == 404

    # data URLs: tampered signature or range, or a Range outside the grant
    entry = next(iter(ok.json()["fetch_info"].values()))[0]
    url = urlsplit(entry["url"])
    assert client.get(f"{url.path}?{url.query}").status_code == 200
    assert client.get(f"{url.path}?{url.query.replace('s=', 's=0')}").status_code == 403
    assert client.get(f"{url.path}?{url.query.replace('r=0-', 'r=1-')}").status_code == 403
    part = client.get(f"/xet/cas/v1/reconstructions/{file_hash}", HTTP_RANGE="bytes=100000-100010", **auth(bob_read))
    entry = next(iter(part.json()["fetch_info"].values()))[0]
    assert entry["url_range"]["start"] > 0  # only the chunk holding the range
    url = urlsplit(entry["url"])
    assert client.get(f"{url.path}?{url.query}", HTTP_RANGE="bytes=0-10").status_code == 416


def test_global_dedup_answers_with_the_file_xorbs(client, repo, hub_token):
    token = xet_token(client, hub_token)
    first = build_xorb(split(os.urandom(256 * 1024)))
    second = build_xorb(split(os.urandom(256 * 1024)))
    for x in (first, second):
        post(client, f"/xet/cas/v1/xorbs/default/{x.hash}", x.body, token)
    content = b"".join(formats.iter_chunk_data(first.body)) + b"".join(formats.iter_chunk_data(second.body))
    shard, _ = build_shard([([(first, 0, 4), (second, 0, 4)], content)])
    assert post(client, "/xet/cas/v1/shards", shard, token).status_code == 200
    first_chunk = formats.hash_to_str(first.chunks[0][0])
    assert DedupChunk.objects.filter(chunk_hash=first_chunk).exists()
    response = client.get(f"/xet/cas/v1/chunks/default-merkledb/{first_chunk}", **auth(token))
    assert response.status_code == 200 and response["Content-Type"] == "application/octet-stream"
    f = io.BytesIO(response.content)
    formats.read_shard_header(f)
    assert list(formats.iter_file_infos(f)) == []
    listed = {formats.hash_to_str(c.xorb) for c in formats.iter_cas_infos(f)}
    assert listed == {first.hash, second.hash}
    unknown = formats.hash_to_str(second.chunks[1][0])
    assert client.get(f"/xet/cas/v1/chunks/default/{unknown}", **auth(token)).status_code == 404


def test_garbage_collection(client, alice, repo, hub_token):
    token = xet_token(client, hub_token)
    kept_content, dropped_content = os.urandom(100_000), os.urandom(100_000)
    kept_xorb, _ = upload(client, token, kept_content)
    dropped_xorb, _ = upload(client, token, dropped_content)
    stray = build_xorb(split(os.urandom(70_000)))  # uploaded, never used by a file
    post(client, f"/xet/cas/v1/xorbs/default/{stray.hash}", stray.body, token)
    kept_sha = hashlib.sha256(kept_content).hexdigest()
    create_commit(repo=repo, author=alice, operations=[AddFile(path="k.bin", blob_sha256=kept_sha)], title="k")
    Blob.objects.filter(pk=hashlib.sha256(dropped_content).hexdigest()).delete()  # what the blob GC does
    assert services.collect_garbage(grace=timedelta(hours=1)).xorbs == 0  # within the grace period
    report = services.collect_garbage(grace=timedelta(seconds=-1))
    assert (report.files, report.xorbs) == (1, 2)
    assert set(Xorb.objects.values_list("hash", flat=True)) == {kept_xorb.hash}
    assert not storage.blob_storage().exists(store.xorb_key(dropped_xorb.hash))
    assert storage.read_blob(kept_sha) == kept_content
