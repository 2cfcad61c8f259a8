"""A Flax NNX encoder for the BERT family (BERT, RoBERTa, XLM-R), numerically equal to HF's.

The encoder is split into stages so callers can compose them: `embed`, `run_layers` over any
layer range [start, end) (a shared trunk is computed once and continued per task), and `pool`.
Every layer takes `LayerHooks` (see hooks.py) for adapter methods. Dropout is driven by an explicit
`nnx.Rngs` argument: None means deterministic (evaluation), so the module holds no RNG state and
splitting it yields parameters only.

Attention runs through `jax.nn.dot_product_attention` (`EncoderConfig.attention`: "xla", "cudnn" or
"auto" = cuDNN flash attention on CUDA GPUs where dtype, shape and mask allow, XLA elsewhere);
only training with attention dropout takes an explicit-probabilities path, since that function
has no dropout.

Packed rows (several examples per row, data/packing.py) pass `segment_ids` [B, T] (0: padding,
k > 0: the k-th example of the row) instead of an attention mask: attention becomes
block-diagonal, positions restart at every example and token types are kept, so each example
computes what it would alone (models/packed.py reads one vector or one window per example).
"""

from __future__ import annotations

import math
from typing import Sequence

import flax.struct
import jax
import jax.extend
import jax.numpy as jnp
from flax import nnx

from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.hooks import IDENTITY, LayerHooks

# HF's hidden_act names -> jax functions, matching torch's definitions exactly.
ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_fast": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "tanh": jnp.tanh,
}


def activation(name: str):
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"hidden_act {name!r} is not supported; choose one of {sorted(ACTIVATIONS)}") from None


@flax.struct.dataclass
class EncoderOutput:
    last_hidden_state: jax.Array
    pooler_output: jax.Array | None = None


def _init(config: EncoderConfig):
    return nnx.initializers.normal(0.02)  # HF's initializer_range default


def _dense(cfg: EncoderConfig, n_in: int, n_out: int, rngs: nnx.Rngs) -> nnx.Linear:
    return nnx.Linear(n_in, n_out, dtype=cfg.dtype, kernel_init=_init(cfg), rngs=rngs)


def _layer_norm(cfg: EncoderConfig, rngs: nnx.Rngs) -> nnx.LayerNorm:
    # LayerNorm statistics stay fp32 even under bf16 compute; the two-pass variance matches torch.
    return nnx.LayerNorm(cfg.hidden_size, epsilon=cfg.layer_norm_eps, dtype=jnp.float32,
                         use_fast_variance=False, rngs=rngs)


def _on_cuda() -> bool:
    backend = jax.extend.backend.get_backend()
    return backend.platform == "gpu" and "cuda" in backend.platform_version.lower()


def attention_implementation(setting: str, dtype, head_dim: int, q_len: int, kv_len: int, *,
                             dropout: bool, cuda: bool | None = None) -> str:
    """Which attention runs: 'cudnn' or 'xla' (jax.nn.dot_product_attention) or 'probs' (explicit
    probabilities, the only way to apply attention dropout: jax.nn.dot_product_attention has none).

    'auto' picks cuDNN only where jax's flash-attention checks would pass (fused_attention_stablehlo:
    bf16/fp16 Q/K/V, head dim a multiple of 8 and ≤ 128 on every CUDA arch (256 on Hopper only),
    even query/key lengths when a bias is given in training -- we always pass the mask as a bias).
    """
    if dropout:
        if setting == "cudnn":
            raise ValueError("attention='cudnn' cannot apply attention dropout (jax.nn.dot_product_attention "
                             "has none): set attention_probs_dropout_prob=0 or attention='auto'")
        return "probs"
    if setting != "auto":
        return setting
    cuda = _on_cuda() if cuda is None else cuda
    fits = (jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16) and head_dim % 8 == 0 and head_dim <= 128
            and q_len % 2 == 0 and kv_len % 2 == 0)
    return "cudnn" if cuda and fits else "xla"


def cudnn_bias(bias, dtype, q_len: int, kv_len: int):
    """The mask bias as cuDNN takes it: in the Q/K/V dtype and of full [B, 1, Q, K] extent. Clipping
    to the dtype's min first keeps fp32's min from rounding to -inf in bf16 (NaN in the softmax)."""
    bias = jnp.maximum(bias, jnp.finfo(dtype).min).astype(dtype)
    return jnp.broadcast_to(bias, (bias.shape[0], bias.shape[1], q_len, kv_len))


def attention(q, k, v, bias, setting: str = "auto", dropout=None):
    """Multi-head attention, q [B, Q, H, D], k/v [B, K, H, D], additive fp32 mask bias broadcastable
    to [B, 1, Q, K] -> [B, Q, H, D]. Logits, mask and softmax are fp32 on every path; `dropout`
    (a function of the probabilities, None = off) forces the explicit-probabilities path."""
    impl = attention_implementation(setting, q.dtype, q.shape[-1], q.shape[1], k.shape[1],
                                    dropout=dropout is not None)
    if impl == "probs":
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        probs = jax.nn.softmax(scores.astype(jnp.float32) + bias, axis=-1).astype(q.dtype)
        return jnp.einsum("bhqk,bkhd->bqhd", dropout(probs), v)
    if impl == "cudnn":
        bias = cudnn_bias(bias, q.dtype, q.shape[1], k.shape[1])
    return jax.nn.dot_product_attention(q, k, v, bias=bias, implementation=impl)


def segment_positions(segment_ids: jax.Array) -> jax.Array:
    """[B, T] segment ids -> each token's index within its run of equal ids (examples are
    contiguous in a packed row, so a run is one example)."""
    idx = jnp.broadcast_to(jnp.arange(segment_ids.shape[1]), segment_ids.shape)
    starts = jnp.concatenate([jnp.ones_like(segment_ids[:, :1], bool),
                              segment_ids[:, 1:] != segment_ids[:, :-1]], axis=1)
    return idx - jax.lax.cummax(jnp.where(starts, idx, 0), axis=1)


class Embeddings(nnx.Module):
    def __init__(self, cfg: EncoderConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        embed = lambda n: nnx.Embed(n, cfg.hidden_size, embedding_init=_init(cfg), rngs=rngs)
        self.word = embed(cfg.vocab_size)
        self.position = embed(cfg.max_position_embeddings)
        self.token_type = embed(cfg.type_vocab_size)
        self.ln = _layer_norm(cfg, rngs)
        self.dropout = nnx.Dropout(cfg.hidden_dropout_prob)

    def position_ids(self, input_ids: jax.Array, segment_ids: jax.Array | None = None) -> jax.Array:
        if segment_ids is not None:  # packed rows: every example counts from its own first token
            within = segment_positions(segment_ids)
            if self.cfg.position_style == "roberta":
                return jnp.where(segment_ids > 0, within + self.cfg.pad_token_id + 1, self.cfg.pad_token_id)
            return within
        if self.cfg.position_style == "roberta":
            # fairseq: positions count non-padding tokens from pad_token_id + 1; padding keeps pad id.
            mask = (input_ids != self.cfg.pad_token_id).astype(jnp.int32)
            return jnp.cumsum(mask, axis=1) * mask + self.cfg.pad_token_id
        return jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)

    def __call__(self, input_ids, token_type_ids=None, rngs: nnx.Rngs | None = None, segment_ids=None):
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        positions = self.position_ids(input_ids, segment_ids)
        h = self.word(input_ids) + self.token_type(token_type_ids) + self.position(positions)
        h = self.ln(h).astype(self.cfg.dtype)
        return self.dropout(h, deterministic=rngs is None, rngs=rngs)


class Layer(nnx.Module):
    """One post-LN transformer layer with the hook points of hooks.py."""

    def __init__(self, cfg: EncoderConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        h, i = cfg.hidden_size, cfg.intermediate_size
        self.query, self.key, self.value = (_dense(cfg, h, h, rngs) for _ in range(3))
        self.attn_out = _dense(cfg, h, h, rngs)
        self.attn_ln = _layer_norm(cfg, rngs)
        self.intermediate = _dense(cfg, h, i, rngs)
        self.output = _dense(cfg, i, h, rngs)
        self.ffn_ln = _layer_norm(cfg, rngs)
        self.hidden_dropout = nnx.Dropout(cfg.hidden_dropout_prob)
        self.attn_dropout = nnx.Dropout(cfg.attention_probs_dropout_prob)

    def _ln(self, ln):
        # Residual sums enter LayerNorm in fp32 and leave in the compute dtype.
        return lambda t: ln(t.astype(jnp.float32)).astype(self.cfg.dtype)

    def __call__(self, x, bias, hooks: LayerHooks = IDENTITY, rngs: nnx.Rngs | None = None):
        cfg, det = self.cfg, rngs is None
        heads = lambda t: t.reshape(*t.shape[:2], cfg.num_attention_heads, cfg.head_dim)
        q = heads(hooks.project("query", x, self.query))
        k = heads(hooks.project("key", x, self.key))
        v = heads(hooks.project("value", x, self.value))
        k, v, bias = hooks.attention_kv(k, v, bias)
        dropout = None if det or cfg.attention_probs_dropout_prob == 0 else (
            lambda p: self.attn_dropout(p, deterministic=False, rngs=rngs))
        ctx = attention(q, k, v, bias, cfg.attention, dropout).reshape(x.shape[:2] + (cfg.hidden_size,))
        s = self.hidden_dropout(hooks.project("attn_out", ctx, self.attn_out), deterministic=det, rngs=rngs)
        x = hooks.sublayer("attention", s, x, self._ln(self.attn_ln))
        inter = activation(cfg.hidden_act)(hooks.project("intermediate", x, self.intermediate))
        inter = hooks.activation(inter)
        s = self.hidden_dropout(hooks.project("output", inter, self.output), deterministic=det, rngs=rngs)
        return hooks.sublayer("ffn", s, x, self._ln(self.ffn_ln))


class Encoder(nnx.Module):
    """Embeddings, a stack of `Layer`s and a pooler. The stack is a Python loop, not `lax.scan`: both
    run within noise here (experiments/bench_layer_stack.py), and a loop runs any [start, end) range
    of layers without padding parameters or masking work."""

    def __init__(self, cfg: EncoderConfig, *, add_pooling_layer: bool = True, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embeddings = Embeddings(cfg, rngs=rngs)
        self.layers = nnx.List([Layer(cfg, rngs=rngs) for _ in range(cfg.num_hidden_layers)])
        self.pooler = _dense(cfg, cfg.hidden_size, cfg.hidden_size, rngs) if add_pooling_layer else None

    @staticmethod
    def mask_bias(attention_mask: jax.Array, segment_ids: jax.Array | None = None) -> jax.Array:
        """[B, T] 0/1 mask -> additive fp32 bias [B, 1, 1, T] (HF uses the dtype's min, so do we).
        With `segment_ids` (packed rows) the bias is block-diagonal, [B, 1, T, T]: a token sees the
        tokens of its own example only (padding tokens, segment 0, see nothing and feed nothing)."""
        if segment_ids is not None:
            same = (segment_ids[:, :, None] == segment_ids[:, None, :]) & (segment_ids[:, None, :] > 0)
            return jnp.where(same, 0.0, jnp.finfo(jnp.float32).min)[:, None].astype(jnp.float32)
        m = attention_mask.astype(jnp.float32)[:, None, None, :]
        return (1.0 - m) * jnp.finfo(jnp.float32).min

    def embed(self, input_ids, token_type_ids=None, rngs: nnx.Rngs | None = None, segment_ids=None):
        return self.embeddings(input_ids, token_type_ids, rngs, segment_ids)

    def run_layers(self, h, bias, start: int = 0, end: int | None = None,
                   hooks: Sequence[LayerHooks | None] | None = None, rngs: nnx.Rngs | None = None):
        """Runs layers [start, end); `hooks[i]` (absolute layer index) hooks layer i."""
        end = self.cfg.num_hidden_layers if end is None else end
        if not 0 <= start <= end <= self.cfg.num_hidden_layers:
            raise ValueError(f"layer range [{start}, {end}) is outside [0, {self.cfg.num_hidden_layers})")
        for i in range(start, end):
            layer_hooks = hooks[i] if hooks is not None and hooks[i] is not None else IDENTITY
            h = self.layers[i](h, bias, layer_hooks, rngs)
        return h

    def pool(self, h):
        if self.pooler is None:
            return None
        return jnp.tanh(self.pooler(h[:, 0])).astype(jnp.float32)

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, *,
                 hooks: Sequence[LayerHooks | None] | None = None, rngs: nnx.Rngs | None = None,
                 segment_ids=None):
        """`segment_ids` (packed rows) replaces `attention_mask`; a packed row has no single first
        token, so its pooler_output is None (models/packed.py pools each example's own)."""
        if attention_mask is None:
            attention_mask = jnp.ones_like(input_ids) if segment_ids is None else segment_ids > 0
        h = self.run_layers(self.embed(input_ids, token_type_ids, rngs, segment_ids),
                            self.mask_bias(attention_mask, segment_ids), hooks=hooks, rngs=rngs)
        pooled = self.pool(h) if segment_ids is None else None
        return EncoderOutput(last_hidden_state=h.astype(jnp.float32), pooler_output=pooled)
