"""The explicit registry of adapter methods: user-facing names -> (Adapter class, default config).

Names follow AdapterHub's config strings (`seq_bn`, `double_seq_bn`, `par_bn`, `lora`, `ia3`,
`prefix_tuning`, `compacter`) plus the paper names (`pfeiffer`, `houlsby`, `parallel`).
A new method is one file with an AdapterConfig + Adapter pair and one `register` call here.
The registry imports the method files; no method imports it (only the container, the AdapterHub
I/O and the layers above adapters/ do).
"""

from __future__ import annotations

from typing import Any

from flax import nnx

from flax_adapters.adapters import bottleneck, compacter, ia3, lora, prefix
from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError, Slot

# name -> (Adapter subclass, default config)
METHODS: dict[str, tuple[type[Adapter], AdapterConfig]] = {}


def register(name: str, adapter_cls: type[Adapter], default: AdapterConfig) -> None:
    if name in METHODS:
        raise ValueError(f"adapter method {name!r} is registered twice")
    METHODS[name] = (adapter_cls, default)


for _name, _cfg in bottleneck.PRESETS.items():
    register(_name, bottleneck.BottleneckAdapter, _cfg)

register("lora", lora.LoRAAdapter, lora.LoRAConfig())
register("ia3", ia3.IA3Adapter, ia3.IA3Config())

register("prefix_tuning", prefix.PrefixTuningAdapter, prefix.PrefixTuningConfig())
for _name, _cfg in compacter.PRESETS.items():
    register(_name, compacter.CompacterAdapter, _cfg)


def make_config(method: str | AdapterConfig, **options: Any) -> AdapterConfig:
    """A method name (+ option overrides) or a config object -> a validated-later config."""
    if isinstance(method, AdapterConfig):
        return method.replace(**options) if options else method
    if method not in METHODS:
        raise AdapterError(f"unknown adapter method {method!r}; choose one of {sorted(METHODS)}")
    return METHODS[method][1].replace(**options)


def adapter_class(config: AdapterConfig) -> type[Adapter]:
    for cls, default in METHODS.values():
        if type(default) is type(config):
            return cls
    raise AdapterError(f"no registered method uses config type {type(config).__name__}")


def config_from_hub(d: dict) -> AdapterConfig:
    """An AdapterHub adapter_config.json 'config' dict -> our config (methods decide by their keys)."""
    arch = d.get("architecture")
    for cls, default in METHODS.values():
        config_cls = type(default)
        if getattr(config_cls, "hub_matches", None) and config_cls.hub_matches(d):
            return config_cls.from_hub(d)
    if arch in (None, "bottleneck") and not d.get("phm_layer", False):
        return bottleneck.BottleneckConfig.from_hub(d)
    raise AdapterError(f"AdapterHub architecture {arch!r} (config {sorted(d)[:6]}...) is not supported; "
                       f"supported methods: {sorted(METHODS)}")


def build_adapter(config: AdapterConfig, enc, seed: int = 0) -> Slot:
    """A freshly initialised adapter of `config` for encoder config `enc` (AdapterHub's init)."""
    return Slot.of(adapter_class(config)(config, enc, rngs=nnx.Rngs(seed)), config)
