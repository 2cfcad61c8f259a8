"""Where each example sits in a packed batch, and the per-example views heads read.

A packed batch holds several examples per row (data/packing.py builds it): `segment_ids` [R, L]
tells the encoder which tokens attend to which (models/encoder.py), and `Packing` says where
example e lives: row `rows[e]`, columns `starts[e]` … `starts[e] + lengths[e] − 1`. After the
encoder, heads never see rows: sequence heads get each example's first token ([E, 1, H]: the
[CLS] vector, pooled or not), token heads a window of L columns starting at its first token
([E, L, H]: the example's tokens, then whatever follows it in the row — masked by `lengths`
in the loss, and labelled IGNORE_INDEX for tagging). The outputs thus have the unpacked shapes:
loss, metrics and scoring code are the same for packed and padded batches.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class Packing:
    segment_ids: jax.Array  # int32 [R, L]: 0 padding, k > 0 the k-th example of the row
    rows: jax.Array         # int32 [E]: the row of each example
    starts: jax.Array       # int32 [E]: its first column
    lengths: jax.Array      # int32 [E]: its number of tokens

    @classmethod
    def of(cls, batch: dict) -> "Packing | None":
        """The packing of a batch dict (None for a padded batch)."""
        if "segment_ids" not in batch:
            return None
        return cls(batch["segment_ids"], batch["example_rows"], batch["example_starts"], batch["example_lengths"])

    def first_tokens(self, hidden: jax.Array) -> jax.Array:
        """[R, L, H] -> [E, 1, H]: each example's first token (what unpadded [CLS] heads read)."""
        return hidden[self.rows, self.starts][:, None]

    def windows(self, hidden: jax.Array) -> jax.Array:
        """[R, L, H] -> [E, L, H]: L columns from each example's first token (clipped at the row's
        end; columns past the example's length belong to other examples or padding)."""
        width = hidden.shape[1]
        cols = jnp.minimum(self.starts[:, None] + jnp.arange(width)[None, :], width - 1)
        return hidden[self.rows[:, None], cols]

    def token_mask(self, width: int) -> jax.Array:
        """[E, width] 1 on each example's own tokens of its window: the padded batch's attention mask."""
        return (jnp.arange(width)[None, :] < self.lengths[:, None]).astype(jnp.int32)
