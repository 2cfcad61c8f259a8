"""The contract every adapter method implements.

A method is three things, kept together in one file per method and listed in registry.py:
  1. a frozen `AdapterConfig` subclass whose fields carry AdapterHub's names and defaults, with
     `from_hub` / `to_hub` for `adapter_config.json`;
  2. an `Adapter` NNX module holding the trainable parameters for one base encoder;
  3. `Adapter.layer_hooks(rngs)` -> one `LayerHooks` (or None) per layer: how it attaches to the
     encoder's hook points. It runs inside the traced function, so shared work (prefix MLP,
     Compacter's shared rule matrices) happens once per call, not once per layer.
Plus `hub_table()`: (our state path, AdapterHub tensor name, transform) rows for interop.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Iterable, Sequence

from flax import nnx

from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.hooks import LayerHooks

# One row of an adapter's AdapterHub name table: our path (tuple of str/int) in the adapter state,
# the hub tensor name relative to the encoder (no 'bert.' prefix; '{name}' = adapter name), and a
# transform from models.hf_names.TRANSFORMS ('copy' | 'linear').
HubRow = tuple[tuple[Any, ...], str, str]


class AdapterError(ValueError):
    """Bad adapter setup: unknown method, bad option, or a directory for another base model."""


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    """Fields shared by every method. Subclasses set `method` and add their options."""

    method: ClassVar[str] = ""
    # Layers that get no adapter (AdapterHub's `leave_out`).
    leave_out: tuple[int, ...] = ()
    # AdapterHub config keys whose value we accept but do not model, with the only value allowed.
    hub_fixed: ClassVar[dict[str, Any]] = {}
    # AdapterHub keys ignored outright (bookkeeping with no effect on the forward pass).
    hub_ignored: ClassVar[frozenset[str]] = frozenset({"architecture", "init_weights_seed", "dtype"})

    def __post_init__(self):
        object.__setattr__(self, "leave_out", tuple(int(i) for i in self.leave_out))

    def replace(self, **changes) -> "AdapterConfig":
        bad = set(changes) - {f.name for f in dataclasses.fields(self)}
        if bad:
            raise AdapterError(f"unknown option(s) {sorted(bad)} for method {self.method!r}; "
                               f"valid: {sorted(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)

    def validate(self, enc: EncoderConfig) -> None:
        bad = [i for i in self.leave_out if not 0 <= i < enc.num_hidden_layers]
        if bad:
            raise AdapterError(f"leave_out {bad} is outside the model's {enc.num_hidden_layers} layers")

    def active(self, layer: int) -> bool:
        return layer not in self.leave_out

    # --- AdapterHub adapter_config.json ------------------------------------------------------
    def to_hub(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["leave_out"] = list(self.leave_out)
        d.update(self.hub_fixed)
        return d

    @classmethod
    def from_hub(cls, d: dict) -> "AdapterConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in d.items():
            if key in names:
                kwargs[key] = tuple(value) if isinstance(value, list) else value
            elif key in cls.hub_fixed:
                if value != cls.hub_fixed[key] and value is not None:
                    raise AdapterError(f"AdapterHub option {key}={value!r} is not supported for {cls.method!r} "
                                       f"(only {cls.hub_fixed[key]!r})")
            elif key not in cls.hub_ignored:
                raise AdapterError(f"unknown AdapterHub option {key!r} for method {cls.method!r}")
        return cls(**kwargs)


class Adapter(nnx.Module):
    """Base class of an adapter instance: trainable parameters for one base encoder."""

    config_cls: ClassVar[type[AdapterConfig]] = AdapterConfig

    def __init__(self, config: AdapterConfig, enc: EncoderConfig, *, rngs: nnx.Rngs):
        config.validate(enc)
        self.config, self.enc = config, enc

    def layer_hooks(self, rngs: nnx.Rngs | None = None) -> Sequence[LayerHooks | None]:
        raise NotImplementedError

    def hub_table(self) -> Iterable[HubRow]:
        raise NotImplementedError

    # Reparametrisable methods (LoRA, (IA)³) fold into the base weights for zero-cost inference.
    mergeable: ClassVar[bool] = False

    def merge(self, base_params):
        raise AdapterError(f"method {self.config.method!r} cannot be merged into the base weights")

    def unmerge(self, base_params):
        raise AdapterError(f"method {self.config.method!r} cannot be merged into the base weights")
