"""Adapter methods, prediction heads and the AdapterModel that holds them by name."""

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError
from flax_adapters.adapters.bottleneck import BottleneckConfig
from flax_adapters.adapters.composition import BatchSplit, Fuse, Parallel, Stack
from flax_adapters.adapters.functional import Output, apply, forward
from flax_adapters.adapters.heads import HeadConfig
from flax_adapters.adapters.model import AdapterModel
from flax_adapters.adapters.registry import METHODS, make_config

__all__ = ["Adapter", "AdapterConfig", "AdapterError", "AdapterModel", "BatchSplit", "BottleneckConfig", "Fuse",
           "HeadConfig", "METHODS", "Output", "Parallel", "Stack", "apply", "forward", "make_config"]
