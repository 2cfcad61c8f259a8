"""Shared tiny setups for the training tests: a random encoder with one adapter and one head."""

import jax.numpy as jnp
import numpy as np

import flax_adapters as fa
from flax_adapters.models import EncoderConfig

TINY = EncoderConfig(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                     intermediate_size=37, max_position_embeddings=64)


def tiny_model(method="seq_bn", kind="classification", cfg=TINY, **head):
    model = fa.AdapterModel.from_config(cfg)
    model.add_adapter("a", method)
    head.setdefault("num_labels", 3)
    if kind == "multiple_choice":
        head = {"num_choices": 3}
    if kind == "question_answering":
        head = {"num_labels": 2, "layers": 1}
    model.add_head("a", kind, **head)
    return model


def batch(kind="classification", n=8, length=10, seed=0, num_labels=3, vocab=99):
    rng = np.random.default_rng(seed)
    shape = (n, 3, length) if kind == "multiple_choice" else (n, length)
    ids = rng.integers(1, vocab, shape)
    mask = np.ones(shape, np.int32)
    mask[..., length - 3:] = 0  # some padding, so masks matter
    if kind == "tagging":
        labels = rng.integers(0, num_labels, (n, length))
        labels[:, length - 3:] = -100
    elif kind == "question_answering":  # start <= end inside the 7 real tokens
        start = rng.integers(0, length - 3, n)
        labels = np.stack([start, np.minimum(start + rng.integers(0, 3, n), length - 4)], axis=1)
    elif kind == "regression":
        labels = rng.normal(size=n).astype(np.float32)
    else:
        labels = rng.integers(0, 3, n)
    return {"input_ids": jnp.asarray(ids, jnp.int32), "attention_mask": jnp.asarray(mask),
            "token_type_ids": jnp.zeros(shape, jnp.int32), "labels": jnp.asarray(labels)}
