"""The seed models, loaded back through the hub by transformers' from_pretrained (HF_ENDPOINT = the live hub)."""

import pytest
from django.core.management import call_command

from tests.registry.hf.conftest import python_cmd

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LOAD = """
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
model = AutoModel.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")
out = model(**tok(["a cat sat on the mat"], return_tensors="pt")).last_hidden_state
assert out.shape[-1] == 384
tok = AutoTokenizer.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")
lm = AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct", dtype=torch.float32)
prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                 tokenize=False, add_generation_prompt=True)
ids = tok(prompt, return_tensors="pt")
answer = tok.decode(lm.generate(**ids, max_new_tokens=12, do_sample=False)[0][ids["input_ids"].shape[1]:])
print("ANSWER", answer)
"""


def test_seed_models_load_through_the_hub(run_client, alice_token):
    call_command("seed_catalog")
    result = run_client(python_cmd(LOAD), token=alice_token)
    assert "Paris" in result.stdout.split("ANSWER", 1)[1]
