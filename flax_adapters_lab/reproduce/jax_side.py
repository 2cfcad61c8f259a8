"""The JAX variants the suite times: each is compiled ahead of time here (compile seconds, XLA's
FLOP count and static memory estimate go into its `meta`), and its `call` runs one step.

Training steps are the library's own (training.steps / training.fusion): AdamW over the trainable
state only, dropout on, state donated; each variant keeps its own state, so interleaving variants
never feeds one's donated buffers to another.
"""

from __future__ import annotations

import hashlib
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flax_adapters.adapters import AdapterModel, forward, multitask
from flax_adapters.adapters import fusion as fusion_lib
from flax_adapters_lab.timing import Variant, compile_timed, memory_bytes
from flax_adapters_lab.reproduce.workload import Workload
from flax_adapters.training import adamw, init_state, make_train_step
from flax_adapters_lab.cost import step_flops
from flax_adapters.training.fusion import make_fusion_train_step

LEARNING_RATE = 1e-4  # any: speed does not depend on it (the loss must only stay finite)


def device_batch(host: dict) -> dict:
    return {k: jnp.asarray(v) for k, v in host.items()}


def inputs_of(batch: dict) -> tuple:
    return batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]


def build_model(wl: Workload, adapters: dict[str, str] | None = None, seed: int = 0, *,
                kind: str = "classification", **head) -> AdapterModel:
    """A random model of the workload's shape with `adapters` {name: method}, a head of `kind`
    each (default: 2-class classification; `head`: its HeadConfig options) and a head 'bare' for
    the adapter-free model."""
    head = head or {"num_labels": 2}
    model = AdapterModel.from_config(wl.encoder_config(), seed=seed)
    model.add_head("bare", kind, seed=seed, **head)
    for i, (name, method) in enumerate((adapters or {}).items()):
        model.add_adapter(name, method, seed=seed + i)
        model.add_head(name, kind, seed=seed + i, **head)
    return model


def _meta(compiled, seconds: float) -> dict:
    # The program's fingerprint shows when two variants run the very same executable (merged LoRA vs bare).
    program = hashlib.sha1(compiled.as_text().encode()).hexdigest()[:12]
    return {"compile_s": seconds, "flops": step_flops(compiled), "memory_bytes": memory_bytes(compiled),
            "program": program}


def train(model: AdapterModel, adapter: str | None, batch: dict, *, drop_n: int = 0,
          kind: str = "classification") -> Variant:
    """One training step: full fine-tuning (adapter None: base + head) or adapter + head only; `kind`
    is the loss of the model's heads (build_model) and batch["labels"] is shaped for it."""
    tx = adamw(LEARNING_RATE)
    head = model.heads[adapter or "bare"]
    if adapter is None:
        step = make_train_step(model.graphdef, None, head.graphdef, kind, tx, full_finetune=True)
        params, frozen = {"base": model.params, "head": head.params}, None
    else:
        slot = model.adapters[adapter]
        step = make_train_step(model.graphdef, slot.graphdef, head.graphdef, kind, tx, drop_n=drop_n)
        params, frozen = {"adapter": slot.params, "head": head.params}, model.params
    return _stepper(step, init_state(params, tx), frozen, batch)


def fusion_train(model: AdapterModel, fusion: str, head: str, batch: dict) -> Variant:
    """One fusion-only training step (the fused adapters frozen beside the base)."""
    tx = adamw(LEARNING_RATE)
    fdef, fparams, subs = fusion_lib.split_fusion(model.adapter_module(fusion))
    step = make_fusion_train_step(model.graphdef, fdef, model.heads[head].graphdef, "classification", tx)
    state = init_state({"adapter": fparams, "head": model.heads[head].params}, tx)
    return _stepper(step, state, (model.params, subs), batch)


def _stepper(step, state, frozen, batch) -> Variant:
    compiled, seconds = compile_timed(step, state, frozen, batch)
    holder = {"state": state}  # copies made by init_state: donation never frees the model's arrays

    def call():
        holder["state"], metrics = compiled(holder["state"], frozen, batch)
        return metrics["loss"]
    return Variant(call, _meta(compiled, seconds))


def infer(model: AdapterModel, adapter: str | None, batch: dict, *, head: str | None = None,
          drop_n: int = 0) -> Variant:
    """A jitted forward with the adapter (None: bare encoder) and its head; the model's current
    parameters are captured, so a merged adapter (model.merge_adapter) runs the bare program."""
    slot = model.adapters[adapter] if adapter else None
    head_slot = model.heads[head or adapter or "bare"]
    adef, aparams = (slot.graphdef, slot.params) if slot else (None, None)
    params, inputs = model.params, inputs_of(batch)
    compiled, seconds = compile_timed(forward, model.graphdef, params, adef, aparams, head_slot.graphdef,
                                      head_slot.params, *inputs, drop_n=drop_n)
    return Variant(lambda: compiled(params, aparams, head_slot.params, *inputs).logits, _meta(compiled, seconds))


def parallel(model: AdapterModel, names: list[str], batch: dict, drop_n: int) -> Variant:
    """One input through len(names) task adapters and heads over the shared trunk."""
    slots = [model.adapters[n] for n in names]
    stacked = multitask.stack([s.params for s in slots])
    hdefs = tuple(model.heads[n].graphdef for n in names)
    hparams = tuple(model.heads[n].params for n in names)
    inputs = inputs_of(batch)
    compiled, seconds = compile_timed(multitask.parallel, model.graphdef, model.params, slots[0].graphdef,
                                      stacked, hdefs, hparams, *inputs, drop_n=drop_n)
    return Variant(lambda: compiled(model.params, stacked, hparams, *inputs)[1], _meta(compiled, seconds))


def mixed(model: AdapterModel, names: list[str], batch: dict, task_ids: np.ndarray) -> Variant:
    """One batch whose example i uses task names[task_ids[i]] (adapter and head)."""
    slots = [model.adapters[n] for n in names]
    stacked = multitask.stack([s.params for s in slots])
    hdefs = tuple(model.heads[n].graphdef for n in names)
    hparams = tuple(model.heads[n].params for n in names)
    inputs, ids = inputs_of(batch), jnp.asarray(task_ids)
    compiled, seconds = compile_timed(multitask.mixed, model.graphdef, model.params, slots[0].graphdef, stacked,
                                      hdefs, hparams, *inputs, ids)
    return Variant(lambda: compiled(model.params, stacked, hparams, *inputs, ids)[0], _meta(compiled, seconds))


def add_pruned_fusion(model: AdapterModel, fusion: str, batch: dict, keep: int) -> str:
    """Adds `fusion` pruned to each layer's top-`keep` adapters by mean fusion weight on `batch`
    (which adapters survive does not change the cost); returns its name."""
    module = model.adapter_module(fusion)
    weights = fusion_lib.fusion_weights(model.graphdef, model.params, module, [batch])
    pruned = fusion_lib.prune(module, weights, keep)
    name = f"{fusion}_top{keep}"
    model.adapters[name] = type(model.adapters[fusion])(pruned.config, *nnx.split(pruned))
    return name


def matmul_peak(n: int = 4096, repeats: int = 5, dtype=jnp.float32) -> dict:
    """XLA's fp32 GEMM rate on an n×n×n product: the machine's attainable matmul peak for MFU."""
    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    f = jax.jit(jnp.matmul).lower(a, b).compile()
    jax.block_until_ready(f(a, b))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(a, b))
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"n": n, "median_s": median, "gflops": 2 * n ** 3 / median / 1e9, "samples_s": times}
