"""Compacter (Mahabadi et al. 2021): bottleneck adapters whose down/up layers are PHM layers.

A PHM layer's weight is a sum of Kronecker products (AdapterHub's PHMLayer):
    H = Σ_i kron(A_i, W_i) ∈ R^{in × out},   y = x H + b,   i = 1…phm_dim
with rule matrices A [n, n, n] (n = phm_dim) and W [n, in/n, out/n] = W_left @ W_right
(rank phm_rank) when factorized_phm_W. With shared_phm_rule (the default) one A serves every
PHM layer of the adapter: it lives once in `CompacterAdapter` and reaches the layers through
`layer_hooks` (computed once per call), saved as AdapterHub's `shared_parameters.NAME.phm_rule`.
Placement and residual wiring are the bottleneck ones: `compacter` = Houlsby (double_seq_bn),
`compacter++` = Pfeiffer (seq_bn).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters.base import AdapterConfig, AdapterError
from flax_adapters.adapters.bottleneck import Block, BottleneckAdapter, BottleneckConfig, BottleneckHooks


@dataclasses.dataclass(frozen=True)
class CompacterConfig(BottleneckConfig):
    """AdapterHub's CompacterConfig (BnConfig with phm_layer=True). Defaults: `compacter`."""

    method: ClassVar[str] = "compacter"
    mh_adapter: bool = True
    reduction_factor: float = 32
    non_linearity: str = "gelu"
    original_ln_before: bool = False
    phm_dim: int = 4
    shared_phm_rule: bool = True
    factorized_phm_rule: bool = False
    factorized_phm_W: bool = True
    phm_rank: int = 1
    phm_c_init: str = "normal"
    phm_init_range: float = 0.0001
    # AdapterHub's init_W tests this option's truthiness before its value, so every value it
    # accepts gives xavier_normal W factors; we reproduce that, whatever the name says.
    hypercomplex_nonlinearity: str = "glorot-uniform"
    learn_phm: bool = True            # False (frozen rules) is refused in validate()
    phm_bias: bool = True

    hub_fixed: ClassVar[dict] = {"use_gating": False, "phm_layer": True, "inv_adapter": None,
                                 "cross_adapter": False, "stochastic_depth": 0.0, "shared_W_phm": False}
    hub_ignored: ClassVar[frozenset] = AdapterConfig.hub_ignored | {"inv_adapter_reduction_factor"}

    def validate(self, enc) -> None:
        super().validate(enc)
        if not self.learn_phm:  # would need the training step to freeze the rules: refuse, don't ignore
            raise AdapterError("compacter: learn_phm=False (frozen rule matrices) is not supported")
        n, size = int(self.phm_dim), self.bottleneck_size(enc.hidden_size)
        if n < 1 or enc.hidden_size % n or size % n:
            raise AdapterError(f"compacter: phm_dim {self.phm_dim} must divide hidden_size {enc.hidden_size} "
                               f"and the bottleneck size {size} (hidden_size // reduction_factor)")
        if int(self.phm_rank) < 1:
            raise AdapterError(f"compacter: phm_rank must be >= 1, got {self.phm_rank}")
        if self.phm_c_init not in ("normal", "uniform"):
            raise AdapterError(f"compacter: phm_c_init {self.phm_c_init!r}: 'normal' or 'uniform'")
        if self.hypercomplex_nonlinearity not in ("phm", "glorot-normal", "glorot-uniform", "normal"):
            raise AdapterError(f"compacter: hypercomplex_nonlinearity {self.hypercomplex_nonlinearity!r}: "
                               "'phm', 'glorot-normal', 'glorot-uniform' or 'normal'")
        if self.init_weights != "bert":  # AdapterHub's other inits fail on PHM layers (no .weight)
            raise AdapterError(f"compacter: init_weights must be 'bert', got {self.init_weights!r}")

    @classmethod
    def hub_matches(cls, d: dict) -> bool:
        return bool(d.get("phm_layer")) and d.get("architecture") in (None, "bottleneck")


PRESETS = {"compacter": CompacterConfig(),
           "compacter++": CompacterConfig(mh_adapter=False, original_ln_before=True)}


def _rule_init(cfg: CompacterConfig, shared: bool):
    """AdapterHub's rule init: shared rules use phm_init_range (normal) or U(-1, 1); per-layer
    rules use a fixed N(0, 0.01²) or U(-0.01, 0.01)."""
    if cfg.phm_c_init == "normal":
        return nnx.initializers.normal(cfg.phm_init_range if shared else 0.01)
    scale = 1.0 if shared else 0.01
    return lambda key, shape: jax.random.uniform(key, shape, jnp.float32, -scale, scale)


def make_rules(module: nnx.Module, cfg: CompacterConfig, shared: bool, rngs: nnx.Rngs) -> None:
    n, init = int(cfg.phm_dim), _rule_init(cfg, shared)
    if cfg.factorized_phm_rule:
        module.phm_rule_left = nnx.Param(init(rngs.params(), (n, n, 1)))
        module.phm_rule_right = nnx.Param(init(rngs.params(), (n, 1, n)))
    else:
        module.phm_rule = nnx.Param(init(rngs.params(), (n, n, n)))


def read_rule(module: nnx.Module, cfg: CompacterConfig) -> jax.Array:
    if cfg.factorized_phm_rule:
        return module.phm_rule_left[...] @ module.phm_rule_right[...]  # batched: [n, n, n]
    return module.phm_rule[...]


def rule_names(cfg: CompacterConfig) -> tuple[str, ...]:
    return ("phm_rule_left", "phm_rule_right") if cfg.factorized_phm_rule else ("phm_rule",)


# torch xavier_normal_ on each 2-D slice [a, b]: std = √(2 / (a + b)) (not truncated).
_XAVIER_NORMAL = nnx.initializers.variance_scaling(1.0, "fan_avg", "normal", in_axis=-2, out_axis=-1,
                                                      batch_axis=0)


class PHMLinear(nnx.Module):
    """One PHM layer; called with the adapter's shared rule when shared_phm_rule."""

    def __init__(self, cfg: CompacterConfig, n_in: int, n_out: int, *, rngs: nnx.Rngs):
        self.cfg = cfg
        n, r = int(cfg.phm_dim), int(cfg.phm_rank)
        if cfg.factorized_phm_W:
            self.W_left = nnx.Param(_XAVIER_NORMAL(rngs.params(), (n, n_in // n, r)))
            self.W_right = nnx.Param(_XAVIER_NORMAL(rngs.params(), (n, r, n_out // n)))
        else:
            self.W = nnx.Param(_XAVIER_NORMAL(rngs.params(), (n, n_in // n, n_out // n)))
        if not cfg.shared_phm_rule:
            make_rules(self, cfg, shared=False, rngs=rngs)
        self.b = nnx.Param(jnp.zeros((n_out,))) if cfg.phm_bias else None

    def weight(self, rule: jax.Array | None) -> jax.Array:
        W = self.W_left[...] @ self.W_right[...] if self.cfg.factorized_phm_W else self.W[...]
        if not self.cfg.shared_phm_rule:
            rule = read_rule(self, self.cfg)
        n, a, b = W.shape
        # Σ_i kron(rule_i, W_i): entry (i·a + k, j·b + l) = Σ_n rule[n, i, j] · W[n, k, l]
        return jnp.einsum("nij,nkl->ikjl", rule, W).reshape(rule.shape[1] * a, rule.shape[2] * b)

    def __call__(self, x, rule=None):
        y = x @ self.weight(rule).astype(x.dtype)
        return y if self.b is None else y + self.b[...]

    def hub_rows(self, path, prefix):
        names = ("W_left", "W_right") if self.cfg.factorized_phm_W else ("W",)
        if not self.cfg.shared_phm_rule:
            names += rule_names(self.cfg)
        if self.b is not None:
            names += ("b",)
        return [(path + (k,), prefix + k, "copy") for k in names]


class _WithRule:
    """`Block`'s wiring run with its PHM projections bound to this call's shared rule: the
    residual/LayerNorm logic stays in bottleneck.Block, unchanged."""

    def __init__(self, block: "CompacterBlock", rule):
        self._block = block
        self.down = lambda u: block.down(u, rule)
        self.up = lambda u: block.up(u, rule)

    def __getattr__(self, name):
        return getattr(self._block, name)

    def bottleneck(self, u, rngs):
        return Block.bottleneck(self, u, rngs)


class CompacterBlock(Block):
    def projection(self, n_in, n_out, init, rngs):
        del init  # PHM layers have their own init; AdapterHub's 'bert' init skips them
        return PHMLinear(self.cfg, n_in, n_out, rngs=rngs)

    def run(self, s, x, ln, rngs=None, rule=None):
        return Block.run(_WithRule(self, rule), s, x, ln, rngs)

    def __call__(self, s, x, ln, rngs=None, rule=None):
        return self.post(self.run(s, x, ln, rngs, rule), s, x, ln)

    def projection_rows(self, path, prefix):
        return getattr(self, path[0]).hub_rows(path, prefix)


class CompacterHooks(BottleneckHooks):
    def __init__(self, blocks, rngs, rule):
        super().__init__(blocks, rngs)
        self.rule = rule

    def sublayer(self, name, s, x, ln):
        block = self.blocks.get(name)
        return ln(s + x) if block is None else block(s, x, ln, self.rngs, self.rule)

    def stack_sublayer(self, name):
        block = self.blocks.get(name)
        return None if block is None else (lambda s, x, ln: block.run(s, x, ln, self.rngs, self.rule), block.post)


class CompacterAdapter(BottleneckAdapter):
    config_cls = CompacterConfig
    block_cls = CompacterBlock

    def __init__(self, config: CompacterConfig, enc, *, rngs: nnx.Rngs):
        super().__init__(config, enc, rngs=rngs)
        if config.shared_phm_rule:  # once per adapter (AdapterHub: base_model.shared_parameters)
            make_rules(self, config, shared=True, rngs=rngs)

    def layer_hooks(self, rngs=None):
        rule = read_rule(self, self.config) if self.config.shared_phm_rule else None  # once per call
        return [None if layer is None else CompacterHooks(self.blocks(layer), rngs, rule) for layer in self.layers]

    def hub_table(self):
        yield from super().hub_table()
        if self.config.shared_phm_rule:
            for k in rule_names(self.config):
                yield (k,), "shared_parameters.{name}." + k, "copy"

    def hub_missing_hint(self, name, where):
        if not name.startswith("shared_parameters."):
            return None
        return (f"{where}: this Compacter's shared PHM rule {name!r} is not in the file: AdapterHub's "
                "save_adapter omits the shared rule when the adapter lives in a bare model "
                "(adapters.init(BertModel)); save it from an AdapterHub AdapterModel (e.g. "
                "AutoAdapterModel.from_pretrained(...)) or use shared_phm_rule=False")
