"""The HF name table (models/hf_names.py): it covers every parameter of the encoder exactly once, its
transforms invert each other, legacy gamma/beta names are normalised, and the task-head tensors a
checkpoint may hold are the ones ignored."""

import jax
import numpy as np
from flax import nnx

from flax_adapters.models import Encoder, EncoderConfig
from flax_adapters.models import hf_names

CFG = EncoderConfig(vocab_size=30, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=16)


def _param_paths(module):
    _, params = nnx.split(module, nnx.Param)
    return {tuple(getattr(k, "key", k) for k in path) for path, _ in jax.tree_util.tree_flatten_with_path(
        nnx.to_pure_dict(params))[0]}


def test_table_covers_every_parameter_once():
    ours = _param_paths(Encoder(CFG, rngs=nnx.Rngs(0)))
    rows = list(hf_names.expand(CFG.num_hidden_layers))
    paths, names = [p for p, _, _ in rows], [n for _, n, _ in rows]
    assert set(paths) == ours and len(paths) == len(set(paths)) == len(ours)
    assert len(set(names)) == len(names) and all(t in hf_names.TRANSFORMS for _, _, t in rows)
    assert ("layers", 2, "query", "kernel") in paths and "encoder.layer.2.attention.self.query.weight" in names
    no_pooler = list(hf_names.expand(CFG.num_hidden_layers, with_pooler=False))
    assert len(no_pooler) == len(rows) - 2 and not any(p[0] == "pooler" for p, _, _ in no_pooler)


def test_transforms_invert_and_linear_transposes():
    w = np.arange(6, dtype=np.float32).reshape(2, 3)  # torch Linear [out, in]
    for kind in ("copy", "linear"):
        np.testing.assert_array_equal(hf_names.INVERSE[kind](hf_names.TRANSFORMS[kind](w)), w)
    assert hf_names.TRANSFORMS["linear"](w).shape == (3, 2) and hf_names.TRANSFORMS["linear"](w).flags.c_contiguous


def test_legacy_names_and_ignored_tensors():
    assert hf_names.normalise_name("encoder.layer.0.output.LayerNorm.gamma") == "encoder.layer.0.output.LayerNorm.weight"
    assert hf_names.normalise_name("embeddings.LayerNorm.beta") == "embeddings.LayerNorm.bias"
    assert hf_names.normalise_name("pooler.dense.weight") == "pooler.dense.weight"
    for name in ("embeddings.position_ids", "cls.predictions.bias", "classifier.weight", "qa_outputs.bias",
                 "lm_head.dense.weight"):
        assert hf_names.IGNORED.match(name), name
    assert not hf_names.IGNORED.match("encoder.layer.0.attention.self.query.weight")
    assert hf_names.BASE_PREFIXES == ("", "bert.", "roberta.")
