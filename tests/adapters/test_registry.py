"""The method registry (adapters/registry.py): names -> (Adapter class, default config), options
merged into the default, an unknown name listing the registered ones, configs from AdapterHub
dicts dispatched by their keys, and a fresh adapter built from a config."""

import jax
import pytest

from flax_adapters.adapters import AdapterError, registry
from flax_adapters.adapters.bottleneck import BottleneckAdapter, BottleneckConfig
from flax_adapters.adapters.ia3 import IA3Adapter, IA3Config
from flax_adapters.adapters.lora import LoRAAdapter, LoRAConfig
from flax_adapters.models import EncoderConfig

ENC = EncoderConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=24, max_position_embeddings=16)


def test_names_and_aliases():
    assert {"seq_bn", "double_seq_bn", "par_bn", "lora", "ia3", "prefix_tuning", "compacter", "compacter++",
            "pfeiffer", "houlsby", "parallel"} <= set(registry.METHODS)
    for name, (cls, default) in registry.METHODS.items():
        assert registry.adapter_class(default) is cls, name
    # The paper names are AdapterHub's presets under another name: the same default config.
    assert registry.make_config("pfeiffer") == registry.make_config("seq_bn")
    assert registry.make_config("houlsby") == registry.make_config("double_seq_bn")
    assert registry.make_config("parallel") == registry.make_config("par_bn")


def test_make_config_merges_options_and_names_the_bad_ones():
    cfg = registry.make_config("lora", r=4, attn_matrices=("q", "k"))
    assert isinstance(cfg, LoRAConfig) and (cfg.r, cfg.attn_matrices, cfg.alpha) == (4, ("q", "k"), 8)
    assert registry.make_config(cfg) is cfg and registry.make_config(cfg, r=2).r == 2  # a config object passes
    with pytest.raises(AdapterError, match=r"unknown adapter method 'lorra'; choose one of \[.*'lora'.*\]"):
        registry.make_config("lorra")
    with pytest.raises(AdapterError, match=r"unknown option\(s\) \['rank'\] for method 'lora'; valid: \[.*'r'"):
        registry.make_config("lora", rank=4)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("lora", LoRAAdapter, LoRAConfig())


def test_config_from_hub_dispatches_on_the_keys():
    lora = registry.config_from_hub(dict(LoRAConfig(r=2).to_hub()))
    ia3 = registry.config_from_hub(dict(IA3Config().to_hub()))
    assert type(lora) is LoRAConfig and lora.r == 2 and type(ia3) is IA3Config
    assert type(registry.config_from_hub(registry.make_config("seq_bn").to_hub())) is BottleneckConfig
    with pytest.raises(AdapterError, match="architecture 'union' .* is not supported; supported methods"):
        registry.config_from_hub({"architecture": "union", "configs": []})


def test_build_adapter_is_seeded_and_fits_the_encoder():
    a, b = (registry.build_adapter(registry.make_config("lora", init_weights="bert"), ENC, seed=s) for s in (0, 1))
    assert isinstance(a.module(), LoRAAdapter) and a.num_parameters == b.num_parameters == 2 * 2 * (16 * 8 + 8 * 16)
    same = registry.build_adapter(registry.make_config("lora", init_weights="bert"), ENC, seed=0)
    leaves = lambda s: [x.tolist() for x in jax.tree_util.tree_leaves(s.params)]  # noqa: E731
    assert leaves(a) == leaves(same) and leaves(a) != leaves(b)
    assert isinstance(registry.build_adapter(registry.make_config("ia3"), ENC).module(), IA3Adapter)
    assert isinstance(registry.build_adapter(registry.make_config("seq_bn"), ENC).module(), BottleneckAdapter)
    with pytest.raises(AdapterError, match=r"leave_out \[5\] is outside the model's 2 layers"):
        registry.build_adapter(registry.make_config("seq_bn", leave_out=(5,)), ENC)
