"""Loading Hugging Face BERT-family checkpoints into the NNX encoder.

Reads `config.json` and `model.safetensors` or `pytorch_model.bin` (sharded or not; the .bin read
without torch, models/torch_zip.py) from a local directory or the HF cache/hub, maps names through hf_names.ROWS and checks
every tensor: a missing, unexpected or mis-shaped weight raises `CheckpointError` naming it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx

from flax_adapters.models import hf_names, torch_zip
from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.encoder import Encoder

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


class CheckpointError(ValueError):
    """A checkpoint does not fit the model; the message names the tensor."""


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A local directory as is; otherwise a hub id through the HF cache (offline-safe)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists() or str(name_or_path).startswith((".", "/", "~")):
        raise FileNotFoundError(f"{name_or_path}: not a model directory")
    from huggingface_hub import snapshot_download  # only needed for hub ids

    patterns = ["config.json", "*.safetensors", "*.safetensors.index.json", "pytorch_model.bin*",
                "tokenizer*", "vocab*", "merges.txt", "special_tokens_map.json", "sentencepiece*"]
    try:
        return Path(snapshot_download(str(name_or_path), allow_patterns=patterns))
    except Exception as e:  # offline with no cache, unknown repo, ...
        raise FileNotFoundError(
            f"{name_or_path}: not a local directory and not loadable from the HF hub/cache ({type(e).__name__}: {e})"
        ) from None


def read_file(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        try:
            return load_file(str(path))
        except Exception as e:
            raise CheckpointError(f"{path}: unreadable safetensors file ({e})") from None
    try:  # torch's zip format, read without torch (models/torch_zip.py)
        return {k: v.astype(np.float32) if v.dtype == ml_dtypes.bfloat16 else v
                for k, v in torch_zip.read_state_dict(path).items()}
    except torch_zip.TorchZipError as e:
        raise CheckpointError(f"{path}: unreadable PyTorch checkpoint ({str(e).removeprefix(f'{path}: ')})") from None


def read_tensors(directory: Path) -> dict[str, np.ndarray]:
    """All tensors of a checkpoint directory, preferring safetensors, following shard indexes."""
    for name in WEIGHT_FILES:
        path = directory / name
        if not path.exists():
            continue
        if name.endswith(".index.json"):
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            tensors: dict[str, np.ndarray] = {}
            for shard in shards:
                tensors.update(read_file(directory / shard))
            return tensors
        return read_file(path)
    raise FileNotFoundError(f"{directory}: no weights found (looked for {', '.join(WEIGHT_FILES)})")


def _base_prefix(tensors: Mapping[str, Any]) -> str:
    for prefix in hf_names.BASE_PREFIXES:
        if prefix + "embeddings.word_embeddings.weight" in tensors:
            return prefix
    raise CheckpointError("missing tensor 'embeddings.word_embeddings.weight' (under no known prefix "
                          f"{[p for p in hf_names.BASE_PREFIXES if p]}): not a BERT-family checkpoint")


def abstract_encoder(cfg: EncoderConfig, add_pooling_layer: bool = True):
    """(graphdef, abstract state) of an encoder, without allocating or initialising weights."""
    return nnx.split(nnx.eval_shape(lambda: Encoder(cfg, add_pooling_layer=add_pooling_layer, rngs=nnx.Rngs(0))))


def state_from_tensors(cfg: EncoderConfig, tensors: Mapping[str, np.ndarray],
                       add_pooling_layer: bool | None = None):
    """Maps HF tensors onto the encoder; returns (graphdef, params state). Raises CheckpointError."""
    tensors = {hf_names.normalise_name(k): v for k, v in tensors.items()}
    prefix = _base_prefix(tensors)
    if add_pooling_layer is None:  # keep the pooler when the checkpoint has one (RoBERTa MLM has none)
        add_pooling_layer = prefix + "pooler.dense.weight" in tensors
    graphdef, abstract = abstract_encoder(cfg, add_pooling_layer)
    flat = dict(nnx.to_flat_state(abstract))
    used = set()
    values = {}
    for path, hf, transform in hf_names.expand(cfg.num_hidden_layers, add_pooling_layer):
        key = prefix + hf
        if key not in tensors:
            raise CheckpointError(f"missing tensor {key!r} (needed for {'/'.join(map(str, path))})")
        array = hf_names.TRANSFORMS[transform](np.asarray(tensors[key]))
        expected = flat[path].get_value().shape
        if array.shape != expected:
            raise CheckpointError(f"tensor {key!r} has shape {tuple(array.shape)}, expected {tuple(expected)} "
                                  f"(after '{transform}') for config hidden_size={cfg.hidden_size}, "
                                  f"intermediate_size={cfg.intermediate_size}, vocab_size={cfg.vocab_size}")
        values[path] = jnp.asarray(array, dtype=jnp.float32)
        used.add(key)
    unexpected = sorted(k for k in tensors if k not in used and k.startswith(prefix)
                        and not hf_names.IGNORED.match(k[len(prefix):]))
    if unexpected:
        raise CheckpointError(f"unexpected tensor {unexpected[0]!r}" +
                              (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "") +
                              ": the checkpoint has more layers or modules than config.json describes")
    for path, value in values.items():
        flat[path] = flat[path].replace(value)
    return graphdef, nnx.from_flat_state(flat)


def load_encoder(name_or_path: str | os.PathLike, **config_overrides):
    """(config, graphdef, params, directory) for a HF BERT/RoBERTa/XLM-R checkpoint."""
    directory = resolve(name_or_path)
    config_file = directory / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{directory}: no config.json")
    cfg = EncoderConfig.from_json_file(config_file, **config_overrides)
    graphdef, params = state_from_tensors(cfg, read_tensors(directory))
    return cfg, graphdef, params, directory


def export_tensors(cfg: EncoderConfig, params) -> dict[str, np.ndarray]:
    """The inverse map: encoder params -> HF-named numpy tensors (BertModel naming, no prefix)."""
    flat = dict(nnx.to_flat_state(params))
    with_pooler = ("pooler", "kernel") in flat
    return {hf: hf_names.INVERSE[t](np.asarray(jax.device_get(flat[path].get_value())))
            for path, hf, t in hf_names.expand(cfg.num_hidden_layers, with_pooler)}
