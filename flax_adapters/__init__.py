"""flax-adapters: adapters and AdapterDrop for BERT-family encoders in JAX/Flax NNX.

The public API, as README.md's API section shows it:

    import flax_adapters as fa
    model = fa.from_pretrained(path)                  # an AdapterModel
    model.add_adapter("task", "seq_bn")               # any name in fa.METHODS
    out = model(ids, attention_mask=mask, adapter="task")

Below it: `flax_adapters.models` (the encoder, checkpoint loading), `flax_adapters.adapters`
(methods, heads, the container, AdapterHub I/O), `flax_adapters.data` and `flax_adapters.training`.
"""

from flax_adapters.adapters import (METHODS, AdapterConfig, AdapterError, AdapterModel, AdapterPool, BatchSplit, Fuse,
                                    HeadConfig, Output, Parallel, Stack, apply, forward)
from flax_adapters.models import CheckpointError, EncoderConfig, EncoderModel, LayerHooks


def from_pretrained(name_or_path, **options) -> AdapterModel:
    """Loads a HF BERT/RoBERTa/XLM-R checkpoint (local directory or hub id/cache).

    `options` override config.json fields, e.g. `compute_dtype="bfloat16"`.
    """
    return AdapterModel.from_pretrained(name_or_path, **options)


__all__ = ["METHODS", "AdapterConfig", "AdapterError", "AdapterModel", "AdapterPool", "BatchSplit", "CheckpointError",
           "EncoderConfig", "EncoderModel", "Fuse", "HeadConfig", "LayerHooks", "Output", "Parallel", "Stack",
           "apply", "forward", "from_pretrained"]
__version__ = "0.1.0"
