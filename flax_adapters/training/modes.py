"""The four ways a run trains, one small class each: what the optimiser sees, what stays frozen,
the jitted train/eval steps, and what the finished run exports.

  FullFT        trainable {'base', 'head'}             frozen None
  MultiTaskFT   trainable {'base', 'heads': {task}}    frozen None    (data.tasks lists > 1 task)
  AdapterRun    trainable {'adapter', 'head'}          frozen base    (any registered method; AdapterDrop)
  FusionRun     trainable {'adapter': fusion, 'head'}  frozen (base, the fused adapters)

`build.build(cfg)` picks the class (`mode_class`, the one place that looks at the method's name)
and returns an instance; the loop, the scorers and sharding use only the interface of `Mode`, so a
fifth way of training is one more class here. Steps are made by `make_steps(tx)` once the
optimiser exists (its schedule needs the run length, known only after data loading).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, ClassVar

from flax import nnx

from flax_adapters.adapters import fusion as fusion_lib
from flax_adapters.adapters.model import AdapterModel
from flax_adapters.data import Task
from flax_adapters.training import steps, tracking
from flax_adapters.training.adapterdrop import RobustDropStep
from flax_adapters.training.config import FULL, FUSION, TrainConfig
from flax_adapters.training.fusion import make_fusion_train_step

# {task name: (train_step(state, frozen, batch) -> (state, metrics), eval_step(params, batch) -> outputs)}
Steps = dict[str, tuple[Callable, Callable]]


@dataclasses.dataclass
class Mode:
    """A built run: the model, its tasks (the main task first) and the trainable / frozen split."""
    cfg: TrainConfig
    model: AdapterModel
    tasks: list[Task]
    trainable: dict                   # what the optimiser sees (and what checkpoints hold)
    frozen: Any                       # the train step's non-differentiated argument
    adapter_def: Any = None           # static graphdef of the adapter (or fusion); None: no adapter
    eval_drop_n: int = 0              # AdapterDrop n of evaluation and serving

    trains_base: ClassVar[bool] = False   # the base is in `trainable` (it can warm-start another run)
    multitask: ClassVar[bool] = False

    @property
    def task(self) -> Task:
        return self.tasks[0]

    @property
    def base(self):
        """The base encoder's parameters, wherever this mode keeps them."""
        raise NotImplementedError

    @property
    def frozen_base(self):
        """The eval step's frozen argument."""
        return self.frozen

    def eval_params(self, params: dict) -> dict:
        """Trainable params completed for evaluation (a fusion merges its frozen sub-adapters in)."""
        return params

    def make_steps(self, tx) -> Steps:
        raise NotImplementedError

    def heads(self, params: dict) -> dict:
        """{task: head params} of a trainable tree of this mode."""
        return {self.task.name: params["head"]}

    def set_heads(self, heads: dict) -> None:
        """Replaces the heads of the tasks in `heads` in `self.trainable`."""
        if self.task.name in heads:
            self.trainable["head"] = heads[self.task.name]

    def served_params(self) -> int:
        """Every parameter the served model holds: base, trained parts and anything frozen beside."""
        return tracking.num_params(self.model.params) + tracking.num_params(
            {k: v for k, v in self.trainable.items() if k != "base"})

    def export(self, best: dict, workdir: Path) -> None:
        """Writes what a finished run hands on (nothing unless the mode has an adapter to share)."""

    def _head_def(self, task: Task):
        return self.model.heads[task.name].graphdef


class FullFT(Mode):
    """Full fine-tuning: the base and the head are trained; nothing is frozen."""
    trains_base = True

    @classmethod
    def create(cls, cfg, model, tasks, options) -> "FullFT":
        return cls(cfg, model, tasks, {"base": model.params, "head": model.heads[tasks[0].name].params}, None)

    @property
    def base(self):
        return self.trainable["base"]

    def make_steps(self, tx) -> Steps:
        graphdef, head_def, kind = self.model.graphdef, self._head_def(self.task), self.task.kind
        train = steps.make_train_step(graphdef, None, head_def, kind, tx, full_finetune=True)
        evaluate = steps.make_eval_step(graphdef, None, head_def, kind, full_finetune=True)
        return {self.task.name: (train, lambda params, batch: evaluate(params, None, batch))}


class MultiTaskFT(FullFT):
    """Multi-task full fine-tuning: one shared base, a head per task; each step trains one task's
    head (and the base) on that task's batch."""
    multitask = True

    @classmethod
    def create(cls, cfg, model, tasks, options) -> "MultiTaskFT":
        return cls(cfg, model, tasks, {"base": model.params, "heads": {t.name: model.heads[t.name].params for t in tasks}},
                   None)

    def heads(self, params: dict) -> dict:
        return dict(params["heads"])

    def set_heads(self, heads: dict) -> None:
        self.trainable["heads"].update({k: v for k, v in heads.items() if k in self.trainable["heads"]})

    def make_steps(self, tx) -> Steps:
        out = {}
        for task in self.tasks:
            head_def = self._head_def(task)
            loss_fn = steps.make_loss_fn(self.model.graphdef, None, head_def, task.kind, full_finetune=True)
            evaluate = steps.make_eval_step(self.model.graphdef, None, head_def, task.kind, full_finetune=True)
            out[task.name] = (steps.step_from_loss(_one_head(loss_fn, task.name), tx), _one_head_eval(evaluate, task.name))
        return out


def _one_head(loss_fn: Callable, task: str) -> Callable:
    """A single-task loss over {'base', 'heads'}: only `task`'s head (and the base) get gradient."""
    def view(trainable, frozen, batch, key):
        return loss_fn({"base": trainable["base"], "head": trainable["heads"][task]}, frozen, batch, key)
    return view


def _one_head_eval(evaluate: Callable, task: str) -> Callable:
    return lambda params, batch: evaluate({"base": params["base"], "head": params["heads"][task]}, None, batch)


class AdapterRun(Mode):
    """An adapter of any registered method (+ head) on a frozen base, with static or robust
    AdapterDrop; the run exports the best adapter in AdapterHub format."""

    @classmethod
    def create(cls, cfg, model, tasks, options) -> "AdapterRun":
        name = tasks[0].name
        model.add_adapter(name, cfg.method.name, seed=cfg.seed, overwrite=True, **options)
        slot = model.adapters[name]
        return cls(cfg, model, tasks, {"adapter": slot.params, "head": model.heads[name].params}, model.params,
                   slot.graphdef, _eval_drop(cfg))

    @property
    def base(self):
        return self.frozen

    def make_steps(self, tx) -> Steps:
        graphdef, head_def, kind, method = self.model.graphdef, self._head_def(self.task), self.task.kind, self.cfg.method
        if method.drop == "robust":
            train = RobustDropStep(graphdef, self.adapter_def, head_def, kind, tx, seed=self.cfg.seed,
                                   num_layers=self.model.config.num_hidden_layers, choices=method.drop_choices)
        else:
            train = steps.make_train_step(graphdef, self.adapter_def, head_def, kind, tx, drop_n=self.eval_drop_n)
        evaluate = steps.make_eval_step(graphdef, self.adapter_def, head_def, kind, drop_n=self.eval_drop_n)
        return {self.task.name: (train, lambda params, batch: evaluate(params, self.frozen, batch))}

    def export(self, best: dict, workdir: Path) -> None:
        name = self.task.name
        self.model.adapters[name].params = best["adapter"]
        self.model.heads[name].params = best["head"]
        self.model.save_adapter(Path(workdir) / "adapter", name, with_head=True)


class FusionRun(Mode):
    """AdapterFusion over adapters trained before: the fusion layers and the head learn; the base
    and the fused adapters stay frozen (passed as one non-differentiated pair)."""

    @classmethod
    def create(cls, cfg, model, tasks, options) -> "FusionRun":
        name = tasks[0].name
        sources = [model.load_adapter(d, with_head=False, overwrite=True) for d in cfg.method.fusion_adapters]
        model.add_fusion(name, sources, seed=cfg.seed, overwrite=True, **options)
        fusion_def, fusion_params, subs = fusion_lib.split_fusion(model.adapter_module(name))
        return cls(cfg, model, tasks, {"adapter": fusion_params, "head": model.heads[name].params},
                   (model.params, subs), fusion_def, _eval_drop(cfg))

    @property
    def base(self):
        return self.frozen[0]

    @property
    def frozen_base(self):
        return self.frozen[0]

    def eval_params(self, params: dict) -> dict:
        return dict(params, adapter=nnx.merge_state(params["adapter"], self.frozen[1]))

    def make_steps(self, tx) -> Steps:
        graphdef, head_def, kind = self.model.graphdef, self._head_def(self.task), self.task.kind
        train = make_fusion_train_step(graphdef, self.adapter_def, head_def, kind, tx, drop_n=self.eval_drop_n)
        evaluate = steps.make_eval_step(graphdef, self.adapter_def, head_def, kind, drop_n=self.eval_drop_n)
        return {self.task.name: (train, lambda params, batch: evaluate(self.eval_params(params), self.frozen[0], batch))}

    def served_params(self) -> int:
        return super().served_params() + tracking.num_params(self.frozen[1])


def _eval_drop(cfg: TrainConfig) -> int:
    # Static AdapterDrop trains and serves without the lower adapters; a robust model is scored
    # with all of them (n = 0) and may then be served at any n.
    return cfg.method.drop_n if cfg.method.drop == "static" else 0


def mode_class(cfg: TrainConfig, num_tasks: int) -> type[Mode]:
    """The class that trains `cfg` with `num_tasks` tasks."""
    if num_tasks > 1:
        if cfg.method.name != FULL:
            raise ValueError(f"multi-task training (data.tasks = {list(cfg.data.tasks)}) is full fine-tuning: "
                             f"set method.name = 'full', not {cfg.method.name!r}")
        return MultiTaskFT
    return {FULL: FullFT, FUSION: FusionRun}.get(cfg.method.name, AdapterRun)
