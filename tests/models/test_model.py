"""EncoderModel (models/model.py): one jitted `encode` over (graphdef, params), so new weights of the
same shapes do not retrace; inputs are checked with the argument named."""

import numpy as np
import pytest

from flax_adapters.models import EncoderModel
from flax_adapters.models import model as model_lib
from tests.models.common import SMALL as CFG
from tests.models.common import small_batch as _batch


def test_new_weights_do_not_retrace():
    m1, m2 = EncoderModel.from_config(CFG, seed=0), EncoderModel.from_config(CFG, seed=1)
    ids, mask = _batch()
    before = model_lib.encode._cache_size()
    m1(ids, mask)
    m2(ids, mask)
    assert model_lib.encode._cache_size() == before + 1
    assert not np.allclose(m1(ids, mask).last_hidden_state, m2(ids, mask).last_hidden_state)


def test_inputs_are_checked_with_the_argument_named():
    ids, mask, types = model_lib.check_inputs(CFG, [[1, 2, 3]], [[1, 1, 0]])
    assert ids.dtype == np.int32 and types.tolist() == [[0, 0, 0]] and mask.tolist() == [[1, 1, 0]]
    for args, match in [(([1, 2],), r"input_ids must be 2-D \[batch, length\], got shape \(2,\)"),
                        (([[1.5, 2.0]],), "input_ids must hold integers, got dtype float64"),
                        ((np.zeros((1, 0), int),), "input_ids is empty"),
                        ((np.ones((1, 33), int),), "input_ids length 33 exceeds the model's 32 positions"),
                        (([[1, 50]],), r"input_ids hold ids outside \[0, 50\)"),
                        (([[1, 2]], [[1, 1, 1]]), r"attention_mask has shape \(1, 3\), input_ids has \(1, 2\)"),
                        (([[1, 2]], None, [[0, 2]]), r"token_type_ids hold ids outside \[0, 2\)")]:
        with pytest.raises(ValueError, match=match):
            model_lib.check_inputs(CFG, *args)
    roberta = CFG.replace(model_type="roberta", pad_token_id=1)  # positions start after the pad id
    with pytest.raises(ValueError, match="input_ids length 31 exceeds the model's 30 positions"):
        model_lib.check_inputs(roberta, np.ones((1, 31), int))
