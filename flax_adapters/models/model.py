"""`EncoderModel`: the user-facing handle on a loaded encoder, driven functionally.

It holds (config, graphdef, params) and calls one pure jitted function, `encode`, with the graphdef
static and the parameters as a pytree argument: new weights of the same shapes never retrace.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.encoder import Encoder, EncoderOutput
from flax_adapters.models.loading import load_encoder


@functools.partial(jax.jit, static_argnames="graphdef")
def encode(graphdef, params, input_ids, attention_mask, token_type_ids) -> EncoderOutput:
    """Pure, jitted encoder forward (deterministic: no dropout)."""
    return nnx.merge(graphdef, params)(input_ids, attention_mask, token_type_ids)


def check_inputs(cfg: EncoderConfig, input_ids, attention_mask=None, token_type_ids=None):
    """Converts inputs to int32 arrays and rejects bad shapes/ids with the argument named."""
    def as_ids(name, x):
        a = np.asarray(x)
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D [batch, length], got shape {a.shape}")
        if not np.issubdtype(a.dtype, np.integer) and not np.issubdtype(a.dtype, np.bool_):
            raise ValueError(f"{name} must hold integers, got dtype {a.dtype}")
        return a.astype(np.int32)

    ids = as_ids("input_ids", input_ids)
    if ids.size == 0:  # XLA would run it and return nothing; almost surely a data bug upstream
        raise ValueError(f"input_ids is empty (shape {ids.shape}): give at least one example of at least one token")
    # RoBERTa positions start at pad_token_id + 1, so they reach length + pad + 1.
    limit = cfg.max_position_embeddings - (cfg.pad_token_id + 1 if cfg.position_style == "roberta" else 0)
    if ids.shape[1] > limit:
        raise ValueError(f"input_ids length {ids.shape[1]} exceeds the model's {limit} positions")
    if ids.size and (ids.min() < 0 or ids.max() >= cfg.vocab_size):
        raise ValueError(f"input_ids hold ids outside [0, {cfg.vocab_size}): min {ids.min()}, max {ids.max()}")
    out = [ids]
    for name, x, default in (("attention_mask", attention_mask, 1), ("token_type_ids", token_type_ids, 0)):
        a = np.full(ids.shape, default, np.int32) if x is None else as_ids(name, x)
        if a.shape != ids.shape:
            raise ValueError(f"{name} has shape {a.shape}, input_ids has {ids.shape}")
        out.append(a)
    if out[2].min() < 0 or out[2].max() >= cfg.type_vocab_size:
        raise ValueError(f"token_type_ids hold ids outside [0, {cfg.type_vocab_size}) (the model's type_vocab_size): "
                         f"min {out[2].min()}, max {out[2].max()}")
    return tuple(jnp.asarray(a) for a in out)


class EncoderModel:
    """A BERT-family encoder: `model(input_ids, attention_mask=..., token_type_ids=...)`."""

    def __init__(self, config: EncoderConfig, graphdef, params, path: str | os.PathLike | None = None):
        self.config, self.graphdef, self.params, self.path = config, graphdef, params, path

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **options) -> "EncoderModel":
        cfg, graphdef, params, directory = load_encoder(name_or_path, **options)
        return cls(cfg, graphdef, params, directory)

    @classmethod
    def from_config(cls, config: EncoderConfig, seed: int = 0, add_pooling_layer: bool = True) -> "EncoderModel":
        """A randomly initialised encoder (HF's N(0, 0.02) weights) — for benchmarks and tests."""
        graphdef, params = nnx.split(Encoder(config, add_pooling_layer=add_pooling_layer, rngs=nnx.Rngs(seed)))
        return cls(config, graphdef, params)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None) -> EncoderOutput:
        return encode(self.graphdef, self.params, *check_inputs(self.config, input_ids, attention_mask, token_type_ids))

    def module(self) -> Encoder:
        """A live NNX module sharing this model's parameters (for composing stages by hand)."""
        return nnx.merge(self.graphdef, self.params)

    def tokenizer(self, **kwargs):
        """The checkpoint's tokenizer via `transformers.AutoTokenizer` (fast when available)."""
        if self.path is None:
            raise ValueError("this model was not loaded from a checkpoint directory, so it has no tokenizer")
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.path), **kwargs)

    @property
    def num_parameters(self) -> int:
        return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(self.params))
