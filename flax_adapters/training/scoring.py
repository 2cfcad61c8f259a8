"""Scoring what training left behind: an AdapterHub adapter directory on a labelled file, a run's
best adapter with its lowest layers' adapters removed, and a trained fusion pruned to its top-k
adapters per layer.

    metrics = score_adapter("results/claims_quick_cpu/adapters/mrpc_seq_bn_n0_s0", "mrpc",
                            data_dir="../shared/data/glue", max_length=128)
    {n: metrics} = score_run_at_drops("runs/claims/runs/mrpc_seq_bn_n0_s0", drops=(0, 1, 2))
"""

from __future__ import annotations

import json
from pathlib import Path

from flax import nnx

from flax_adapters.adapters import fusion as fusion_lib
from flax_adapters.adapters.model import AdapterModel
from flax_adapters.data import Batcher, encode_examples, get_task, load_examples
from flax_adapters.training import loop, steps
from flax_adapters.training.build import resolve_model_path
from flax_adapters.training.config import DataConfig
from flax_adapters.training.modes import FusionRun


def _base_model(adapter_dir: Path, model: str | None) -> str:
    """The base checkpoint: `model` if given, else the one the adapter names if it exists here,
    else the offline all-MiniLM-L6-v2 (the claims job's base)."""
    if model:
        return resolve_model_path(model)
    meta = json.loads((adapter_dir / "adapter_config.json").read_text())
    named = meta.get("model_name") or ""
    return named if named and Path(named, "config.json").is_file() else resolve_model_path("all-MiniLM-L6-v2")


def score_adapter(adapter_dir, task: str, *, data_dir: str | None = None, split: str = "validation",
                  model: str | None = None, drop_n: int = 0, max_length: int = 128, batch_size: int = 128,
                  language: str = "en", doc_stride: int = 128, packing: bool = False) -> dict[str, float]:
    """Metrics of the adapter + head saved in `adapter_dir` (AdapterHub format) on `split` of
    `task` from `data_dir` (the task's local layout; None: the HF hub). Every task family is
    scored: the head must be of the task's kind (a QA adapter wants max_length=384). `packing`:
    several examples per row (data/packing.py; same scores, less padding computed)."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        hint = " (a train.py workdir keeps its adapter in <workdir>/adapter)" if (adapter_dir / "adapter").is_dir() else ""
        raise FileNotFoundError(f"{adapter_dir} is not an AdapterHub adapter directory: no adapter_config.json{hint}")
    spec = get_task(task)
    base = AdapterModel.from_pretrained(_base_model(adapter_dir, model))
    name = base.load_adapter(adapter_dir, with_head=True)
    if name not in base.heads:
        raise ValueError(f"{adapter_dir} holds no prediction head (head_config.json): it cannot be scored on {task}")
    _check_head(base.heads[name].config, spec, adapter_dir)
    examples = load_examples(spec, split, data_dir=data_dir, language=language)
    encoded = encode_examples(spec, examples, base.tokenizer(), max_length, doc_stride=doc_stride)
    batcher = Batcher(encoded, batch_size, shuffle=False, drop_last=False, pad_id=base.config.pad_token_id,
                      buckets=DataConfig().buckets, packing=packing)
    slot, head = base.adapters[name], base.heads[name]
    evaluate = steps.make_eval_step(base.graphdef, slot.graphdef, head.graphdef, spec.kind, drop_n=drop_n)
    return loop.evaluate(spec, lambda p, b: evaluate(p, base.params, b), {"adapter": slot.params, "head": head.params},
                         batcher)


def _check_head(head, task, adapter_dir) -> None:
    """The saved head must answer the task: its kind and its number of outputs (or choices)."""
    # AdapterHub writes a regression head as a classification head with one label.
    kinds = ("classification", "regression") if task.kind in ("classification", "regression") else (task.kind,)
    size = head.num_choices if head.kind == "multiple_choice" else head.num_labels
    if head.kind not in kinds or size != task.num_labels:
        raise ValueError(f"{adapter_dir}'s head is {head.kind} with {size} outputs; task {task.name} "
                         f"needs a {task.kind} head with {task.num_labels}")


def score_run_at_drops(workdir, drops) -> dict[int, dict[str, float]]:
    """{n: dev metrics} of the best adapter of the train.py run in `workdir`, scored with the
    adapters of layers 0…n−1 removed (AdapterDrop at inference)."""
    setup, best = loop.restore_best(workdir)
    if setup.adapter_def is None:
        raise ValueError(f"{workdir} is a full fine-tuning run: it has no adapters to drop")
    eval_data = loop.load_data(setup, Path(workdir) / "cache", with_train=False)[setup.task.name][1]
    head_def = setup.model.heads[setup.task.name].graphdef
    out = {}
    for n in drops:
        evaluate = steps.make_eval_step(setup.model.graphdef, setup.adapter_def, head_def, setup.task.kind, drop_n=n)
        out[int(n)] = loop.evaluate(setup.task, lambda p, b, e=evaluate: e(setup.eval_params(p), setup.frozen_base, b),
                                    best, eval_data)
    return out


def score_pruned_fusion(workdir, keep: int, weight_batches: int = 16) -> dict:
    """The best fusion of a fusion run pruned to each layer's `keep` most-attended adapters (mean
    fusion attention over the first `weight_batches` training batches, as AdapterDrop's pruning):
    {'metrics', 'selected': per-layer adapter indices, 'weights': [layers][N]}."""
    setup, best = loop.restore_best(workdir)
    if not isinstance(setup, FusionRun):
        raise ValueError(f"{workdir} is not a fusion run (method {setup.cfg.method.name!r})")
    train, dev = loop.load_data(setup, Path(workdir) / "cache")[setup.task.name]
    module = nnx.merge(setup.adapter_def, setup.eval_params(best)["adapter"])
    base_def, base = setup.model.graphdef, setup.frozen_base
    batches = [train.batch(i) for i in range(min(weight_batches, train.steps_per_epoch))]
    weights = fusion_lib.fusion_weights(base_def, base, module, batches)
    pruned = fusion_lib.prune(module, weights, keep)
    pruned_def, pruned_params = nnx.split(pruned)
    head_def = setup.model.heads[setup.task.name].graphdef
    evaluate = steps.make_eval_step(base_def, pruned_def, head_def, setup.task.kind)
    metrics = loop.evaluate(setup.task, lambda p, b: evaluate(p, base, b),
                            {"adapter": pruned_params, "head": best["head"]}, dev)
    return {"metrics": metrics, "selected": [list(s) for s in pruned.config.selected],
            "weights": [[None if w != w else float(w) for w in row] for row in weights]}
