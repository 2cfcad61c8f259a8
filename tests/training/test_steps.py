"""Training steps (training/steps.py): gradients reach trainable leaves only, losses fall, no recompiles
on adapter switch; a packed batch trains to the padded batch's losses and evaluates in its order."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flax_adapters.adapters.functional import forward
from flax_adapters.training import adamw, init_state, loss_value, make_eval_step, make_loss_fn, make_train_step
from flax_adapters.data import Batcher
from tests.models.test_packed import ROW, encoding
from tests.training.common import TINY, batch, tiny_model


def _setup(model, name="a", kind="classification", lr=1e-2):
    tx = adamw(lr)
    a, h = model.adapters[name], model.heads[name]
    state = init_state({"adapter": a.params, "head": h.params}, tx)
    step = make_train_step(model.graphdef, a.graphdef, h.graphdef, kind, tx)
    return state, step


def test_gradients_reach_trainable_leaves_only_and_base_is_untouched():
    model = tiny_model()
    a, h = model.adapters["a"], model.heads["a"]
    trainable = {"adapter": a.params, "head": h.params}
    loss_fn = make_loss_fn(model.graphdef, a.graphdef, h.graphdef, "classification")
    # jitted: eager op-by-op differentiation of a whole encoder is needlessly slow.
    grad_fn = jax.jit(jax.grad(lambda p, base, data: loss_fn(p, base, data, jax.random.PRNGKey(0))[0]))
    grads = grad_fn(trainable, model.params, batch())
    # Exactly the adapter + head leaves: same tree structure, nothing of the base.
    assert jax.tree.structure(grads) == jax.tree.structure(trainable)
    assert set(grads) == {"adapter", "head"}
    for path, g in jax.tree_util.tree_flatten_with_path(grads)[0]:
        assert np.any(np.asarray(g) != 0), f"zero gradient at {jax.tree_util.keystr(path)}"

    base_before = jax.tree.map(np.array, model.params)
    state, step = _setup(model)
    for _ in range(5):
        state, _ = step(state, model.params, batch())
    for before, after in zip(jax.tree.leaves(base_before), jax.tree.leaves(model.params)):
        np.testing.assert_array_equal(before, np.asarray(after))  # bit-identical
    moved = [not np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(state.params["adapter"]))]
    assert all(moved) and int(state.step) == 5


def test_adapter_steps_memorise_a_small_batch():
    model = tiny_model()
    state, step = _setup(model)
    a, h = model.adapters["a"], model.heads["a"]
    evaluate = make_eval_step(model.graphdef, a.graphdef, h.graphdef, "classification")
    data = batch()
    first = float(evaluate(state.params, model.params, data)["loss"])
    for _ in range(40):
        state, metrics = step(state, model.params, data)
    assert np.isfinite(float(metrics["loss"]))
    last = evaluate(state.params, model.params, data)
    assert float(last["loss"]) < 0.3 * first
    assert (np.asarray(last["logits"]).argmax(-1) == np.asarray(data["labels"])).mean() >= 0.75
    # Prediction without labels returns logits only, the same ones.
    pred = evaluate(state.params, model.params, {k: v for k, v in data.items() if k != "labels"})
    np.testing.assert_allclose(np.asarray(pred["logits"]), np.asarray(last["logits"]), atol=1e-6)


def test_full_finetune_step_trains_base_and_head():
    model = tiny_model()
    h = model.heads["a"]
    tx = optax.adamw(1e-3)
    state = init_state({"base": model.params, "head": h.params}, tx)
    step = make_train_step(model.graphdef, None, h.graphdef, "classification", tx, full_finetune=True)
    before = jax.tree.map(np.array, model.params)
    data = batch()
    losses = []
    for _ in range(15):
        state, metrics = step(state, None, data)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < losses[0]
    changed = [not np.array_equal(x, np.asarray(y)) for x, y in zip(jax.tree.leaves(before), jax.tree.leaves(state.params["base"]))]
    assert sum(changed) > 0.8 * len(changed)  # nearly all (the unused pooler gets no gradient)


@pytest.mark.parametrize("kind", ["regression", "tagging", "multiple_choice", "question_answering"])
def test_every_loss_kind_trains(kind):
    model = tiny_model(kind=kind, num_labels=5 if kind == "tagging" else 3)
    state, step = _setup(model, kind=kind)
    data = batch(kind, num_labels=5)
    state, metrics = step(state, model.params, data)  # the state is donated: always rebind it
    first = float(metrics["loss"])
    for _ in range(10):
        state, metrics = step(state, model.params, data)
    assert np.isfinite(first) and float(metrics["loss"]) < first


def test_tagging_loss_ignores_minus_100():
    logits = jax.random.normal(jax.random.PRNGKey(0), (2, 4, 5))
    labels = jnp.array([[1, 2, -100, -100], [0, -100, 4, 3]])
    valid = np.asarray(labels) != -100
    logp = np.asarray(jax.nn.log_softmax(logits))
    want = -np.mean([logp[b, t, labels[b, t]] for b in range(2) for t in range(4) if valid[b, t]])
    np.testing.assert_allclose(float(loss_value("tagging", logits, labels)), want, rtol=1e-6)
    assert float(loss_value("tagging", logits, jnp.full((2, 4), -100))) == 0.0  # no NaN


def test_qa_loss_is_adapterhub_s_and_ignores_padding():
    logits = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 2))
    labels = jnp.array([[1, 3], [0, 2]])
    logp = np.asarray(jax.nn.log_softmax(logits, axis=1))
    want = -np.mean([(logp[b, labels[b, 0], 0] + logp[b, labels[b, 1], 1]) / 2 for b in range(2)])
    np.testing.assert_allclose(float(loss_value("question_answering", logits, labels)), want, rtol=1e-6)
    # With the attention mask, padded positions leave the loss unchanged whatever their logits.
    mask = jnp.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0]])
    noisy = jnp.where(mask[..., None] > 0, logits, 50.0)
    a, b = (float(loss_value("question_answering", x, labels, mask)) for x in (logits, noisy))
    assert a == pytest.approx(b, rel=1e-6) and a < float(loss_value("question_answering", noisy, labels))


def test_switching_adapters_does_not_recompile():
    model = tiny_model()
    model.add_adapter("b", "seq_bn", seed=1)
    ids = np.arange(1, 21).reshape(2, 10)
    before = forward._cache_size()
    out_a = model(ids, adapter="a", head=None).last_hidden_state
    out_b = model(ids, adapter="b", head=None).last_hidden_state
    assert forward._cache_size() == before + 1
    assert np.abs(np.asarray(out_a) - np.asarray(out_b)).max() > 0  # really different adapters

    state_a, step = _setup(model, "a")
    state_b = init_state({"adapter": model.adapters["b"].params, "head": model.heads["a"].params}, adamw(1e-2))
    data = batch()
    for _ in range(2):
        state_a, _ = step(state_a, model.params, data)
        state_b, _ = step(state_b, model.params, data)
    assert step._cache_size() == 1


def test_bad_arguments():
    model = tiny_model()
    a = model.adapters["a"]
    with pytest.raises(ValueError, match="unknown loss kind 'ranking'"):
        make_train_step(model.graphdef, a.graphdef, model.heads["a"].graphdef, "ranking", adamw())
    with pytest.raises(ValueError, match="needs a head"):
        make_train_step(model.graphdef, a.graphdef, None, "classification", adamw())


def test_packed_training_has_the_padded_losses():
    """Same examples per step, no dropout: the per-step losses (and so the updates) agree."""
    cfg = dataclasses.replace(TINY, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    for kind in ("classification", "tagging"):
        enc = encoding(kind)
        model = tiny_model("lora", kind, cfg=cfg)
        slot, head = model.adapters["a"], model.heads["a"]
        tx = optax.adam(1e-2)
        losses = {}
        for packing in (False, True):
            batcher = Batcher(enc, 4, seed=0, packing=packing, row_length=ROW, buckets=(ROW,))
            step = make_train_step(model.graphdef, slot.graphdef, head.graphdef, kind, tx)
            state = init_state({"adapter": slot.params, "head": head.params}, tx)
            losses[packing] = []
            for s in range(4):
                state, metrics = step(state, model.params, batcher.batch(s))
                losses[packing].append(float(metrics["loss"]))
        np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5, atol=1e-6)
        assert len(set(np.round(losses[True], 4))) > 1  # it trained


def test_packed_eval_step_keeps_order_and_example_mask():
    enc = encoding("classification")
    model = tiny_model("seq_bn", "classification")
    slot, head = model.adapters["a"], model.heads["a"]
    evaluate = make_eval_step(model.graphdef, slot.graphdef, head.graphdef, "classification")
    params = {"adapter": slot.params, "head": head.params}
    got = {}
    for packing in (False, True):
        rows = []
        for b in Batcher(enc, 3, shuffle=False, drop_last=False, packing=packing, row_length=ROW).eval_batches(True):
            keep, index = b.pop("example_mask"), b.pop("example_index")
            rows += list(zip(index[keep], np.asarray(evaluate(params, model.params, b)["logits"])[keep]))
        got[packing] = np.stack([r for _, r in sorted(rows, key=lambda t: t[0])])
    np.testing.assert_allclose(got[True], got[False], atol=1e-5, rtol=1e-5)
