"""LoRA with AdapterHub 1.3 semantics (LoRAConfig, composition_mode "add"), and the machinery
(IA)³ reuses (ia3.py): per-layer projection modules at the `project` hook, hub names, merging.

At an adapted dense layer y = xW + b (W our kernel [in, out]):
  LoRA:   y' = y + dropout(x) A B · alpha/r      A [in, r], B [r, out]  (hub: lora_A [r, in], lora_B [out, r])
Merging folds W += (alpha/r) A B, so a merged adapter runs at the bare model's cost.
AdapterHub wraps attention.self.{query,key,value} (selfattn_lora + attn_matrices q/k/v),
intermediate.dense (intermediate_lora) and output.dense, the FFN down-projection (output_lora);
those are our hook points 'query', 'key', 'value', 'intermediate' and 'output'.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError
from flax_adapters.adapters.common import KAIMING_A5
from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.hooks import LayerHooks

ATTN_MATRICES = {"q": "query", "k": "key", "v": "value"}
# Where AdapterHub keeps each hooked dense layer's `loras` dict, relative to the encoder.
HUB_MODULES = {"query": "encoder.layer.{i}.attention.self.query.",
               "key": "encoder.layer.{i}.attention.self.key.",
               "value": "encoder.layer.{i}.attention.self.value.",
               "intermediate": "encoder.layer.{i}.intermediate.dense.",
               "output": "encoder.layer.{i}.output.dense."}

# AdapterHub's LoRA inits (A, B) in our [in, r] / [r, out] layout: "lora" is nn.Linear's default
# kaiming_uniform_(a=√5) on A (fan_in = in either way) and zero B, so a fresh LoRA is a no-op.
LORA_INITS = {"lora": (KAIMING_A5, nnx.initializers.zeros),
              "bert": (nnx.initializers.normal(0.02), nnx.initializers.normal(0.02)),
              "ia3": (nnx.initializers.ones, nnx.initializers.ones)}


@dataclasses.dataclass(frozen=True)
class LoRAConfig(AdapterConfig):
    """AdapterHub's LoRAConfig (defaults of the `lora` preset)."""

    method: ClassVar[str] = "lora"
    selfattn_lora: bool = True
    intermediate_lora: bool = False
    output_lora: bool = False
    r: int = 8
    alpha: float = 8
    dropout: float = 0.0
    attn_matrices: tuple[str, ...] = ("q", "v")
    composition_mode: str = "add"
    init_weights: str = "lora"

    # architecture is fixed so to_hub writes it: AdapterHub reads a dict without it as a bottleneck.
    hub_fixed: ClassVar[dict] = {"architecture": "lora", "use_gating": False, "use_dora": False,
                                 "vera_d": None, "vera_b": None}
    inits: ClassVar[dict] = LORA_INITS

    def __post_init__(self):
        super().__post_init__()
        # A tuple keeps the frozen config hashable (it is static in the module's graphdef).
        object.__setattr__(self, "attn_matrices", tuple(self.attn_matrices))

    @classmethod
    def hub_matches(cls, d: dict) -> bool:
        # LoRA and (IA)³ share AdapterHub's architecture "lora"; the composition mode tells them apart.
        mode = cls.__dataclass_fields__["composition_mode"].default
        return d.get("architecture") == "lora" and d.get("composition_mode", "add") == mode

    def validate(self, enc: EncoderConfig) -> None:
        super().validate(enc)
        mode = type(self).__dataclass_fields__["composition_mode"].default
        if self.composition_mode != mode:
            other = {"add": "lora", "scale": "ia3"}.get(self.composition_mode)
            raise AdapterError(f"composition_mode {self.composition_mode!r} is not {self.method!r}'s {mode!r}"
                               + (f"; use method {other!r}" if other else "; choose 'add' (lora) or 'scale' (ia3)"))
        bad = [m for m in self.attn_matrices if m not in ATTN_MATRICES]
        if bad:
            raise AdapterError(f"attn_matrices {bad}: each must be one of {sorted(ATTN_MATRICES)}")
        if not isinstance(self.r, int) or self.r < 1:
            raise AdapterError(f"r must be a positive integer, got {self.r!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise AdapterError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.init_weights not in self.inits:
            raise AdapterError(f"init_weights {self.init_weights!r}: choose one of {sorted(self.inits)}")
        if not self.targets():
            raise AdapterError(f"{self.method!r} adapts no matrix: set selfattn_lora with attn_matrices, "
                               "intermediate_lora or output_lora")

    def targets(self) -> tuple[str, ...]:
        """The hook points ('query', …, 'output') this config adapts."""
        names = [ATTN_MATRICES[m] for m in ("q", "k", "v") if self.selfattn_lora and m in self.attn_matrices]
        return tuple(names + ["intermediate"] * self.intermediate_lora + ["output"] * self.output_lora)


class LoRAProjection(nnx.Module):
    """The low-rank update of one dense layer."""

    def __init__(self, cfg: LoRAConfig, n_in: int, n_out: int, *, rngs: nnx.Rngs):
        init_a, init_b = cfg.inits[cfg.init_weights]
        self.lora_A = nnx.Param(init_a(rngs.params(), (n_in, cfg.r)))
        self.lora_B = nnx.Param(init_b(rngs.params(), (cfg.r, n_out)))
        self.scaling = cfg.alpha / cfg.r
        self.dropout = nnx.Dropout(cfg.dropout)

    # AdapterHub's split, which composition.Stack chains: `chain` is LoRA.forward (the update from
    # the previous stacked update, or from x when first), `com` adds the last one to the output.
    def chain(self, hidden, x, rngs):
        u = x if hidden is None else hidden
        if u.shape[-1] != self.lora_A.shape[0]:
            raise AdapterError(f"Stack feeds a LoRA's update into the next LoRA (as AdapterHub does): a "
                               f"{self.lora_A.shape[0]}-input LoRA cannot take a {u.shape[-1]}-wide update")
        # Same order as AdapterHub: (dropout(u) @ Aᵀ @ Bᵀ) · scaling.
        h = self.dropout(u, deterministic=rngs is None, rngs=rngs)
        return (h @ self.lora_A[...]) @ self.lora_B[...] * self.scaling

    def com(self, y, hidden):
        return y + hidden.astype(y.dtype)

    def __call__(self, x, y, rngs):
        return self.com(y, self.chain(None, x, rngs))

    def merge(self, kernel, bias):
        return kernel + self.lora_A[...] @ self.lora_B[...] * self.scaling, bias

    def unmerge(self, kernel, bias):
        return kernel - self.lora_A[...] @ self.lora_B[...] * self.scaling, bias

    @staticmethod
    def hub_rows():
        # 'linear' transposes: hub lora_A [r, in] / lora_B [out, r] <-> ours [in, r] / [r, out].
        return [(("lora_A",), "lora_A", "linear"), (("lora_B",), "lora_B", "linear")]


class LoRAHooks(LayerHooks):
    def __init__(self, projections: dict, rngs):
        self.projections, self.rngs = projections, rngs

    def project(self, name, x, dense):
        y = dense(x)
        proj = self.projections.get(name)
        return y if proj is None else proj(x, y, self.rngs)

    def stack_project(self, name):
        """(chain, com) of this dense layer's projection for composition.Stack; None if unadapted."""
        proj = self.projections.get(name)
        return None if proj is None else (lambda hidden, x: proj.chain(hidden, x, self.rngs), proj.com)


class LoRALayer(nnx.Module):
    """One layer's projections; an attribute per hook point (None where not adapted)."""

    def __init__(self, cfg: LoRAConfig, dims: dict, proj_cls, *, rngs: nnx.Rngs):
        for name in HUB_MODULES:
            setattr(self, name, proj_cls(cfg, *dims[name], rngs=rngs) if name in cfg.targets() else None)

    def projections(self) -> dict:
        return {n: getattr(self, n) for n in HUB_MODULES if getattr(self, n) is not None}


class LoRAAdapter(Adapter):
    config_cls = LoRAConfig
    projection_cls: ClassVar[type] = LoRAProjection
    mergeable = True

    def __init__(self, config: LoRAConfig, enc: EncoderConfig, *, rngs: nnx.Rngs):
        super().__init__(config, enc, rngs=rngs)
        h, i = enc.hidden_size, enc.intermediate_size
        dims = {"query": (h, h), "key": (h, h), "value": (h, h), "intermediate": (h, i), "output": (i, h)}
        self.layers = nnx.List([LoRALayer(config, dims, self.projection_cls, rngs=rngs) if config.active(n) else None
                                for n in range(enc.num_hidden_layers)])

    def layer_hooks(self, rngs=None):
        return [None if layer is None else LoRAHooks(layer.projections(), rngs) for layer in self.layers]

    def hub_table(self):
        for i, layer in enumerate(self.layers):
            if layer is None:
                continue
            for name, proj in layer.projections().items():
                prefix = HUB_MODULES[name].format(i=i) + "loras.{name}."
                for sub, hub, transform in proj.hub_rows():
                    yield ("layers", i, name) + sub, prefix + hub, transform

    def _fold(self, base_params, how: str):
        """New base params with every adapted dense layer's (kernel, bias) passed through proj.<how>."""
        flat = dict(nnx.to_flat_state(base_params))
        for i, layer in enumerate(self.layers):
            if layer is None:
                continue
            for name, proj in layer.projections().items():
                kpath, bpath = ("layers", i, name, "kernel"), ("layers", i, name, "bias")
                kernel = flat[kpath].get_value()
                bias = flat[bpath].get_value() if bpath in flat else None
                # Fold in fp32 whatever the stored dtype, then store back in it.
                new_k, new_b = getattr(proj, how)(kernel.astype(jnp.float32),
                                                  None if bias is None else bias.astype(jnp.float32))
                flat[kpath] = flat[kpath].replace(new_k.astype(kernel.dtype))
                if bias is not None:
                    flat[bpath] = flat[bpath].replace(new_b.astype(bias.dtype))
        return nnx.from_flat_state(flat)

    def merge(self, base_params):
        return self._fold(base_params, "merge")

    def unmerge(self, base_params):
        return self._fold(base_params, "unmerge")

