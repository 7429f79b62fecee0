"""transformers' from_pretrained and the hf CLI, unchanged, with HF_ENDPOINT pointed at a live hub."""

import pytest

from tests.registry.hf.conftest import hf_cli, python_cmd

pytestmark = pytest.mark.django_db(transaction=True)

ROUND_TRIP = """
import sys, tempfile, torch
from huggingface_hub import HfApi
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast
folder = tempfile.mkdtemp()
torch.manual_seed(0)
model = BertModel(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=37))
model.save_pretrained(folder)
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"] + [f"w{i}" for i in range(57)]
open(f"{folder}/vocab.txt", "w").write("\\n".join(words))
BertTokenizerFast(vocab_file=f"{folder}/vocab.txt").save_pretrained(folder)
api = HfApi()
api.create_repo("tiny-bert")
api.upload_folder(repo_id="alice/tiny-bert", folder_path=folder)
loaded = AutoModel.from_pretrained("alice/tiny-bert")
tokenizer = AutoTokenizer.from_pretrained("alice/tiny-bert")
local = AutoTokenizer.from_pretrained(folder)
for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
    assert torch.equal(a, b), name
assert tokenizer("hello world")["input_ids"] == local("hello world")["input_ids"], tokenizer("hello world")
inputs = tokenizer("hello world", return_tensors="pt")
model.eval(); loaded.eval()
assert torch.allclose(model(**inputs).last_hidden_state, loaded(**inputs).last_hidden_state)
print("round trip ok")
"""


def test_tiny_bert_upload_folder_and_from_pretrained(run_client, alice_token):
    result = run_client(python_cmd(ROUND_TRIP), token=alice_token)
    assert "round trip ok" in result.stdout


def test_hf_cli_whoami_repo_create_upload_download(run_client, alice_token, tmp_path, hf):
    assert "alice" in run_client(hf_cli("auth", "whoami"), token=alice_token).stdout
    run_client(hf_cli("repos", "create", "alice/cli-model"), token=alice_token)  # `hf repo create` in 1.x
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "config.json").write_text('{"x": 1}')
    (tmp_path / "up" / "notes.txt").write_text("hello")
    run_client(hf_cli("upload", "alice/cli-model", str(tmp_path / "up"), "."), token=alice_token)
    assert set(hf.list_repo_files("alice/cli-model")) >= {"config.json", "notes.txt"}
    out = run_client(hf_cli("download", "alice/cli-model", "notes.txt", "--local-dir", str(tmp_path / "down")),
                     token=alice_token)  # fmt: skip
    assert (tmp_path / "down" / "notes.txt").read_text() == "hello", out.stdout


def test_cli_on_private_repo_without_token_fails(run_client, hf, tmp_path):
    hf.create_repo("hidden", private=True)
    result = run_client(hf_cli("download", "alice/hidden", "README.md", "--local-dir", str(tmp_path)), check=False)
    assert result.returncode != 0
    assert "not found" in (result.stdout + result.stderr).lower() or "401" in result.stderr
