"""Helpers of the serving tests: the tiny tokenizer's words, adapter a's label names, and the pool's
own output for one example (what every answer is compared with)."""

import numpy as np

from tests.adapters.test_pool import SMALL

WORDS = "the a film movie was is not very good bad great awful plot actors fun boring".split()
LABELS = ("neg", "neu", "pos")


def direct(pool, tokenizer, adapter, text):
    """The pool's own logits for one example, alone in its batch (padded to the model's 16
    positions: one shape, so one compiled program, for every text)."""
    enc = tokenizer(text, padding="max_length", max_length=SMALL.max_position_embeddings)
    ids, mask, types = (np.asarray([enc[k]]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    return np.asarray(pool.apply(ids, mask, types, pool.indices([adapter])))[0]
