"""Prefix tuning (Li & Liang 2021) with AdapterHub's `PrefixTuningConfig` semantics.

P trainable key/value vectors are prepended, per layer and head, to the keys and values of
self-attention *after* the k/v projections; the mask bias gets P zeros (prefixes always visible).
Reparametrised form (flat=False), as AdapterHub's `PrefixTuning`:
    kv = Linear_{512->L·2·h}(tanh(Linear_{h->512}(wte)))        wte: [P, h],  kv: [P, L·2·h]
Flat form (flat=True): kv is a parameter of P·L·2·h numbers. Either way kv is viewed as
[P, L·2, heads, head_dim]; layer j (counting only layers not in leave_out) uses rows 2j (keys)
and 2j+1 (values). The MLP runs once per call in `layer_hooks`, not once per layer.
`eject` turns a reparametrised adapter into the flat one with identical outputs.

AdapterHub keeps one prefix pool on the base model and reaches it from every layer, so its
`state_dict` names the pool once at the base and once under each layer; torch.save stores the
shared tensors once. Our export writes the base names only (AdapterHub's loader fills the shared
pool from them and reports the per-layer names as merely missing); our loader reads either form.
"""

from __future__ import annotations

import dataclasses
import re
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError
from flax_adapters.adapters.common import KAIMING_A5, NON_LINEARITIES, torch_bias_init
from flax_adapters.models.hooks import LayerHooks

# AdapterHub keeps the prefix module in a pool on the base model and saves it once there ...
HUB_BASE = "prefix_tuning.prefix_tunings.{name}.self_prefix."
# ... and again under every layer's self-attention (the pool is a submodule of each layer); we
# read files with those copies (AdapterHub's own) but write the base names only.
HUB_LAYER = "encoder.layer.{i}.attention.self.prefix_tuning.pool.prefix_tunings.{name}.self_prefix."
_LAYER_COPY = re.compile(r"encoder\.layer\.\d+\.attention\.self\.prefix_tuning\.pool\.prefix_tunings\.")


@dataclasses.dataclass(frozen=True)
class PrefixTuningConfig(AdapterConfig):
    """AdapterHub's PrefixTuningConfig (architecture 'prefix_tuning')."""

    method: ClassVar[str] = "prefix_tuning"
    prefix_length: int = 30
    bottleneck_size: int = 512
    non_linearity: str = "tanh"
    dropout: float = 0.0
    flat: bool = False
    # Encoder-decoder switches: a BERT-family encoder's self-attention has location key
    # 'self_prefix', which AdapterHub matches regardless of these, so they change nothing here.
    encoder_prefix: bool = True
    cross_prefix: bool = True
    use_gating: bool = False          # UniPELT gates: not modelled, rejected in validate
    shared_gating: bool = True        # only meaningful with use_gating

    def validate(self, enc) -> None:
        super().validate(enc)
        if self.use_gating:
            raise AdapterError("prefix_tuning: use_gating=True (UniPELT gates) is not supported")
        if self.non_linearity.lower() not in NON_LINEARITIES:
            raise AdapterError(f"non_linearity {self.non_linearity!r}: choose one of {sorted(NON_LINEARITIES)}")
        if int(self.prefix_length) < 1 or int(self.bottleneck_size) < 1:
            raise AdapterError(f"prefix_length and bottleneck_size must be >= 1, got "
                               f"{self.prefix_length} and {self.bottleneck_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise AdapterError(f"dropout must be in [0, 1), got {self.dropout}")
        if len(set(self.leave_out)) >= enc.num_hidden_layers:
            raise AdapterError("prefix_tuning: leave_out covers every layer")

    @classmethod
    def hub_matches(cls, d: dict) -> bool:
        return d.get("architecture") == "prefix_tuning"

    def to_hub(self) -> dict:
        # AdapterHub dispatches its config classes on 'architecture'; without it a dict is a BnConfig.
        return dict(super().to_hub(), architecture="prefix_tuning")


class PrefixHooks(LayerHooks):
    """Prepends one layer's prefix keys/values ([P, heads, head_dim], shared by the batch)."""

    def __init__(self, keys, values, dropout: nnx.Dropout, rngs):
        self.keys, self.values, self.dropout, self.rngs = keys, values, dropout, rngs

    def attention_kv(self, k, v, bias):
        b = k.shape[0]
        # AdapterHub drops out the batch-expanded prefix tensor; dropout is element-wise i.i.d.,
        # so dropping each layer's broadcast slice here has the same distribution.
        expand = lambda p: self.dropout(jnp.broadcast_to(p[None].astype(k.dtype), (b,) + p.shape),
                                        deterministic=self.rngs is None, rngs=self.rngs)
        zeros = jnp.zeros(bias.shape[:-1] + (self.keys.shape[0],), bias.dtype)  # prefixes unmasked
        return (jnp.concatenate([expand(self.keys), k], axis=1),
                jnp.concatenate([expand(self.values), v], axis=1),
                jnp.concatenate([zeros, bias], axis=-1))


class PrefixTuningAdapter(Adapter):
    config_cls = PrefixTuningConfig

    def __init__(self, config: PrefixTuningConfig, enc, *, rngs: nnx.Rngs):
        super().__init__(config, enc, rngs=rngs)
        # Layers that get a prefix, in order; AdapterHub sizes the MLP for these only.
        self.active = tuple(i for i in range(enc.num_hidden_layers) if config.active(i))
        h, p = enc.num_attention_heads * enc.head_dim, int(config.prefix_length)
        out = len(self.active) * 2 * h
        if config.flat:  # FlatPrefixTuning: torch.randn
            self.control_trans = nnx.Param(jax.random.normal(rngs.params(), (p * out,)))
        else:            # nn.Embedding is N(0, 1); nn.Linear is kaiming_uniform(a=√5) + U(±1/√fan_in)
            self.wte = nnx.Param(jax.random.normal(rngs.params(), (p, h)))
            n = int(config.bottleneck_size)
            self.trans_in = nnx.Linear(h, n, kernel_init=KAIMING_A5, bias_init=torch_bias_init(h), rngs=rngs)
            self.trans_out = nnx.Linear(n, out, kernel_init=KAIMING_A5, bias_init=torch_bias_init(n), rngs=rngs)
        self.dropout = nnx.Dropout(config.dropout)

    def prefix_kv(self) -> jax.Array:
        """All prefixes as [P, active layers · 2, heads, head_dim]."""
        cfg, enc = self.config, self.enc
        if cfg.flat:
            kv = self.control_trans[...]
        else:
            kv = self.trans_out(NON_LINEARITIES[cfg.non_linearity.lower()](self.trans_in(self.wte[...])))
        return kv.reshape(int(cfg.prefix_length), 2 * len(self.active), enc.num_attention_heads, enc.head_dim)

    def layer_hooks(self, rngs=None):
        kv = self.prefix_kv()  # once per call, sliced per layer below
        hooks = [None] * self.enc.num_hidden_layers
        for j, i in enumerate(self.active):
            hooks[i] = PrefixHooks(kv[:, 2 * j], kv[:, 2 * j + 1], self.dropout, rngs)
        return hooks

    def eject(self) -> "PrefixTuningAdapter":
        """The flat (flat=True) adapter with the MLP's output as its parameter: same outputs, no MLP."""
        if self.config.flat:
            return self
        flat = PrefixTuningAdapter(self.config.replace(flat=True), self.enc, rngs=nnx.Rngs(0))
        flat.control_trans = nnx.Param(self.prefix_kv().reshape(-1))
        return flat

    # --- AdapterHub names ----------------------------------------------------------------------
    def hub_table(self):
        if self.config.flat:
            yield ("control_trans",), HUB_BASE + "control_trans", "copy"
            return
        yield ("wte",), HUB_BASE + "wte.weight", "copy"
        for ours, theirs in (("trans_in", "0"), ("trans_out", "2")):
            yield (ours, "kernel"), f"{HUB_BASE}control_trans.{theirs}.weight", "linear"
            yield (ours, "bias"), f"{HUB_BASE}control_trans.{theirs}.bias", "copy"

    def hub_ignore(self, key: str) -> bool:
        # AdapterHub's per-layer copies duplicate the base copy we load from.
        return bool(_LAYER_COPY.search(key))
