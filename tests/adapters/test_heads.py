"""Prediction heads (adapters/heads.py): every head kind round-trips through AdapterHub directories in
both directions, logits ≤ 1e-5."""

import numpy as np
import pytest

import flax_adapters as fa
from tests.adapters.hub_utils import batch_for, hub_logits, hub_pair, hub_qa_logits

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("kind", ["classification", "regression", "tagging", "multiple_choice",
                                  "question_answering"])
def test_head_round_trip_with_adapterhub(tmp_path, kind):
    import adapters
    from adapters import SeqBnConfig

    hub, base_dir, adapter_dir = hub_pair(tmp_path, SeqBnConfig(), head=kind)
    if kind == "multiple_choice":  # [batch, choices, length]
        ids, mask, types = (a.reshape(2, 3, -1) for a in batch_for(hub.config, batch=6))
    else:
        ids, mask, types = batch_for(hub.config)
    # AdapterHub returns a QA head's start and end logits apart; ours are [B, T, 2].
    out = lambda m: (np.stack(hub_qa_logits(m, ids, mask, types), axis=-1) if kind == "question_answering"
                     else hub_logits(m, ids, mask, types))
    want = out(hub)

    # AdapterHub -> ours
    model = fa.from_pretrained(base_dir)
    model.load_adapter(adapter_dir)
    got = np.asarray(model(ids, attention_mask=mask, token_type_ids=types, adapter="a").logits)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)

    # ours -> AdapterHub
    model.save_adapter(tmp_path / "ours", "a")
    hub2 = adapters.BertAdapterModel.from_pretrained(base_dir).eval()
    hub2.load_adapter(str(tmp_path / "ours"))  # AdapterHub's default call reads our .bin
    hub2.set_active_adapters("a")
    np.testing.assert_allclose(out(hub2), want, rtol=0, atol=1e-5)

    # ours -> ours
    again = fa.from_pretrained(base_dir)
    again.load_adapter(tmp_path / "ours")
    np.testing.assert_array_equal(np.asarray(again(ids, attention_mask=mask, token_type_ids=types, adapter="a").logits), got)
