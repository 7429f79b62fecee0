"""End to end with the unchanged huggingface_hub 2.4.0 + hf_xet 1.8.0 against a live server.

Files of at least HF_LFS_THRESHOLD go through Xet on upload (no environment variable set); downloads go through
Xet (hf_xet reconstructs) or, with HF_HUB_DISABLE_XET=1, plain HTTP (the hub rebuilds the bytes from chunks).
"""

import hashlib
import urllib.request

import numpy as np
import pytest

from hub.registry.models import Blob
from hub.xet import services
from hub.xet.models import XetFile

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024

# Download in a fresh process and report whether hf_xet did it, plus the sha256 of what landed.
DOWNLOAD = """
import huggingface_hub.file_download as fd
used = []
real = fd.xet_get
def spy(**kw):
    used.append(1)
    return real(**kw)
fd.xet_get = spy
path = hf_hub_download(sys.argv[1] if len(sys.argv) > 1 else REPO, FILE, endpoint=ep, token=token)
print("xet" if used else "http", hashlib.sha256(open(path, "rb").read()).hexdigest())
"""


def weights(size: int, seed: int) -> bytes:
    """Safetensors-like content: float32 weights (byte-grouping compresses them) then random bytes."""
    rng = np.random.default_rng(seed)
    floats = rng.standard_normal(size // 8).astype(np.float32).tobytes()
    return floats + rng.integers(0, 256, size - len(floats), dtype=np.uint8).tobytes()


def download(client_run, repo: str, filename: str, home: str, *, xet: bool = True) -> tuple[str, str]:
    code = f"REPO, FILE = {repo!r}, {filename!r}\n" + DOWNLOAD
    out = client_run(code, home=home, env={} if xet else {"HF_HUB_DISABLE_XET": "1"})
    how, digest = out.split()[-2:]
    return how, digest


def test_upload_by_path_then_download_by_xet_and_http(client_run, tmp_path, live_server, hub_token):
    content = weights(24 * MiB + 12345, seed=1)
    (tmp_path / "model.safetensors").write_bytes(content)
    (tmp_path / "shard-2.safetensors").write_bytes(weights(11 * MiB, seed=2))
    (tmp_path / "config.json").write_text('{"hidden_size": 8}')
    client_run(
        "api.create_repo('alice/big')\n"
        "api.upload_file(path_or_fileobj='model.safetensors', path_in_repo='model.safetensors', repo_id='alice/big')\n"
        "import os, shutil\n"
        "os.makedirs('folder'); [shutil.copy(f, 'folder') for f in ('shard-2.safetensors', 'config.json')]\n"
        "api.upload_folder(folder_path='folder', repo_id='alice/big')\n"
    )  # fmt: skip
    sha = hashlib.sha256(content).hexdigest()
    blob = Blob.objects.get(pk=sha)
    assert blob.xet_hash and XetFile.objects.get(pk=blob.xet_hash).size == len(content)
    assert Blob.objects.get(sha256=hashlib.sha256((tmp_path / "shard-2.safetensors").read_bytes()).hexdigest()).xet_hash
    assert Blob.objects.get(sha256=hashlib.sha256(b'{"hidden_size": 8}').hexdigest()).xet_hash == ""  # small: inline

    assert download(client_run, "alice/big", "model.safetensors", "b") == ("xet", sha)
    assert download(client_run, "alice/big", "model.safetensors", "c", xet=False) == ("http", sha)
    shard2 = hashlib.sha256((tmp_path / "shard-2.safetensors").read_bytes()).hexdigest()
    assert download(client_run, "alice/big", "shard-2.safetensors", "b") == ("xet", shard2)

    # the tree lists the Xet hash (snapshot_download skips the HEAD with it); plain Range reads work
    tree = client_run("print({f.path: f.xet_hash for f in api.list_repo_tree('alice/big')})")
    assert f"'model.safetensors': '{blob.xet_hash}'" in tree and "'config.json': None" in tree
    headers = {"Range": "bytes=5000000-6000000", "Authorization": f"Bearer {hub_token}"}
    request = urllib.request.Request(f"{live_server.url}/alice/big/resolve/main/model.safetensors", headers=headers)
    with urllib.request.urlopen(request) as response:
        assert response.status == 206 and response.read() == content[5_000_000:6_000_001]
    snapshot = client_run(
        "from huggingface_hub import snapshot_download\n"
        "import pathlib\n"
        "d = pathlib.Path(snapshot_download('alice/big', endpoint=ep, token=token))\n"
        "print(hashlib.sha256((d / 'model.safetensors').read_bytes()).hexdigest())\n",
        home="d",
    )
    assert snapshot.split()[-1] == sha


def test_modified_version_and_other_repos_share_chunks(client_run, tmp_path):
    size = 32 * MiB
    v1 = weights(size, seed=3)
    changed = bytearray(v1)
    changed[20 * MiB : 20 * MiB + size // 100] = np.random.default_rng(4).bytes(size // 100)  # 1% of the bytes
    v2 = bytes(changed)
    (tmp_path / "v1.bin").write_bytes(v1)
    (tmp_path / "v2.bin").write_bytes(v2)
    upload = "api.create_repo({repo!r}, exist_ok=True)\napi.upload_file(path_or_fileobj={path!r}, path_in_repo='w.bin', repo_id={repo!r})\n"  # noqa: E501

    client_run(upload.format(repo="alice/m", path="v1.bin"), home="first")
    after_v1 = services.storage_bytes()
    assert after_v1 > 0.5 * size
    # A new machine (empty Xet cache) uploads the second version: the server's dedup answer saves the rest.
    client_run(upload.format(repo="alice/m", path="v2.bin"), home="second")
    growth = services.storage_bytes() - after_v1
    assert growth <= 0.05 * size, f"second version added {growth} bytes ({growth / size:.1%})"
    # The same weights in another repo, from yet another machine: nothing new is stored.
    client_run(upload.format(repo="alice/copy", path="v1.bin"), home="third")
    assert services.storage_bytes() == after_v1 + growth

    assert download(client_run, "alice/m", "w.bin", "dl") == ("xet", hashlib.sha256(v2).hexdigest())
    assert download(client_run, "alice/copy", "w.bin", "dl2", xet=False) == ("http", hashlib.sha256(v1).hexdigest())
    old = client_run("print([c.commit_id for c in api.list_repo_commits('alice/m')][1])").split()[-1]
    code = f"p = hf_hub_download('alice/m', 'w.bin', revision={old!r}, endpoint=ep, token=token)\n"
    code += "print(hashlib.sha256(open(p, 'rb').read()).hexdigest())"
    assert client_run(code, home="dl3").split()[-1] == hashlib.sha256(v1).hexdigest()


def test_private_repo_needs_access(client_run, tmp_path, make_user, make_token, live_server):
    (tmp_path / "w.bin").write_bytes(weights(12 * MiB, seed=5))
    client_run(
        "api.create_repo('alice/private', private=True)\n"
        "api.upload_file(path_or_fileobj='w.bin', path_in_repo='w.bin', repo_id='alice/private')\n"
    )
    bob = make_token(make_user("bob"))
    code = (
        "from huggingface_hub.errors import RepositoryNotFoundError\n"
        "try:\n"
        f"    hf_hub_download('alice/private', 'w.bin', endpoint=ep, token={bob!r})\n"
        "except RepositoryNotFoundError:\n"
        "    print('denied')\n"
    )
    assert client_run(code, home="bob").split()[-1] == "denied"
    request = urllib.request.Request(f"{live_server.url}/api/models/alice/private/xet-read-token/main",
                                     headers={"Authorization": f"Bearer {bob}"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request)
    assert exc.value.code == 404


def test_dataset_repo(client_run, tmp_path):
    content = weights(11 * MiB, seed=6)
    (tmp_path / "data.parquet").write_bytes(content)
    out = client_run(
        "api.create_repo('alice/ds', repo_type='dataset')\n"
        "api.upload_file(path_or_fileobj='data.parquet', path_in_repo='train/data.parquet', repo_id='alice/ds',\n"
        "                repo_type='dataset')\n"
        "p = hf_hub_download('alice/ds', 'train/data.parquet', repo_type='dataset', endpoint=ep, token=token)\n"
        "print(hashlib.sha256(open(p, 'rb').read()).hexdigest())\n"
    )
    assert out.split()[-1] == hashlib.sha256(content).hexdigest()
    assert Blob.objects.get(pk=hashlib.sha256(content).hexdigest()).xet_hash
