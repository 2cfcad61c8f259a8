"""The claims job's configuration: ml_collections (configs/claims.py) → one frozen dataclass.

A suite fixes the model, the tasks and the training budget of every run the claims need
(flax_adapters_lab/claims/plan.py lists them). Each run is an ordinary train.py run, so every
training knob the train loop has is set through `train` (a partial TrainConfig dict applied on
top of `flax_adapters.training.config.default_config()`), and per-task overrides through
`task_overrides`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ml_collections

from flax_adapters.training.config import check_overrides, config_dict_of, dataclass_from


@dataclasses.dataclass(frozen=True)
class ClaimsConfig:
    suite: str = "quick"
    # Base model of every run (a HF directory, hub id or "all-MiniLM-L6-v2" for the PyPI copy);
    # `model_overrides` + `random_init` make the toy model of the tiny suite.
    model: str = "all-MiniLM-L6-v2"
    random_init: bool = False
    model_overrides: dict = dataclasses.field(default_factory=dict)
    num_layers: int = 6                   # L of the model: the AdapterDrop grid is n = 0 … L-1
    data_dir: str = ""                    # GLUE root or its parent (../shared/data: GLUE, CoNLL-2003, …)
    seeds: tuple = (0, 1)
    # AdapterDrop claims: tasks, the adapter method, the specialised n grid, robust training.
    drop_tasks: tuple = ("sst2", "mrpc", "stsb")
    drop_method: str = "seq_bn"
    drops: tuple = (0, 1, 2, 3, 4, 5)
    # The n at which the no-drop and the robust adapters are scored after training (removing
    # adapters at test time costs an evaluation, not a run): (): `drops`. A suite that trains the
    # specialised runs at a few n still draws the whole scored curve.
    score_drops: tuple = ()
    robust_choices: tuple = (0, 1, 2, 3, 4)   # robust AdapterDrop draws n from these per batch
    # Paper 1 drops 5 of 12 layers; on an L-layer model the analogue is round(5 L / 12).
    paper_n: int = 2
    # AdapterFusion claims: fusion over the adapters of `fusion_sources` (their seed-0 no-drop
    # runs), trained on each target; pruning keeps `fusion_keep` per layer; `fusion_drop_n` lowest
    # layers without fusion.
    fusion_sources: tuple = ("sst2", "mrpc", "stsb", "rte", "cola")
    fusion_targets: tuple = ("rte", "cola")
    fusion_keep: int = 2
    fusion_drop_n: int = 2
    # Time to convergence (paper 2): per task, the methods trained to early stopping (patience),
    # full FT among them as the reference; the first task's rows come first, the others' runs last.
    # (task, methods) pairs, in the order they run (a tuple: a config dict would sort the tasks).
    convergence: tuple = (("mrpc", ("full", "seq_bn", "lora", "double_seq_bn")),)
    convergence_train: dict = dataclasses.field(default_factory=dict)   # overrides of `train` for these runs
    # Convergence time is judged as steps to best × the per-step cost of each method, the costs timed
    # side by side (interleaved rounds, step_cost.py) at the runs' own batches: `cost_rounds` rounds of
    # `cost_steps` training steps per method.
    cost_rounds: int = 12
    cost_steps: int = 4
    # Multi-task FT vs per-task adapters on the same tasks (the drop tasks' no-drop adapters).
    multitask: bool = True
    # The tasks of the multi-task model, a subset of drop_tasks ((): all of them), compared with
    # their no-drop adapters.
    multitask_tasks: tuple = ()
    multitask_train: dict = dataclasses.field(default_factory=dict)
    # The add-a-task table of experiments/add_task.py (JSON) folded in as claim rows; "" = none.
    add_task_table: str = ""
    # The families job's runs.json (experiments/families.py: NER, QA, multiple choice) folded in as
    # convergence rows, one per task and adapter method; "" = none.
    families_table: str = ""
    # Learning rates: full / multi-task FT, adapters, fusion layers.
    lr_full: float = 5e-5
    lr_adapter: float = 1e-3
    lr_fusion: float = 5e-5
    lr_methods: dict = dataclasses.field(default_factory=dict)          # {adapter method: lr} over lr_adapter
    train: dict = dataclasses.field(default_factory=dict)                # TrainConfig overrides, every run
    task_overrides: dict = dataclasses.field(default_factory=dict)       # {task: {TrainConfig key: value}}
    # Saved adapters (AdapterHub format) are copied here, relative to the workdir unless absolute.
    adapters_dir: str = "adapters"

    @property
    def conv(self) -> dict:
        """{task: methods} of `convergence`, in its order."""
        return {task: tuple(methods) for task, methods in self.convergence}


def default_config() -> ml_collections.ConfigDict:
    return config_dict_of(ClaimsConfig())


def from_config_dict(cd) -> ClaimsConfig:
    cfg = dataclass_from(ClaimsConfig, cd, "config")
    _validate(cfg)
    return cfg


def _validate(cfg: ClaimsConfig) -> None:
    from flax_adapters.adapters import registry
    from flax_adapters.data import get_task

    # The partial training configs are typed against TrainConfig's schema here, naming the bad key.
    for name in ("train", "convergence_train", "multitask_train"):
        check_overrides(getattr(cfg, name), f"config.{name}")
    for task, partial in cfg.task_overrides.items():
        check_overrides(partial, f"config.task_overrides.{task}")
    for name in ("drop_tasks", "fusion_sources", "fusion_targets"):
        for task in getattr(cfg, name):
            get_task(task)  # raises naming the task and the known ones
    methods = ("full",) + tuple(sorted(registry.METHODS))
    if not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in cfg.convergence):
        raise ValueError(f"convergence: {cfg.convergence!r} must be (task, (methods, ...)) pairs")
    for task, chosen in cfg.conv.items():
        get_task(task)
        if not chosen or "full" not in chosen:
            raise ValueError(f"convergence[{task!r}]: {tuple(chosen)} must include 'full' (every ratio is against it)")
    for m in (cfg.drop_method, *(m for ms in cfg.conv.values() for m in ms), *cfg.lr_methods):
        if m not in methods:
            raise ValueError(f"unknown method {m!r}; choose one of {list(methods)}")
    if cfg.cost_rounds < 1 or cfg.cost_steps < 1:
        raise ValueError(f"cost_rounds {cfg.cost_rounds} and cost_steps {cfg.cost_steps} must be >= 1")
    if len(cfg.seeds) < 2:
        raise ValueError(f"seeds: the verdicts need at least two seeds, got {cfg.seeds}")
    for name in ("drops", "score_drops", "robust_choices"):
        bad = [n for n in getattr(cfg, name) if not 0 <= n < cfg.num_layers]
        if bad:
            raise ValueError(f"{name}: {bad} outside [0, {cfg.num_layers}) for the {cfg.num_layers}-layer model")
    if 0 not in cfg.drops:
        raise ValueError("drops must include 0: every ratio is against the no-drop run")
    if not 0 < cfg.paper_n < cfg.num_layers or cfg.paper_n not in cfg.drops:
        raise ValueError(f"paper_n {cfg.paper_n} must be one of drops {cfg.drops} and in (0, {cfg.num_layers})")
    for name in ("add_task_table", "families_table"):
        path = getattr(cfg, name)
        if path and not Path(path).is_file():
            raise ValueError(f"{name}: no file {path}")
    if cfg.fusion_targets and len(cfg.fusion_sources) < 2:
        raise ValueError("fusion needs at least two fusion_sources")
    if cfg.fusion_targets and not 1 <= cfg.fusion_keep < len(cfg.fusion_sources):
        raise ValueError(f"fusion_keep {cfg.fusion_keep} must be in [1, {len(cfg.fusion_sources)})")
    if not 0 < cfg.fusion_drop_n < cfg.num_layers:
        raise ValueError(f"fusion_drop_n {cfg.fusion_drop_n} must be in (0, {cfg.num_layers})")
    bad = sorted(set(cfg.multitask_tasks) - set(cfg.drop_tasks))
    if bad:
        raise ValueError(f"multitask_tasks {bad} are not drop_tasks {cfg.drop_tasks}: the multi-task model is "
                         "compared with their no-drop adapters")
    bad = sorted(set(cfg.task_overrides) - set(cfg.drop_tasks + cfg.fusion_sources + cfg.fusion_targets
                                                 + tuple(cfg.conv)))
    if bad:
        raise ValueError(f"task_overrides for task(s) {bad} that no run uses")
