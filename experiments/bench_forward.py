"""Inference forward latency: jitted JAX/NNX encoder vs PyTorch eager `transformers.BertModel`.

Both models are BERT-base shaped (hidden 768, 12 heads, FFN 3072, exact-erf GELU; --layers sets
depth), randomly initialised, and run the same batch: random token ids and a padded attention mask
whose lengths vary in [seq_len/2, seq_len]. JAX runs the `encode` function of models/model.py;
its trace+lower and XLA compile times are measured separately through the AOT API, and the
compiled executable is then timed. Torch runs `.eval()` under `torch.inference_mode()` with its
default attention implementation and thread count. After warm-up, each repeat times one JAX call
(`block_until_ready`) then one torch call, interleaved, so machine noise hits both alike; the
JSON reports every sample, the median and min per variant, and torch_median / jax_median.

    python experiments/bench_forward.py --batch=32 --seq_len=128 --repeats=7 --dtype=float32 \
        --out=/tmp/bench_forward.json [--notorch]
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from flax_adapters_lab import provenance, timing
from flax_adapters.training import cli
from flax_adapters.models import EncoderConfig, EncoderModel
from flax_adapters.models.model import encode


def make_batch(batch: int, seq_len: int, vocab: int, seed: int = 0):
    """Random ids (never the pad id 0 inside the sequence) and a right-padded 0/1 mask."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, seq_len), dtype=np.int32)
    lengths = rng.integers(seq_len // 2, seq_len + 1, size=batch)
    mask = (np.arange(seq_len)[None, :] < lengths[:, None]).astype(np.int32)
    return ids * mask, mask, np.zeros_like(ids)


def torch_model(cfg: EncoderConfig, dtype: str):
    """A random-init `BertModel` of cfg's shape and a callable running it on numpy inputs."""
    import torch
    from transformers import BertConfig, BertModel

    tcfg = BertConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.num_hidden_layers,
                      num_attention_heads=cfg.num_attention_heads, intermediate_size=cfg.intermediate_size,
                      hidden_act=cfg.hidden_act, max_position_embeddings=cfg.max_position_embeddings)
    torch.manual_seed(0)
    model = BertModel(tcfg).eval().to(getattr(torch, dtype))

    def call(ids, mask, tt):
        with torch.inference_mode():
            return model(input_ids=ids, attention_mask=mask, token_type_ids=tt).last_hidden_state

    info = {"torch_version": torch.__version__, "torch_num_threads": torch.get_num_threads(),
            "attn_implementation": model.config._attn_implementation}
    return call, info, torch


def run(batch: int = 32, seq_len: int = 128, repeats: int = 7, dtype: str = "float32", layers: int = 12,
        use_torch: bool = True, warmup: int = 2, out: str | None = None) -> dict:
    cfg = EncoderConfig(num_hidden_layers=layers, compute_dtype=dtype)
    ids, mask, tt = make_batch(batch, seq_len, cfg.vocab_size)
    result = {"config": {"batch": batch, "seq_len": seq_len, "repeats": repeats, "warmup": warmup, "dtype": dtype,
                         "layers": layers, "hidden_act": cfg.hidden_act}, "env": provenance.environment()}

    model = EncoderModel.from_config(cfg, seed=0)
    jargs = tuple(jnp.asarray(a) for a in (ids, mask, tt))
    t0 = time.perf_counter()
    lowered = encode.lower(model.graphdef, model.params, *jargs)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    jax_call = lambda: jax.block_until_ready(compiled(model.params, *jargs))
    t3 = time.perf_counter()
    jax_call()
    first_call = time.perf_counter() - t3
    result["jax_compile"] = {"trace_lower_s": t1 - t0, "compile_s": t2 - t1, "first_call_s": first_call}
    variants = {"jax": jax_call}

    try:
        tcall, tinfo, torch = torch_model(cfg, dtype) if use_torch else (None, None, None)
    except ImportError as e:  # torch is an optional extra
        tcall, tinfo = None, {"skipped": f"import failed: {e}"}
    if tcall is not None:
        targs = tuple(torch.from_numpy(a.astype(np.int64)) for a in (ids, mask, tt))
        variants["torch"] = lambda: tcall(*targs)
    result["torch"] = tinfo or {"skipped": "--notorch"}

    samples = timing.interleaved(variants, repeats, warmup)  # jax, torch, jax, torch, ...
    result["timings"] = {name: timing.summary(s) for name, s in samples.items()}
    if "torch" in samples:
        result["torch_over_jax_median"] = result["timings"]["torch"]["median_s"] / result["timings"]["jax"]["median_s"]
    result["env"]["loadavg_after"] = os.getloadavg()
    provenance.write_json(out, result)
    return result


FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 32, "Batch size.")
flags.DEFINE_integer("seq_len", 128, "Sequence length (padded).")
flags.DEFINE_integer("repeats", 7, "Timed, interleaved repeats per variant.")
flags.DEFINE_integer("warmup", 2, "Untimed warm-up calls per variant.")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype (torch: model cast to it).")
flags.DEFINE_integer("layers", 12, "Number of encoder layers.")
flags.DEFINE_string("out", None, "Path of the JSON result file.")
flags.DEFINE_bool("torch", True, "Also time PyTorch eager BertModel.")


def main(argv):
    del argv
    r = run(FLAGS.batch, FLAGS.seq_len, FLAGS.repeats, FLAGS.dtype, FLAGS.layers, FLAGS.torch, FLAGS.warmup, FLAGS.out)
    c = r["jax_compile"]
    print(f"{FLAGS.dtype} batch {FLAGS.batch}x{FLAGS.seq_len}, {FLAGS.layers} layers; jax trace+lower "
          f"{c['trace_lower_s']:.2f}s, compile {c['compile_s']:.2f}s")
    for name, t in r["timings"].items():
        print(f"  {name:6s} median {t['median_s'] * 1e3:8.1f} ms  min {t['min_s'] * 1e3:8.1f} ms")
    if "torch_over_jax_median" in r:
        print(f"  torch/jax median ratio: {r['torch_over_jax_median']:.2f}x")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, shape, method) is one `error:` line
