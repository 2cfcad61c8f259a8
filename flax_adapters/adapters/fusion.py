"""AdapterFusion (Pfeiffer et al., 2021) with AdapterHub 1.3 semantics (compose_fuse + BertFusion).

At a fused sub-layer (output s, residual input x, LayerNorm LN), N sequential bottleneck adapters
A_j of one configuration and a `Fusion` (query Q, key K, value V) compute
  h = LN(s + x) if original_ln_before else s;   residual = s if residual_before_ln else h
  u_j = A_j(h)  (scaled up-projection: no residual, no dropout — AdapterHub's `bottleneck_up`)
  p = softmax_j(Q(q) · K(u_j)),  q = s if query_before_ln else h;   c = Σ_j p_j V(u_j) + residual
  y = LN(c + x) if original_ln_after else c          (AdapterHub's post_forward)
`FusionAdapter` is an ordinary Adapter (AdapterDrop's `drop_n`, jitted calls and training apply)
holding copies of its sub-adapters; `prune` keeps static per-layer top-k index lists, so a pruned
layer computes only k bottlenecks. Its AdapterHub directory (adapter_fusion_config.json + weights)
is read and written by hub_io.py from `fusion_rows`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError, Slot
from flax_adapters.adapters.bottleneck import BottleneckAdapter, BottleneckConfig
from flax_adapters.models.hooks import LayerHooks

HUB_FIELDS = ("key", "query", "value", "query_before_ln", "regularization", "residual_before", "temperature",
              "value_before_softmax", "value_initialized", "dropout_prob")


@dataclasses.dataclass(frozen=True)
class FusionConfig(AdapterConfig):
    """AdapterHub's AdapterFusionConfig (defaults: its "dynamic" preset), plus what rebuilds the module
    from the config alone: the fused adapters' names and shared config, `prune`'s per-layer indices."""

    method: ClassVar[str] = "fusion"
    key: bool = True
    query: bool = True
    value: bool = True
    query_before_ln: bool = False
    regularization: bool = True          # training-time only: see regularization_loss
    residual_before: bool = False
    temperature: bool = False
    value_before_softmax: bool = True
    value_initialized: bool | str = True
    dropout_prob: float | None = None    # None: the encoder's attention_probs_dropout_prob
    adapter_names: tuple[str, ...] = ()
    adapter_config: BottleneckConfig | None = None
    selected: tuple[tuple[int, ...], ...] | None = None  # None: every adapter in every layer

    def validate(self, enc):
        super().validate(enc)
        if self.temperature:  # a per-call annealed T is mutable training state; not modelled
            raise AdapterError("AdapterFusion temperature=True is not supported")
        if not sequential(self.adapter_config) or not self.adapter_names:
            raise AdapterError("AdapterFusion fuses one or more sequential bottleneck adapters")
        self.adapter_config.validate(enc)
        n, sel = len(self.adapter_names), self.selected
        if sel is not None and (len(sel) != enc.num_hidden_layers or any(
                not s or list(s) != sorted(set(s)) or not 0 <= s[0] <= s[-1] < n for s in sel)):
            raise AdapterError(f"selected must give 1..{n} sorted adapter indices per layer, got {sel}")

    def indices(self, layer: int) -> tuple[int, ...]:
        return tuple(range(len(self.adapter_names))) if self.selected is None else self.selected[layer]

    def to_hub(self) -> dict:
        return {k: getattr(self, k) for k in HUB_FIELDS}


def sequential(config) -> bool:
    """Whether AdapterFusion can fuse adapters of `config`: sequential bottleneck ones only."""  # compose_fuse uses the sequential Adapter's pre/post_forward
    return type(config) is BottleneckConfig and not config.is_parallel


def _near_identity(key, shape, dtype=jnp.float32):  # BertFusion's value_initialized (symmetric)
    return jnp.eye(*shape, dtype=dtype) * (1 - 1e-6) + 1e-6


class Fusion(nnx.Module):
    """BertFusion: attention of the query over the N adapter outputs of one sub-layer."""

    def __init__(self, cfg: FusionConfig, hidden: int, dropout: float, *, rngs: nnx.Rngs):
        self.cfg, bert = cfg, nnx.initializers.normal(0.02)  # Adapter.init_bert_weights; biases zero
        self.query = nnx.Linear(hidden, hidden, kernel_init=bert, rngs=rngs) if cfg.query else None
        self.key = nnx.Linear(hidden, hidden, kernel_init=bert, rngs=rngs) if cfg.key else None
        self.value = nnx.Linear(hidden, hidden, use_bias=False, rngs=rngs,
                                kernel_init=_near_identity if cfg.value_initialized else bert) if cfg.value else None
        self.dropout = nnx.Dropout(dropout)

    def __call__(self, query, ups, residual, rngs=None):
        """query, residual [B, T, H]; ups [B, T, N, H] -> (context [B, T, H], probs [B, T, N])."""
        cfg = self.cfg
        if cfg.residual_before:  # AdapterHub adds in place, so the keys see the residual too
            ups = ups + residual[:, :, None, :]
        q = query if self.query is None else self.query(query)
        k = ups if self.key is None else self.key(ups)
        v = self.value(ups) if self.value is not None and cfg.value_before_softmax else ups
        probs = jax.nn.softmax(self.dropout(jnp.einsum("bth,btnh->btn", q, k), deterministic=rngs is None,
                                            rngs=rngs), axis=-1)
        ctx = jnp.einsum("btn,btnh->bth", probs, v)
        if self.value is not None and not cfg.value_before_softmax:
            ctx = self.value(ctx)
        return (ctx if cfg.residual_before else ctx + residual), probs


class FusionHooks(LayerHooks):
    """compose_fuse at the 'attention' / 'ffn' sub-layers; records the attention probabilities."""

    def __init__(self, blocks: dict, fusions: dict, rngs):
        self.blocks, self.fusions, self.rngs, self.probs = blocks, fusions, rngs, {}

    def sublayer(self, name, s, x, ln):
        step = self.stack_sublayer(name)
        return ln(s + x) if step is None else step[1](step[0](s, x, ln), s, x, ln)

    def stack_sublayer(self, name):
        """(run, post) as a bottleneck block gives them, so a fusion can sit in composition.Stack."""
        if (fusion := self.fusions.get(name)) is None:
            return None
        blocks = self.blocks[name]  # identically configured: the last one's pre/post_forward decide

        def run(s, x, ln):
            h, residual = blocks[-1].pre(s, x, ln)
            ups = jnp.stack([b.bottleneck(h, None) for b in blocks], axis=2)
            out, self.probs[name] = fusion(s if fusion.cfg.query_before_ln else h, ups, residual, self.rngs)
            return out

        return run, blocks[-1].post


class FusionAdapter(Adapter):
    config_cls = FusionConfig

    def __init__(self, config: FusionConfig, enc, *, rngs: nnx.Rngs):
        super().__init__(config, enc, rngs=rngs)
        a, L = config.adapter_config, enc.num_hidden_layers
        self.adapters = nnx.List([BottleneckAdapter(a, enc, rngs=rngs) for _ in config.adapter_names])
        for i in range(L):  # pruned-away adapters hold no parameters at that layer
            for j in set(range(len(self.adapters))) - set(config.indices(i)):
                self.adapters[j].layers[i] = None
        dropout = config.dropout_prob or enc.attention_probs_dropout_prob  # AdapterHub's `or`
        where = [w for w, on in (("attention", a.mh_adapter), ("ffn", a.output_adapter)) if on]
        self.fusion = nnx.List([nnx.Dict({w: Fusion(config, enc.hidden_size, dropout, rngs=rngs) for w in where})
                                if a.active(i) else None for i in range(L)])

    def fusions(self, i: int) -> dict:
        return dict(self.fusion[i] or {})

    def layer_hooks(self, rngs=None):
        subs = lambda i, w: [getattr(self.adapters[j].layers[i], w) for j in self.config.indices(i)]
        return [FusionHooks({w: subs(i, w) for w in f}, f, rngs) if (f := self.fusions(i)) else None
                for i in range(len(self.fusion))]

    def hub_table(self):
        raise AdapterError("a fusion is saved with save_adapter_fusion (its adapters with save_adapter)")

    def fusion_rows(self):
        """(our path, AdapterHub name with '{name}', transform) rows of the fusion layers."""
        for i in range(len(self.fusion)):
            for where, f in self.fusions(i).items():
                loc = {"attention": "attention.output", "ffn": "output"}[where]
                for part in [p for p in ("query", "key", "value") if getattr(f, p) is not None]:
                    name = f"encoder.layer.{i}.{loc}.adapter_fusion_layer.{{name}}.{part}."
                    yield ("fusion", i, where, part, "kernel"), name + "weight", "linear"
                    if part != "value":  # BertFusion's value has no bias
                        yield ("fusion", i, where, part, "bias"), name + "bias", "copy"


def regularization_loss(fusion: FusionAdapter) -> jax.Array:
    """AdapterHub's 0.01·Σ‖I − V‖² over the fusion value matrices (when config.regularization)."""
    terms = [0.01 * jnp.sum((jnp.eye(fusion.enc.hidden_size) - f.value.kernel[...]) ** 2)
             for i in range(len(fusion.fusion)) for f in fusion.fusions(i).values() if f.value is not None]
    return sum(terms) if fusion.config.regularization and terms else jnp.zeros(())


def build(adapters: Mapping[str, Slot], enc, *, seed: int = 0, **options) -> Slot:
    """A fusion Slot over `adapters` (name -> Slot, in order), holding a copy of their current weights;
    `options` are AdapterHub's AdapterFusionConfig fields (HUB_FIELDS)."""
    names, slots = list(adapters), list(adapters.values())
    if not names:
        raise AdapterError("AdapterFusion needs at least one adapter to fuse")
    for a, s in zip(names, slots):
        if not sequential(s.config):
            raise AdapterError(f"adapter {a!r} ({type(s.config).__name__}): AdapterFusion fuses sequential "
                               "bottleneck adapters only")
        if s.config != slots[0].config:  # one structure, so every sub-adapter runs the same pre/post_forward
            raise AdapterError(f"adapter {a!r} differs in structure/options from {names[0]!r}")
    if bad := set(options) - set(HUB_FIELDS):
        raise AdapterError(f"unknown AdapterFusion option(s) {sorted(bad)}; valid: {list(HUB_FIELDS)}")
    config = FusionConfig(adapter_names=tuple(names), adapter_config=slots[0].config, **options)
    module = FusionAdapter(config, enc, rngs=nnx.Rngs(seed))
    for sub, s in zip(module.adapters, slots):
        nnx.update(sub, s.params)
    return Slot.of(module)


# --- training the fusion only -------------------------------------------------------------------
def split_fusion(fusion: FusionAdapter):
    """(graphdef, fusion params: trainable, sub-adapter params: frozen)."""
    return nnx.split(fusion, lambda path, _: path[0] == "fusion", ...)


# --- attention statistics and pruning -----------------------------------------------------------
@functools.partial(jax.jit, static_argnames=("graphdef", "fusion_def"))
def _attention_sums(graphdef, params, fusion_def, fusion_params, ids, mask, types):
    encoder, fusion = nnx.merge(graphdef, params), nnx.merge(fusion_def, fusion_params)
    hooks = fusion.layer_hooks()
    encoder(ids, mask, types, hooks=hooks)  # only the recorded probabilities are used; XLA drops the rest
    m, rows = mask.astype(jnp.float32)[..., None], []
    for i, h in enumerate(hooks):  # mean over the layer's fused sub-layers, summed over real tokens
        row = jnp.full((len(fusion.config.adapter_names),), jnp.nan if h is None else 0.0)
        rows.append(row if h is None else row.at[jnp.array(fusion.config.indices(i))].set(
            (sum(h.probs.values()) / len(h.probs) * m).sum((0, 1))))
    return jnp.stack(rows), m.sum()


def fusion_weights(graphdef, params, fusion: FusionAdapter, batches) -> np.ndarray:
    """Each adapter's mean fusion attention per layer over the real tokens of `batches` (dicts as
    for the training steps): [layers, N]; NaN rows for layers without fusion."""
    fusion_def, fusion_params = nnx.split(fusion)
    total, count = 0.0, 0.0
    for b in batches:
        ids = jnp.asarray(b["input_ids"])
        mask = jnp.asarray(b.get("attention_mask", np.ones(ids.shape, np.int32)))
        types = jnp.asarray(b.get("token_type_ids", np.zeros(ids.shape, np.int32)))
        s, c = _attention_sums(graphdef, params, fusion_def, fusion_params, ids, mask, types)
        total, count = total + np.asarray(s), count + float(c)
    return total / max(count, 1.0)


def prune(fusion: FusionAdapter, weights, k: int) -> FusionAdapter:
    """The same fusion over each layer's k highest-weighted adapters (weights: `fusion_weights`)."""
    cfg, weights = fusion.config, np.asarray(weights)
    L, n = fusion.enc.num_hidden_layers, len(cfg.adapter_names)
    if weights.shape != (L, n) or not 1 <= k <= n:
        raise AdapterError(f"prune needs weights of shape {(L, n)} and 1 <= k <= {n}; got {weights.shape}, k={k}")
    # Stable sort: ties keep the lower index. NaN rows (no fusion in that layer) keep their selection.
    selected = [cfg.indices(i) if np.isnan(weights[i]).any() else
                tuple(sorted(sorted(cfg.indices(i), key=lambda j: -weights[i, j])[:k])) for i in range(L)]
    pruned = FusionAdapter(cfg.replace(selected=tuple(selected)), fusion.enc, rngs=nnx.Rngs(0))
    old = dict(nnx.to_flat_state(nnx.state(fusion)))
    nnx.update(pruned, nnx.from_flat_state({p: old[p] for p, _ in nnx.to_flat_state(nnx.state(pruned))}))
    return pruned
