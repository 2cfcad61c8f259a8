"""Config files → frozen TrainConfig, bad keys/values refused with the choices named; optimiser
schedule and the no-decay mask."""

import dataclasses
import importlib.util
from pathlib import Path

import jax
import numpy as np
import pytest

from flax_adapters.training.config import TrainConfig, default_config, from_config_dict
from flax_adapters.training.optim import decay_mask, leaf_path, make_optimizer, schedule
from tests.training.common import tiny_model

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def load_config(name: str, arg: str | None = None):
    spec = importlib.util.spec_from_file_location(name, CONFIGS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config() if arg is None else module.get_config(arg)


@pytest.mark.parametrize("name,arg", [("smoke", None), ("smoke", "full"), ("smoke", "lora"),
                                      ("paper", "xnli,seq_bn,robust"), ("paper", "sst2,lora"),
                                      ("paper", "mrpc,prefix_tuning"), ("minilm_sst2", "full"),
                                      ("minilm_sst2", "seq_bn,static5"), ("minilm_sst2", "lora,padded")])
def test_every_config_file_builds(name, arg):
    cfg = from_config_dict(load_config(name, arg))
    assert isinstance(cfg, TrainConfig)
    hash(cfg.data)  # frozen all the way down where it matters for static use


def test_minilm_sst2_packs_by_default_and_names_a_bad_option():
    packed, padded = (from_config_dict(load_config("minilm_sst2", a)) for a in ("seq_bn", "seq_bn,padded"))
    assert packed.data.packing and not packed.data.group_by_length
    assert not padded.data.packing and padded.data.group_by_length
    with pytest.raises(ValueError, match="option 'pakced'"):
        load_config("minilm_sst2", "seq_bn,pakced")
    with pytest.raises(ValueError, match="option 'static2'"):   # two drop schedules
        load_config("minilm_sst2", "seq_bn,robust,static2")


def test_paper_recipe_is_the_default():
    cfg = from_config_dict(load_config("paper", "xnli,seq_bn,robust"))
    assert (cfg.optim.learning_rate, cfg.optim.weight_decay, cfg.optim.warmup_steps) == (3e-5, 0.1, 2000)
    assert (cfg.num_epochs, cfg.patience, cfg.batch_size) == (50, 3, 32)
    assert cfg.method.drop == "robust" and cfg.method.drop_choices == tuple(range(11))
    assert cfg.method.options == {"reduction_factor": 16}


def test_unknown_key_lists_the_valid_ones():
    c = default_config().to_dict()
    c["optim"]["lr"] = 1e-3
    with pytest.raises(ValueError, match=r"config\.optim\.lr.*learning_rate"):
        from_config_dict(c)


@pytest.mark.parametrize("path,value,match", [
    (("method", "name"), "pfeifer", r"unknown method 'pfeifer'.*seq_bn"),
    (("method", "drop"), "sometimes", r"method.drop 'sometimes'.*robust"),
    (("optim", "schedule"), "exp", r"optim.schedule 'exp'.*cosine"),
    (("batch_size",), 0, "batch_size must be positive"),
    (("optim", "learning_rate"), "fast", r"config.optim.learning_rate must be float"),
])
def test_bad_values_are_named(path, value, match):
    c = default_config().to_dict()
    node = c
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    if path == ("method", "drop"):
        c["method"]["name"] = "seq_bn"
    with pytest.raises(ValueError, match=match):
        from_config_dict(c)


def test_drop_needs_adapters_and_fusion_needs_adapters_to_fuse():
    c = default_config().to_dict()
    c["method"]["drop"] = "static"
    with pytest.raises(ValueError, match="needs adapters"):
        from_config_dict(c)
    c = default_config().to_dict()
    c["method"]["name"] = "fusion"
    with pytest.raises(ValueError, match="fusion_adapters"):
        from_config_dict(c)


def test_no_decay_on_biases_and_layernorms():
    model = tiny_model()
    params = {"base": model.params, "adapter": model.adapters["a"].params, "head": model.heads["a"].params}
    cfg = from_config_dict(default_config()).optim
    flat = {leaf_path(p): m for p, m in jax.tree_util.tree_flatten_with_path(decay_mask(params, cfg.no_decay))[0]}
    assert flat["base/layers/0/query/kernel"] and flat["adapter/layers/0/ffn/down/kernel"]
    assert flat["head/dense/0/kernel"] and flat["base/embeddings/word/embedding"]
    assert not flat["base/layers/0/query/bias"] and not flat["base/layers/1/attn_ln/scale"]
    assert not flat["base/embeddings/ln/scale"] and not flat["adapter/layers/2/ffn/up/bias"]
    # The mask really reaches AdamW: with zero gradients only decayed leaves move.
    tx, _ = make_optimizer(dataclasses.replace(cfg, warmup_steps=0, max_grad_norm=0.0), 10, params)
    zeros = jax.tree.map(np.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    moved = {leaf_path(p): bool(np.any(u != 0)) for p, u in jax.tree_util.tree_flatten_with_path(updates)[0]}
    assert moved["base/layers/0/query/kernel"] and not moved["base/layers/0/query/bias"]
    assert not moved["base/layers/1/ffn_ln/scale"]


def test_schedule_warms_up_then_decays_to_zero():
    cfg = from_config_dict(default_config()).optim
    lr = schedule(dataclasses.replace(cfg, warmup_steps=10, learning_rate=1.0), 110)
    assert float(lr(0)) == 0.0 and float(lr(10)) == pytest.approx(1.0)
    assert float(lr(60)) == pytest.approx(0.5) and float(lr(110)) == pytest.approx(0.0)
    short = schedule(dataclasses.replace(cfg, warmup_steps=2000, learning_rate=1.0), 50)
    assert max(float(short(s)) for s in range(50)) == pytest.approx(1.0)  # warmup capped by the run
