"""EncoderConfig (models/config.py): the fields a BERT-family config.json gives, the derived head size,
position style and dtype, refused values named."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from flax_adapters.models import EncoderConfig


def test_config_refuses_unknown_attention():
    with pytest.raises(ValueError, match="attention 'flash'"):
        EncoderConfig(attention="flash")
    assert EncoderConfig().attention == "auto"


def test_shape_checks_and_derived_fields():
    cfg = EncoderConfig(hidden_size=64, num_attention_heads=4)
    assert cfg.head_dim == 16 and cfg.position_style == "absolute" and cfg.dtype == np.float32
    assert cfg.replace(model_type="xlm-roberta").position_style == "roberta"
    assert EncoderConfig(compute_dtype="bfloat16").dtype == jnp.bfloat16
    with pytest.raises(ValueError, match="hidden_size 64 is not divisible by num_attention_heads 5"):
        EncoderConfig(hidden_size=64, num_attention_heads=5)
    with pytest.raises(ValueError, match="model_type 'gpt2' is not supported; choose one of"):
        EncoderConfig(model_type="gpt2")
    with pytest.raises(ValueError, match="compute_dtype 'fp8'"):
        EncoderConfig(compute_dtype="fp8")


def test_from_hf_dict_and_json_file(tmp_path):
    hf = {"hidden_size": 32, "num_attention_heads": 4, "num_hidden_layers": 2, "model_type": "roberta",
          "pad_token_id": 1, "architectures": ["RobertaModel"], "position_embedding_type": "absolute"}
    cfg = EncoderConfig.from_hf_dict(hf, compute_dtype="bfloat16")
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.pad_token_id, cfg.compute_dtype) == (32, 2, 1, "bfloat16")
    (tmp_path / "config.json").write_text(json.dumps(hf))
    assert EncoderConfig.from_json_file(tmp_path / "config.json", compute_dtype="bfloat16") == cfg
    with pytest.raises(ValueError, match="position_embedding_type 'relative_key' is not supported"):
        EncoderConfig.from_hf_dict(dict(hf, position_embedding_type="relative_key"))
    with pytest.raises(TypeError, match=r"unknown config option\(s\) \['hidden'\]"):
        EncoderConfig.from_hf_dict(hf, hidden=3)
