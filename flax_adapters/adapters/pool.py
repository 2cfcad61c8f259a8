"""`AdapterPool`: many task adapters of one method, with their heads, served from one encoder.

    pool = AdapterPool(model, "seq_bn", HeadConfig("classification", num_labels=2), capacity=8)
    pool.add("sst2", "adapters/sst2")                # an AdapterHub directory (or (Slot, head Slot))
    logits = pool.apply(ids, mask, types, pool.indices(["sst2", "rte", "sst2"]))

Adapter and head weights live stacked on device with a leading slot axis of fixed `capacity`;
each request row names its slot. The jitted program takes the stacks as arguments, so adding,
removing or mixing adapters never recompiles: there is one program per (batch, length) shape
(and per capacity — when every slot is taken the capacity doubles, the one time shapes change).
A removed adapter's slot goes on a free list; a free slot is simply never named.

Two ways to run each row's adapter, chosen by `mode` (both give the model's own outputs):
  gather   each row gathers its weights and the model's own `functional.apply` is vmapped over
           rows (base weights unbatched, so XLA keeps one GEMM per base projection): any method.
  grouped  rows sorted by slot, every adapter matmul a segment matmul over the tokens
           (grouped.py): bottleneck and LoRA only.
Heads are tiny (one token's worth of maths), so they are always gathered per row.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import threading

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from flax_adapters.adapters import grouped, hub_io
from flax_adapters.adapters.base import AdapterConfig, AdapterError, Slot
from flax_adapters.adapters.functional import apply as apply_one
from flax_adapters.adapters.heads import HeadConfig, build_head
from flax_adapters.adapters.model import AdapterModel
from flax_adapters.models.model import check_inputs

MODES = ("gather", "grouped")


def _shapes(params) -> list:
    """(path, shape, dtype) of every leaf: what two adapters must share to stack."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(params)
    return [(jax.tree_util.keystr(p), tuple(x.shape), str(x.dtype)) for p, x in leaves]


# The pool whose apply is running in this thread: tracing counts its compiles.
_CALLER = threading.local()


# The stack is donated: XLA writes the slot in place instead of copying every adapter's weights
# (at BERT-base shape 512 slots of seq_bn + head are 3 GB, copied once per add without donation).
# `apply` dispatches under the pool's lock, so no call is handed a donated array; calls already
# running keep theirs (the runtime orders the write after them).
@functools.partial(jax.jit, donate_argnums=0)
def _write_slot(stacked, new, index):
    return jax.tree.map(lambda s, p: s.at[index].set(p.astype(s.dtype)), stacked, new)


class AdapterPool:
    """K adapters of one method and their heads, stacked in slots on one encoder (see above)."""

    def __init__(self, model: AdapterModel, method: str | AdapterConfig = "seq_bn",
                 head: HeadConfig | None = None, *, capacity: int = 8, mode: str = "gather", **options):
        if mode not in MODES:
            raise AdapterError(f"mode {mode!r}: choose one of {list(MODES)}")
        if model.merged is not None:
            raise AdapterError(f"adapter {model.merged!r} is merged into the base; unmerge_adapter() first")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise AdapterError(f"capacity must be a positive int, got {capacity!r}")
        head = HeadConfig() if head is None else head
        if head.kind == "multiple_choice":
            raise AdapterError("multiple_choice heads reshape the batch and cannot be pooled")
        # The template adapter comes through the container's public API (the registry is the
        # container's and the I/O's): a scratch container sharing, not copying, the base weights.
        scratch = AdapterModel(model.config, model.graphdef, model.params)
        self.config = scratch.add_adapter("template", method, **options)
        if mode == "grouped":
            grouped.check_supported(self.config)
        # Labels are per adapter (kept beside the stack); everything else must match the pool's.
        self.head_template = dataclasses.replace(head, id2label=None)
        adapter, head_slot = scratch.adapters["template"], build_head(self.head_template, model.config)
        self.model, self.mode = model, mode
        self._defs = (adapter.graphdef, head_slot.graphdef)
        self._templates = (_shapes(adapter.params), _shapes(head_slot.params))
        self._stacked = jax.tree.map(lambda p: jnp.zeros((capacity,) + p.shape, p.dtype),
                                     (adapter.params, head_slot.params))
        self._slots: dict[str, int] = {}
        self._heads: dict[str, HeadConfig] = {}
        self._free = list(range(capacity))
        self._lock = threading.RLock()  # the server adds adapters while batches run in a thread
        # Programs traced for this pool's calls: one per input shape and capacity. The jitted
        # function is shared, so a program compiled for an identical pool (same base, method,
        # head, mode, shapes) is reused and not counted.
        self.compiles = 0

    @classmethod
    def from_directories(cls, model: AdapterModel, directories: dict, **kwargs) -> "AdapterPool":
        """A pool of the method and head of the first AdapterHub directory, holding all of them."""
        if not directories:
            raise AdapterError("name at least one adapter directory")
        first, *rest = directories.items()
        name, slot, head = hub_io.read_adapter(first[1], model.config, first[0])
        if head is None:
            raise AdapterError(f"{first[1]}: no head (head_config.json); a pool serves adapters with heads")
        pool = cls(model, slot.config, head.config, **kwargs)
        pool.add(name, (slot, head))
        for name, directory in rest:
            pool.add(name, directory)
        return pool

    # --- the table of adapters ------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return len(jax.tree.leaves(self._stacked)[0])

    @property
    def slot_bytes(self) -> int:
        """Device bytes of one slot (an adapter and its head), what each unit of capacity costs."""
        return sum(int(x.nbytes) for x in jax.tree.leaves(self._stacked)) // self.capacity

    @property
    def names(self) -> list[str]:
        return list(self._slots)

    def index(self, name: str) -> int:
        if name not in self._slots:
            raise AdapterError(f"no adapter named {name!r} in this pool; it has {sorted(self._slots) or 'none'}")
        return self._slots[name]

    def indices(self, names) -> np.ndarray:
        with self._lock:
            return np.asarray([self.index(n) for n in names], np.int32)

    def head_config(self, name: str) -> HeadConfig:
        """Adapter `name`'s head config, its own labels included."""
        self.index(name)
        return self._heads[name]

    def add(self, name: str | None, source, *, overwrite: bool = False) -> int:
        """Puts an adapter and its head in a slot; returns the slot. `source` is an AdapterHub
        directory (read with its head; name None: the saved name) or an (adapter Slot, head Slot)
        pair. Nothing changes unless it fits the pool."""
        if isinstance(source, (str, os.PathLike)):
            name, slot, head = hub_io.read_adapter(source, self.model.config, name)
        elif isinstance(source, tuple) and len(source) == 2 and all(isinstance(s, (Slot, type(None))) for s in source):
            slot, head = source
        else:
            raise AdapterError(f"add {name!r}: give an AdapterHub directory or an (adapter Slot, head Slot) "
                               f"pair, not {type(source).__name__}")
        AdapterModel.check_new_name({}, name, "adapter", False)
        try:
            self._check_fits(name, slot, head)
        except AdapterError as e:  # name the directory too: that is what the caller has to fix
            where = f"{source}: " if isinstance(source, (str, os.PathLike)) else ""
            raise AdapterError(where + str(e)) from None
        with self._lock:
            if name in self._slots and not overwrite:
                raise AdapterError(f"adapter {name!r} is in the pool; pass overwrite=True to replace it")
            stacked, free = self._stacked, list(self._free)
            index = self._slots.get(name)
            if index is None:
                if not free:  # full: double the capacity (the next apply compiles for the new shape)
                    n = self.capacity
                    stacked = jax.tree.map(lambda s: jnp.concatenate([s, jnp.zeros_like(s)]), stacked)
                    free = list(range(n, 2 * n))
                index = free.pop(0)
            self._stacked = _write_slot(stacked, (slot.params, head.params), jnp.int32(index))
            self._free, self._slots[name], self._heads[name] = free, index, head.config
            return index

    def remove(self, name: str) -> None:
        """Frees adapter `name`'s slot (its weights stay until reused; a free slot is never named)."""
        with self._lock:
            index = self.index(name)
            del self._slots[name], self._heads[name]
            self._free = sorted(self._free + [index])

    def _check_fits(self, name, slot: Slot, head: Slot | None) -> None:
        mine = self.config
        if not isinstance(slot, Slot) or not isinstance(slot.config, AdapterConfig):
            raise AdapterError(f"adapter {name!r}: expected an adapter Slot, got {type(slot).__name__}")
        if type(slot.config) is not type(mine):
            raise AdapterError(f"adapter {name!r} is a {slot.config.method!r} adapter ({type(slot.config).__name__}); "
                               f"this pool holds {mine.method!r} adapters ({type(mine).__name__})")
        diff = [f.name for f in dataclasses.fields(mine) if getattr(slot.config, f.name) != getattr(mine, f.name)]
        if diff:
            f = diff[0]
            raise AdapterError(f"adapter {name!r} has {f}={getattr(slot.config, f)!r}; this pool's adapters have "
                               f"{f}={getattr(mine, f)!r}")
        self._check_shapes(name, "adapter", slot.params, self._templates[0])
        if head is None:
            raise AdapterError(f"adapter {name!r} has no head; this pool serves each adapter with its "
                               f"{self.head_template.kind} head")
        if not isinstance(head, Slot) or not isinstance(head.config, HeadConfig):
            raise AdapterError(f"adapter {name!r}: expected a head Slot, got {type(head).__name__}")
        theirs = dataclasses.replace(head.config, id2label=None)
        if theirs != self.head_template:
            f = next(f.name for f in dataclasses.fields(theirs) if getattr(theirs, f.name) != getattr(self.head_template, f.name))
            raise AdapterError(f"adapter {name!r}'s head has {f}={getattr(theirs, f)!r}; this pool's heads have "
                               f"{f}={getattr(self.head_template, f)!r}")
        self._check_shapes(name, "head", head.params, self._templates[1])

    @staticmethod
    def _check_shapes(name, what, params, template) -> None:
        theirs = _shapes(params)
        if theirs != template:
            odd = next((t for t, m in zip(theirs, template) if t != m), None) or (theirs + template)[0]
            raise AdapterError(f"adapter {name!r}'s {what} weights do not fit this pool (first: {odd[0]} "
                               f"{odd[1]} {odd[2]}; was it made for another base model?)")

    # --- running ------------------------------------------------------------------------------------
    def apply(self, input_ids, attention_mask=None, token_type_ids=None, adapter_idx=None) -> jax.Array:
        """Logits of each row's adapter and head: [B, num_labels] (token heads: [B, T, num_labels]).
        Row i runs the adapter in slot adapter_idx[i] (see `indices`)."""
        if self.model.merged is not None:  # the base weights would carry that adapter into every row
            raise AdapterError(f"adapter {self.model.merged!r} is merged into the pool's base; unmerge_adapter() first")
        inputs = check_inputs(self.model.config, input_ids, attention_mask, token_type_ids)
        with self._lock:  # indices checked against, and weights read from, one state of the pool
            idx = self._check_idx(adapter_idx, inputs[0].shape[0])
            stacked = self._stacked
        _CALLER.pool = self
        try:
            return _run(self.model.params, *stacked, *inputs, idx, graphdef=self.model.graphdef, defs=self._defs,
                        mode=self.mode)
        finally:
            _CALLER.pool = None

    def _check_idx(self, adapter_idx, batch: int) -> np.ndarray:
        idx = np.asarray(adapter_idx)
        if idx.shape != (batch,) or not np.issubdtype(idx.dtype, np.integer):
            raise AdapterError(f"adapter_idx must be {batch} ints, one per row; got shape {idx.shape}, "
                               f"dtype {idx.dtype}")
        used = set(self._slots.values())
        for i in idx:
            if not 0 <= i < self.capacity:
                raise AdapterError(f"adapter index {int(i)} is out of range [0, {self.capacity})")
            if int(i) not in used:
                raise AdapterError(f"adapter index {int(i)} is a free slot; in use: {sorted(used) or 'none'}")
        return idx.astype(np.int32)


def _traced(params, adapters, heads, input_ids, attention_mask, token_type_ids, idx, *, graphdef, defs, mode):
    pool = getattr(_CALLER, "pool", None)
    if pool is not None:  # Python runs here only while tracing: one count per compiled program
        pool.compiles += 1
    adapter_def, head_def = defs
    if mode == "gather":
        def row(a, h, ids, mask, types):
            out = apply_one(graphdef, params, adapter_def, a, head_def, h, ids[None], mask[None], types[None])
            return out.logits[0]

        take = lambda tree: jax.tree.map(lambda p: p[idx], tree)
        return jax.vmap(row)(take(adapters), take(heads), input_ids, attention_mask, token_type_ids)
    # grouped: sort rows by slot so each adapter's tokens are one contiguous segment.
    order = jnp.argsort(idx, stable=True)
    idx, input_ids, attention_mask, token_type_ids = (x[order] for x in (idx, input_ids, attention_mask,
                                                                         token_type_ids))
    rows = grouped.Rows.of(idx, len(jax.tree.leaves(adapters)[0]), input_ids.shape[1])
    hooks = grouped.row_hooks(nnx.merge(adapter_def, adapters), rows)
    out = nnx.merge(graphdef, params)(input_ids, attention_mask, token_type_ids, hooks=hooks)

    def head_row(h, hidden, pooled):
        return nnx.merge(head_def, h)(hidden[None], None if pooled is None else pooled[None])[0]

    logits = jax.vmap(head_row)(jax.tree.map(lambda p: p[idx], heads), out.last_hidden_state, out.pooler_output)
    return logits[jnp.argsort(order)]


_run = jax.jit(_traced, static_argnames=("graphdef", "defs", "mode"))
