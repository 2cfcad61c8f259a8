"""flax-adapters: adapters and AdapterDrop for BERT-family encoders in JAX/Flax NNX."""

from flax_adapters.adapters import (AdapterConfig, AdapterError, AdapterModel, BatchSplit, Fuse, HeadConfig,
                                    Parallel, Stack)
from flax_adapters.models import CheckpointError, EncoderConfig, EncoderModel, LayerHooks


def from_pretrained(name_or_path, **options) -> AdapterModel:
    """Loads a HF BERT/RoBERTa/XLM-R checkpoint (local directory or hub id/cache).

    `options` override config.json fields, e.g. `compute_dtype="bfloat16"`.
    """
    return AdapterModel.from_pretrained(name_or_path, **options)


__all__ = ["AdapterConfig", "AdapterError", "AdapterModel", "BatchSplit", "CheckpointError", "EncoderConfig",
           "EncoderModel", "Fuse", "HeadConfig", "LayerHooks", "Parallel", "Stack", "from_pretrained"]
__version__ = "0.1.0"
