"""Device parity: the encoder and every adapter method on the default device (the GPU, in the
device check) against the CPU fp32 reference on the same inputs and weights.

  fp32   default device at 'highest' matmul precision (no TF32) vs CPU: max |Δ| ≤ 1e-4 (tight:
         only the summation order differs between backends)
  bf16   default device in bf16 mixed precision, attention 'auto' (cuDNN flash attention on a CUDA
         GPU) and 'xla', vs the CPU fp32 reference: max |Δ| ≤ 5% of the reference hidden state's
         standard deviation (the bf16 tolerance the model tests use; see tests/training/test_bf16.py)

    from flax_adapters_lab.reproduce import parity
    result = parity.check()          # {'rows': [...], 'ok': bool, 'device': ..., 'bounds': ...}

On a CPU-only machine the "device" is the CPU too: the fp32 rows are then exact and the bf16 rows
still compare bf16 against fp32 (what the CI test checks).
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from flax_adapters.adapters import AdapterModel, forward, registry
from flax_adapters.models import EncoderConfig

FP32_BOUND = 1e-4
BF16_REL_BOUND = 0.05
# head_dim 64 and even lengths: the shape class cuDNN flash attention takes (BERT-base's head dim).
CFG = EncoderConfig(vocab_size=120, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=256, max_position_embeddings=64)
OPTIONS = {"compacter": dict(reduction_factor=8), "compacter++": dict(reduction_factor=8)}


def methods() -> list[str]:
    """Every registered method once (aliases such as 'pfeiffer' name the same class and config)."""
    return sorted(set(registry.METHODS) - {"pfeiffer", "houlsby", "parallel"})


def inputs(batch: int = 4, length: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, CFG.vocab_size, (batch, length)).astype(np.int32)
    lengths = np.linspace(length, length // 3, batch).astype(int)
    mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
    return np.where(mask == 1, ids, 0).astype(np.int32), mask, np.zeros_like(ids)


def build(config: EncoderConfig, names: list[str], seed: int = 0) -> AdapterModel:
    """Random base, a head, and methods `names` with weights moved off their (often identity) init."""
    model = AdapterModel.from_config(config, seed=seed)
    model.add_head("bare", "classification", num_labels=3, seed=seed)
    for i, m in enumerate(names):
        model.add_adapter(m, m, seed=seed + 10 + i, **OPTIONS.get(m, {}))
        slot = model.adapters[m]
        leaves, tree = jax.tree.flatten(slot.params)
        keys = jax.random.split(jax.random.key(seed + 100 + i), len(leaves))
        slot.params = jax.tree.unflatten(tree, [x + 0.1 * jax.random.normal(k, x.shape, x.dtype)
                                                for x, k in zip(leaves, keys)])
        model.add_head(m, "classification", num_labels=3, seed=seed + 20 + i)
    return model


def _run(model: AdapterModel, adapter: str | None, batch, device) -> np.ndarray:
    put = lambda t: jax.device_put(t, device)  # noqa: E731
    slot = model.adapters.get(adapter) if adapter else None
    head = model.heads[adapter or "bare"]
    out = forward(model.graphdef, put(model.params), slot and slot.graphdef, slot and put(slot.params),
                  head.graphdef, put(head.params), *(put(jnp.asarray(a)) for a in batch))
    return np.asarray(jax.device_get(out.last_hidden_state), np.float32)


def check(device=None, adapters: list[str] | None = None) -> dict:
    """Every method (and the bare encoder) on `device` vs the CPU fp32 reference; see the module doc."""
    device = device or jax.devices()[0]
    cpu = jax.devices("cpu")[0]
    batch = inputs()
    real = batch[1].astype(bool)
    adapters = methods() if adapters is None else adapters
    ref_model = build(CFG.replace(attention="xla"), adapters)
    names = [None] + adapters
    rows, start = [], time.perf_counter()
    variants = [("float32", "xla"), ("bfloat16", "auto"), ("bfloat16", "xla")]
    models = {v: _same_weights(ref_model, CFG.replace(compute_dtype=v[0], attention=v[1])) for v in variants}
    for name in names:
        want = _run(ref_model, name, batch, cpu)[real]
        scale = float(want.std())
        for (dtype, attention), model in models.items():
            if dtype == "float32":
                with jax.default_matmul_precision("highest"):
                    got = _run(model, name, batch, device)[real]
                bound = FP32_BOUND
            else:
                got, bound = _run(model, name, batch, device)[real], BF16_REL_BOUND * scale
            err = float(np.abs(got - want).max())
            rows.append({"adapter": name or "bare", "dtype": dtype, "attention": attention, "max_abs_err": err,
                         "bound": bound, "ok": bool(np.isfinite(got).all() and err <= bound)})
    return {"device": str(device), "device_kind": device.device_kind, "reference": str(cpu),
            "bounds": {"float32": f"max |Δ| ≤ {FP32_BOUND:g} (matmul precision 'highest')",
                       "bfloat16": f"max |Δ| ≤ {BF16_REL_BOUND:g} × std of the reference hidden state"},
            "rows": rows, "ok": all(r["ok"] for r in rows), "seconds": time.perf_counter() - start}


def _same_weights(ref: AdapterModel, config: EncoderConfig) -> AdapterModel:
    """A model of `config` (compute dtype, attention) holding `ref`'s weights, adapters and heads."""
    model = AdapterModel.from_config(config, seed=0)
    model.params = ref.params
    model.adapters, model.heads = ref.adapters, ref.heads
    return model


def main(path: str | None = None, adapters: str = "") -> int:
    """Runs `check` (every method; or the comma-separated `adapters`; "none": the bare encoder
    only), prints one line per row, writes `path` (JSON); exit code 0 when all pass."""
    names = [] if adapters == "none" else [a for a in adapters.split(",") if a] or None
    result = check(adapters=names)
    for r in result["rows"]:
        print(f"{'ok ' if r['ok'] else 'BAD'} {r['adapter']:>14} {r['dtype']:>8} {r['attention']:>4} "
              f"max|Δ| {r['max_abs_err']:.2e} (bound {r['bound']:.2e})")
    print(f"parity on {result['device_kind']}: {'all within bounds' if result['ok'] else 'FAILED'} "
          f"({result['seconds']:.1f} s)")
    if path:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if result["ok"] else 1
