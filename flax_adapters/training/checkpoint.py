"""The one module that talks to orbax: step-numbered checkpoints of a training pytree.

What is saved is exactly the pytree handed in — for an adapter run a `TrainState` whose params
are {'adapter', 'head'}, so the checkpoint holds adapters, heads, their optimiser moments, the
step and the RNG key, never the frozen base (a few MB for BERT-base Pfeiffer). Restoring needs
a target of the same structure (concrete or abstract, e.g. from `jax.eval_shape`) built on a
freshly loaded base; the base itself always comes from its own pretrained checkpoint.

Saves are atomic: orbax writes `<step>.orbax-checkpoint-tmp…` and renames it to `<step>` only
when complete (AtomicRenameTemporaryPath, set explicitly below), and its step listing skips tmp
directories, so a crash mid-save leaves the previous checkpoint as the latest.

    with Checkpointer(run_dir / "ckpt", max_to_keep=3) as ckpt:
        ckpt.save(int(state.step), state)
        state = ckpt.restore(jax.eval_shape(lambda: state))     # latest step by default
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.path import atomicity


def _key(entry) -> str:
    """A path entry (dict key, attribute, sequence index) as a plain string key for orbax."""
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _paths(tree) -> tuple[list[tuple[str, ...]], list[Any], Any]:
    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return [tuple(_key(e) for e in path) for path, _ in leaves_with_path], [x for _, x in leaves_with_path], treedef


def _nest(paths, leaves) -> dict:
    """Flat paths -> nested dicts of strings: orbax's native layout for any pytree we hand it
    (NNX State, optax NamedTuples, dataclasses), readable on disk as params/adapter/layers/0/…"""
    root: dict = {}
    for path, leaf in zip(paths, leaves):
        node = root
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = leaf
    return root


def _abstract(x):
    if isinstance(x, jax.ShapeDtypeStruct) and x.sharding is not None:
        return x
    # Restore onto one local device unless the target says otherwise (single-host training).
    sharding = getattr(x, "sharding", None) or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)


def saved_steps(directory: str | os.PathLike) -> list[int]:
    """Steps of the finished checkpoints in `directory` (orbax renames a save to `<step>` only once
    it is complete), without opening a manager (which would create the directory)."""
    d = Path(directory)
    return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.is_dir() else []


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot be restored; the message says which and what to do."""


class Checkpointer:
    """Numbered checkpoints in `directory`, keeping the newest `max_to_keep` (None: all)."""

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int | None = 3, async_save: bool = False):
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save,
            temporary_path_class=atomicity.AtomicRenameTemporaryPath)
        # orbax wants an absolute path; it resolves a relative one against nothing sensible.
        self.directory = os.path.abspath(os.fspath(directory))
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, step: int, tree, *, force: bool = True) -> bool:
        """Saves `tree` as checkpoint `step`; returns whether a checkpoint was written."""
        paths, leaves, _ = _paths(tree)
        saved = self.manager.save(int(step), args=ocp.args.StandardSave(_nest(paths, leaves)), force=force)
        return saved

    def wait(self) -> None:
        """Blocks until an async save has finished (a no-op for synchronous saves)."""
        self.manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def restore(self, target, step: int | None = None):
        """Checkpoint `step` (default: latest) in the structure of `target` (arrays or
        ShapeDtypeStructs); raises FileNotFoundError when there is none."""
        self.wait()
        step = self.latest_step() if step is None else step
        if step is None or step not in self.all_steps():
            raise FileNotFoundError(f"{self.directory}: no checkpoint"
                                    + ("" if step is None else f" for step {step}; steps: {self.all_steps()}"))
        paths, leaves, treedef = _paths(target)
        _quiet_stray_reads()  # before, not after: the stray reads can land before the except clause runs
        try:
            restored = self.manager.restore(step, args=ocp.args.StandardRestore(_nest(paths, [_abstract(x) for x in leaves])))
        except Exception as e:  # orbax raises many kinds (missing files, bad metadata, shape mismatch)
            older = [s for s in self.all_steps() if s < step]
            hint = (f"move {self.directory}/{step} away to resume from step {older[-1]}" if older
                    else f"move {self.directory} away to start the run over")
            first = (str(e).strip().splitlines() or [""])[0][:300]
            raise CheckpointError(f"checkpoint {self.directory}/{step} cannot be restored: damaged (files missing or "
                                  f"cut short) or written by another model ({type(e).__name__}: {first}); {hint}") from e

        def get(path):
            node = restored
            for k in path:
                node = node[k]
            return node

        return jax.tree_util.tree_unflatten(treedef, [get(p) for p in paths])

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _quiet_stray_reads() -> None:
    """Installed by every restore. After a failed restore, tensorstore's other reads of that checkpoint still complete and call
    back into orbax's event loop, which `asyncio.run` has already closed; each callback then prints
    a `RuntimeError: Event loop is closed` traceback as an unraisable exception — noise under the
    one-line error the user should see. Only that exception is dropped; every other unraisable one
    reaches the hook that was installed before."""
    previous = sys.unraisablehook
    if getattr(previous, "_drops_closed_loop", False):
        return

    def hook(unraisable):
        value = unraisable.exc_value
        if not (isinstance(value, RuntimeError) and str(value) == "Event loop is closed"):
            previous(unraisable)

    hook._drops_closed_loop = True
    sys.unraisablehook = hook
