"""Shared-trunk parallel and mixed-task inference equal separate runs, and do not retrace."""

import numpy as np
import pytest

from flax_adapters.adapters import AdapterModel, multitask
from flax_adapters.models import EncoderConfig

CFG = EncoderConfig(vocab_size=60, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=48, max_position_embeddings=32)
TASKS = ["t0", "t1", "t2"]


METHODS = {"seq_bn": dict(reduction_factor=4, init_weights="houlsby"),
           "lora": dict(init_weights="bert", intermediate_lora=True)}  # "bert": B != 0, so LoRA acts


@pytest.fixture(scope="module", params=list(METHODS))
def model(request):
    m = AdapterModel.from_config(CFG, seed=0)
    for i, t in enumerate(TASKS):
        m.add_adapter(t, request.param, seed=10 + i, **METHODS[request.param])
        m.add_head(t, "classification", num_labels=3, seed=20 + i)
    return m


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 60, (5, 9))
    mask = (np.arange(9)[None] < np.array([9, 7, 5, 9, 3])[:, None]).astype(int)
    return ids, mask


@pytest.mark.parametrize("drop_n", [0, 2])
def test_parallel_equals_separate_runs(model, drop_n):
    ids, mask = _batch()
    outs = model.run_parallel(ids, mask, adapters=TASKS, drop_n=drop_n)
    for t, out in zip(TASKS, outs):
        want = model(ids, mask, adapter=t, drop_n=drop_n)
        np.testing.assert_allclose(out.last_hidden_state, want.last_hidden_state, atol=2e-5)
        np.testing.assert_allclose(out.logits, want.logits, atol=2e-5)


@pytest.mark.parametrize("drop_n", [0, 3])
def test_mixed_equals_per_task_runs(model, drop_n):
    ids, mask = _batch(1)
    task_ids = np.array([2, 0, 1, 0, 2])
    out = model.run_mixed(ids, mask, task_ids=task_ids, adapters=TASKS, drop_n=drop_n)
    for i, t in enumerate(task_ids):
        want = model(ids[i:i + 1], mask[i:i + 1], adapter=TASKS[t], drop_n=drop_n)
        np.testing.assert_allclose(out.last_hidden_state[i], want.last_hidden_state[0], atol=2e-5)
        np.testing.assert_allclose(out.logits[i], want.logits[0], atol=2e-5)


def test_no_retrace_across_task_mixes_and_sets(model):
    ids, mask = _batch(2)
    model.run_mixed(ids, mask, task_ids=[0, 1, 2, 0, 1], adapters=TASKS)
    model.run_parallel(ids, mask, adapters=TASKS)
    mixed, parallel = multitask.mixed._cache_size(), multitask.parallel._cache_size()
    model.run_mixed(ids, mask, task_ids=[2, 2, 2, 1, 0], adapters=TASKS)
    model.run_mixed(ids, mask, task_ids=[0, 0, 1, 1, 2], adapters=["t2", "t0", "t1"])
    model.run_parallel(ids, mask, adapters=["t1", "t2", "t0"])
    assert multitask.mixed._cache_size() == mixed and multitask.parallel._cache_size() == parallel


def test_structure_mismatch_is_named(model):
    m = AdapterModel.from_config(CFG, seed=0)
    m.add_adapter("a", "seq_bn")
    m.add_adapter("b", "double_seq_bn")
    with pytest.raises(ValueError, match="adapter 'b' differs in method/options from 'a'"):
        m.run_parallel(*_batch(), adapters=["a", "b"])
    with pytest.raises(ValueError, match="task_ids must be 5 ints"):
        model.run_mixed(*_batch(), task_ids=[0, 1, 5, 0, 0], adapters=TASKS)
