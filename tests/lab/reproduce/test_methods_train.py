"""The methods section's four training groups joined into one table (methods_train._results): every
variant listed once, each ratio between groups the product of the groups' own paired ratios."""

import pytest

from flax_adapters_lab import timing
from flax_adapters_lab.reproduce import methods_train

# Step times in seconds, round after round; each group's machine speed differs (drift between groups),
# which the chained ratios must cancel: within a group every variant scales alike.
TRUE = {"jax/full": 4.0, "jax/seq_bn": 2.0, "jax/lora": 2.5,
        "torch/seq_bn": 3.0, "torch/lora": 3.6, "peft/lora": 3.3, "torch/full": 6.0}
GROUPS = {"train": (["jax/full", "jax/seq_bn"], 1.0), "train_jax": (["jax/seq_bn", "jax/lora"], 1.1),
          "train_torch": (["torch/seq_bn", "torch/lora", "peft/lora", "jax/seq_bn"], 0.9),
          "train_torch_full": (["torch/full", "torch/seq_bn"], 1.2)}


def group(names, speed, rounds=6):
    jitter = [1.0, 1.02, 0.99, 1.01, 0.98, 1.0][:rounds]  # the whole round slower or faster
    return {n: {"samples_s": [TRUE[n] * speed * j for j in jitter], "flops": 1e9 * TRUE[n] if n.startswith("jax") else None}
            for n in names}


def joined():
    groups = {name: group(names, speed) for name, (names, speed) in GROUPS.items()}
    twin = groups["train"]["jax/full"]
    groups["train"]["jax/full" + timing.AA] = {"samples_s": [s * 1.001 for s in twin["samples_s"]]}
    return groups, methods_train._results(groups, "jax/seq_bn", "torch/seq_bn")


def test_each_variant_once_with_its_ratios_chained_through_the_anchors():
    groups, out = joined()
    train = out["train"]
    assert list(train) == ["jax/full", "jax/seq_bn", "jax/lora", "torch/seq_bn", "torch/lora", "peft/lora", "torch/full"]
    assert train["jax/seq_bn"] is groups["train"]["jax/seq_bn"]  # the headline group's own timing
    assert set(out["anchors"]) == {"train_jax", "train_torch", "train_torch_full"}
    assert out["aa"]["value"] == pytest.approx(1.001) and "jax/full" + timing.AA not in train
    expect = {"jax/seq_bn": 2.0, "jax/lora": 1.6, "torch/seq_bn": 2.0, "torch/lora": 6 / 3.6, "peft/lora": 6 / 3.3}
    for name, speedup in expect.items():
        lo, hi = train[name]["speedup_vs_full_ci"]
        assert train[name]["speedup_vs_full"] == pytest.approx(speedup) and lo <= speedup * 1.0001 and hi >= speedup * 0.9999, name
    assert train["jax/full"]["speedup_vs_full"] == 1.0 and train["torch/full"]["speedup_vs_full"] == pytest.approx(1.0)
    for name, jax in (("torch/seq_bn", "jax/seq_bn"), ("torch/lora", "jax/lora"), ("peft/lora", "jax/lora"),
                      ("torch/full", "jax/full")):
        assert train[name]["over_jax"] == pytest.approx(TRUE[name] / TRUE[jax]), name
    assert train["jax/lora"]["flops_ratio_full_over_this"] == pytest.approx(4.0 / 2.5)


def test_without_pytorch_only_jax_groups_are_joined():
    groups, _ = joined()
    out = methods_train._results({k: groups[k] for k in ("train", "train_jax")}, "jax/seq_bn", "torch/seq_bn")
    assert set(out["train"]) == {"jax/full", "jax/seq_bn", "jax/lora"} and set(out["anchors"]) == {"train_jax"}
    assert out["train"]["jax/lora"]["speedup_vs_full"] == pytest.approx(1.6)
