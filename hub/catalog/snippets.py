"""'Use this model' snippets, filled with this hub's URL (clients reach it through HF_ENDPOINT)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.registry.models import Repo, RepoType


@dataclass
class Snippet:
    key: str
    label: str
    language: str
    code: str
    available: bool = True
    note: str = ""


def usage_snippets(repo: Repo, hub_url: str, *, files: set[str], endpoint_url: str | None = None) -> list[Snippet]:
    """Snippets for huggingface_hub, transformers (or datasets), curl and the openai client.

    `endpoint_url` is the OpenAI-compatible base URL of an inference endpoint serving this repo, once one exists.
    """
    name, private = repo.full_name, repo.private
    token = '\n# a read token from Settings > Tokens\nos.environ["HF_TOKEN"] = "hf_..."' if private else ""
    repo_type = ', repo_type="dataset"' if repo.type == RepoType.DATASET else ""
    snippets = [
        Snippet(
            "hub",
            "huggingface_hub",
            "python",
            f'import os\nos.environ["HF_ENDPOINT"] = "{hub_url}"{token}\n\n'
            f"from huggingface_hub import snapshot_download\n\n"
            f'path = snapshot_download("{name}"{repo_type})\nprint(path)',
        )
    ]
    if repo.type == RepoType.DATASET:
        snippets.append(
            Snippet(
                "datasets",
                "datasets",
                "python",
                f'import os\nos.environ["HF_ENDPOINT"] = "{hub_url}"{token}\n\n'
                f'from datasets import load_dataset\n\nds = load_dataset("{name}")\nprint(ds)',
            )
        )
    else:
        snippets.append(Snippet("transformers", "transformers", "python", _transformers(repo, hub_url, token)))
    sample = next((f for f in ("config.json", "README.md") if f in files), sorted(files)[0] if files else "README.md")
    auth = ' \\\n  -H "Authorization: Bearer $HF_TOKEN"' if private else ""
    prefix = "datasets/" if repo.type == RepoType.DATASET else ""
    snippets.append(
        Snippet(
            "curl",
            "curl",
            "bash",
            f"# list the files\ncurl{auth} {hub_url}/api/{repo.type}s/{name}/tree/main\n\n"
            f"# download one\ncurl -L{auth} \\\n  {hub_url}/{prefix}{name}/resolve/main/{sample}"
            f" -o {sample.rsplit('/', 1)[-1]}",
        )
    )
    if repo.type == RepoType.MODEL:
        snippets.append(_openai(name, endpoint_url))
    return snippets


def _transformers(repo: Repo, hub_url: str, token: str) -> str:
    head = f'import os\nos.environ["HF_ENDPOINT"] = "{hub_url}"{token}\n\n'
    if repo.library_name == "peft":
        return head + f'from peft import AutoPeftModel\n\nmodel = AutoPeftModel.from_pretrained("{repo.full_name}")'
    if repo.library_name == "sentence-transformers" or repo.pipeline_tag == "sentence-similarity":
        return (
            head + "from transformers import AutoModel, AutoTokenizer\n\n"
            f'tokenizer = AutoTokenizer.from_pretrained("{repo.full_name}")\n'
            f'model = AutoModel.from_pretrained("{repo.full_name}")  # mean-pool last_hidden_state for embeddings'
        )
    if repo.pipeline_tag:
        return (
            head + "from transformers import pipeline\n\n"
            f'pipe = pipeline("{repo.pipeline_tag}", model="{repo.full_name}")'
        )
    return (
        head + "from transformers import AutoModel, AutoTokenizer\n\n"
        f'tokenizer = AutoTokenizer.from_pretrained("{repo.full_name}")\n'
        f'model = AutoModel.from_pretrained("{repo.full_name}")'
    )


def _openai(name: str, endpoint_url: str | None) -> Snippet:
    code = (
        "from openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{endpoint_url or "<endpoint URL>"}", api_key="hf_...")\n'
        f'reply = client.chat.completions.create(\n    model="{name}",\n'
        '    messages=[{"role": "user", "content": "Hello!"}],\n)\nprint(reply.choices[0].message.content)'
    )
    if endpoint_url:
        return Snippet("openai", "openai", "python", code)
    note = "Available once an inference endpoint serves this model."
    return Snippet("openai", "openai", "python", code, available=False, note=note)
