"""A benchmark workload (reproduce/workload.py): named model shapes (RoBERTa's padding and positions
included), the host batch both frameworks run (right padding, real lengths in [T/2, T], seeded), and
bad shapes refused nearest name first."""

import numpy as np
import pytest

from flax_adapters_lab.reproduce.workload import SHAPES, Workload


def test_shapes_and_encoder_configs():
    base = Workload().encoder_config()
    assert (base.num_hidden_layers, base.hidden_size, base.num_attention_heads, base.vocab_size) == (12, 768, 12, 30522)
    roberta = Workload("roberta-base").encoder_config()
    assert roberta.model_type == "roberta" and (roberta.pad_token_id, roberta.type_vocab_size) == (1, 1)
    assert roberta.max_position_embeddings == 514
    shallow = Workload("bert-base", layers=3)
    assert shallow.num_layers == 3 and shallow.encoder_config().num_hidden_layers == 3
    assert "3 layers" in shallow.describe() and "3 layers" not in Workload().describe()
    d = Workload("tiny", batch=4, seq_len=16).as_dict()
    assert d["num_layers"] == SHAPES["tiny"][1] and d["description"].endswith("batch 4 × 16 tokens")
    assert Workload(batch=4, seq_len=16).tokens() == 64 and Workload(batch=4, seq_len=16).tokens(batch=2) == 32


def test_host_batch_is_right_padded_and_seeded():
    wl = Workload("roberta-base", batch=16, seq_len=10)
    b = wl.host_batch()
    assert all(b[k].dtype == np.int32 and b[k].shape == (16, 10) for k in ("input_ids", "attention_mask",
                                                                            "token_type_ids"))
    lengths = b["attention_mask"].sum(1)
    assert lengths.min() >= 5 and lengths.max() <= 10
    assert np.all(np.diff(b["attention_mask"], axis=1) <= 0)  # ones, then zeros: right padding
    pad = wl.encoder_config().pad_token_id
    assert np.all((b["input_ids"] == pad) == (b["attention_mask"] == 0))  # only padding holds the pad id
    assert set(np.unique(b["labels"])) <= {0, 1} and b["labels"].shape == (16,)
    again, other = wl.host_batch(), wl.host_batch(seed=1)
    assert all(np.array_equal(b[k], again[k]) for k in b) and not np.array_equal(b["input_ids"], other["input_ids"])
    assert wl.host_batch(batch=3)["input_ids"].shape == (3, 10)


def test_hf_config_has_the_same_shape():
    pytest.importorskip("transformers")
    hf = Workload("roberta-base", layers=2).hf_config()
    assert type(hf).__name__ == "RobertaConfig" and (hf.num_hidden_layers, hf.hidden_size, hf.pad_token_id) == (2, 768, 1)


def test_bad_workloads_are_refused():
    with pytest.raises(ValueError, match=r"unknown model shape 'bert-bse'; choose one of \(nearest first\) "
                                         r"\['bert-base'"):
        Workload("bert-bse")
    with pytest.raises(ValueError, match="batch 0 and seq_len 64 must be ≥ 1 and ≥ 2"):
        Workload(batch=0)
    with pytest.raises(ValueError, match="seq_len 1"):
        Workload(seq_len=1)
