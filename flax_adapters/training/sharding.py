"""Device meshes and layouts: data parallelism and FSDP over one 2-axis `Mesh` ('data', 'fsdp').

Every batch is split row-wise over both axes (each device sees batch_size / devices rows). A
parameter's layout comes from ONE rules table, `RULES`: a regex over its leaf path
('base/layers/3/intermediate/kernel') names the logical axis of each dim ('embed', 'mlp', ...), and
`LOGICAL_TO_MESH` maps those names to mesh axes. Under FSDP (mesh fsdp > 1) the largest mapped dim
divisible by the fsdp size is sharded over 'fsdp' (one dim per tensor; ZeRO-3 style: stored sharded,
gathered for compute inside the step, `gathered`); everything else -- adapters, heads, biases, LayerNorms, scalars -- is replicated (small).
Optimiser moments sit at paths ending like their parameter's ('opt_state/1/0/mu/base/layers/3/...'),
so the same table gives them their parameter's layout without any shape matching.

    mesh = run_mesh(cfg)                                # all devices, e.g. data 4 x fsdp 2
    place_setup(setup, mesh)                            # trainable + frozen trees; place() takes any pytree
    steps = shard_steps(make_steps(setup, tx), mesh)    # batches placed, state layout pinned in-step
    state = place(init_state(setup.trainable, tx), mesh)

Multi-process runs (one process per host, `distributed.initialize`) use the same calls: every
process holds the same full host batch and contributes its devices' rows
(`jax.make_array_from_callback`), so data loading stays deterministic and process-agnostic.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

AXES = ("data", "fsdp")  # batches split over both: FSDP devices are data-parallel too

# (regex searched in the leaf path, logical axis per dim). First match wins; no match: replicated.
# A rule whose axes do not fit the leaf's rank also means replicated (scalars, odd shapes).
RULES: tuple[tuple[str, tuple | None], ...] = (
    (r"(^|/)(adapter|head|heads)/", None),                          # trained parts: small, replicated
    (r"(^|/)embeddings/word/embedding$", ("vocab", "embed")),
    (r"(^|/)embeddings/(position|token_type)/embedding$", (None, "embed")),
    (r"(^|/)layers/\d+/(query|key|value)/kernel$", ("embed", "heads")),
    (r"(^|/)layers/\d+/attn_out/kernel$", ("heads", "embed")),
    (r"(^|/)layers/\d+/intermediate/kernel$", ("embed", "mlp")),
    (r"(^|/)layers/\d+/output/kernel$", ("mlp", "embed")),
    (r"(^|/)pooler/kernel$", ("embed", "embed")),
)
# Logical name -> mesh axis when FSDP is on (off: every name maps to None, i.e. replicated).
LOGICAL_TO_MESH = {"vocab": "fsdp", "embed": "fsdp", "heads": "fsdp", "mlp": "fsdp"}
_COMPILED = tuple((re.compile(pattern), axes) for pattern, axes in RULES)


def resolve(mesh_cfg, num_devices: int) -> tuple[int, int]:
    """(data, fsdp) sizes of `mesh_cfg` (MeshConfig: -1 = all remaining devices) on `num_devices`."""
    data, fsdp = mesh_cfg.data, mesh_cfg.fsdp
    if data == -1 or fsdp == -1:
        known = fsdp if data == -1 else data
        if num_devices % known:
            raise ValueError(f"mesh: {num_devices} devices do not split into groups of {known} "
                             f"(mesh.data={data}, mesh.fsdp={fsdp})")
        data, fsdp = (num_devices // known, fsdp) if data == -1 else (data, num_devices // known)
    if data * fsdp != num_devices:
        raise ValueError(f"mesh.data x mesh.fsdp = {data} x {fsdp} = {data * fsdp}, but there are "
                         f"{num_devices} devices; set them to multiply to {num_devices} (or one to -1)")
    return data, fsdp


def make_mesh(mesh_cfg, devices=None) -> Mesh:
    """The ('data', 'fsdp') mesh of `mesh_cfg` over `devices` (default: all, every process's)."""
    devices = jax.devices() if devices is None else list(devices)
    shape = resolve(mesh_cfg, len(devices))
    # Auto axes: XLA propagates layouts from the placed inputs and the constraints below.
    # fsdp is the minor axis, so an fsdp group sits on neighbouring devices (one host where it fits).
    return jax.make_mesh(shape, AXES, axis_types=(AxisType.Auto,) * 2, devices=devices)


def check_batch(mesh: Mesh, **sizes: int) -> None:
    """Refuses batch sizes the mesh cannot split evenly, naming the config key."""
    n = mesh.size
    for name, size in sizes.items():
        if size % n:
            raise ValueError(f"{name} {size} does not split over the mesh's {n} devices (data x fsdp = "
                             f"{mesh.shape['data']} x {mesh.shape['fsdp']}); use a multiple of {n}")


def run_mesh(cfg) -> Mesh:
    """The mesh of a TrainConfig, its batch sizes checked against it."""
    mesh = make_mesh(cfg.mesh)
    check_batch(mesh, batch_size=cfg.batch_size, eval_batch_size=cfg.eval_batch_size)
    return mesh


def leaf_path(path) -> str:
    """'params/base/layers/0/query/kernel' for a pytree key path (NNX's `.value` step dropped)."""
    keys = []
    for entry in path:
        name = getattr(entry, "key", getattr(entry, "name", getattr(entry, "idx", entry)))
        if not (isinstance(entry, jax.tree_util.GetAttrKey) and name == "value"):
            keys.append(str(name))
    return "/".join(keys)


def logical_axes(path: str, ndim: int) -> tuple | None:
    """The logical axis names of a leaf from RULES (None: replicated)."""
    for pattern, axes in _COMPILED:
        if pattern.search(path):
            return axes if axes is not None and len(axes) == ndim else None
    return None


def spec(path: str, shape: tuple[int, ...], fsdp: int) -> P:
    """The PartitionSpec of one leaf on a mesh whose fsdp axis has size `fsdp` (1: no FSDP)."""
    axes = logical_axes(path, len(shape))
    if fsdp <= 1 or axes is None:
        return P()
    # One dim per tensor goes over fsdp: the largest that divides evenly (ties: the first).
    candidates = [d for d, name in enumerate(axes) if LOGICAL_TO_MESH.get(name) == "fsdp" and shape[d] % fsdp == 0]
    if not candidates:
        return P()
    best = max(candidates, key=lambda d: (shape[d], -d))
    # Trailing Nones dropped: the form jit gives its outputs, so placed and stepped layouts compare equal.
    return P(*([None] * best), "fsdp")


def tree_specs(tree, fsdp: int):
    """A PartitionSpec per leaf of `tree` (arrays or ShapeDtypeStructs)."""
    return jax.tree_util.tree_map_with_path(lambda p, x: spec(leaf_path(p), np.shape(x), fsdp), tree)


def param_shardings(tree, mesh: Mesh, fsdp: bool | None = None):
    """A NamedSharding per leaf: RULES' layout, FSDP when `fsdp` (default: the mesh's fsdp axis > 1)."""
    size = mesh.shape["fsdp"] if fsdp is None or fsdp else 1
    return jax.tree.map(lambda s: NamedSharding(mesh, s), tree_specs(tree, size))


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    """Rows over ('data', 'fsdp'); the other dims whole."""
    return NamedSharding(mesh, P(AXES, *([None] * (ndim - 1)))) if ndim else NamedSharding(mesh, P())


def _put(x, sharding: NamedSharding):
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    if jax.process_count() == 1 or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return jax.device_put(x, sharding)
    # Multi-process: every process holds the same host value and fills its own devices' blocks
    # (device_put would first check equality across processes with one collective per leaf).
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def place(tree, mesh: Mesh, shardings=None):
    """`tree` laid out on `mesh` (default: `param_shardings`); None leaves and subtrees stay None."""
    if tree is None:
        return None
    shardings = param_shardings(tree, mesh) if shardings is None else shardings
    return jax.tree.map(_put, tree, shardings)


def place_setup(setup, mesh: Mesh) -> None:
    """Lays out a built run's (training.modes.Mode) trainable and frozen trees on `mesh`, in place.
    The model's base then refers to the placed copy, so the unplaced one (whole, on the first
    device) can be freed."""
    setup.trainable, setup.frozen = place(setup.trainable, mesh), place(setup.frozen, mesh)
    setup.model.params = setup.base


def place_batch(batch: dict, mesh: Mesh) -> dict:
    """A host batch (numpy, the same on every process) split row-wise over the mesh."""
    return {k: _put(v, batch_sharding(mesh, np.ndim(v))) for k, v in batch.items()}


def restore_target(tree, mesh: Mesh):
    """ShapeDtypeStructs for `Checkpointer.restore`: each placed leaf keeps its sharding, host
    leaves (numpy) come back replicated. Whatever mesh wrote the checkpoint, it loads onto this one."""
    def target(x):
        sharding = x.sharding if isinstance(x, jax.Array) and isinstance(x.sharding, NamedSharding) \
            else NamedSharding(mesh, P())
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding)
    return jax.tree.map(target, tree)


def _context_mesh():
    mesh = jax.sharding.get_abstract_mesh()
    return None if mesh.empty or tuple(mesh.axis_names) != AXES else mesh


def constrain(tree):
    """Inside a jitted step: pins `tree` (the new train state) to RULES' layout on the mesh set by
    `jax.set_mesh` -- explicit output shardings, so donated buffers are reused in place and the
    layout never drifts between steps. A no-op without a ('data', 'fsdp') mesh in context."""
    mesh = _context_mesh()
    return tree if mesh is None else jax.lax.with_sharding_constraint(tree, tree_specs(tree, mesh.shape["fsdp"]))


def gathered(tree):
    """Inside a jitted step: FSDP-sharded weights whole for the computation (an all-gather each;
    gradients flow back reduce-scattered to the shards). Without it XLA may instead split the
    activations along the weights' sharded dim and reshard them back and forth. A no-op without
    FSDP (replicated weights are whole already)."""
    mesh = _context_mesh()
    if mesh is None or mesh.shape["fsdp"] == 1:
        return tree
    return jax.lax.with_sharding_constraint(tree, jax.tree.map(lambda _: P(), tree))


def _gather(x):
    """A result as host numpy; in multi-process runs the rows of the other processes are fetched."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable and not x.is_fully_replicated:
        from jax.experimental import multihost_utils
        return multihost_utils.process_allgather(x, tiled=True)
    return x


class ShardedStep:
    """A step `(..., batch)` whose host batch is placed on `mesh` and which runs (and traces) with
    the mesh set, so `constrain` applies; eval outputs come back gathered. Other attributes (e.g.
    RobustDropStep.draw) are the wrapped step's."""

    def __init__(self, step: Callable, mesh: Mesh, *, gather: bool = False):
        self.step, self.mesh, self.gather = step, mesh, gather

    def __getattr__(self, name: str) -> Any:
        if name in ("step", "mesh", "gather"):
            raise AttributeError(name)
        return getattr(self.step, name)

    def __call__(self, *args):
        *rest, batch = args
        with jax.set_mesh(self.mesh):
            out = self.step(*rest, place_batch(batch, self.mesh))
        return jax.tree.map(_gather, out) if self.gather else out


def shard_steps(steps: dict, mesh: Mesh) -> dict:
    """make_steps' {task: (train_step, eval_step)} with every step a ShardedStep on `mesh`; on a
    single device in a single process the plain steps (nothing to lay out, no per-step wrapper)."""
    if mesh.size == 1 and jax.process_count() == 1:
        return steps
    return {task: (ShardedStep(train, mesh), ShardedStep(evaluate, mesh, gather=True))
            for task, (train, evaluate) in steps.items()}
