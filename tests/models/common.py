"""Helpers shared by the models/ tests: a small random encoder config and batch, and HF PyTorch's
outputs for the parity checks (torch imported only when they run)."""

import jax
import jax.numpy as jnp

from flax_adapters.models import EncoderConfig

SMALL = EncoderConfig(vocab_size=50, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                      intermediate_size=24, max_position_embeddings=32)


def small_batch():
    ids = jax.random.randint(jax.random.key(1), (2, 7), 1, 50)
    mask = jnp.array([[1] * 7, [1] * 4 + [0] * 3])
    return ids, mask


def _torch_outputs(model, ids, mask, types):
    import torch

    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                    token_type_ids=torch.tensor(types))
    return out.last_hidden_state.numpy(), out.pooler_output.numpy()
