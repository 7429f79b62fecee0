"""Pickle-based weights are scanned for imports (never unpickled) and flagged in the API, HF protocol and page."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest

from hub.security import pickles


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def malicious_pickle(protocol: int = 2) -> bytes:
    return pickle.dumps({"weight": _Shell()}, protocol=protocol)


def benign_torch_state_dict(*, zip_format: bool = True) -> bytes:
    import torch

    buffer = io.BytesIO()
    state = {"linear.weight": torch.zeros(2, 2), "linear.bias": torch.nn.Parameter(torch.ones(2))}
    torch.save(state, buffer, _use_new_zipfile_serialization=zip_format)
    return buffer.getvalue()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_is_unsafe_in_every_protocol(protocol):
    result = pickles.scan_bytes(malicious_pickle(protocol))
    assert result.status == "unsafe"
    assert {(i.module, i.name, i.safety) for i in result.imports} >= {("posix", "system", "dangerous")}


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_state_dict_is_safe(zip_format):
    result = pickles.scan_bytes(benign_torch_state_dict(zip_format=zip_format))
    assert result.status == "safe", result
    assert ("torch._utils", "_rebuild_tensor_v2") in {(i.module, i.name) for i in result.imports}


def test_numpy_arrays_are_safe():
    import numpy as np

    for protocol in (2, 4, 5):
        assert pickles.scan_bytes(pickle.dumps({"a": np.arange(4), "s": np.float32(1)}, protocol=protocol)).status == (
            "safe"
        )


@pytest.mark.parametrize(
    "payload",
    [
        # os.system pushed, then two harmless strings pushed and popped: STACK_GLOBAL takes os.system.
        b"\x80\x04\x8c\x02os\x8c\x06system\x8c\x08builtins\x8c\x03set00\x93.",
        # module and name fetched back from the memo
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94N0h\x00h\x01\x93.",
        # DUP'd strings
        b"\x80\x02X\x02\x00\x00\x00os2X\x06\x00\x00\x00system\x93.",
        b"cbuiltins\neval\n(S'1+1'\ntR.",  # protocol 0 GLOBAL
        b"(S'echo'\nios\nsystem\n.",  # protocol 0 INST
    ],
    ids=["stack-games", "memo", "dup", "builtins-eval", "inst"],
)
def test_evasions_are_unsafe(payload):
    assert pickles.scan_bytes(payload).status == "unsafe"


def test_computed_import_is_unsafe():
    # STACK_GLOBAL whose operands are not literal strings cannot be checked.
    payload = b"\x80\x04N\x8c\x06system\x93."
    result = pickles.scan_bytes(payload)
    assert result.status == "unsafe" and result.imports[0].module == "?"


@pytest.mark.parametrize(
    "data",
    [b"", b"not a pickle", b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"xx", b"PK\x03\x04garbage"],
    ids=["empty", "text", "absurd-length", "bad-zip"],
)
def test_unreadable_files_are_errors_not_crashes(data):
    result = pickles.scan_bytes(data)
    assert result.status == "error" and result.message


def test_zip_bomb_member_is_not_decompressed_past_the_cap():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02" + b"N" * (pickles.MAX_PICKLE_BYTES + 10) + b".")
    assert len(buffer.getvalue()) < 1_000_000
    result = pickles.scan_bytes(buffer.getvalue())
    assert result.status == "error" and "scan limit" in result.message


def test_malicious_member_in_torch_zip_is_unsafe():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", malicious_pickle())
        archive.writestr("archive/version", b"3\n")
    assert pickles.scan_bytes(buffer.getvalue()).status == "unsafe"


def test_only_pickle_suffixes_are_scanned():
    assert pickles.is_pickle_path("pytorch_model.bin") and pickles.is_pickle_path("a/b/model.PT")
    assert not pickles.is_pickle_path("model.safetensors") and not pickles.is_pickle_path("README.md")


# --- through the hub -----------------------------------------------------------------------------------


@pytest.fixture
def scanned_repo(alice, alice_api):
    import base64

    files = {"evil.bin": malicious_pickle(), "pytorch_model.bin": benign_torch_state_dict(), "README.md": b"# hi\n"}
    assert alice_api.post("/api/v1/repos", {"name": "weights"}, format="json").status_code == 201
    ops = [{"op": "add", "path": p, "content_base64": base64.b64encode(c).decode()} for p, c in files.items()]
    response = alice_api.post("/api/v1/models/alice/weights/commits", {"operations": ops}, format="json")
    assert response.status_code == 201, response.content
    return files


def test_native_tree_api_flags_each_pickle(scanned_repo, alice_api):
    results = {e["path"]: e for e in alice_api.get("/api/v1/models/alice/weights/tree").json()["results"]}
    assert results["evil.bin"]["security"]["status"] == "unsafe"
    assert results["evil.bin"]["security"]["highest_safety_level"] == "dangerous"
    assert {"module": "posix", "name": "system", "safety": "dangerous"} in results["evil.bin"]["security"]["imports"]
    assert results["pytorch_model.bin"]["security"]["status"] == "safe"
    assert "security" not in results["README.md"]


def test_hf_tree_and_paths_info_carry_security_file_status(scanned_repo, alice_api):
    tree = alice_api.get("/api/models/alice/weights/tree/main?expand=true").json()
    status = {item["path"]: item.get("securityFileStatus") for item in tree}
    assert status["evil.bin"]["status"] == "unsafe"
    assert status["evil.bin"]["pickleImportScan"]["highestSafetyLevel"] == "dangerous"
    assert status["pytorch_model.bin"]["status"] == "safe"
    info = alice_api.post(
        "/api/models/alice/weights/paths-info/main", {"paths": ["evil.bin"], "expand": True}, format="multipart"
    ).json()
    assert info[0]["securityFileStatus"]["status"] == "unsafe"


def test_files_page_shows_the_badges(scanned_repo, alice, client):
    client.force_login(alice)
    html = client.get("/alice/weights/tree/main").content.decode()
    assert 'data-pickle-scan="unsafe"' in html and "posix.system" in html
    assert 'data-pickle-scan="safe"' in html


def test_scan_runs_once_per_blob_and_lazily_for_old_files(alice, make_repo):
    from hub.security.models import PickleScan
    from hub.security.services import scans_for

    repo = make_repo(alice, "twice", files={"a.pt": malicious_pickle()})
    make_repo(alice, "again", files={"b.pt": malicious_pickle()})
    assert PickleScan.objects.count() == 1
    PickleScan.objects.all().delete()  # as for files committed before scanning existed
    from hub.registry import selectors

    snap = selectors.snapshot(selectors.resolve_revision(repo, "main"))
    found = scans_for((p, ref.sha256) for p, ref in snap.files.items())
    assert [s.status for s in found.values()] == ["unsafe"]
