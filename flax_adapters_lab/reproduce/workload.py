"""A benchmark workload: a model shape and an input shape, the same for JAX and PyTorch.

Speed does not depend on weight values, so both sides build randomly initialised models of the
workload's shape and run the same host batch (`host_batch`): random token ids with right padding,
real lengths uniform in [seq_len/2, seq_len], binary labels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from flax_adapters.models import EncoderConfig
from flax_adapters.training.config import nearest_first

# Model shapes by name: (model_type, layers, hidden, heads, intermediate, vocab).
SHAPES = {
    "bert-base": ("bert", 12, 768, 12, 3072, 30522),
    "roberta-base": ("roberta", 12, 768, 12, 3072, 50265),
    "bert-large": ("bert", 24, 1024, 16, 4096, 30522),
    "minilm": ("bert", 6, 384, 12, 1536, 30522),
    "tiny": ("bert", 2, 64, 4, 128, 1000),  # unit tests: seconds, not minutes
}


@dataclasses.dataclass(frozen=True)
class Workload:
    shape: str = "bert-base"
    batch: int = 8
    seq_len: int = 64
    layers: int | None = None  # overrides the shape's depth (e.g. a shallower stand-in)

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"unknown model shape {self.shape!r}; choose one of (nearest first) "
                             f"{nearest_first(self.shape, SHAPES)}")
        if self.batch < 1 or self.seq_len < 2:
            raise ValueError(f"batch {self.batch} and seq_len {self.seq_len} must be ≥ 1 and ≥ 2")

    @property
    def num_layers(self) -> int:
        return self.layers or SHAPES[self.shape][1]

    def encoder_config(self) -> EncoderConfig:
        kind, _, hidden, heads, inter, vocab = SHAPES[self.shape]
        roberta = dict(type_vocab_size=1, pad_token_id=1, max_position_embeddings=514, layer_norm_eps=1e-5)
        return EncoderConfig(model_type=kind, num_hidden_layers=self.num_layers, hidden_size=hidden,
                             num_attention_heads=heads, intermediate_size=inter, vocab_size=vocab,
                             **(roberta if kind == "roberta" else {}))

    def hf_config(self):
        """The same shape as a `transformers` config (for the PyTorch baselines)."""
        import transformers

        c = self.encoder_config()
        cls = transformers.RobertaConfig if c.model_type == "roberta" else transformers.BertConfig
        return cls(vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_hidden_layers,
                   num_attention_heads=c.num_attention_heads, intermediate_size=c.intermediate_size,
                   hidden_act=c.hidden_act, max_position_embeddings=c.max_position_embeddings,
                   type_vocab_size=c.type_vocab_size, pad_token_id=c.pad_token_id, layer_norm_eps=c.layer_norm_eps)

    def host_batch(self, batch: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """input_ids / attention_mask / token_type_ids [B, T] int32 and labels [B] int32."""
        b, t = batch or self.batch, self.seq_len
        c = self.encoder_config()
        rng = np.random.default_rng(seed)
        mask = (np.arange(t)[None] < rng.integers(t // 2, t + 1, b)[:, None]).astype(np.int32)
        ids = np.where(mask == 1, rng.integers(c.pad_token_id + 1, c.vocab_size, (b, t)), c.pad_token_id)
        return {"input_ids": ids.astype(np.int32), "attention_mask": mask,
                "token_type_ids": np.zeros((b, t), np.int32), "labels": rng.integers(0, 2, b).astype(np.int32)}

    def tokens(self, batch: int | None = None) -> int:
        return (batch or self.batch) * self.seq_len

    def describe(self, batch: int | None = None) -> str:
        kind, layers, hidden, *_ = SHAPES[self.shape]
        depth = f", {self.num_layers} layers" if self.layers else ""
        return f"{self.shape} shape{depth} (fp32, random init), batch {batch or self.batch} × {self.seq_len} tokens"

    def as_dict(self) -> dict:
        return dict(dataclasses.asdict(self), num_layers=self.num_layers, description=self.describe())
