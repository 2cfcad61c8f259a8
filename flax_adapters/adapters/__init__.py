"""Adapter methods, prediction heads, the AdapterModel container and AdapterHub directory I/O.

Modules, in import order (each imports only modules above it; tests/test_imports.py checks this):
  base.py          the method contract (AdapterConfig, Adapter), AdapterError, Slot
  common.py        non-linearities and torch-default initialisers shared by methods and heads
  bottleneck.py, compacter.py, lora.py, ia3.py, prefix.py, fusion.py   one file per method
  heads.py         prediction heads (AdapterHub's layout)
  composition.py   Stack / Fuse / Parallel / BatchSplit blocks; Stack as a hook combinator
  functional.py    the pure `apply` / jitted `forward` every call goes through
  multitask.py     shared-trunk parallel and mixed-task inference
  registry.py      method names -> (Adapter class, default config); builds adapters
  hub_io.py        AdapterHub directories <-> Slots (adapters, heads, fusions)
  model.py         AdapterModel, the container: named adapters, heads and fusions on one encoder
  grouped.py       per-row adapter maths over slot-sorted rows (segment matmuls) for the pool
  pool.py          AdapterPool: K adapters of one method stacked on device, each row naming its own
"""

from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError, Slot
from flax_adapters.adapters.bottleneck import BottleneckConfig
from flax_adapters.adapters.composition import BatchSplit, Fuse, Parallel, Stack
from flax_adapters.adapters.functional import Output, apply, forward
from flax_adapters.adapters.heads import HeadConfig
from flax_adapters.adapters.model import AdapterModel
from flax_adapters.adapters.pool import AdapterPool
from flax_adapters.adapters.registry import METHODS, make_config

__all__ = ["Adapter", "AdapterConfig", "AdapterError", "AdapterModel", "AdapterPool", "BatchSplit", "BottleneckConfig", "Fuse",
           "HeadConfig", "METHODS", "Output", "Parallel", "Slot", "Stack", "apply", "forward", "make_config"]
