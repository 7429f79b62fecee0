"""The real huggingface_hub + hf_xet client, in fresh processes (own HF_HOME: own Xet cache), against a live server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub_token(alice, make_token) -> str:
    return make_token(alice, "write")


@pytest.fixture
def client_run(live_server, tmp_path, hub_token):
    """client_run(code, home="a", env={}) runs Python with `api` (HfApi), `ep` and `token` defined; returns stdout.

    Each `home` is its own HF_HOME, so its Xet shard cache starts empty: dedup then has to come from the server.
    """

    def run(code: str, *, home: str = "a", env: dict | None = None) -> str:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        full_env.update(HF_HOME=str(tmp_path / f"hf-{home}"), HF_HUB_DISABLE_TELEMETRY="1",
                        HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONPATH=str(ROOT))  # fmt: skip
        full_env.update(env or {})
        prelude = (
            "import hashlib, sys\n"
            "from huggingface_hub import HfApi, hf_hub_download\n"
            f"ep, token = {live_server.url!r}, {hub_token!r}\n"
            "api = HfApi(endpoint=ep, token=token)\n"
        )
        result = subprocess.run([sys.executable, "-c", prelude + code], env=full_env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"client failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-4000:]}")
        return result.stdout

    return run
