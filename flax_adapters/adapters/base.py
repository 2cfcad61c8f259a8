"""The contract every adapter method implements.

A method is three things, kept together in one file per method and listed in registry.py:
  1. a frozen `AdapterConfig` subclass whose fields carry AdapterHub's names and defaults, with
     `from_hub` / `to_hub` for `adapter_config.json`;
  2. an `Adapter` NNX module holding the trainable parameters for one base encoder;
  3. `Adapter.layer_hooks(rngs)` -> one `LayerHooks` (or None) per layer: how it attaches to the
     encoder's hook points. It runs inside the traced function, so shared work (prefix MLP,
     Compacter's shared rule matrices) happens once per call, not once per layer.
Plus `hub_table()`: (our state path, AdapterHub tensor name, transform) rows for interop, and
`hub_ignore(key)` for tensors AdapterHub writes that we need not read.
`Slot` is a built adapter or head split into its static graphdef and parameter state: what the
container holds by name and what the pure functions (functional.py) take.

Import order inside this package (tests/test_imports.py checks it): method files (this contract,
common.py, models/ and, for a method built on another, that method's file) -> registry.py ->
model.py (AdapterModel, the container), with hub_io.py (AdapterHub directories) beside it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Iterable, Mapping, Sequence

import jax
import numpy as np
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

    def hub_ignore(self, key: str) -> bool:
        """True for an AdapterHub tensor name this method reads past (a duplicate, say)."""
        del key
        return False

    def hub_missing_hint(self, name: str, where: str) -> str | None:
        """An explanation for AdapterHub tensor `name` missing from directory `where`, when the method
        knows why it can be missing (None: the plain 'missing tensor' message)."""
        del name, where
        return None

    # Reparametrisable methods (LoRA, (IA)³) fold into the base weights for zero-cost inference.
    mergeable: ClassVar[bool] = False

    def merge(self, base_params):
        raise AdapterError(f"method {self.config.method!r} cannot be merged into the base weights")

    def unmerge(self, base_params):
        raise AdapterError(f"method {self.config.method!r} cannot be merged into the base weights")


@dataclasses.dataclass
class Slot:
    """A named adapter or head: its config, static graphdef and (mutable) parameter state."""

    config: Any
    graphdef: Any
    params: Any

    @classmethod
    def of(cls, module: nnx.Module, config=None) -> "Slot":
        return cls(module.config if config is None else config, *nnx.split(module))

    def module(self):
        return nnx.merge(self.graphdef, self.params)

    @property
    def num_parameters(self) -> int:
        return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(self.params))


def lookup(table: Mapping[str, Slot], name: str, what: str = "adapter") -> Slot:
    """`table[name]`, or an AdapterError naming `name` and listing what there is."""
    if not isinstance(name, str) or name not in table:
        raise AdapterError(f"no {what} named {name!r}; this model has {sorted(table) or 'none'}")
    return table[name]
