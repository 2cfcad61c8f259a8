"""The JAX variants the suite times (reproduce/jax_side.py) on the tiny shape: each is compiled ahead
of time with its compile seconds, XLA's FLOP count, memory estimate and program fingerprint in its
meta; a call runs one step (training steps carry their donated state forward, leaving the model's
arrays alone); a merged LoRA runs the bare program; the GEMM peak."""

import jax
import numpy as np
import pytest

from flax_adapters_lab.reproduce import jax_side
from flax_adapters_lab.reproduce.workload import Workload

WL = Workload("tiny", batch=4, seq_len=8, layers=1)  # one layer: compiles in seconds


@pytest.fixture(scope="module")
def model():
    return jax_side.build_model(WL, {"a": "seq_bn"})  # building compiles op by op: once for the file


def test_training_variant_carries_its_state(model):
    host = WL.host_batch()
    batch = jax_side.device_batch(host)
    assert all(isinstance(v, jax.Array) for v in batch.values()) and len(jax_side.inputs_of(batch)) == 3
    assert set(model.adapters) == {"a"} and set(model.heads) == {"bare", "a"}
    before = np.asarray(jax.tree_util.tree_leaves(model.adapters["a"].params)[0]).copy()
    step = jax_side.train(model, "a", batch)  # (full fine-tuning's FLOPs against it: tests/lab/test_cost.py)
    assert step.meta["compile_s"] > 0 and step.meta["flops"] > 0 and len(step.meta["program"]) == 12
    assert step.meta["memory_bytes"] is None or step.meta["memory_bytes"] > 0
    losses = [float(step.call()) for _ in range(3)]
    assert all(np.isfinite(losses)) and len(set(losses)) > 1  # the state moves from call to call
    # init_state copies: donating the variant's state never frees the model's own arrays.
    np.testing.assert_array_equal(np.asarray(jax.tree_util.tree_leaves(model.adapters["a"].params)[0]), before)


def test_inference_variants_and_a_merged_lora_running_the_bare_program(model):
    batch = jax_side.device_batch(WL.host_batch())
    bare, with_a = jax_side.infer(model, None, batch), jax_side.infer(model, "a", batch)
    assert bare.meta["program"] != with_a.meta["program"] and np.asarray(with_a.call()).shape == (4, 2)
    model.add_adapter("b", "lora", init_weights="bert")  # B != 0: the merge changes the weights
    model.merge_adapter("b")
    try:
        merged = jax_side.infer(model, None, batch)  # the model's current (merged) parameters are captured
        assert merged.meta["program"] == bare.meta["program"]
        assert np.abs(np.asarray(merged.call()) - np.asarray(bare.call())).max() > 1e-6
    finally:
        model.delete_adapter("b")


def test_matmul_peak():
    out = jax_side.matmul_peak(n=64, repeats=3)
    assert out["n"] == 64 and len(out["samples_s"]) == 3 and out["median_s"] > 0
    assert out["gflops"] == 2 * 64 ** 3 / out["median_s"] / 1e9
