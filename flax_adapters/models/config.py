"""Encoder configuration: a frozen dataclass read once from a Hugging Face `config.json`.

Only the fields the BERT family needs are kept; everything downstream (modules, name tables,
benchmarks) reads this one object, so a config mistake surfaces here with the field named.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import jax.numpy as jnp

# model_type -> how position ids are built. RoBERTa-style models count positions from
# pad_token_id + 1 and give padding tokens the padding position (fairseq convention).
_FAMILIES = {
    "bert": "absolute",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "camembert": "roberta",
}

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}

# How attention runs (encoder.attention): "xla" = jax.nn.dot_product_attention's XLA path on any
# backend, "cudnn" = its cuDNN flash-attention kernel (CUDA GPUs, bf16/fp16 only; an error
# elsewhere), "auto" = cuDNN where the platform, dtype, shape and mask allow it, XLA otherwise.
ATTENTION = ("auto", "xla", "cudnn")


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Shape and numerics of a BERT-family encoder."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    pad_token_id: int = 0
    model_type: str = "bert"
    # Numerics: parameters stay fp32; compute may run in bf16 (matmuls, activations).
    compute_dtype: str = "float32"
    attention: str = "auto"

    def __post_init__(self):
        if self.model_type not in _FAMILIES:
            raise ValueError(
                f"model_type {self.model_type!r} is not supported; choose one of {sorted(_FAMILIES)}"
            )
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.compute_dtype not in _DTYPES:
            raise ValueError(f"compute_dtype {self.compute_dtype!r}: choose one of {sorted(_DTYPES)}")
        if self.attention not in ATTENTION:
            raise ValueError(f"attention {self.attention!r}: choose one of {list(ATTENTION)}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def position_style(self) -> str:
        return _FAMILIES[self.model_type]

    @property
    def dtype(self):
        return _DTYPES[self.compute_dtype]

    def replace(self, **changes: Any) -> "EncoderConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_hf_dict(cls, d: dict, **overrides: Any) -> "EncoderConfig":
        """Builds a config from a parsed HF config.json; unknown HF keys are ignored."""
        pe = d.get("position_embedding_type", "absolute")
        if pe != "absolute":
            raise ValueError(f"position_embedding_type {pe!r} is not supported (only 'absolute')")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        bad = set(overrides) - names
        if bad:
            raise TypeError(f"unknown config option(s) {sorted(bad)}; valid: {sorted(names)}")
        kwargs.update(overrides)
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str | os.PathLike, **overrides: Any) -> "EncoderConfig":
        with open(path) as f:
            return cls.from_hf_dict(json.load(f), **overrides)
