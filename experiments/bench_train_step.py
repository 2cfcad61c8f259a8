"""Training-step time on real SST-2 batches, JAX vs PyTorch (HF + AdapterHub), all-MiniLM-L6-v2.

The per-step side of the SST-2 time-to-accuracy comparison (BUILD_NOTES): the same batches of
32 real sentences through full fine-tuning and a Pfeiffer adapter, each framework fed
(a) batches padded to the fixed max length 64 and (b) our length-grouped, bucket-padded batches
(16/32/64), so the framework difference and the padding difference are separated. Each variant
runs the same K consecutive training batches per round; rounds are interleaved; medians reported.

    python experiments/bench_train_step.py --steps=8 --repeats=5 --out=results/train_step_minilm_cpu.json
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import ml_collections
import numpy as np
from absl import flags, logging

from flax_adapters_lab import provenance, timing
from flax_adapters_lab.reproduce import layouts
from flax_adapters.training import cli
from flax_adapters.training import loop
from flax_adapters.training.config import from_config_dict

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "GLUE-layout directory (default: ../shared/data/glue via the config)")
flags.DEFINE_integer("steps", 8, "consecutive training batches per timed round")
flags.DEFINE_integer("repeats", 5, "timed rounds")
flags.DEFINE_list("methods", ["full", "seq_bn"], "full and/or seq_bn")
flags.DEFINE_bool("torch", True, "also time PyTorch + AdapterHub")
flags.DEFINE_string("out", "results/train_step_minilm.json", "JSON output path")


def _config(method: str, data_dir: str | None) -> ml_collections.ConfigDict:
    # The repository's recipe file (configs/ is not a package: config files are loaded by path).
    spec = importlib.util.spec_from_file_location("minilm_sst2", Path(__file__).parents[1] / "configs" / "minilm_sst2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(f"{method},padded")  # the same padded batches on both sides
    if data_dir:
        c.data.data_dir = data_dir
    c.data.max_train_examples = 4096  # only the first batches are used; keeps tokenising quick
    return c


def _batches(setup, steps: int, buckets) -> list[dict]:
    cfg = setup.cfg
    setup.cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, buckets=tuple(buckets)))
    data = loop.load_data(setup, cache_dir=None)
    setup.cfg = cfg
    train = data[setup.task.name][0]
    return [train.batch(i) for i in range(steps)]


def _torch_variant(path: str, method: str, lr: float, batches):
    import adapters
    import torch

    model = adapters.AutoAdapterModel.from_pretrained(path)
    model.add_classification_head("sst2", num_labels=2)
    if method != "full":
        model.add_adapter("sst2", config=method)
        model.train_adapter("sst2")
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    tensors = [{k: torch.as_tensor(np.asarray(v)).long() for k, v in b.items()} for b in batches]

    def run():
        for b in tensors:
            out = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                        token_type_ids=b["token_type_ids"], labels=b["labels"])
            out.loss.backward()
            opt.step()
            opt.zero_grad()
        return np.float32(out.loss.item())
    run()  # warm-up (allocator, kernels)
    return run


def run(methods=("full", "seq_bn"), steps=8, repeats=5, with_torch=True, data_dir=None) -> dict:
    variants, meta = {}, {}
    for method in methods:
        cfg = from_config_dict(_config(method, data_dir))
        setup = loop.build(cfg)
        for label, buckets in (("fixed64", (64,)), ("bucketed", cfg.data.buckets)):
            batches = _batches(setup, steps, buckets)
            meta[f"{method}/{label}"] = {"tokens_per_step": float(np.mean([b["input_ids"].size for b in batches]))}
            variants[f"jax/{method}/{label}"] = layouts.jax_variant(setup, batches)
            if with_torch:
                variants[f"torch/{method}/{label}"] = _torch_variant(str(setup.model.path), method,
                                                                     cfg.optim.learning_rate, batches)
            logging.info("ready: %s %s", method, label)
    samples = timing.interleaved(variants, repeats, warmup=0, progress=logging.info)
    out = {"workload": dict(model="all-MiniLM-L6-v2", task="sst2", batch=32, max_length=64, steps_per_round=steps),
           "environment": provenance.environment(), "padding": meta, "per_step": {}}
    for name, s in samples.items():
        out["per_step"][name] = {"median_s": float(np.median(s)) / steps, "samples_s": [x / steps for x in s]}
    return out


def main(argv):
    del argv
    result = run(FLAGS.methods, FLAGS.steps, FLAGS.repeats, FLAGS.torch, FLAGS.data_dir)
    provenance.write_json(FLAGS.out, result)
    for name, r in result["per_step"].items():
        print(f"{name:28s} {r['median_s']:.3f} s/step")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, shape, method) is one `error:` line
