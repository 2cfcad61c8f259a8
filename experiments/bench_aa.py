"""The A/A experiment: what, other than its program, makes one timing of an inference
step differ from another? Every variant below runs the *same* bare BERT-base forward; each differs
from the reference in one thing the measurement could be sensitive to:

  twin         the reference's own callable again (order and position in the round only)
  copied       the same executable over freshly allocated copies of the parameters and inputs
  recompiled   a second compile of the same function (another executable object)
  merged_lora  the same program over LoRA-merged weights (how the suite's `lora (merged)` row runs)

With --torch, PyTorch's bare forward (AdapterHub model) runs in the same rounds, as in the suite:
its OpenMP threads spin after each call, which is what the pause before each timed call is for.

Each pause setting (the untimed sleep, or busy-wait with spin:, before every timed call) is one
interleaved run of many rounds; for every variant the JSON holds its ratio to the reference with the
95% bootstrap interval, and with --torch the JAX calls right after torch's against the others.

    python experiments/bench_aa.py --rounds=40 --pauses=0,0.02,0.2 --out=results/aa_control_cpu.json
    python experiments/bench_aa.py --torch --rounds=50 --pauses=0,0.02,spin:0.02 --out=results/aa_pause_torch_cpu.json
"""

from __future__ import annotations

import statistics

import jax
import jax.numpy as jnp
from absl import flags

from flax_adapters_lab import provenance, stats, timing
from flax_adapters.adapters import forward
from flax_adapters_lab.reproduce import jax_side
from flax_adapters_lab.reproduce.workload import Workload
from flax_adapters.training import cli

_SHAPE = flags.DEFINE_string("shape", "bert-base", "model shape (reproduce/workload.py SHAPES)")
_BATCH = flags.DEFINE_integer("batch", 8, "batch size")
_SEQ = flags.DEFINE_integer("seq_len", 64, "tokens per example")
_ROUNDS = flags.DEFINE_integer("rounds", 40, "rounds per pause setting")
_PAUSES = flags.DEFINE_list("pauses", ["0", "0.02", "0.2"],
                            "untimed pause before each timed call: seconds of sleep, or spin:<seconds> of busy-wait")
_TORCH = flags.DEFINE_bool("torch", False, "time PyTorch's bare forward in the same rounds (as the suite does)")
_OUT = flags.DEFINE_string("out", "results/aa_control_cpu.json", "JSON output")


def variants(wl: Workload, with_torch: bool = False) -> dict[str, timing.Variant]:
    model = jax_side.build_model(wl, {"lora": "lora"}, seed=0)
    batch = jax_side.device_batch(wl.host_batch(seed=0))
    ref = jax_side.infer(model, None, batch)
    out = {"reference": ref, "twin": ref}
    head = model.heads["bare"]
    params, inputs = model.params, jax_side.inputs_of(batch)
    fresh = jax.tree.map(lambda x: jnp.array(x, copy=True), (params, head.params, inputs))
    exe, _ = timing.compile_timed(forward, model.graphdef, params, None, None, head.graphdef, head.params, *inputs)
    out["copied"] = timing.Variant(lambda: exe(fresh[0], None, fresh[1], *fresh[2]).logits)
    again, _ = timing.compile_timed(forward, model.graphdef, params, None, None, head.graphdef, head.params, *inputs)
    out["recompiled"] = timing.Variant(lambda: again(params, None, head.params, *inputs).logits)
    model.merge_adapter("lora")
    out["merged_lora"] = jax_side.infer(model, None, batch, head="bare")
    model.unmerge_adapter()
    if with_torch:
        from flax_adapters_lab.reproduce import torch_side

        out["torch_bare"] = torch_side.infer(wl, None, wl.host_batch(seed=0))
    return out


def after_torch(samples: dict, previous: dict) -> dict | None:
    """Median JAX call time right after PyTorch's call vs after any other (or first in its round):
    a call that follows torch's pays for its still-spinning OpenMP threads unless the pause ends them."""
    if "torch_bare" not in samples:
        return None
    split = {"after_torch": [], "after_other": []}
    for name, times in samples.items():
        if name != "torch_bare":
            for t, p in zip(times, previous[name]):
                split["after_torch" if p == "torch_bare" else "after_other"].append(t)
    med = {k: statistics.median(v) for k, v in split.items() if v}
    return dict(med, ratio=med["after_torch"] / med["after_other"]) if len(med) == 2 else None


def pause_of(text: str) -> tuple[float, bool]:
    """(seconds, busy-wait?) of a --pauses entry: "0.02" sleeps, "spin:0.02" busy-waits."""
    seconds = text.removeprefix("spin:")
    try:
        value = float(seconds)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(f"--pauses: {text!r} is neither seconds ≥ 0 nor spin:<seconds>")
    return value, text.startswith("spin:")


def run(wl: Workload, rounds: int, pauses: list[str], with_torch: bool = False) -> dict:
    """pauses: seconds to sleep before each timed call, or "spin:<seconds>" to busy-wait them."""
    parsed = {p: pause_of(p) for p in pauses}  # every entry checked before anything is built
    built = variants(wl, with_torch)
    calls = {k: v.call for k, v in built.items()}
    out = {"workload": wl.describe(), "rounds": rounds, "environment": provenance.environment(), "by_pause": {}}
    for pause in pauses:
        seconds, spin = parsed[pause]
        previous = {}
        samples = timing.interleaved(calls, rounds, warmup=2, pause_s=seconds, spin=spin, previous=previous)
        res = {k: timing.summary(s) for k, s in samples.items()}
        out["by_pause"][pause] = {
            "median_s": {k: r["median_s"] for k, r in res.items()},
            "ratio_to_reference": {k: stats.ratio(res, k, "reference") for k in res
                                   if k not in ("reference", "torch_bare")},
            "after_torch": after_torch(samples, previous),
            "samples_s": samples, "previous": previous}
        line = ", ".join(f"{k} {q['value']:.3f} [{q['ci'][0]:.3f}, {q['ci'][1]:.3f}]"
                         for k, q in out["by_pause"][pause]["ratio_to_reference"].items())
        at = out["by_pause"][pause]["after_torch"]
        print(f"pause {pause}: {line}" + (f"; after torch ÷ after other {at['ratio']:.3f}" if at else ""), flush=True)
    return out


def main(argv):
    del argv
    wl = Workload(_SHAPE.value, _BATCH.value, _SEQ.value)
    result = run(wl, _ROUNDS.value, _PAUSES.value, _TORCH.value)
    provenance.write_json(_OUT.value, result)
    print(f"wrote {_OUT.value}")


if __name__ == "__main__":
    cli.run(main)
