"""Examples per second of a training step under each batch layout, on real length distributions.

For each (model shape, task, method) the same K batches of real sentences (B examples each,
`max_length` tokens at most) are laid out four ways and trained on, interleaved round by round:

  jax/fixed      every example padded to max_length (what a static-shape pipeline does)
  jax/bucketed   length-grouped batches (chunks of 50 batches sorted by length, HF's
                 group_by_length) padded to the buckets 16/32/64/128: our default
  jax/packed     the fixed layout's batches packed (data/packing.py): rows of max_length tokens
  torch/dynamic  PyTorch + AdapterHub on the fixed layout's batches padded to each batch's
                 longest example (HF's DataCollatorWithPadding: how a PyTorch user trains)

fixed, packed and dynamic hold the same examples in the same batches; bucketed holds the
examples its grouping picks (a fair bucketing needs its grouping). Each layout's padding
efficiency is the fraction of computed tokens (rows × row length) that are real. Ratios of
examples/s are paired per round (stats.ratio_interval: 95% bootstrap over rounds).

    result = run(shapes=("minilm",), tasks=("sst2",), methods=("full", "seq_bn"), steps=4, repeats=5)
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from flax_adapters_lab import provenance, stats, timing
from flax_adapters.data import Batcher, encode_examples, get_task, load_examples
from flax_adapters.training import loop
from flax_adapters.training.build import resolve_model_path
from flax_adapters.training.config import default_config, from_config_dict
from flax_adapters.training.optim import make_optimizer
from flax_adapters.training.steps import init_state

LAYOUTS = ("fixed", "bucketed", "packed")
BERT_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
TARGETS = {"packed_vs_bucketed_sst2": 1.5, "jax_packed_vs_torch_dynamic": 2.0}


def model_dir(shape: str, workdir: str) -> str:
    """A checkpoint directory both frameworks load: MiniLM itself, or a random BERT-base-shaped
    BERT with MiniLM's tokenizer (same vocabulary as bert-base-uncased), saved once in `workdir`."""
    minilm = resolve_model_path("all-MiniLM-L6-v2")
    if shape == "minilm":
        return minilm
    if shape != "bert-base":
        raise ValueError(f"shape {shape!r}: choose minilm or bert-base")
    path = os.path.join(workdir, "bert_base_random")
    if not os.path.isfile(os.path.join(path, "config.json")):
        import torch
        import transformers as tf

        torch.manual_seed(0)
        tf.BertModel(tf.BertConfig(vocab_size=30522, max_position_embeddings=512, **BERT_BASE)).save_pretrained(path)
        tf.AutoTokenizer.from_pretrained(minilm).save_pretrained(path)
    return path


def layout_batches(encoded, batch_size: int, steps: int, seed: int, pad_id: int) -> tuple[dict, dict]:
    """({layout: [host batch] * steps}, {layout: padding efficiency}) — plus 'dynamic', the fixed
    batches padded to their own longest example (PyTorch's side)."""
    n = encoded.max_length
    kw = dict(seed=seed, pad_id=pad_id)
    batchers = {"fixed": Batcher(encoded, batch_size, group_by_length=False, buckets=(n,), **kw),
                "bucketed": Batcher(encoded, batch_size, group_by_length=True, buckets=(16, 32, 64, 128), **kw),
                "packed": Batcher(encoded, batch_size, group_by_length=False, packing=True, **kw)}
    out, eff = {}, {}
    for name, b in batchers.items():
        picks = b.batches_in_epoch(0)[:steps]
        out[name] = [b.collate(ix) for ix in picks]
        eff[name] = benchmark_efficiency(encoded, picks, out[name])
    fixed_picks = batchers["fixed"].batches_in_epoch(0)[:steps]
    out["dynamic"] = []
    for ix in fixed_picks:
        batch = encoded.padded(ix, int(encoded.lengths[ix].max()), pad_id)
        batch["labels"] = batchers["fixed"].collate(ix)["labels"]
        out["dynamic"].append(batch)
    eff["dynamic"] = benchmark_efficiency(encoded, fixed_picks, out["dynamic"])
    return out, eff


def benchmark_efficiency(encoded, picks, batches) -> float:
    real = sum(int(encoded.lengths[ix].sum()) for ix in picks)
    return real / sum(int(b["input_ids"].size) for b in batches)


def jax_variant(setup, batches: list[dict]):
    """A callable that trains on `batches` in order (every shape compiled here, untimed)."""
    tx, _ = make_optimizer(setup.cfg.optim, 1000, setup.trainable)
    train_step = loop.make_steps(setup, tx)[setup.task.name][0]
    holder = {"state": init_state(setup.trainable, tx, 0)}
    for b in batches:
        holder["state"], _ = train_step(holder["state"], setup.frozen, b)

    def call():
        for b in batches:
            holder["state"], m = train_step(holder["state"], setup.frozen, b)
        return m["loss"]
    return call


def torch_variant(path: str, method: str, num_labels: int, lr: float, batches: list[dict]):
    """PyTorch + AdapterHub training on `batches` (AdamW; Pfeiffer via train_adapter), warmed up once."""
    import adapters
    import torch

    torch.manual_seed(0)
    model = adapters.AutoAdapterModel.from_pretrained(path)
    model.add_classification_head("t", num_labels=num_labels)
    if method != "full":
        model.add_adapter("t", config=method)
        model.train_adapter("t")
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    tensors = [{k: torch.as_tensor(np.asarray(v, np.int64)) for k, v in b.items()} for b in batches]

    def call():
        for b in tensors:
            out = model(**b)
            out.loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return np.float32(out.loss.item())
    call()
    return call


def _setup(path: str, task: str, method: str, max_length: int, batch_size: int, data_dir: str | None):
    c = default_config()
    c.model.name_or_path, c.data.task, c.data.data_dir = path, task, data_dir
    c.data.max_length, c.method.name, c.batch_size = max_length, method, batch_size
    c.optim.learning_rate = 5e-5 if method == "full" else 1e-3
    return loop.build(from_config_dict(c))


def run(shapes=("minilm", "bert-base"), tasks=("sst2", "mrpc", "rte"), methods=("full", "seq_bn"), steps: int = 4,
        repeats: int = 5, batch_size: int = 32, max_length: int = 128, data_dir: str | None = None,
        with_torch: bool = True, workdir: str | None = None, max_examples: int = 4096, log=print) -> dict:
    """Measures every (shape, task, method, layout); returns the JSON-ready result."""
    workdir = workdir or tempfile.mkdtemp(prefix="layouts_")
    result = {"workload": dict(batch=batch_size, max_length=max_length, steps_per_round=steps, repeats=repeats,
                               tasks=list(tasks), methods=list(methods), shapes=list(shapes)),
              "environment": provenance.environment(), "groups": {}}
    for shape in shapes:
        path = model_dir(shape, workdir)
        for task in tasks:
            spec = get_task(task)
            variants, groups = {}, {}
            for method in methods:
                setup = _setup(path, task, method, max_length, batch_size, data_dir)
                examples = load_examples(spec, "train", data_dir=data_dir)
                if max_examples and len(examples) > max_examples:  # a seeded subset: lengths as the whole file's
                    examples = examples.select(np.sort(np.random.default_rng(0).permutation(len(examples))[:max_examples]))
                encoded = encode_examples(spec, examples, setup.model.tokenizer(), max_length)
                batches, eff = layout_batches(encoded, batch_size, steps, 0, setup.model.config.pad_token_id)
                key = f"{shape}/{task}/{method}"
                groups[key] = {"efficiency": eff, "rows_per_batch": {
                    name: float(np.mean([b["input_ids"].shape[0] for b in bs])) for name, bs in batches.items()},
                    "width": {name: float(np.mean([b["input_ids"].shape[1] for b in bs])) for name, bs in batches.items()}}
                for layout in LAYOUTS:
                    variants[f"{key}/jax/{layout}"] = jax_variant(setup, batches[layout])
                if with_torch:
                    variants[f"{key}/torch/dynamic"] = torch_variant(path, method, spec.num_labels,
                                                                     setup.cfg.optim.learning_rate, batches["dynamic"])
                log(f"ready: {key}")
            samples = timing.interleaved(variants, repeats, warmup=0, progress=log)
            for key, group in groups.items():
                group["examples_per_s"], group["samples_s"] = {}, {}
                for name, s in samples.items():
                    if name.startswith(key + "/"):
                        layout = name[len(key) + 1:]
                        group["examples_per_s"][layout] = batch_size * steps / float(np.median(s))
                        group["samples_s"][layout] = s
                group["ratios"] = _ratios(group["samples_s"])
                result["groups"][key] = group
    result["targets"] = targets(result["groups"])
    return result


def _ratios(samples: dict) -> dict:
    """Examples/s ratios (time ratios inverted), paired per round, with 95% intervals."""
    out = {}
    for name, (num, den) in {"packed_vs_bucketed": ("jax/packed", "jax/bucketed"),
                             "packed_vs_fixed": ("jax/packed", "jax/fixed"),
                             "bucketed_vs_fixed": ("jax/bucketed", "jax/fixed"),
                             "jax_packed_vs_torch_dynamic": ("jax/packed", "torch/dynamic"),
                             "jax_bucketed_vs_torch_dynamic": ("jax/bucketed", "torch/dynamic")}.items():
        # examples/s of num ÷ examples/s of den = time of den ÷ time of num (same examples per batch)
        r = stats.ratio({k: {"samples_s": v} for k, v in samples.items()}, den, num)
        if r is not None:
            out[name] = r
    return out


def targets(groups: dict) -> dict:
    """The issue's targets, each `met` / `missed` / `inconclusive` by its 95% interval."""
    rows = {}
    for key, g in groups.items():
        shape, task, method = key.split("/")
        r = g["ratios"]
        if task == "sst2" and "packed_vs_bucketed" in r:
            q = r["packed_vs_bucketed"]
            rows[f"{key}: packed ÷ bucketed ≥ 1.5"] = dict(q, verdict=stats.verdict(
                q["ci"], TARGETS["packed_vs_bucketed_sst2"], "≥", q["value"]))
        if "jax_packed_vs_torch_dynamic" in r:
            q = r["jax_packed_vs_torch_dynamic"]
            rows[f"{key}: JAX packed ÷ PyTorch dynamic ≥ 2"] = dict(q, verdict=stats.verdict(
                q["ci"], TARGETS["jax_packed_vs_torch_dynamic"], "≥", q["value"]))
    return rows


def markdown(result: dict) -> str:
    """The result as tables: examples/s and padding efficiency per layout, then the targets."""
    lines = ["| shape / task / method | layout | examples/s | real-token share | rows × width |", "|---|---|---|---|---|"]
    for key, g in result["groups"].items():
        for layout, eps in g["examples_per_s"].items():
            base = layout.split("/")[-1]
            lines.append(f"| {key} | {layout} | {eps:.1f} | {g['efficiency'][base]:.2f} | "
                         f"{g['rows_per_batch'][base]:.1f} × {g['width'][base]:.0f} |")
    lines += ["", "| target | ratio [95% interval] | verdict |", "|---|---|---|"]
    for name, t in result["targets"].items():
        lines.append(f"| {name} | {t['value']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}] | {t['verdict']} |")
    return "\n".join(lines) + "\n"

