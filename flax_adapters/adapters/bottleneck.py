"""Bottleneck adapters with AdapterHub semantics: `seq_bn` (Pfeiffer), `double_seq_bn` (Houlsby),
`par_bn` (parallel, scaled) and every BnConfig option that changes the forward pass.

At a hooked sub-layer with output s, residual input x and pretrained LayerNorm LN (docs/papers.md §3):
  sequential: h = LN(s + x) if original_ln_before else s;  residual = s if residual_before_ln
              else h;  y = LN(A(h)·scale + residual + x)   (original_ln_after; else A(h)·scale + residual)
  parallel:   y = LN(s + A(x)·scale + x)                    (original_ln_after; else s + A(x)·scale)
with A(u) = up(f(down(ln_before(u)))), optional ln_after. This mirrors AdapterHub's
pre_forward / forward / post_forward so its checkpoints reproduce exactly.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError
from flax_adapters.adapters.common import KAIMING_A5, NON_LINEARITIES
from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.hooks import LayerHooks

# AdapterHub's weight initialisations: (down kernel, up kernel) initialisers; biases start at 0.
# torch trunc_normal_(std=1e-2, a=-2e-2, b=2e-2): std of the untruncated normal, cut at ±2σ.
_HOULSBY = nnx.initializers.truncated_normal(1e-2, lower=-2.0, upper=2.0)
INITS = {
    "bert": (nnx.initializers.normal(0.02), nnx.initializers.normal(0.02)),
    "mam_adapter": (KAIMING_A5, nnx.initializers.zeros),
    "houlsby": (_HOULSBY, _HOULSBY),
}


@dataclasses.dataclass(frozen=True)
class BottleneckConfig(AdapterConfig):
    """AdapterHub's BnConfig. Defaults are `seq_bn` (Pfeiffer); see PRESETS for the others."""

    method: ClassVar[str] = "bottleneck"
    mh_adapter: bool = False          # adapter after the attention sub-layer
    output_adapter: bool = True       # adapter after the FFN sub-layer
    reduction_factor: float = 16
    non_linearity: str = "relu"
    original_ln_before: bool = True
    original_ln_after: bool = True
    residual_before_ln: bool = True
    adapter_residual_before_ln: bool = False
    ln_before: bool = False
    ln_after: bool = False
    init_weights: str = "bert"
    is_parallel: bool = False
    scaling: float | str = 1.0        # a float, "learned" (scalar) or "channel" (per feature)
    dropout: float = 0.0

    hub_fixed: ClassVar[dict] = {"use_gating": False, "phm_layer": False, "inv_adapter": None,
                                 "cross_adapter": False, "stochastic_depth": 0.0}
    hub_ignored: ClassVar[frozenset] = AdapterConfig.hub_ignored | {
        "inv_adapter_reduction_factor", "phm_dim", "factorized_phm_W", "shared_W_phm", "shared_phm_rule",
        "factorized_phm_rule", "phm_c_init", "phm_init_range", "learn_phm", "hypercomplex_nonlinearity",
        "phm_rank", "phm_bias"}

    def validate(self, enc: EncoderConfig) -> None:
        super().validate(enc)
        if self.non_linearity.lower() not in NON_LINEARITIES:
            raise AdapterError(f"non_linearity {self.non_linearity!r}: choose one of {sorted(NON_LINEARITIES)}")
        if self.init_weights not in INITS:
            raise AdapterError(f"init_weights {self.init_weights!r}: choose one of {sorted(INITS)}")
        if not isinstance(self.scaling, (int, float)) and self.scaling not in ("learned", "channel"):
            raise AdapterError(f"scaling {self.scaling!r}: a number, 'learned' or 'channel'")
        if not self.reduction_factor or self.reduction_factor <= 0:
            raise AdapterError(f"reduction_factor must be positive, got {self.reduction_factor!r}")
        if not (self.mh_adapter or self.output_adapter):
            raise AdapterError("a bottleneck adapter needs mh_adapter or output_adapter")

    def bottleneck_size(self, hidden: int) -> int:
        return max(1, int(hidden // self.reduction_factor))


PRESETS = {
    "seq_bn": BottleneckConfig(),
    "pfeiffer": BottleneckConfig(),
    "double_seq_bn": BottleneckConfig(mh_adapter=True, non_linearity="swish", original_ln_before=False),
    "houlsby": BottleneckConfig(mh_adapter=True, non_linearity="swish", original_ln_before=False),
    "par_bn": BottleneckConfig(reduction_factor=2, original_ln_before=False, init_weights="mam_adapter",
                               is_parallel=True, scaling=4.0),
    "parallel": BottleneckConfig(reduction_factor=2, original_ln_before=False, init_weights="mam_adapter",
                                 is_parallel=True, scaling=4.0),
}


class Block(nnx.Module):
    """One bottleneck A(u) at one sub-layer, with AdapterHub's residual / LayerNorm wiring."""

    def __init__(self, cfg: BottleneckConfig, hidden: int, *, rngs: nnx.Rngs):
        self.cfg = cfg
        size = cfg.bottleneck_size(hidden)
        down_init, up_init = INITS[cfg.init_weights]
        self.ln_before = nnx.LayerNorm(hidden, epsilon=1e-5, use_fast_variance=False, rngs=rngs) if cfg.ln_before else None
        self.down = self.projection(hidden, size, down_init, rngs)
        self.up = self.projection(size, hidden, up_init, rngs)
        self.ln_after = nnx.LayerNorm(hidden, epsilon=1e-5, use_fast_variance=False, rngs=rngs) if cfg.ln_after else None
        if cfg.scaling == "learned":
            self.scale = nnx.Param(jnp.ones((1,)))
        elif cfg.scaling == "channel":
            self.scale = nnx.Param(jnp.ones((hidden,)))
        else:
            self.scale = float(cfg.scaling)
        self.dropout = nnx.Dropout(cfg.dropout)

    def projection(self, n_in, n_out, init, rngs):
        """The down/up layer; Compacter overrides this with a PHM layer."""
        return nnx.Linear(n_in, n_out, kernel_init=init, rngs=rngs)

    def bottleneck(self, u, rngs):
        if self.ln_before is not None:
            u = self.ln_before(u)
        up = self.up(NON_LINEARITIES[self.cfg.non_linearity.lower()](self.down(u)))
        scale = self.scale[...] if isinstance(self.scale, nnx.Param) else self.scale
        return self.dropout(up * scale, deterministic=rngs is None, rngs=rngs)

    # AdapterHub splits an adapter at a sub-layer into pre_forward + forward (`run` here) and
    # post_forward (`post`); composition.Stack chains several `run`s and ends with the last `post`.
    def pre(self, s, x, ln):
        """AdapterHub's pre_forward: (adapter input, adapter residual) from the incoming state s."""
        cfg = self.cfg
        if cfg.is_parallel:  # ParallelAdapter reads the sub-layer input x, whatever came before
            return x, x
        h = ln(s + x) if cfg.original_ln_before else s
        return h, (s if cfg.residual_before_ln else h)

    def run(self, s, x, ln, rngs=None):
        """pre_forward + forward: the adapter's output before the sub-layer's residual and LN."""
        cfg = self.cfg
        h, residual = self.pre(s, x, ln)
        out = self.bottleneck(h, rngs)
        if cfg.is_parallel:
            return out if self.ln_after is None else self.ln_after(out)
        if cfg.adapter_residual_before_ln:
            out = out + residual
        if self.ln_after is not None:
            out = self.ln_after(out)
        return out if cfg.adapter_residual_before_ln else out + residual

    def post(self, out, s, x, ln):
        """AdapterHub's post_forward; s is the sub-layer output (a parallel adapter adds it back).
        Without original_ln_after AdapterHub adds no residual x either."""
        if self.cfg.is_parallel:
            out = out + s
        return ln(out + x) if self.cfg.original_ln_after else out

    def __call__(self, s, x, ln, rngs=None):
        return self.post(self.run(s, x, ln, rngs), s, x, ln)

    def hub_rows(self, prefix: str):
        """(our sub-path, hub name) rows of this block; `prefix` is its AdapterHub module path."""
        rows = []
        linear_index = 0
        if self.ln_before is not None:
            linear_index = 1
            # AdapterHub registers this LayerNorm twice (adapter_down.0 and adapter_norm_before).
            for alias in ("adapter_down.0.", "adapter_norm_before."):
                rows += [(("ln_before", "scale"), prefix + alias + "weight", "copy"),
                         (("ln_before", "bias"), prefix + alias + "bias", "copy")]
        rows += self.projection_rows(("down",), f"{prefix}adapter_down.{linear_index}.")
        rows += self.projection_rows(("up",), prefix + "adapter_up.")
        if self.ln_after is not None:
            rows += [(("ln_after", "scale"), prefix + "adapter_norm_after.weight", "copy"),
                     (("ln_after", "bias"), prefix + "adapter_norm_after.bias", "copy")]
        if isinstance(self.scale, nnx.Param):
            rows.append((("scale",), prefix + "scaling", "copy"))
        return rows

    def projection_rows(self, path, prefix):
        return [(path + ("kernel",), prefix + "weight", "linear"), (path + ("bias",), prefix + "bias", "copy")]


class BottleneckHooks(LayerHooks):
    """Routes the 'attention' / 'ffn' sub-layer hooks of one layer to its blocks."""

    def __init__(self, blocks: dict, rngs):
        self.blocks, self.rngs = blocks, rngs

    def sublayer(self, name, s, x, ln):
        block = self.blocks.get(name)
        return ln(s + x) if block is None else block(s, x, ln, self.rngs)

    def stack_sublayer(self, name):
        """(run, post) of this sub-layer's block for composition.Stack; None where there is none."""
        block = self.blocks.get(name)
        return None if block is None else (lambda s, x, ln: block.run(s, x, ln, self.rngs), block.post)


class BottleneckLayer(nnx.Module):
    def __init__(self, cfg, hidden, block_cls, *, rngs):
        self.attention = block_cls(cfg, hidden, rngs=rngs) if cfg.mh_adapter else None
        self.ffn = block_cls(cfg, hidden, rngs=rngs) if cfg.output_adapter else None


# Where AdapterHub keeps a layer's bottleneck modules, relative to the encoder.
HUB_LOCATIONS = {"attention": "encoder.layer.{i}.attention.output.adapters.{name}.",
                 "ffn": "encoder.layer.{i}.output.adapters.{name}."}


class BottleneckAdapter(Adapter):
    config_cls = BottleneckConfig
    block_cls: ClassVar[type[Block]] = Block

    def __init__(self, config: BottleneckConfig, enc: EncoderConfig, *, rngs: nnx.Rngs):
        super().__init__(config, enc, rngs=rngs)
        self.layers = nnx.List([
            BottleneckLayer(config, enc.hidden_size, self.block_cls, rngs=rngs) if config.active(i) else None
            for i in range(enc.num_hidden_layers)])

    def blocks(self, layer: BottleneckLayer) -> dict:
        return {k: b for k, b in (("attention", layer.attention), ("ffn", layer.ffn)) if b is not None}

    def layer_hooks(self, rngs=None):
        return [None if layer is None else BottleneckHooks(self.blocks(layer), rngs) for layer in self.layers]

    def hub_table(self):
        for i, layer in enumerate(self.layers):
            if layer is None:
                continue
            for where, block in self.blocks(layer).items():
                for sub, hub, transform in block.hub_rows(HUB_LOCATIONS[where].format(i=i, name="{name}")):
                    yield ("layers", i, where) + sub, hub, transform
