"""The PyTorch baselines the suite times beside JAX: HF transformers + AdapterHub `adapters`
(every method, AdapterDrop via `leave_out`, `Parallel` multi-task inference) and `peft` for LoRA,
eager and, where asked, under `torch.compile` (its first call, compilation included, is reported
as compile_s and kept out of the timings).

Same workload shapes and the same host batches as the JAX side; random weights (speed does not
depend on them); AdamW over the trainable parameters; dropout on in training, `inference_mode`
for inference. Runs on CUDA when torch sees a GPU, else on the CPU with torch's thread count.
"""

from __future__ import annotations

import os
import time

import numpy as np

from flax_adapters_lab.timing import Variant
from flax_adapters_lab.reproduce.workload import Workload
from flax_adapters.training.tracking import directory_bytes

LEARNING_RATE = 1e-4


def unavailable() -> str | None:
    """Why the baselines cannot run here (None: they can)."""
    try:
        import adapters  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        return f"PyTorch baselines skipped: {e} (install the extra: pip install -e '.[torch]')"
    return None


def info() -> dict:
    import adapters
    import torch
    import transformers

    out = {"torch": torch.__version__, "adapters": adapters.__version__, "transformers": transformers.__version__,
           "device": device(), "threads": torch.get_num_threads()}
    try:
        import peft
        out["peft"] = peft.__version__
    except ImportError:
        out["peft"] = None
    return out


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _tensors(host: dict) -> dict:
    import torch

    return {k: torch.as_tensor(np.asarray(v, np.int64)).to(device()) for k, v in host.items()}


def _flex(wl: Workload, seed: int = 0):
    """An AdapterHub flex model (heads + adapters) of the workload's shape, random weights."""
    import adapters
    import torch

    torch.manual_seed(seed)
    return adapters.AutoAdapterModel.from_config(wl.hf_config())


def _add_head(model, name: str, kind: str, num_labels: int) -> None:
    """AdapterHub's head of `kind`: a classification or tagging head (1 layer for tagging, AdapterHub's
    default, as ours), or its QuestionAnsweringHead (1 dense layer, start/end logits per token)."""
    if kind == "classification":
        model.add_classification_head(name, num_labels=num_labels)
    elif kind == "tagging":
        model.add_tagging_head(name, num_labels=num_labels)
    elif kind == "question_answering":
        model.add_qa_head(name)
    else:
        raise ValueError(f"no AdapterHub head for kind {kind!r}")


def hub_labels(host: dict, kind: str) -> dict:
    """The host batch with AdapterHub's label arguments: its QA head takes start_positions and
    end_positions [B], where ours takes labels [B, 2]; the other heads take `labels` as ours."""
    if kind != "question_answering":
        return host
    out = {k: v for k, v in host.items() if k != "labels"}
    out["start_positions"], out["end_positions"] = host["labels"][:, 0], host["labels"][:, 1]
    return out


def _config(method: str, drop_n: int):
    import adapters

    return adapters.AdapterConfig.load(method, leave_out=list(range(drop_n))) if drop_n else method


def _first_call(fn) -> float:
    """Runs fn once (torch.compile compiles here) and returns its seconds."""
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def _memory(fn) -> int | None:
    """Peak device memory of one call (CUDA only; None on the CPU, where torch keeps no such count)."""
    import torch

    if not torch.cuda.is_available():
        return None
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync()
    return int(torch.cuda.max_memory_allocated())


def _finish(call, compiled: bool, **meta) -> Variant:
    meta["compile_s"] = _first_call(call) if compiled else None
    meta["memory_bytes"] = _memory(call)
    return Variant(call, meta)


class Shared:
    """One AdapterHub flex model for several variants of a timed group: each adds its own adapter
    and head to it and selects them untimed before each call (`Variant.setup`), so the group holds
    one copy of the base weights instead of one per variant (BERT-base: 440 MB each). Built on
    first use, so a group without PyTorch variants builds nothing."""

    def __init__(self, wl: Workload):
        self.wl, self._model = wl, None

    @property
    def model(self):
        if self._model is None:
            self._model = _flex(self.wl)
        return self._model


def borrow(model, donor, *, only_equal: bool = True) -> int:
    """Points `model`'s tensors at `donor`'s under the same name and shape — where they are equal
    (`only_equal`), so a merged weight keeps its own copy — and drops its own copies: a variant
    that cannot run on the Shared model itself (merged, compiled, peft) then holds no second copy
    of the base weights (BERT-base: 440 MB each). Returns the bytes now shared."""
    import torch

    mine = model.state_dict()
    take = {k: v for k, v in donor.state_dict().items()
            if k in mine and mine[k].shape == v.shape and mine[k].dtype == v.dtype
            and (not only_equal or torch.equal(mine[k], v))}
    model.load_state_dict(take, strict=False, assign=True)  # requires_grad stays the model's own
    return sum(v.numel() * v.element_size() for v in take.values())


def train_variant(model, host: dict, compile: bool = False, params: list | None = None) -> Variant:
    """One timed AdamW step over `params` (default: `model`'s trainable parameters); the model is
    put in training mode."""
    import torch

    model.to(device()).train()
    params = [p for p in model.parameters() if p.requires_grad] if params is None else params
    opt = torch.optim.AdamW(params, lr=LEARNING_RATE)
    run = torch.compile(model) if compile else model
    batch = _tensors(host)

    def call():
        run(**batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
    return _finish(call, compile, trainable_params=sum(p.numel() for p in params))


def infer_variant(model, host: dict, compile: bool = False) -> Variant:
    """One timed forward of `model` in eval mode under `inference_mode` (no labels: no loss)."""
    import torch

    model.to(device()).eval()
    run = torch.compile(model) if compile else model
    batch = {k: v for k, v in _tensors(host).items() if k != "labels"}

    def call():
        with torch.inference_mode():
            run(**batch)
        sync()
    return _finish(call, compile)


def train(wl: Workload, method: str | None, host: dict, *, drop_n: int = 0, compile: bool = False,
          shared: Shared | None = None, kind: str = "classification", num_labels: int = 2) -> Variant:
    """One AdamW step: full fine-tuning (method None) or AdapterHub's `train_adapter` on `method`
    (on the `shared` model when given: see Shared), with a head of `kind` (host["labels"] shaped
    as our step takes them: see hub_labels). Full fine-tuning with `shared` trains the shared
    model's base tensors themselves (borrowed: no second copy of the weights); its AdamW updates
    them in place, which moves the weights the group's adapter steps run over, not their speed."""
    host = hub_labels(host, kind)
    if shared is not None and method is not None and not compile:
        return _shared_train(shared.model, method, drop_n, host, kind, num_labels)
    model = _flex(wl)
    _add_head(model, "t", kind, num_labels)
    if shared is not None and method is None:
        borrow(model, shared.model)
    if method is not None:
        model.add_adapter("t", config=_config(method, drop_n))
        model.train_adapter("t")
    return train_variant(model, host, compile)


def _shared_train(model, method: str, drop_n: int, host: dict, kind: str = "classification",
                  num_labels: int = 2) -> Variant:
    name = f"{method}_n{drop_n}"
    model.add_adapter(name, config=_config(method, drop_n))
    _add_head(model, name, kind, num_labels)

    def select():  # freezes all but this adapter (heads stay trainable; only the active one gets grads)
        model.train_adapter(name)
        model.active_head = name
    select()
    own = [p for n, p in model.named_parameters()
           if p.requires_grad and (not n.startswith("heads.") or n.startswith(f"heads.{name}."))]
    variant = train_variant(model, host, params=own)
    variant.setup = select
    return variant


def infer(wl: Workload, method: str | None, host: dict, *, merged: bool = False, compile: bool = False,
          shared: Shared | None = None) -> Variant:
    """A forward with the adapter active (None: bare) and its head; `merged` folds LoRA/(IA)³ in
    (merged and compiled variants get their own model, which borrows from `shared` the base
    tensors merging left equal; the others run on `shared` itself when given)."""
    if shared is not None and not merged and not compile:
        model, name = shared.model, method or "bare"
        if method is not None:
            model.add_adapter(name, config=method)
        model.add_classification_head(name, num_labels=2)

        def select():
            model.set_active_adapters(method)  # None: the bare encoder
            model.active_head = name
        select()
        variant = infer_variant(model, host)
        variant.setup = select
        return variant
    model = _flex(wl)
    model.add_classification_head("t", num_labels=2)
    if method is not None:
        model.add_adapter("t", config=method)
        model.set_active_adapters("t")
        if merged:
            model.merge_adapter("t")
    if shared is not None:  # merging changed its own copies first: only equal tensors are shared
        borrow(model, shared.model)
    return infer_variant(model, host, compile)


def peft_lora(wl: Workload, shared: Shared | None = None, merged: bool = False):
    """peft's LoRA (r 8, α 16 on query/value) over HF's BERT classifier; with `shared`, over the
    shared model's base tensors (`merged`: folded in with merge_and_unload, on a copy of the weights
    that merging writes to)."""
    import peft
    import torch
    import transformers

    torch.manual_seed(0)
    base = transformers.AutoModelForSequenceClassification.from_config(wl.hf_config())
    if shared is not None and not merged:  # the very tensors: peft freezes them and never writes
        borrow(base, shared.model, only_equal=False)
    elif shared is not None:  # the same values, so the weights merging leaves alone can be borrowed after
        base.load_state_dict(shared.model.state_dict(), strict=False)
    lora = peft.LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, target_modules=["query", "value"])
    model = peft.get_peft_model(base, lora)
    if merged:
        model = model.merge_and_unload()
        if shared is not None:
            borrow(model, shared.model)
    return model


def peft_train(wl: Workload, host: dict, shared: Shared | None = None) -> Variant:
    """One AdamW step of a peft LoRA model (r 8, α 16 on query/value; the classifier trains too)."""
    return train_variant(peft_lora(wl, shared), host)


def peft_infer(wl: Workload, host: dict, *, merged: bool = False, shared: Shared | None = None) -> Variant:
    """A forward of the peft LoRA model; `merged` folds LoRA into the base (`merge_and_unload`)."""
    return infer_variant(peft_lora(wl, shared, merged), host)


def parallel(wl: Workload, tasks: int, drop_n: int, host: dict) -> Variant:
    """AdapterHub's `Parallel` over `tasks` Pfeiffer adapters (left out of layers 0…drop_n−1) and
    heads: it replicates the batch at the first layer that has an adapter."""
    from adapters.composition import Parallel

    model = _flex(wl)
    names = [f"t{i}" for i in range(tasks)]
    for name in names:
        model.add_adapter(name, config=_config("seq_bn", drop_n))
        model.add_classification_head(name, num_labels=2)
    model.active_adapters = Parallel(*names)
    return infer_variant(model, host)


def adapterhub_sizes(wl: Workload, methods) -> dict:
    """{method: bytes on disk} of AdapterHub's own `save_adapter` (adapter + its classification
    head) on a random model of the workload's shape: the reference for the storage table."""
    import tempfile

    sizes = {}
    model = _flex(wl)
    with tempfile.TemporaryDirectory() as tmp:
        for m in methods:
            model.add_adapter(m, config=m)
            model.add_classification_head(m, num_labels=2)
            model.save_adapter(os.path.join(tmp, m), m)
            sizes[m] = directory_bytes(os.path.join(tmp, m))
            model.delete_adapter(m)
            model.delete_head(m)
    return sizes


def matmul_peak(n: int = 4096, repeats: int = 5) -> dict:
    """torch's fp32 GEMM rate on an n×n×n product (beside XLA's, for the same machine)."""
    import statistics

    import torch

    a, b = (torch.randn(n, n, device=device()) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        sync()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"n": n, "median_s": median, "gflops": 2 * n ** 3 / median / 1e9, "samples_s": times}
