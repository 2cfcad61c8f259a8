"""Declarative map between Hugging Face BERT-family tensor names and this encoder's state paths.

One row per tensor kind: (our path, HF name, transform). `{i}` expands over layers. Transforms:
`linear` transposes torch's [out, in] Linear weight into a Flax [in, out] kernel; `copy` keeps it.
The same table drives loading, exporting and error messages, so a renamed tensor is one edit.
"""

from __future__ import annotations

import re

import numpy as np

ROWS: tuple[tuple[str, str, str], ...] = (
    ("embeddings/word/embedding", "embeddings.word_embeddings.weight", "copy"),
    ("embeddings/position/embedding", "embeddings.position_embeddings.weight", "copy"),
    ("embeddings/token_type/embedding", "embeddings.token_type_embeddings.weight", "copy"),
    ("embeddings/ln/scale", "embeddings.LayerNorm.weight", "copy"),
    ("embeddings/ln/bias", "embeddings.LayerNorm.bias", "copy"),
    ("layers/{i}/query/kernel", "encoder.layer.{i}.attention.self.query.weight", "linear"),
    ("layers/{i}/query/bias", "encoder.layer.{i}.attention.self.query.bias", "copy"),
    ("layers/{i}/key/kernel", "encoder.layer.{i}.attention.self.key.weight", "linear"),
    ("layers/{i}/key/bias", "encoder.layer.{i}.attention.self.key.bias", "copy"),
    ("layers/{i}/value/kernel", "encoder.layer.{i}.attention.self.value.weight", "linear"),
    ("layers/{i}/value/bias", "encoder.layer.{i}.attention.self.value.bias", "copy"),
    ("layers/{i}/attn_out/kernel", "encoder.layer.{i}.attention.output.dense.weight", "linear"),
    ("layers/{i}/attn_out/bias", "encoder.layer.{i}.attention.output.dense.bias", "copy"),
    ("layers/{i}/attn_ln/scale", "encoder.layer.{i}.attention.output.LayerNorm.weight", "copy"),
    ("layers/{i}/attn_ln/bias", "encoder.layer.{i}.attention.output.LayerNorm.bias", "copy"),
    ("layers/{i}/intermediate/kernel", "encoder.layer.{i}.intermediate.dense.weight", "linear"),
    ("layers/{i}/intermediate/bias", "encoder.layer.{i}.intermediate.dense.bias", "copy"),
    ("layers/{i}/output/kernel", "encoder.layer.{i}.output.dense.weight", "linear"),
    ("layers/{i}/output/bias", "encoder.layer.{i}.output.dense.bias", "copy"),
    ("layers/{i}/ffn_ln/scale", "encoder.layer.{i}.output.LayerNorm.weight", "copy"),
    ("layers/{i}/ffn_ln/bias", "encoder.layer.{i}.output.LayerNorm.bias", "copy"),
    ("pooler/kernel", "pooler.dense.weight", "linear"),
    ("pooler/bias", "pooler.dense.bias", "copy"),
)

# Old TF-converted checkpoints spell LayerNorm parameters gamma/beta.
LEGACY_SUFFIXES = {"LayerNorm.gamma": "LayerNorm.weight", "LayerNorm.beta": "LayerNorm.bias"}

# Prefixes under which task models (BertForX, RobertaForX) nest the encoder.
BASE_PREFIXES = ("", "bert.", "roberta.")

# Tensors in a checkpoint that are not encoder weights: buffers and task / pretraining heads.
IGNORED = re.compile(
    r"^(.*position_ids|.*token_type_ids|cls\..*|lm_head\..*|classifier\..*|qa_outputs\..*|"
    r"pre_classifier\..*|dropout\..*)$"
)

TRANSFORMS = {"copy": lambda a: a, "linear": lambda a: np.ascontiguousarray(a.T)}
INVERSE = {"copy": lambda a: a, "linear": lambda a: np.ascontiguousarray(a.T)}


def expand(num_layers: int, with_pooler: bool = True):
    """Yields (our path tuple, HF name, transform) for every tensor of the encoder."""
    for ours, hf, transform in ROWS:
        if ours.startswith("pooler/") and not with_pooler:
            continue
        indices = range(num_layers) if "{i}" in ours else [None]
        for i in indices:
            path = tuple(int(p) if p.isdigit() else p for p in ours.format(i=i).split("/"))
            yield path, hf.format(i=i), transform


def normalise_name(name: str) -> str:
    for old, new in LEGACY_SUFFIXES.items():
        if name.endswith(old):
            return name[: -len(old)] + new
    return name
