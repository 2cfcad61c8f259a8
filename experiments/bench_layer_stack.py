"""Layer stack as a Python loop (the encoder today) vs `jax.lax.scan` over stacked layer params.

Both variants share one randomly initialised BERT-base-shaped encoder (--layers deep). `loop` is
`Encoder.__call__`, which unrolls `run_layers` into one HLO copy per layer. `scan` splits one layer
into (graphdef, state), stacks the layers' states on a leading axis and runs
`jax.lax.scan(lambda h, s: (nnx.merge(layer_graphdef, s)(h, bias), None), h, stacked)` between the
same embeddings and pooler. Two workloads are timed per variant: the jitted inference forward and a
jitted training step (value and gradient of mean(last_hidden_state) + mean(pooler_output) with
respect to all parameters; deterministic, no dropout). For each of the four programs the
trace+lower and XLA compile times are measured separately (AOT API); then, after one warm-up call
each, every repeat runs the four in turn (interleaved) and the JSON reports all samples, median
and min, the scan/loop ratios and the max |loop - scan| output difference.

    python experiments/bench_layer_stack.py --batch=32 --seq_len=128 --repeats=5 \
        --out=/tmp/bench_layer_stack.json
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from flax import nnx

from flax_adapters_lab import provenance, timing
from flax_adapters.training import cli
from flax_adapters.models import Encoder, EncoderConfig


def make_batch(batch: int, seq_len: int, vocab: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, size=(batch, seq_len), dtype=np.int32)
    mask = (np.arange(seq_len)[None, :] < rng.integers(seq_len // 2, seq_len + 1, size=batch)[:, None])
    mask = mask.astype(np.int32)
    return tuple(jnp.asarray(a) for a in (ids * mask, mask, np.zeros_like(ids)))


def build(cfg: EncoderConfig, seed: int = 0):
    """(loop_graphdef, loop_params, scan_parts, scan_params) for one set of weights."""
    enc = Encoder(cfg, rngs=nnx.Rngs(seed))
    loop_gd, loop_params = nnx.split(enc)
    layer_gd = nnx.split(enc.layers[0])[0]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *(nnx.split(layer)[1] for layer in enc.layers))
    emb_gd, emb_params = nnx.split(enc.embeddings)
    pool_gd, pool_params = nnx.split(enc.pooler)
    scan_params = {"embeddings": emb_params, "layers": stacked, "pooler": pool_params}
    return loop_gd, loop_params, (emb_gd, layer_gd, pool_gd), scan_params


def make_fns(loop_gd, scan_gds):
    emb_gd, layer_gd, pool_gd = scan_gds

    def loop_forward(params, ids, mask, tt):
        out = nnx.merge(loop_gd, params)(ids, mask, tt)
        return out.last_hidden_state, out.pooler_output

    def scan_forward(params, ids, mask, tt):
        h = nnx.merge(emb_gd, params["embeddings"])(ids, tt)
        bias = Encoder.mask_bias(mask)
        h, _ = jax.lax.scan(lambda h, s: (nnx.merge(layer_gd, s)(h, bias), None), h, params["layers"])
        pooled = jnp.tanh(nnx.merge(pool_gd, params["pooler"])(h[:, 0])).astype(jnp.float32)
        return h.astype(jnp.float32), pooled

    def train(forward):
        def loss(params, *batch):
            h, pooled = forward(params, *batch)
            return jnp.mean(h) + jnp.mean(pooled)
        return jax.value_and_grad(loss)

    return {"loop_forward": loop_forward, "scan_forward": scan_forward,
            "loop_train": train(loop_forward), "scan_train": train(scan_forward)}


def run(batch: int = 32, seq_len: int = 128, repeats: int = 5, dtype: str = "float32", layers: int = 12,
        workloads: tuple[str, ...] = ("forward", "train"), out: str | None = None) -> dict:
    cfg = EncoderConfig(num_hidden_layers=layers, compute_dtype=dtype)
    inputs = make_batch(batch, seq_len, cfg.vocab_size)
    loop_gd, loop_params, scan_gds, scan_params = build(cfg)
    params = {"loop": loop_params, "scan": scan_params}
    fns = {k: f for k, f in make_fns(loop_gd, scan_gds).items() if k.split("_")[1] in workloads}
    result = {"config": {"batch": batch, "seq_len": seq_len, "repeats": repeats, "dtype": dtype, "layers": layers},
              "env": provenance.environment(), "compile": {}}
    calls, outs = {}, {}
    for name, fn in fns.items():
        p = params[name.split("_")[0]]
        t0 = time.perf_counter()
        lowered = jax.jit(fn).lower(p, *inputs)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        calls[name] = (lambda c, p: lambda: jax.block_until_ready(c(p, *inputs)))(compiled, p)
        outs[name] = calls[name]()  # warm-up
        result["compile"][name] = {"trace_lower_s": t1 - t0, "compile_s": t2 - t1}
    for w in workloads:  # loop and scan must agree (same weights, same math)
        a, b = outs[f"loop_{w}"], outs[f"scan_{w}"]
        if w == "train":  # compare loss and the first layer's query kernel gradient
            a = (a[0], a[1]["layers"][0]["query"]["kernel"][...])
            b = (b[0], b[1]["layers"]["query"]["kernel"][...][0])
        result[f"max_abs_diff_{w}"] = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(a, b))
    del outs
    samples = timing.interleaved(calls, repeats, warmup=0)  # warmed up above
    result["timings"] = {n: timing.summary(s) for n, s in samples.items()}
    for w in workloads:
        t = result["timings"]
        result[f"scan_over_loop_median_{w}"] = t[f"scan_{w}"]["median_s"] / t[f"loop_{w}"]["median_s"]
        c = result["compile"]
        result[f"scan_over_loop_compile_{w}"] = c[f"scan_{w}"]["compile_s"] / c[f"loop_{w}"]["compile_s"]
    result["env"]["loadavg_after"] = os.getloadavg()
    provenance.write_json(out, result)
    return result


FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 32, "Batch size.")
flags.DEFINE_integer("seq_len", 128, "Sequence length (padded).")
flags.DEFINE_integer("repeats", 5, "Timed, interleaved repeats per program.")
flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")
flags.DEFINE_integer("layers", 12, "Number of encoder layers.")
flags.DEFINE_list("workloads", ["forward", "train"], "Subset of forward,train.")
flags.DEFINE_string("out", None, "Path of the JSON result file.")


def main(argv):
    del argv
    r = run(FLAGS.batch, FLAGS.seq_len, FLAGS.repeats, FLAGS.dtype, FLAGS.layers, tuple(FLAGS.workloads), FLAGS.out)
    print(f"{FLAGS.dtype} batch {FLAGS.batch}x{FLAGS.seq_len}, {FLAGS.layers} layers")
    for name, t in r["timings"].items():
        c = r["compile"][name]
        print(f"  {name:13s} trace+lower {c['trace_lower_s']:6.2f}s compile {c['compile_s']:6.2f}s | "
              f"run median {t['median_s'] * 1e3:8.1f} ms min {t['min_s'] * 1e3:8.1f} ms")
    for w in FLAGS.workloads:
        print(f"  {w}: scan/loop run {r[f'scan_over_loop_median_{w}']:.2f}x, compile "
              f"{r[f'scan_over_loop_compile_{w}']:.2f}x, max|diff| {r[f'max_abs_diff_{w}']:.2e}")


if __name__ == "__main__":
    cli.run(main)  # a user error (bad flag, shape, method) is one `error:` line
