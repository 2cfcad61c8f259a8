"""Packing (data/packing.py): each batch takes the row width that computes the fewest tokens, and a
row shorter than the longest example is refused."""

import pytest

from flax_adapters.data import Batcher
from tests.models.test_packed import tokens


def test_packing_refuses_rows_shorter_than_an_example():
    with pytest.raises(ValueError, match="row_length 8 is shorter than the longest example \\(14 tokens\\)"):
        Batcher(tokens(), 4, packing=True, row_length=8)


def test_each_batch_takes_the_cheapest_row_width():
    from flax_adapters.data.packing import choose_width

    short = [5, 6, 4, 7, 5, 6, 3, 4]  # 40 tokens: 3 rows of 16 (48) save over 1 row of 64 (64)
    width, _, _, rows = choose_width(short, (16, 32, 64), (1, 2, 3, 4, 8))
    assert (width, rows) == (16, 3)
    width, _, _, rows = choose_width(short + [40], (16, 32, 64), (1, 2, 3, 4, 8))  # 40 tokens need 64
    assert (width, rows) == (64, 2)
    enc = tokens()
    packed = Batcher(enc, 8, shuffle=False, packing=True, buckets=(8, 32)).batch(0)  # widths: 8 and max_length 14
    assert packed["input_ids"].shape == (5, 14) and packed["segment_ids"].max() >= 2
