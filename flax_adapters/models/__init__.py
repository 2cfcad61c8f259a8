"""Base encoders: configs, NNX modules, hook points and Hugging Face checkpoint loading."""

from flax_adapters.models.config import EncoderConfig
from flax_adapters.models.encoder import Encoder, EncoderOutput, Layer
from flax_adapters.models.hooks import LayerHooks
from flax_adapters.models.loading import CheckpointError, load_encoder
from flax_adapters.models.model import EncoderModel, encode

__all__ = ["CheckpointError", "Encoder", "EncoderConfig", "EncoderModel", "EncoderOutput", "Layer",
           "LayerHooks", "encode", "load_encoder"]
