"""flax-adapters: adapters and AdapterDrop for BERT-family encoders in JAX/Flax NNX."""

from flax_adapters.adapters import AdapterConfig, AdapterError, AdapterModel, HeadConfig
from flax_adapters.models import CheckpointError, EncoderConfig, EncoderModel, LayerHooks


def from_pretrained(name_or_path, **options) -> AdapterModel:
    """Loads a HF BERT/RoBERTa/XLM-R checkpoint (local directory or hub id/cache).

    `options` override config.json fields, e.g. `compute_dtype="bfloat16"`.
    """
    return AdapterModel.from_pretrained(name_or_path, **options)


__all__ = ["AdapterConfig", "AdapterError", "AdapterModel", "CheckpointError", "EncoderConfig", "EncoderModel",
           "HeadConfig", "LayerHooks", "from_pretrained"]
__version__ = "0.1.0"
