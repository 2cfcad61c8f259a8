"""`AdapterModel`: a base encoder plus named adapters and heads, one task each.

    model = flax_adapters.from_pretrained(path)
    model.add_adapter("sst2", "seq_bn", reduction_factor=16)
    model.add_head("sst2", "classification", num_labels=2)
    out = model(ids, attention_mask=mask, adapter="sst2")     # out.logits from head "sst2"

Which adapter runs is an argument of the call; its parameters are pytree arguments of one
jitted function (functional.forward), so switching adapters of the same shape never retraces.

The container sits above the methods and the registry: it builds slots through registry.py,
dispatches composition blocks (composition.py), runs tasks together (multitask.py) and reads and
writes AdapterHub directories through hub_io.py, which in turn knows nothing of the container.
"""

from __future__ import annotations

import jax
import numpy as np

from flax_adapters.adapters import composition, fusion, hub_io, multitask, registry
from flax_adapters.adapters.base import Adapter, AdapterConfig, AdapterError, Slot, lookup
from flax_adapters.adapters.functional import Output, forward
from flax_adapters.adapters.heads import HeadConfig, build_head
from flax_adapters.adapters.prefix import PrefixTuningAdapter
from flax_adapters.models.model import EncoderModel, check_inputs


class AdapterModel(EncoderModel):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.adapters: dict[str, Slot] = {}
        self.heads: dict[str, Slot] = {}
        self.merged: str | None = None  # name of the adapter folded into self.params, if any

    # --- adapters and heads -------------------------------------------------------------------
    def add_adapter(self, name: str, method: str | AdapterConfig = "seq_bn", *, seed: int = 0,
                    overwrite: bool = False, **options) -> AdapterConfig:
        """Adds a freshly initialised adapter (AdapterHub's init for the method)."""
        self.check_new_name(self.adapters, name, "adapter", overwrite)
        config = registry.make_config(method, **options)
        self.adapters[name] = registry.build_adapter(config, self.config, seed)
        return config

    def add_head(self, name: str, kind: str = "classification", *, seed: int = 0, overwrite: bool = False,
                 **options) -> HeadConfig:
        self.check_new_name(self.heads, name, "head", overwrite)
        config = HeadConfig(kind=kind, **options)
        self.heads[name] = build_head(config, self.config, seed)
        return config

    def delete_adapter(self, name: str) -> None:
        if self.merged == name:
            self.unmerge_adapter()
        lookup(self.adapters, name, "adapter")
        del self.adapters[name]

    def delete_head(self, name: str) -> None:
        lookup(self.heads, name, "head")
        del self.heads[name]

    @staticmethod
    def check_new_name(table, name, what: str, overwrite: bool) -> None:
        """Raises unless `name` may be added to `table` (the adapters or the heads)."""
        if not isinstance(name, str) or not name:
            raise AdapterError(f"{what} name must be a non-empty string, got {name!r}")
        if name in table and not overwrite:
            raise AdapterError(f"{what} {name!r} exists; pass overwrite=True to replace it")

    def adapter_module(self, name: str) -> Adapter:
        """A live NNX module of adapter `name` (a copy: edits reach the model through its Slot)."""
        return lookup(self.adapters, name, "adapter").module()

    def eject_prefix_tuning(self, name: str) -> None:
        """Replaces prefix-tuning adapter `name` by its flat form (AdapterHub's `eject_prefix_tuning`):
        outputs are unchanged, the reparametrisation MLP is gone."""
        module = self.adapter_module(name)
        if not isinstance(module, PrefixTuningAdapter):
            raise AdapterError(f"adapter {name!r} is not prefix tuning; only prefix tuning can be ejected")
        self.adapters[name] = Slot.of(module.eject())

    # --- merging (LoRA, (IA)³) ----------------------------------------------------------------
    def merge_adapter(self, name: str) -> None:
        """Folds a reparametrisable adapter into the base weights: inference at the bare cost."""
        if self.merged is not None:
            raise AdapterError(f"adapter {self.merged!r} is merged already; unmerge_adapter() first")
        self.params = self.adapter_module(name).merge(self.params)
        self.merged = name

    def unmerge_adapter(self) -> None:
        if self.merged is None:
            raise AdapterError("no adapter is merged")
        self.params = self.adapter_module(self.merged).unmerge(self.params)
        self.merged = None

    # --- the call -----------------------------------------------------------------------------
    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, *, adapter=None,
                 head: str | None = ..., drop_n: int = 0) -> Output:
        """Runs the encoder with `adapter` (None: bare) and `head` (default: the adapter's name
        when such a head exists). `drop_n` skips the adapters of layers 0…drop_n−1.
        `adapter` may be a composition block (composition.py): Stack / Fuse (default head: the
        last adapter's, the fusion's), Parallel (a list of Outputs) or BatchSplit."""
        adapter_def = adapter_params = None
        name = adapter
        if isinstance(adapter, composition.CompositionBlock):
            if self.merged is not None:
                raise AdapterError(f"adapter {self.merged!r} is merged into the base; unmerge_adapter() "
                                   f"before running {adapter!r}")
            if isinstance(adapter, (composition.Parallel, composition.BatchSplit)):
                if head is not ...:
                    raise AdapterError(f"{adapter!r} runs each adapter with its own head; drop head=")
                if isinstance(adapter, composition.Parallel):
                    return self.run_parallel(input_ids, attention_mask, token_type_ids, adapters=adapter.children,
                                             drop_n=drop_n)
                task_ids = composition.batch_split_tasks(adapter, np.shape(input_ids)[0])
                return self.run_mixed(input_ids, attention_mask, token_type_ids, task_ids=task_ids,
                                      adapters=adapter.children, drop_n=drop_n)
            adapter_def, adapter_params, name = composition.resolve(self.adapters, adapter)
        elif adapter is not None:
            slot = lookup(self.adapters, adapter, "adapter")
            if self.merged not in (None, adapter):
                raise AdapterError(f"adapter {self.merged!r} is merged into the base; unmerge_adapter() "
                                   f"before running {adapter!r}")
            if self.merged != adapter:  # a merged adapter already lives in self.params
                adapter_def, adapter_params = slot.graphdef, slot.params
        ids = np.asarray(input_ids)
        head_slot = None
        head_name = (name if name in self.heads else None) if head is ... else head
        if head_name is not None:
            head_slot = lookup(self.heads, head_name, "head")
        shape = ids.shape
        if head_slot is not None and head_slot.config.kind == "multiple_choice":
            # [batch, choices, length] -> [batch·choices, length]; the head folds choices back.
            flat = lambda a: None if a is None else np.asarray(a).reshape(-1, shape[-1])
            ids, attention_mask, token_type_ids = flat(ids), flat(attention_mask), flat(token_type_ids)
        self.check_drop_n(drop_n)
        inputs = check_inputs(self.config, ids, attention_mask, token_type_ids)
        return forward(self.graphdef, self.params, adapter_def, adapter_params,
                       None if head_slot is None else head_slot.graphdef,
                       None if head_slot is None else head_slot.params, *inputs, drop_n=drop_n)

    def check_drop_n(self, drop_n) -> None:
        """AdapterDrop's n must leave the adapter at least one layer: 0 <= drop_n < num layers."""
        layers = self.config.num_hidden_layers
        if isinstance(drop_n, bool) or not isinstance(drop_n, (int, np.integer)) or not 0 <= drop_n < layers:
            raise AdapterError(f"drop_n={drop_n!r} must be an int in [0, {layers}) for this {layers}-layer model "
                               f"(drop_n={layers} would drop the adapter from every layer: run without adapter=)")

    # --- multi-task inference (shared trunk; see multitask.py) ---------------------------------
    def _task_stack(self, adapters):
        if not adapters:
            raise AdapterError("name at least one adapter")
        if self.merged is not None:
            raise AdapterError(f"adapter {self.merged!r} is merged into the base; unmerge_adapter() first")
        slots = [lookup(self.adapters, a, "adapter") for a in adapters]
        if len({s.graphdef for s in slots}) != 1:
            odd = next(a for a, s in zip(adapters, slots) if s.graphdef != slots[0].graphdef)
            raise AdapterError(f"adapter {odd!r} differs in method/options from {adapters[0]!r}; "
                               "tasks run together need adapters of one structure")
        heads = [self.heads.get(a) for a in adapters]
        head_defs = tuple(h.graphdef for h in heads) if all(heads) else None
        head_params = tuple(h.params for h in heads) if all(heads) else None
        return slots[0].graphdef, multitask.stack([s.params for s in slots]), head_defs, head_params

    def run_parallel(self, input_ids, attention_mask=None, token_type_ids=None, *, adapters, drop_n: int = 0):
        """Every adapter (with its head, when all have one) on the same batch, in one pass:
        AdapterHub's `Parallel` block. Returns one Output per adapter, in order."""
        self.check_drop_n(drop_n)
        adapter_def, stacked, head_defs, head_params = self._task_stack(list(adapters))
        inputs = check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        hidden, logits = multitask.parallel(self.graphdef, self.params, adapter_def, stacked, head_defs,
                                            head_params, *inputs, drop_n=drop_n)
        return [Output(hidden[t], None, None if logits is None else logits[t]) for t in range(len(adapters))]

    def run_mixed(self, input_ids, attention_mask=None, token_type_ids=None, *, task_ids, adapters,
                  drop_n: int = 0) -> Output:
        """Example i runs adapter `adapters[task_ids[i]]` (and its head), all in one pass."""
        self.check_drop_n(drop_n)
        adapter_def, stacked, head_defs, head_params = self._task_stack(list(adapters))
        inputs = check_inputs(self.config, input_ids, attention_mask, token_type_ids)
        task_ids = np.asarray(task_ids)
        if task_ids.shape != inputs[0].shape[:1] or task_ids.min() < 0 or task_ids.max() >= len(adapters):
            raise ValueError(f"task_ids must be {inputs[0].shape[0]} ints in [0, {len(adapters)}), got {task_ids}")
        hidden, logits = multitask.mixed(self.graphdef, self.params, adapter_def, stacked, head_defs, head_params,
                                         *inputs, jax.numpy.asarray(task_ids), drop_n=drop_n)
        if logits is not None:  # each example keeps its own task's head (heads of one width)
            widths = {l.shape[1:] for l in logits}
            logits = (np.stack(logits)[task_ids, np.arange(len(task_ids))] if len(widths) == 1
                      else [logits[t][i] for i, t in enumerate(task_ids)])
        return Output(hidden, None, logits)

    # --- AdapterHub directories (hub_io.py) ------------------------------------------------------
    def load_adapter(self, directory, name: str | None = None, *, with_head: bool = True,
                     overwrite: bool = False) -> str:
        """Loads a directory written by AdapterHub's `save_adapter` (or ours); returns its name.
        Nothing changes in the model unless the whole directory loads."""
        name, slot, head = hub_io.read_adapter(directory, self.config, name, with_head=with_head)
        self.check_new_name(self.adapters, name, "adapter", overwrite)
        if head is not None:
            self.check_new_name(self.heads, name, "head", overwrite)
            self.heads[name] = head
        self.adapters[name] = slot
        return name

    def save_adapter(self, directory, name: str, *, with_head: bool = True, torch_format: bool = True) -> None:
        """Writes `name` (and its head) as AdapterHub's own save_adapter does: pytorch_adapter.bin
        (+ pytorch_model_head.bin), what its default load_adapter reads, written without torch;
        torch_format=False: adapter.safetensors instead (AdapterHub: use_safetensors=True)."""
        slot = lookup(self.adapters, name, "adapter")
        head = self.heads.get(name) if with_head else None
        hub_io.write_adapter(directory, name, slot, head, self.config, model_name=str(self.path or ""),
                             torch_format=torch_format)

    # --- AdapterFusion (fusion.py): a fusion is an adapter slot, run as model(ids, adapter=name) ----
    def add_fusion(self, name, adapters=None, *, seed: int = 0, overwrite: bool = False, **options):
        """Fuses bottleneck adapters of one configuration (a copy of their current weights) under
        `name`; options are AdapterHub's AdapterFusionConfig fields (defaults: "dynamic").
        `add_fusion(Fuse("a", "b"))` names it as AdapterHub does: "a,b"."""
        if isinstance(name, composition.Fuse) and adapters is None:
            name, adapters = name.name, name.children
        elif adapters is None or not isinstance(name, str):
            raise AdapterError("call add_fusion(name, [adapters, ...]) or add_fusion(Fuse(*adapters))")
        self.check_new_name(self.adapters, name, "adapter", overwrite)
        slots = {a: lookup(self.adapters, a, "adapter") for a in adapters}
        self.adapters[name] = fusion.build(slots, self.config, seed=seed, **options)
        return self.adapters[name].config

    def load_adapter_fusion(self, directory, name: str | None = None, *, overwrite: bool = False) -> str:
        """Loads AdapterHub's save_adapter_fusion output (its adapters loaded first); returns its name."""
        name, slot = hub_io.read_fusion(directory, self.config, self.adapters, name)
        self.check_new_name(self.adapters, name, "adapter", overwrite)
        self.adapters[name] = slot
        return name

    def save_adapter_fusion(self, directory, name: str, *, torch_format: bool = True) -> None:
        """Writes fusion `name` as AdapterHub's save_adapter_fusion does (file choice as save_adapter)."""
        hub_io.write_fusion(directory, name, lookup(self.adapters, name, "adapter"), self.config,
                            model_name=str(self.path or ""), torch_format=torch_format)
