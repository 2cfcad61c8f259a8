"""AdapterHub directories, read and written: adapters, heads and fusions.

    adapter:  adapter_config.json + adapter.safetensors and/or pytorch_adapter.bin
    head:     head_config.json + model_head.safetensors and/or pytorch_model_head.bin
    fusion:   adapter_fusion_config.json + model_adapter_fusion.safetensors and/or pytorch_model_adapter_fusion.bin

Tensor names come from each method's `hub_table()` (relative to the encoder, `{name}` standing for
the adapter name) behind the base-model prefix AdapterHub's flex models use ('bert.', 'roberta.').
Every tensor is checked: missing, unexpected or mis-shaped ones raise AdapterError naming it.

Writing: AdapterHub's default `load_adapter(dir)` reads only the `.bin` files, so by default we
write exactly what its own `save_adapter` writes: the `.bin` files (torch's zip format, written
without torch: models/torch_zip.py), one copy of the weights. `torch_format=False` writes
safetensors instead (AdapterHub reads those with `use_safetensors=True`). Reading takes either.

This module knows nothing of the container: it maps directories to and from `Slot`s; the
container (model.py) checks names and keeps the slots.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flax_adapters.adapters import fusion, registry
from flax_adapters.adapters.base import AdapterError, Slot
from flax_adapters.adapters.heads import HeadConfig, build_head
from flax_adapters.models import hf_names, torch_zip
from flax_adapters.models.loading import read_file

MODEL_CLASSES = {"bert": "BertAdapterModel", "roberta": "RobertaAdapterModel",
                 "xlm-roberta": "XLMRobertaAdapterModel", "camembert": "RobertaAdapterModel"}
PREFIXES = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.", "camembert": "roberta."}
FAMILY = {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta"}
HUB_VERSION = "adapters.1.3.0"
# role -> (config file, safetensors weights, torch weights): AdapterHub's file names.
FILES = {"adapter": ("adapter_config.json", "adapter.safetensors", "pytorch_adapter.bin"),
         "head": ("head_config.json", "model_head.safetensors", "pytorch_model_head.bin"),
         "fusion": ("adapter_fusion_config.json", "model_adapter_fusion.safetensors",
                    "pytorch_model_adapter_fusion.bin")}


def first_line(error: Exception) -> str:
    """A library's error message cut to its first line (ours are one line each)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# --- reading ---------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise AdapterError(f"{path.parent}: no {path.name} (not an AdapterHub directory of this kind)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AdapterError(f"{path}: invalid JSON ({first_line(e)})") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _read_weights(directory: Path, role: str) -> dict[str, np.ndarray]:
    _, safe, legacy = FILES[role]
    for file in (directory / safe, directory / legacy):
        if file.exists():
            try:
                return read_file(file)
            except Exception as e:  # CheckpointError or a library's error: one line naming the file
                message = first_line(e)
                raise AdapterError(message if str(file) in message else f"{file}: {message}") from None
    raise AdapterError(f"{directory}: no {role} weights ({safe} or {legacy})")


def _check_base(meta: dict, enc, where: str) -> None:
    if meta.get("hidden_size") not in (None, enc.hidden_size):
        raise AdapterError(f"{where} was made for a model with hidden_size {meta['hidden_size']}, "
                           f"this model has {enc.hidden_size}")
    theirs = meta.get("model_type")
    if theirs and FAMILY.get(theirs, theirs) != FAMILY[enc.model_type]:
        raise AdapterError(f"{where} was made for model_type {theirs!r}, this model is {enc.model_type!r}")


def _fill(slot: Slot, rows, tensors: dict, name: str, prefixes, ignore, where: str, hint=None) -> None:
    """Copies hub tensors into slot.params through the name table; strict on every tensor. The
    slot is replaced only when every tensor fitted, so a failed read leaves nothing half-loaded."""
    flat = dict(nnx.to_flat_state(slot.params))
    used = set()
    for path, hub, transform in rows:
        rel = hub.format(name=name)
        key = next((p + rel for p in prefixes if p + rel in tensors), None)
        if key is None:
            raise AdapterError((hint and hint(rel, where)) or f"{where}: missing tensor {prefixes[0] + rel!r}")
        array = hf_names.TRANSFORMS[transform](np.asarray(tensors[key], np.float32))
        expected = flat[path].get_value().shape
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


def _directory(directory) -> Path:
    directory = Path(directory)
    if not directory.is_dir():
        raise AdapterError(f"{directory}: not a directory" + ("" if directory.exists() else " (does not exist)"))
    return directory


def read_adapter(directory, enc, name: str | None = None, *, with_head: bool = True):
    """(name, adapter Slot, head Slot or None) from a directory written by AdapterHub's save_adapter
    (or ours), for an encoder of config `enc`."""
    directory = _directory(directory)
    meta = _read_json(directory / FILES["adapter"][0])
    saved = meta.get("name") or directory.name
    _check_base(meta, enc, str(directory))
    slot = registry.build_adapter(registry.config_from_hub(meta.get("config") or {}), enc)
    module = slot.module()
    _fill(slot, list(module.hub_table()), _read_weights(directory, "adapter"), saved,
          (PREFIXES[enc.model_type], ""), module.hub_ignore, str(directory), module.hub_missing_hint)
    head = None
    if with_head and (directory / FILES["head"][0]).exists():
        head_meta = _read_json(directory / FILES["head"][0])
        _check_base(head_meta, enc, str(directory / FILES["head"][0]))
        head = build_head(HeadConfig.from_hub(head_meta.get("config") or {}), enc)
        _fill(head, list(head.module().hub_table()), _read_weights(directory, "head"),
              head_meta.get("name") or saved, ("",), lambda k: False, str(directory / "head"))
    return name or saved, slot, head


def read_fusion(directory, enc, adapters: Mapping[str, Slot], name: str | None = None):
    """(name, fusion Slot) from AdapterHub's save_adapter_fusion output; the fused adapters are
    taken (copied) from `adapters`, so they must be loaded first."""
    directory = _directory(directory)
    meta = _read_json(directory / FILES["fusion"][0])
    _check_base(meta, enc, str(directory))
    names = meta.get("adapter_names") or (meta.get("name") or "").split(",")
    saved = meta.get("name") or ",".join(names)
    missing = [a for a in names if a not in adapters]
    if missing:
        raise AdapterError(f"{directory} fuses adapters {names}; load {missing} first (load_adapter)")
    slot = fusion.build({a: adapters[a] for a in names}, enc, **(meta.get("config") or {}))
    rows = list(slot.module().fusion_rows())
    fused = {int(re.search(r"layer\.(\d+)\.", h).group(1)) for _, h, _ in rows}
    # AdapterHub also keeps (unused) fusion layers where the adapters are left out: ignore those.
    ignore = lambda k: (m := re.search(r"encoder\.layer\.(\d+)\.", k)) is not None and int(m.group(1)) not in fused
    _fill(slot, rows, _read_weights(directory, "fusion"), saved, (PREFIXES[enc.model_type], ""), ignore,
          str(directory))
    return name or saved, slot


# --- writing ---------------------------------------------------------------------------------------
def _replace_file(path: Path, write) -> None:
    """Writes through a temporary file and renames it into place: a failed or killed save never
    leaves a half-written file under the real name."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write(directory: Path, role: str, tensors: dict, meta: dict, torch_format: bool) -> None:
    config, safe, legacy = FILES[role]
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    if torch_format:
        _replace_file(directory / legacy, lambda p: torch_zip.write_state_dict(p, arrays))
    else:
        from safetensors.numpy import save_file

        _replace_file(directory / safe, lambda p: save_file(arrays, str(p)))
    # A weights file of an earlier save in the other form would shadow (or double) the new one.
    (directory / (safe if torch_format else legacy)).unlink(missing_ok=True)
    _replace_file(directory / config, lambda p: p.write_text(json.dumps(meta, indent=2)))


def _export(slot: Slot, rows, name: str, prefix: str) -> dict:
    flat = dict(nnx.to_flat_state(slot.params))
    return {prefix + hub.format(name=name): hf_names.INVERSE[t](np.asarray(jax.device_get(flat[path].get_value())))
            for path, hub, t in rows}


def _meta(enc, model_name: str, name: str) -> dict:
    return {"hidden_size": enc.hidden_size, "model_class": MODEL_CLASSES[enc.model_type],
            "model_name": model_name, "model_type": enc.model_type, "name": name, "version": HUB_VERSION}


def _output_dir(directory) -> Path:
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise AdapterError(f"{directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_adapter(directory, name: str, slot: Slot, head: Slot | None, enc, *, model_name: str = "",
                  torch_format: bool = True) -> None:
    """Writes adapter `name` (and its head, when given) as AdapterHub's save_adapter does."""
    module = slot.module()
    tensors = _export(slot, list(module.hub_table()), name, PREFIXES[enc.model_type])
    head_tensors = None if head is None else _export(head, list(head.module().hub_table()), name, "")
    directory = _output_dir(directory)  # only once everything to write is in memory
    meta = _meta(enc, model_name, name)
    _write(directory, "adapter", tensors, dict(meta, config=slot.config.to_hub()), torch_format)
    if head is not None:
        _write(directory, "head", head_tensors, dict(meta, config=head.config.to_hub()), torch_format)


def write_fusion(directory, name: str, slot: Slot, enc, *, model_name: str = "",
                 torch_format: bool = True) -> None:
    """Writes fusion `name` as AdapterHub's save_adapter_fusion does (its adapters: write_adapter)."""
    if not isinstance(slot.config, fusion.FusionConfig):
        raise AdapterError(f"adapter {name!r} is not a fusion; use save_adapter")
    tensors = _export(slot, list(slot.module().fusion_rows()), name, PREFIXES[enc.model_type])
    meta = dict(_meta(enc, model_name, name), adapter_names=list(slot.config.adapter_names),
                config=slot.config.to_hub())
    _write(_output_dir(directory), "fusion", tensors, meta, torch_format)


def convert_directory(directory, *, torch_format: bool = True) -> list[str]:
    """Rewrites the weight files of an AdapterHub directory (adapter, head, fusion) in the other form,
    tensors and names unchanged: `torch_format=True` turns *.safetensors into the .bin files
    AdapterHub's default load_adapter reads, False the reverse. The old file is removed once the new
    one is in place (one copy of the weights). Returns the files written."""
    directory = _directory(directory)
    written = []
    for role, (config, safe, legacy) in FILES.items():
        source, target = (directory / safe, directory / legacy) if torch_format else (directory / legacy, directory / safe)
        if not source.exists():
            continue
        tensors = _read_weights(directory, role)
        if torch_format:
            _replace_file(target, lambda p: torch_zip.write_state_dict(p, tensors))
        else:
            from safetensors.numpy import save_file

            _replace_file(target, lambda p: save_file(tensors, str(p)))
        source.unlink()
        written.append(target.name)
    return written
