"""The training modes (training/modes.py): which class trains a config, what each keeps trainable
and frozen, that one step moves only the trainable part, what each exports, and the fusion's
frozen sub-adapters (evaluation, served parameter count)."""

import jax
import numpy as np
import optax
import pytest

from flax_adapters.training import modes
from flax_adapters.training.build import build
from flax_adapters.training.steps import init_state, make_loss_fn
from flax_adapters.training.tracking import num_params
from tests.training.common import batch
from tests.training.test_multitask_train import smoke


def _norm(tree) -> float:
    return sum(float(np.abs(np.asarray(x)).sum()) for x in jax.tree_util.tree_leaves(tree))


def _changed(before, after) -> bool:
    return any(not np.array_equal(np.asarray(a), np.asarray(b))
               for a, b in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))


def _one_step(setup):
    """(params before, params after) of one train step of the main task, and its eval outputs."""
    tx = optax.adam(1e-2)
    train, evaluate = setup.make_steps(tx)[setup.task.name]
    data = batch(n=4, vocab=1000)
    data["labels"] = data["labels"] % 2
    before = jax.tree.map(np.asarray, setup.trainable)
    frozen_before = jax.tree.map(np.asarray, setup.frozen)
    state, metrics = train(init_state(setup.trainable, tx), setup.frozen, data)
    assert np.isfinite(float(metrics["loss"]))
    out = evaluate(state.params, data)
    assert out["logits"].shape == (4, 2)
    assert not _changed(frozen_before, setup.frozen), "a step must not touch the frozen argument"
    return before, jax.tree.map(np.asarray, state.params)


@pytest.mark.parametrize("method,tasks,expected", [
    ("full", (), modes.FullFT), ("seq_bn", (), modes.AdapterRun), ("lora", (), modes.AdapterRun),
    ("fusion", (), modes.FusionRun), ("full", ("sst2", "cola"), modes.MultiTaskFT)])
def test_the_config_picks_the_mode(glue, method, tasks, expected):
    extra = {"method.fusion_adapters": ("a", "b")} if method == "fusion" else {}
    cfg = smoke(glue, **{"method.name": method, "data.tasks": tasks}, **extra)
    assert modes.mode_class(cfg, max(len(tasks), 1)) is expected


def test_multitask_adapters_are_refused_in_one_line(glue):
    cfg = smoke(glue, **{"method.name": "seq_bn", "data.tasks": ("sst2", "cola")})
    with pytest.raises(ValueError, match=r"multi-task training .* is full fine-tuning: set method.name = 'full', not 'seq_bn'"):
        build(cfg)


def test_full_ft_trains_base_and_head_and_exports_nothing(glue, tmp_path):
    setup = build(smoke(glue))
    assert isinstance(setup, modes.FullFT) and setup.trains_base and setup.frozen is None
    assert set(setup.trainable) == {"base", "head"} and setup.base is setup.trainable["base"]
    before, after = _one_step(setup)
    assert _changed(before["base"], after["base"]) and _changed(before["head"], after["head"])
    setup.export(after, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert setup.served_params() == num_params(setup.model.params) + num_params(setup.trainable["head"])


def test_adapter_run_keeps_the_base_frozen_and_exports_its_adapter(glue, tmp_path):
    setup = build(smoke(glue, **{"method.name": "seq_bn"}))
    assert isinstance(setup, modes.AdapterRun) and not setup.trains_base
    assert set(setup.trainable) == {"adapter", "head"} and setup.frozen is setup.model.params is setup.base
    before, after = _one_step(setup)
    assert _changed(before["adapter"], after["adapter"]) and _changed(before["head"], after["head"])
    setup.export(after, tmp_path)
    saved = {p.name for p in (tmp_path / "adapter").iterdir()}
    assert {"adapter_config.json", "pytorch_adapter.bin", "head_config.json", "pytorch_model_head.bin"} <= saved


def test_static_and_robust_adapterdrop_steps(glue):
    static = build(smoke(glue, **{"method.name": "seq_bn", "method.drop": "static", "method.drop_n": 1}))
    assert static.eval_drop_n == 1
    robust = build(smoke(glue, **{"method.name": "seq_bn", "method.drop": "robust", "method.drop_choices": (0, 1)}))
    train, _ = robust.make_steps(optax.adam(1e-3))["sst2"]
    assert robust.eval_drop_n == 0 and {train.draw(s) for s in range(40)} == {0, 1}


def test_multitask_heads_and_warm_start_interface(glue):
    setup = build(smoke(glue, **{"data.tasks": ("sst2", "cola")}))
    assert isinstance(setup, modes.MultiTaskFT) and setup.multitask and set(setup.make_steps(optax.sgd(0.1))) == {"sst2", "cola"}
    heads = setup.heads(setup.trainable)
    assert set(heads) == {"sst2", "cola"}
    new = jax.tree.map(lambda x: x + 1, heads["cola"])
    setup.set_heads({"cola": new, "mnli": new})  # a head this run lacks is ignored
    assert set(setup.trainable["heads"]) == {"sst2", "cola"} and setup.trainable["heads"]["cola"] is new


def test_only_the_active_head_gets_gradient(glue):
    setup = build(smoke(glue, **{"data.tasks": ("sst2", "cola")}))
    model = setup.model
    loss_fn = make_loss_fn(model.graphdef, None, model.heads["cola"].graphdef, "classification", full_finetune=True)
    data = batch(n=4, vocab=1000)
    data["labels"] = data["labels"] % 2
    grads = jax.grad(lambda p: modes._one_head(loss_fn, "cola")(p, None, data, None)[0])(setup.trainable)
    assert _norm(grads["heads"]["sst2"]) == 0 and _norm(grads["heads"]["cola"]) > 0 and _norm(grads["base"]) > 0


def test_fusion_trains_the_fusion_only_and_counts_its_frozen_sources(glue, tmp_path):
    sources = []
    for task in ("sst2", "cola"):
        run = build(smoke(glue, **{"method.name": "seq_bn", "data.task": task}))
        run.model.save_adapter(tmp_path / task, task, with_head=False)
        sources.append(str(tmp_path / task))
    setup = build(smoke(glue, **{"method.name": "fusion", "method.fusion_adapters": tuple(sources)}))
    assert isinstance(setup, modes.FusionRun)
    base, subs = setup.frozen
    assert setup.base is base is setup.frozen_base is setup.model.params
    merged = setup.eval_params(setup.trainable)["adapter"]
    assert num_params(merged) == num_params(setup.trainable["adapter"]) + num_params(subs)
    assert setup.served_params() == (num_params(base) + num_params(setup.trainable) + num_params(subs))
    before, after = _one_step(setup)
    assert _changed(before["adapter"], after["adapter"])
