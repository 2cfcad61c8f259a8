"""Training configs (training/config.py): config files → frozen TrainConfig, bad keys/values refused with
the choices named. (`load_config` here is what other tests use to read configs/*.py.)"""

import importlib.util
from pathlib import Path

import pytest

from flax_adapters.training.config import TrainConfig, default_config, from_config_dict

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
