"""Prediction heads with AdapterHub's layout: classification, regression, tagging, multiple
choice, question answering.

A head is AdapterHub's PredictionHead: (layers − 1) × [dropout, dense h→h, activation] then
[dropout, dense h→out]. Classification and multiple choice read the first token (or the pooler
with `use_pooler`); tagging and question answering read every token (QA: 2 outputs per token,
the start and end logits, AdapterHub's default 1 layer). Regression is classification with one
output, as in AdapterHub. Weights map to `heads.{name}.{3k+1}.weight` in `pytorch_model_head.bin`.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from flax_adapters.adapters.base import AdapterError, Slot
from flax_adapters.adapters.common import NON_LINEARITIES

KINDS = ("classification", "regression", "tagging", "multiple_choice", "question_answering")
TOKEN_KINDS = ("tagging", "question_answering")  # heads that read every token, not the first


@dataclasses.dataclass(frozen=True)
class HeadConfig:
    kind: str = "classification"
    num_labels: int = 2
    layers: int = 2
    activation_function: str = "tanh"
    use_pooler: bool = False
    num_choices: int | None = None        # multiple_choice only
    dropout_prob: float | None = None     # None: the encoder's hidden_dropout_prob
    id2label: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise AdapterError(f"unknown head kind {self.kind!r}; choose one of {list(KINDS)}")
        if self.kind == "regression" and self.num_labels != 1:
            object.__setattr__(self, "num_labels", 1)
        if self.kind == "question_answering" and self.num_labels != 2:
            raise AdapterError(f"a question_answering head has 2 outputs (start, end), got num_labels={self.num_labels}")
        if self.kind == "multiple_choice" and not self.num_choices:
            raise AdapterError("a multiple_choice head needs num_choices")
        if self.layers < 1 or self.num_labels < 1:
            raise AdapterError(f"head needs layers >= 1 and num_labels >= 1, got {self.layers}, {self.num_labels}")
        if self.activation_function.lower() not in NON_LINEARITIES:
            raise AdapterError(f"head activation {self.activation_function!r}: choose one of {sorted(NON_LINEARITIES)}")

    @property
    def out_features(self) -> int:
        return 1 if self.kind == "multiple_choice" else self.num_labels

    # --- AdapterHub head_config.json ----------------------------------------------------------
    def to_hub(self) -> dict:
        kind = "classification" if self.kind == "regression" else self.kind
        labels = self.id2label or tuple(f"LABEL_{i}" for i in range(self.out_features if kind != "multiple_choice" else self.num_choices))
        d = {"head_type": kind, "layers": self.layers,
             "activation_function": self.activation_function, "dropout_prob": self.dropout_prob,
             "label2id": {l: i for i, l in enumerate(labels)}}
        if kind == "question_answering" and not self.id2label:
            d["label2id"] = None  # what AdapterHub's QuestionAnsweringHead writes
        if kind != "multiple_choice":  # AdapterHub's MultipleChoiceHead rejects a num_labels argument
            d["num_labels"] = self.num_labels
        if kind not in TOKEN_KINDS:
            d["use_pooler"] = self.use_pooler
        if kind == "classification":
            d["bias"] = True
        if kind == "multiple_choice":
            d["num_choices"] = self.num_choices
        return d

    @classmethod
    def from_hub(cls, d: dict) -> "HeadConfig":
        kind = d.get("head_type")
        if kind not in ("classification", "tagging", "multiple_choice", "question_answering"):
            raise AdapterError(f"AdapterHub head_type {kind!r} is not supported; supported: classification, "
                               "tagging, multiple_choice, question_answering")
        if d.get("bias", True) is not True:
            raise AdapterError("AdapterHub heads without bias are not supported")
        labels = d.get("label2id")
        id2label = tuple(sorted(labels, key=labels.get)) if labels else None
        return cls(kind=kind, num_labels=d.get("num_labels", 2) if kind != "multiple_choice" else 1,
                   layers=d.get("layers", 2), activation_function=d.get("activation_function", "tanh"),
                   use_pooler=d.get("use_pooler", False), num_choices=d.get("num_choices"),
                   dropout_prob=d.get("dropout_prob"),
                   id2label=id2label if kind != "multiple_choice" else None)


class Head(nnx.Module):
    def __init__(self, config: HeadConfig, hidden: int, dropout: float, *, rngs: nnx.Rngs):
        self.config = config
        init = nnx.initializers.normal(0.02)  # AdapterHub heads use BERT's init
        dims = [hidden] * config.layers + [config.out_features]
        self.dense = nnx.List([nnx.Linear(a, b, kernel_init=init, rngs=rngs) for a, b in zip(dims[:-1], dims[1:])])
        self.dropout = nnx.Dropout(config.dropout_prob if config.dropout_prob is not None else dropout)

    def __call__(self, last_hidden_state, pooler_output=None, rngs: nnx.Rngs | None = None):
        cfg = self.config
        if cfg.kind in TOKEN_KINDS:
            x = last_hidden_state
        elif cfg.use_pooler:
            if pooler_output is None:
                raise AdapterError("head uses the pooler but the encoder has no pooling layer")
            x = pooler_output
        else:
            x = last_hidden_state[:, 0]
        act = NON_LINEARITIES[cfg.activation_function.lower()]
        for k, dense in enumerate(self.dense):
            x = dense(self.dropout(x.astype(jnp.float32), deterministic=rngs is None, rngs=rngs))
            if k < len(self.dense) - 1:
                x = act(x)
        if cfg.kind == "multiple_choice":
            x = x.reshape(-1, cfg.num_choices)
        return x

    def hub_table(self):
        for k in range(len(self.dense)):
            yield ("dense", k, "kernel"), f"heads.{{name}}.{3 * k + 1}.weight", "linear"
            yield ("dense", k, "bias"), f"heads.{{name}}.{3 * k + 1}.bias", "copy"


def build_head(config: HeadConfig, enc, seed: int = 0) -> Slot:
    """A freshly initialised head of `config` for encoder config `enc` (AdapterHub's BERT init)."""
    return Slot.of(Head(config, enc.hidden_size, enc.hidden_dropout_prob, rngs=nnx.Rngs(seed)))
