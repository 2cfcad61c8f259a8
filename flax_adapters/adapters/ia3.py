"""(IA)³ with AdapterHub 1.3 semantics: IA3Config, i.e. a LoRAConfig with composition_mode "scale".

At an adapted dense layer y = xW + b, AdapterHub's IA3 module rescales the output features:
  y' = y ⊙ (l · alpha)          l = lora_B [out, 1] in the hub file ([1, out] here)
(scaling is alpha itself, not alpha/r; r must be 1). Defaults adapt key, value and
intermediate.dense. Everything else (config fields, hook placement, hub names, folding into the
base weights) is LoRA's machinery from lora.py with a different projection module.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from flax import nnx

from flax_adapters.adapters.base import AdapterError
from flax_adapters.adapters.lora import LoRAAdapter, LoRAConfig
from flax_adapters.models.config import EncoderConfig

# AdapterHub's IA3 inits of l: "ia3" (ones) makes a fresh adapter the exact identity.
IA3_INITS = {"ia3": nnx.initializers.ones, "lora": nnx.initializers.zeros,
             "bert": nnx.initializers.normal(0.02)}


@dataclasses.dataclass(frozen=True)
class IA3Config(LoRAConfig):
    """AdapterHub's IA3Config (defaults of the `ia3` preset)."""

    method: ClassVar[str] = "ia3"
    intermediate_lora: bool = True
    r: int = 1
    alpha: float = 1
    attn_matrices: tuple[str, ...] = ("k", "v")
    composition_mode: str = "scale"
    init_weights: str = "ia3"
    inits: ClassVar[dict] = IA3_INITS

    def validate(self, enc: EncoderConfig) -> None:
        super().validate(enc)
        # AdapterHub's IA3 module raises on both.
        if self.r != 1:
            raise AdapterError(f"ia3 needs r == 1 (composition_mode 'scale'), got r={self.r}")
        if self.dropout:
            raise AdapterError("ia3 does not support dropout")


class IA3Projection(nnx.Module):
    """The learned per-feature scale of one dense layer."""

    def __init__(self, cfg: IA3Config, n_in: int, n_out: int, *, rngs: nnx.Rngs):
        del n_in
        self.lora_B = nnx.Param(cfg.inits[cfg.init_weights](rngs.params(), (1, n_out)))
        self.scaling = float(cfg.alpha)

    def vector(self):
        return self.lora_B[...] * self.scaling  # [1, out]

    def __call__(self, x, y, rngs):
        del x, rngs
        return y * self.vector().astype(y.dtype)

    def chain(self, hidden, x, rngs):  # AdapterHub's IA3.forward: stacked scales multiply
        del x, rngs
        return self.vector() if hidden is None else hidden * self.vector()

    def com(self, y, hidden):
        return y * hidden.astype(y.dtype)

    # The scale multiplies the whole output, bias included, so both are folded. (AdapterHub's own
    # merge scales only the weight, which changes the output when the bias is non-zero.)
    def merge(self, kernel, bias):
        v = self.vector()
        return kernel * v, None if bias is None else bias * v[0]

    def unmerge(self, kernel, bias):
        v = self.vector()
        return kernel / v, None if bias is None else bias / v[0]

    @staticmethod
    def hub_rows():
        return [(("lora_B",), "lora_B", "linear")]  # hub [out, 1] <-> ours [1, out]


class IA3Adapter(LoRAAdapter):
    config_cls = IA3Config
    projection_cls = IA3Projection

