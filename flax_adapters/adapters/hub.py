"""AdapterHub directory format: `adapter_config.json` + `adapter.safetensors` / `pytorch_adapter.bin`,
and `head_config.json` + `model_head.safetensors` / `pytorch_model_head.bin` for the head.

Tensor names come from each method's `hub_table()` (relative to the encoder, `{name}` standing for
the adapter name) behind the base-model prefix AdapterHub's flex models use ('bert.', 'roberta.').
Every tensor is checked: missing, unexpected or mis-shaped ones raise AdapterError naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flax_adapters.adapters import registry
from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.heads import HeadConfig
from flax_adapters.models import hf_names

MODEL_CLASSES = {"bert": "BertAdapterModel", "roberta": "RobertaAdapterModel",
                 "xlm-roberta": "XLMRobertaAdapterModel", "camembert": "RobertaAdapterModel"}
PREFIXES = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.", "camembert": "roberta."}
FAMILY = {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta"}
HUB_VERSION = "adapters.1.3.0"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AdapterError(f"{path.parent}: no {path.name} (not an adapter directory)") from None
    except json.JSONDecodeError as e:
        raise AdapterError(f"{path}: invalid JSON ({e})") from None


def _read_weights(directory: Path, safe: str, legacy: str) -> dict[str, np.ndarray]:
    from flax_adapters.models.loading import _read_file

    for file in (directory / safe, directory / legacy):
        if file.exists():
            try:
                return _read_file(file)
            except Exception as e:
                raise AdapterError(str(e)) from None
    raise AdapterError(f"{directory}: no weights ({safe} or {legacy})")


def _fill(slot, rows, tensors: dict, name: str, prefixes, ignore, where: str):
    """Copies hub tensors into slot.params through the name table; strict on every tensor."""
    flat = dict(nnx.to_flat_state(slot.params))
    used = set()
    for path, hub, transform in rows:
        rel = hub.format(name=name)
        key = next((p + rel for p in prefixes if p + rel in tensors), None)
        if key is None:
            raise AdapterError(f"{where}: missing tensor {prefixes[0] + rel!r}")
        array = hf_names.TRANSFORMS[transform](np.asarray(tensors[key], np.float32))
        expected = flat[path].value.shape
        if array.shape != expected:
            raise AdapterError(f"{where}: tensor {key!r} has shape {array.shape}, expected {expected} "
                               "(was it made for a different base model?)")
        flat[path] = flat[path].replace(jnp.asarray(array))
        used.add(key)
    unexpected = sorted(k for k in tensors if k not in used and not ignore(k))
    if unexpected:
        raise AdapterError(f"{where}: unexpected tensor {unexpected[0]!r}"
                           + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else "")
                           + " (was it made for a different base model or configuration?)")
    slot.params = nnx.from_flat_state(flat)


def _check_base(meta: dict, model, where: str):
    enc = model.config
    if meta.get("hidden_size") not in (None, enc.hidden_size):
        raise AdapterError(f"{where} was made for a model with hidden_size {meta['hidden_size']}, "
                           f"this model has {enc.hidden_size}")
    theirs = meta.get("model_type")
    if theirs and FAMILY.get(theirs, theirs) != FAMILY[enc.model_type]:
        raise AdapterError(f"{where} was made for model_type {theirs!r}, this model is {enc.model_type!r}")


def load_adapter(model, directory, name=None, *, with_head=True, overwrite=False) -> str:
    from flax_adapters.adapters.model import build_adapter, build_head

    directory = Path(directory)
    if not directory.is_dir():
        raise AdapterError(f"{directory}: not a directory")
    meta = _read_json(directory / "adapter_config.json")
    saved = meta.get("name") or directory.name
    name = name or saved
    _check_base(meta, model, str(directory))
    config = registry.config_from_hub(meta.get("config") or {})
    model._check_new(model.adapters, name, "adapter", overwrite)
    slot = build_adapter(config, model.config)
    module = slot.module()
    prefixes = (PREFIXES[model.config.model_type], "")
    ignore = lambda k: getattr(module, "hub_ignore", lambda key: False)(k)
    tensors = _read_weights(directory, "adapter.safetensors", "pytorch_adapter.bin")
    _fill(slot, list(module.hub_table()), tensors, saved, prefixes, ignore, str(directory))
    head_slot = None
    if with_head and (directory / "head_config.json").exists():
        head_meta = _read_json(directory / "head_config.json")
        _check_base(head_meta, model, str(directory / "head_config.json"))
        head_slot = build_head(HeadConfig.from_hub(head_meta.get("config") or {}), model.config)
        head_tensors = _read_weights(directory, "model_head.safetensors", "pytorch_model_head.bin")
        head_saved = head_meta.get("name") or saved
        _fill(head_slot, list(head_slot.module().hub_table()), head_tensors, head_saved, ("",),
              lambda k: False, str(directory / "head"))
        model._check_new(model.heads, name, "head", overwrite)
    model.adapters[name] = slot
    if head_slot is not None:
        model.heads[name] = head_slot
    return name


def _write(directory: Path, tensors: dict, safe: str, legacy: str, torch_format: bool):
    if torch_format:
        import torch

        torch.save({k: torch.from_numpy(np.array(v, copy=True)) for k, v in tensors.items()}, directory / legacy)
    else:
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(directory / safe))


def _export(slot, rows, name, prefix) -> dict:
    flat = dict(nnx.to_flat_state(slot.params))
    return {prefix + hub.format(name=name): hf_names.INVERSE[t](np.asarray(jax.device_get(flat[path].value)))
            for path, hub, t in rows}


def save_adapter(model, directory, name, *, with_head=True, torch_format=False) -> None:
    slot = model._get(model.adapters, name, "adapter")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    enc = model.config
    meta = {"hidden_size": enc.hidden_size, "model_class": MODEL_CLASSES[enc.model_type],
            "model_name": str(model.path or ""), "model_type": enc.model_type, "name": name,
            "version": HUB_VERSION}
    module = slot.module()
    tensors = _export(slot, list(module.hub_table()), name, PREFIXES[enc.model_type])
    tensors.update(getattr(module, "hub_extra_tensors", lambda n, p: {})(name, PREFIXES[enc.model_type]))
    _write(directory, tensors, "adapter.safetensors", "pytorch_adapter.bin", torch_format)
    (directory / "adapter_config.json").write_text(json.dumps(dict(meta, config=slot.config.to_hub()), indent=2))
    if with_head and name in model.heads:
        head = model.heads[name]
        _write(directory, _export(head, list(head.module().hub_table()), name, ""),
               "model_head.safetensors", "pytorch_model_head.bin", torch_format)
        (directory / "head_config.json").write_text(json.dumps(dict(meta, config=head.config.to_hub()), indent=2))
