"""Narrower models: fewer feed-forward neurons and fewer attention heads, the most important ones kept.

The narrower model is a new instance of the same class whose config says the new widths, so it saves and loads back
with plain `AutoModel*.from_pretrained`; its weights are the kept rows and columns of the original's. Importance is
data-free: a feed-forward neuron scores the product of the norms of its input row(s) and its output column (what it
can add to the residual stream), a head the product of its query, value and output-projection norms.

BERT-family encoders narrow the feed-forward width only: their stock attention derives the head size from
hidden_size / num_attention_heads, so fewer heads of the same size cannot be written in their config. Llama-family
decoders narrow both; heads go the same number from every key/value group (grouped-query attention still holds), or
with their keys and values where each query head has its own, and config.head_dim keeps the head size.
"""

from __future__ import annotations

import torch

from workers.compression import modeling, validation

# family -> (feed-forward input Linear(s), feed-forward output Linear), relative to a block
FFN = {
    "encoder": (("intermediate.dense",), "output.dense"),
    "decoder": (("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
}
ATTENTION = ("self_attn.q_proj", "self_attn.v_proj", "self_attn.o_proj")  # decoders only


def _family(model_type: str) -> str:
    return "decoder" if model_type in validation.DECODERS else "encoder"


@torch.no_grad()
def narrow(model, *, intermediate_size: int | None = None, num_heads: int | None = None):
    """A new model of the same class with `intermediate_size` feed-forward neurons and `num_heads` query heads per
    layer (None keeps the model's), each layer keeping its most important units in their original order.

    Keeping every unit gives back the same function (same logits); ValueError for widths the family cannot hold.
    """
    config = model.config
    validation.check_narrowing(
        config.to_dict(), intermediate_size=intermediate_size, num_heads=num_heads, allow_same=True
    )
    new_config = config.__class__.from_dict(config.to_dict())
    family = _family(config.model_type)
    state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    prefix = modeling.LAYER_PREFIX[config.model_type]
    for i in range(config.num_hidden_layers):
        block = f"{prefix}{i}."
        if intermediate_size is not None:
            _narrow_ffn(state, block, family, intermediate_size)
        if num_heads is not None:
            _narrow_heads(state, block, config, num_heads)
    if intermediate_size is not None:
        new_config.intermediate_size = intermediate_size
    if num_heads is not None:
        new_config.head_dim = head_dim(config)
        new_config.num_attention_heads = num_heads
        if num_heads % config.num_key_value_heads:
            new_config.num_key_value_heads = num_heads
    return modeling.load_student(model.__class__(new_config), state, what="narrowing")


def head_dim(config) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def ffn_scores(inputs: list[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
    """Per neuron: ‖input row‖ (each input Linear, multiplied) × ‖output column‖."""
    score = output.norm(dim=0)
    for weight in inputs:
        score = score * weight.norm(dim=1)
    return score


def head_scores(query: torch.Tensor, value: torch.Tensor, output: torch.Tensor, heads: int, dim: int) -> torch.Tensor:
    """Per query head: ‖its query rows‖ × ‖its output-projection columns‖ × ‖its key/value group's value rows‖."""
    q = query.reshape(heads, dim, -1).norm(dim=(1, 2))
    v = value.reshape(-1, dim, value.shape[1]).norm(dim=(1, 2))
    o = output.reshape(output.shape[0], heads, dim).norm(dim=(0, 2))
    return q * o * v.repeat_interleave(heads // v.shape[0])


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k highest scores, in their original order (keeping all of them changes nothing)."""
    return scores.argsort(descending=True, stable=True)[:k].sort().values


def _narrow_ffn(state: dict, block: str, family: str, size: int) -> None:
    inputs, output = FFN[family]
    scores = ffn_scores([state[f"{block}{name}.weight"] for name in inputs], state[f"{block}{output}.weight"])
    keep = _top(scores, size)
    for name in inputs:
        _slice_rows(state, f"{block}{name}", keep)
    state[f"{block}{output}.weight"] = state[f"{block}{output}.weight"][:, keep].contiguous()


def keep_heads(scores: torch.Tensor, kv_heads: int, keep_per_group: int) -> list[int]:
    """The `keep_per_group` best query heads of every key/value group, in order."""
    per_group = scores.numel() // kv_heads
    keep = []
    for g in range(kv_heads):
        group = scores[g * per_group : (g + 1) * per_group]
        keep += (_top(group, keep_per_group) + g * per_group).tolist()
    return keep


def _narrow_heads(state: dict, block: str, config, num_heads: int) -> None:
    heads, kv, dim = config.num_attention_heads, config.num_key_value_heads, head_dim(config)
    q, v, o = (f"{block}{name}" for name in ATTENTION)
    scores = head_scores(state[f"{q}.weight"], state[f"{v}.weight"], state[f"{o}.weight"], heads, dim)
    # One query head per key/value head (multi-head attention, when num_heads is no multiple of kv): the best heads
    # go with their keys and values. Otherwise every key/value group keeps its best num_heads / kv query heads.
    own_kv = num_heads % kv != 0
    keep = _top(scores, num_heads).tolist() if own_kv else keep_heads(scores, kv, num_heads // kv)
    rows = torch.cat([torch.arange(h * dim, (h + 1) * dim) for h in keep])
    for name in (q, f"{block}self_attn.k_proj", f"{block}self_attn.v_proj") if own_kv else (q,):
        _slice_rows(state, name, rows)
    state[f"{o}.weight"] = state[f"{o}.weight"][:, rows].contiguous()


def _slice_rows(state: dict, linear: str, rows: torch.Tensor) -> None:
    state[f"{linear}.weight"] = state[f"{linear}.weight"][rows].contiguous()
    if f"{linear}.bias" in state:
        state[f"{linear}.bias"] = state[f"{linear}.bias"][rows].contiguous()


def describe(config: dict, teacher_config: dict) -> str:
    """'4 of 6 layers, FFN 768 of 1536, 8 of 16 heads' (only what differs)."""
    parts = []
    for key, label in (("num_hidden_layers", "layers"), ("intermediate_size", "FFN"), ("num_attention_heads", "heads")):
        new, old = config.get(key), teacher_config.get(key)
        if new != old:
            parts.append(f"{new} of {old} {label}" if label != "FFN" else f"FFN {new} of {old}")
    return ", ".join(parts)


__all__ = ["describe", "ffn_scores", "head_scores", "keep_heads", "narrow"]
