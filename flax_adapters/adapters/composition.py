"""AdapterHub's composition blocks, passed as the `adapter` of a call:

    from flax_adapters import BatchSplit, Fuse, Parallel, Stack
    out = model(ids, mask, adapter=Stack("en", "ner"))         # MAD-X: language then task adapter; head "ner"
    outs = model(ids, mask, adapter=Parallel("sst2", "rte"))   # one Output per adapter, shared trunk
    out = model(ids, mask, adapter=BatchSplit("sst2", "rte", batch_sizes=[2, 3]))  # rows 0-1 / 2-4
    model.add_fusion(Fuse("a", "b")); out = model(ids, mask, adapter=Fuse("a", "b"))

`Parallel` and `BatchSplit` are `run_parallel` / `run_mixed`; `Fuse` is the fusion slot over those
adapters. `Stack` runs its adapters in sequence at every hook point, as AdapterHub 1.3's
`compose_stack` does for each method:
  bottleneck, Compacter, fusion (sub-layers): each adapter's pre_forward + forward reads the previous
      one's output; the post_forward (residual, LayerNorm) is that of the last adapter present;
  LoRA, (IA)³ (dense layers): each update is computed from the previous update (x for the first)
      and the last is combined with the output: y + Δ_b(Δ_a(x)), y·l_a·l_b;
  prefix tuning (attention keys/values): prefixes prepended in turn, [p_b; p_a; k].
An adapter absent from a point (other location, leave_out, AdapterDrop's drop_n) is skipped there.
The stacked adapters' states are a tuple of pytree arguments of the one jitted `forward` (their
graphdefs a static tuple), so switching between same-structured stacks does not retrace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from flax_adapters.adapters.base import AdapterError, Slot, lookup
from flax_adapters.models.hooks import LayerHooks

# Methods whose adapters can be stacked: AdapterHub's table of Stack support (all of ours), plus
# fusion slots, since AdapterHub allows a Fuse inside a Stack.
STACKABLE = ("bottleneck", "compacter", "fusion", "ia3", "lora", "prefix_tuning")


class CompositionBlock(Sequence):
    """AdapterHub's AdapterCompositionBlock: an ordered list of adapter names (or nested blocks)."""

    allowed: tuple = (str,)  # what may be nested: a subset of AdapterHub's ALLOWED_NESTINGS

    def __init__(self, *children):
        if not children:
            raise AdapterError(f"{type(self).__name__} needs at least one adapter")
        for c in children:
            if not isinstance(c, self.allowed):
                kinds = ", ".join("adapter names" if t is str else t.__name__ for t in self.allowed)
                raise AdapterError(f"{type(self).__name__} cannot hold {c!r}; supported here: {kinds}")
        self.children = list(children)

    def __getitem__(self, i):
        return self.children[i]

    def __len__(self):
        return len(self.children)

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self):
        return f"{type(self).__name__}[{', '.join(map(str, self.children))}]"

    def last(self) -> str:
        c = self.children[-1]
        return c if isinstance(c, str) else c.last()


class Fuse(CompositionBlock):
    """The AdapterFusion over these adapters (added by `add_fusion` or `load_adapter_fusion`)."""

    def __init__(self, *adapters: str, name: str | None = None):
        super().__init__(*adapters)
        self._name = name

    @property
    def name(self) -> str:  # AdapterHub's default fusion name
        return self._name or ",".join(self.children)


class Stack(CompositionBlock):
    """Adapters applied in sequence in every layer (MAD-X's language + task adapters)."""

    allowed = (str, Fuse)  # AdapterHub also nests Split / Parallel / BatchSplit / Average here


class Parallel(CompositionBlock):
    """Every adapter (with its own head) on the same batch; returns one Output per adapter."""


class BatchSplit(CompositionBlock):
    """Rows split between adapters, `batch_sizes` rows each, in order (an int: the same for all)."""

    def __init__(self, *adapters: str, batch_sizes: int | list[int]):
        super().__init__(*adapters)
        sizes = [batch_sizes] * len(adapters) if np.ndim(batch_sizes) == 0 else list(batch_sizes)
        if len(sizes) != len(adapters) or any(int(b) != b or b < 0 for b in sizes):
            raise AdapterError(f"BatchSplit needs one batch size >= 0 per adapter, got {batch_sizes!r}")
        self.batch_sizes = [int(b) for b in sizes]


# --- Stack as a hook combinator --------------------------------------------------------------------
class StackHooks(LayerHooks):
    """One layer's hooks of several adapters, chained as AdapterHub's compose_stack chains them.

    A method that changes `project` or `sublayer` exposes its pieces for this: `stack_project(name)`
    -> (chain(hidden | None, x) -> hidden, com(y, hidden) -> y) and `stack_sublayer(name)` ->
    (run(state, x, ln) -> state, post(state, s, x, ln) -> y); None where it has nothing there.
    `attention_kv` and `activation` compose as plain functions.
    """

    def __init__(self, hooks: Sequence[LayerHooks]):
        for h in hooks:
            for point in ("project", "sublayer"):
                changes = getattr(type(h), point) is not getattr(LayerHooks, point)
                if changes and not hasattr(h, "stack_" + point):
                    raise AdapterError(f"{type(h).__name__} changes {point} but has no stack_{point}: "
                                       "it cannot be stacked")
        self.hooks = list(hooks)

    def _steps(self, point, name):
        found = (getattr(h, "stack_" + point, lambda _: None)(name) for h in self.hooks)
        return [s for s in found if s is not None]

    def project(self, name, x, dense):
        y, steps = dense(x), self._steps("project", name)
        hidden = None
        for chain, _ in steps:
            hidden = chain(hidden, x)
        return steps[-1][1](y, hidden) if steps else y

    def attention_kv(self, k, v, bias):
        for h in self.hooks:
            k, v, bias = h.attention_kv(k, v, bias)
        return k, v, bias

    def sublayer(self, name, s, x, ln):
        steps = self._steps("sublayer", name)
        if not steps:
            return ln(s + x)
        state = s
        for run, _ in steps:
            state = run(state, x, ln)
        return steps[-1][1](state, s, x, ln)

    def activation(self, h):
        for hooks in self.hooks:
            h = hooks.activation(h)
        return h


def stack_hooks(per_adapter: Sequence[Sequence[LayerHooks | None]]) -> list[LayerHooks | None]:
    """Per-layer hooks of stacked adapters (each a per-layer list, drop_n already applied)."""
    layers = []
    for hooks in zip(*per_adapter):
        present = [h for h in hooks if h is not None]
        # One adapter alone at a layer computes exactly what a Stack of one does: use its hooks.
        layers.append(StackHooks(present) if len(present) > 1 else (present or [None])[0])
    return layers


# --- resolving blocks against a model's adapters (the container's call dispatches here) --------------
def fusion_name(adapters: Mapping[str, Slot], fuse: Fuse) -> str:
    """The fusion slot over exactly `fuse`'s adapters (the one named fuse.name first)."""
    for a in fuse.children:
        lookup(adapters, a)
    for name in [fuse.name] + list(adapters):
        config = getattr(adapters.get(name), "config", None)
        if getattr(config, "method", None) == "fusion" and list(config.adapter_names) == fuse.children:
            return name
    raise AdapterError(f"no fusion over {fuse.children}; call model.add_fusion({fuse!r}) (or "
                       "load_adapter_fusion) first")


def resolve(adapters: Mapping[str, Slot], block: Stack | Fuse):
    """(adapter graphdef(s), state(s), default head name) of a Stack or Fuse: a plain slot for a
    Fuse or a one-adapter Stack (the exact string-path computation), tuples for a longer Stack."""
    if isinstance(block, Fuse):
        name = fusion_name(adapters, block)
        return adapters[name].graphdef, adapters[name].params, name
    names = [fusion_name(adapters, c) if isinstance(c, Fuse) else c for c in block.children]
    slots = [lookup(adapters, n) for n in names]
    for n, s in zip(names, slots):
        if s.config.method not in STACKABLE:
            raise AdapterError(f"adapter {n!r} (method {s.config.method!r}) cannot be stacked; Stack "
                               f"supports {', '.join(STACKABLE)}")
    if len(slots) == 1:
        return slots[0].graphdef, slots[0].params, names[0]
    return tuple(s.graphdef for s in slots), tuple(s.params for s in slots), names[-1]


def batch_split_tasks(block: BatchSplit, batch: int) -> np.ndarray:
    """The task index of each row under a BatchSplit block (rows in order, batch_sizes each)."""
    if sum(block.batch_sizes) != batch:
        raise AdapterError(f"BatchSplit batch_sizes {block.batch_sizes} sum to {sum(block.batch_sizes)}, "
                           f"but the batch has {batch} examples")
    return np.repeat(np.arange(len(block)), block.batch_sizes)
