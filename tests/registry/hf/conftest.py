"""Real huggingface_hub clients against a live server (pytest-django's live_server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def hub_url(live_server) -> str:
    return live_server.url


@pytest.fixture
def alice_token(alice, make_token) -> str:
    return make_token(alice, "write")


@pytest.fixture
def hf(hub_url, alice_token):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_url, token=alice_token)


@pytest.fixture
def hf_as(hub_url):
    from huggingface_hub import HfApi

    def make(token: str | None) -> HfApi:
        return HfApi(endpoint=hub_url, token=token if token else False)

    return make


@pytest.fixture
def run_client(hub_url, tmp_path):
    """Run Python or the hf CLI in a fresh process with HF_ENDPOINT set (the clients read it at import)."""

    def run(args: list[str], *, token: str | None = None, env: dict | None = None, check: bool = True):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        full_env.update(HF_ENDPOINT=hub_url, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1",
                        HF_XET_TELEMETRY_ENABLED="0", DISABLE_SAFETENSORS_CONVERSION="1",
                        PYTHONPATH=str(ROOT))  # fmt: skip
        if token:
            full_env["HF_TOKEN"] = token
        full_env.update(env or {})
        result = subprocess.run(args, env=full_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    return run


def python_cmd(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def hf_cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "hf"), *args]
