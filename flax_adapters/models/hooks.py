"""Named hook points of an encoder layer: the seams where adapter methods plug in.

A layer calls its `LayerHooks` at each point; the base class is the plain transformer, so a
method overrides only the points it changes (see the placement table in docs/papers.md §3):

  project(name, x, dense)    q/k/v projections ('query', 'key', 'value'), attention output
                             projection ('attn_out'), FFN projections ('intermediate', 'output').
                             LoRA and (IA)³ live here.
  attention_kv(k, v, bias)   keys/values [B, T, H, D] and additive mask bias [B, 1, 1|Q, T] just
                             before the scores; prefix tuning prepends here.
  sublayer(name, s, x, ln)   a sub-layer's output `s` (after projection and dropout), its residual
                             input `x` and its LayerNorm; default LN(s + x). name is 'attention'
                             or 'ffn'. Bottleneck adapters (Houlsby, Pfeiffer, parallel) live here.
  activation(h)              the FFN intermediate activation after the non-linearity.

Hooks are plain Python dispatch resolved while tracing, so an unhooked point costs nothing in
the compiled program.
"""

from __future__ import annotations

from typing import Callable

import jax


class LayerHooks:
    """The identity hooks: a layer with these computes exactly the pretrained transformer."""

    def project(self, name: str, x: jax.Array, dense: Callable[[jax.Array], jax.Array]) -> jax.Array:
        del name
        return dense(x)

    def attention_kv(self, k: jax.Array, v: jax.Array, bias: jax.Array):
        return k, v, bias

    def sublayer(self, name: str, s: jax.Array, x: jax.Array, ln: Callable[[jax.Array], jax.Array]):
        del name
        return ln(s + x)

    def activation(self, h: jax.Array) -> jax.Array:
        return h


IDENTITY = LayerHooks()
