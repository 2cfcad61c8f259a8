"""The training loop: steps, periodic evaluation, early stopping, resumable checkpoints, summary.

    summary = train(from_config_dict(get_config("smoke")), "/tmp/run")

A run lives in its workdir: `config.json` (the frozen config; a resumed run must match it),
`checkpoints/<step>` (orbax: train state, best trainable params, the meta record), `metrics.jsonl`,
`summary.json`, and for adapter runs `adapter/` in AdapterHub format. Everything that decides the
future of a run — parameters, optimiser moments, step, RNG key, best-so-far, patience counter,
time accounts — is in the checkpoint, and batches and dropout keys are functions of (seed, step),
so a run killed at any moment and restarted continues to the losses it would have had.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from flax_adapters.data import Batcher, Task, encode_examples, load_examples, score_outputs
from flax_adapters.training import mixture, optim, sharding, tracking
from flax_adapters.training.build import Setup, build, make_steps
from flax_adapters.training.checkpoint import Checkpointer, saved_steps
from flax_adapters.training.config import TrainConfig, from_config_dict
from flax_adapters.training.optim import make_optimizer
from flax_adapters.training.steps import init_state


class DivergedError(RuntimeError):
    """The loss or gradient became NaN/inf; the last good checkpoint is kept."""


def load_data(setup: Setup, cache_dir: Path, data_dir: str | None = None, split: str | None = None,
              with_train: bool = True, with_eval: bool = True) -> dict[str, tuple[Batcher | None, Batcher | None]]:
    """{task: (train Batcher or None, eval Batcher or None)}; `data_dir` / `split` override the config's."""
    cfg = setup.cfg
    tokenizer = setup.model.tokenizer()
    data_dir = cfg.data.data_dir if data_dir is None else data_dir
    pad = dict(pad_id=setup.model.config.pad_token_id, buckets=cfg.data.buckets, packing=cfg.data.packing,
               row_length=cfg.data.pack_length or None, row_multiple=jax.device_count())

    def batcher(task, split_name, limit, **kw):
        examples = load_examples(task, split_name, data_dir=data_dir, language=cfg.data.language)
        if limit and limit < len(examples):
            # A seeded subset, not the first rows: GLUE files are often sorted by source or label.
            examples = examples.select(np.sort(np.random.default_rng(cfg.seed).permutation(len(examples))[:limit]))
        encoded = encode_examples(task, examples, tokenizer, cfg.data.max_length, cache_dir=cache_dir,
                                  doc_stride=cfg.data.doc_stride)
        return Batcher(encoded, **kw, **pad)

    return {t.name: (batcher(t, "train", cfg.data.max_train_examples, batch_size=cfg.batch_size, seed=cfg.seed,
                             group_by_length=cfg.data.group_by_length) if with_train else None,
                     batcher(t, split or cfg.data.eval_split, cfg.data.max_eval_examples,
                             batch_size=cfg.eval_batch_size, shuffle=False, drop_last=False) if with_eval else None)
            for t in setup.tasks}


def evaluate(task: Task, eval_step, params, batches: Batcher) -> dict[str, float]:
    """Dev metrics of `params` on one task (+ 'loss', computed on the host from the kept rows'
    logits); the task's family scores them (data.score_outputs: per word for tagging, per
    question over all its windows for QA)."""
    indices, outputs = [], []
    for batch in batches.eval_batches(sort_by_length=True):
        keep = np.asarray(batch.pop("example_mask"))
        index = batch.pop("example_index")
        batch.pop("labels")  # the loss is computed on the host, from the family's own labels
        outputs.append(np.asarray(eval_step(params, batch)["logits"], np.float32)[keep])
        indices.append(np.asarray(index)[keep])
    return score_outputs(task, batches.encoded, indices, outputs)


def evaluate_all(setup: Setup, steps: dict, params, data: dict) -> tuple[float, dict]:
    """(score, {task: metrics}): the score early stopping watches is the mean of the tasks' main
    metrics (just the main metric for one task)."""
    scores = {t.name: evaluate(t, steps[t.name][1], params, data[t.name][1]) for t in setup.tasks}
    return float(np.mean([scores[t.name][t.main_metric] for t in setup.tasks])), scores


def plan(setup: Setup, data: dict) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(task index per step, batch number per step, total steps, steps per epoch). One epoch is a
    pass over every task's data (with replay: over the new task's data)."""
    cfg = setup.cfg
    sizes = {name: train.steps_per_epoch for name, (train, _) in data.items()}
    replay = cfg.data.replay_fraction
    per_epoch = (int(round(sizes[setup.task.name] / (1 - replay))) if replay else sum(sizes.values()))
    total = cfg.max_steps or cfg.num_epochs * per_epoch
    order = mixture.schedule(sizes, total, cfg.seed, cfg.data.temperature, setup.task.name, replay)
    return order, mixture.within_task_index(order), total, per_epoch


def warm_start(setup: Setup, workdir: str | Path) -> None:
    """Starts `setup` from the best parameters of the run in `workdir`: its base and the heads of
    tasks both runs share (adding a task to a trained multi-task model)."""
    if not setup.trains_base:
        raise ValueError("method.init_from continues a fine-tuned base; it needs method.name = 'full'")
    previous, best = restore_best(workdir)
    _check_same_shapes(best["base"], setup.trainable["base"], f"method.init_from {workdir}")
    setup.trainable["base"] = best["base"]
    heads = previous.heads(best)
    shared = {name: heads[name] for name in setup.heads(setup.trainable) if name in heads}
    setup.set_heads(shared)
    logging.info("started from %s: base + heads %s", workdir, sorted(shared))


def _fresh_meta() -> dict:
    # float32/int32 arrays: what orbax stores without x64 (seconds to 1e-7 relative is plenty).
    meta = {k: np.zeros((), np.float32) for k in tracking.ACCOUNTS}
    meta.update(best_metric=np.full((), -np.inf, np.float32), best_step=np.full((), -1, np.int32),
                bad_evals=np.zeros((), np.int32), time_to_best=np.zeros((), np.float32),
                train_to_best=np.zeros((), np.float32))
    return meta


def _check_config(cfg: TrainConfig, workdir: Path) -> bool:
    """Whether `workdir`'s config.json must be (re)written. A run that has a checkpoint resumes only
    with its own config; one that never reached a checkpoint (it failed before training: a bad
    data path, a missing adapter directory) has nothing to resume, so a corrected config replaces it."""
    path = workdir / "config.json"
    if not path.exists():
        return True
    stored = json.loads(path.read_text())
    current = json.loads(json.dumps(dataclasses.asdict(cfg)))
    # The mesh is a layout, not part of the run: a run may resume on another one.
    stored, current = _flat(stored), _flat(current)
    diff = sorted(k for k in set(stored) | set(current) if not k.startswith("mesh.") and stored.get(k, "absent")
                  != current.get(k, "absent"))
    if not diff:
        return False
    shown = "; ".join(f"{k}: run {stored.get(k, 'absent')!r}, now {current.get(k, 'absent')!r}" for k in diff[:4])
    shown += f"; and {len(diff) - 4} more" if len(diff) > 4 else ""
    steps = saved_steps(workdir / "checkpoints")
    if not steps:
        logging.info("%s: its run never reached a checkpoint; the new config replaces it (%s)", workdir, shown)
        return True
    raise ValueError(f"{workdir} holds a run with a different config ({shown}) that has trained to step "
                     f"{steps[-1]}; resume it with the config in {path}, or use a new --workdir (a run that "
                     "failed before its first checkpoint does not lock its workdir)")


def _flat(d: dict, prefix: str = "") -> dict:
    """{"a.b.c": leaf} of nested dicts: a config difference named down to the key."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):  # an empty dict (no options) adds no key: same as absent
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_paths(cfg: TrainConfig) -> None:
    """The directories a config names, checked before anything is built or written."""
    if cfg.data.data_dir is not None and not Path(cfg.data.data_dir).is_dir():
        raise FileNotFoundError(f"config.data.data_dir: {cfg.data.data_dir} is not a directory (a GLUE/XTREME "
                                "layout directory such as ../shared/data/glue, or None for the HF hub)")
    for d in cfg.method.fusion_adapters:
        if not (Path(d) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"config.method.fusion_adapters: {d} is not an adapter directory (no "
                                    "adapter_config.json; adapter runs write <workdir>/adapter)")
    if cfg.method.init_from and not (Path(cfg.method.init_from) / "config.json").is_file():
        raise FileNotFoundError(f"config.method.init_from: {cfg.method.init_from} is not a train.py workdir "
                                "(no config.json)")


def train(cfg: TrainConfig, workdir: str | Path) -> dict:
    """Trains (or resumes) the run of `cfg` in `workdir`; returns the summary also written there."""
    workdir = Path(workdir)
    _check_paths(cfg)
    write_config = _check_config(cfg, workdir) if workdir.is_dir() else True
    mesh = sharding.run_mesh(cfg)  # scaling out (training/sharding.py); fails fast on a bad mesh
    clock = tracking.Clock()
    setup = build(cfg)
    if cfg.method.init_from:
        warm_start(setup, cfg.method.init_from)
    workdir.mkdir(parents=True, exist_ok=True)
    data = load_data(setup, Path(cfg.data.cache_dir or workdir / "cache"))
    order, cursor, total, per_epoch = plan(setup, data)
    if write_config:  # the run really starts: from now on its workdir holds this config
        tracking.write_json(workdir / "config.json", dataclasses.asdict(cfg))
    names = list(data)
    eval_every = cfg.eval_every or per_epoch
    ckpt_every = cfg.checkpoint_every or eval_every
    tx, lr = make_optimizer(cfg.optim, total, setup.trainable)
    # Scaling out: parameters, optimiser state and (in the steps) batches laid out on the mesh.
    sharding.place_setup(setup, mesh)
    steps = sharding.shard_steps(make_steps(setup, tx), mesh)
    state = sharding.place(init_state(setup.trainable, tx, cfg.seed), mesh)
    tree = {"state": state, "best": jax.tree.map(jnp.copy, state.params), "meta": _fresh_meta()}

    ckpt = Checkpointer(workdir / "checkpoints", max_to_keep=cfg.keep_checkpoints)
    if ckpt.latest_step() is not None:
        tree = ckpt.restore(sharding.restore_target(tree, mesh))  # onto this run's mesh, whatever wrote it
        logging.info("resumed %s from step %d", workdir, int(tree["state"].step))
    state, best, meta = tree["state"], tree["best"], {k: np.asarray(v) for k, v in tree["meta"].items()}
    clock = tracking.Clock({a: float(meta[a]) for a in tracking.ACCOUNTS})
    start = int(state.step)
    log = tracking.MetricsLog(workdir / "metrics.jsonl", start)

    def save(step):
        if ckpt.latest_step() == step:  # already saved at this step (evaluation + end of run)
            return
        clock.start("other")
        meta.update({a: np.float32(s) for a, s in clock.seconds.items()})
        ckpt.save(step, {"state": state, "best": best, "meta": meta})

    seen, window, step_times = set(), [], []
    status, step = "completed", start
    finished = bool(cfg.patience and meta["bad_evals"] >= cfg.patience)  # an early-stopped run: nothing to do
    if finished:
        status = "early_stopped"
    if (finished or start >= total) and (workdir / "summary.json").exists():
        # A rerun of a finished run (add_task.py reuses them) trains nothing and keeps its summary:
        # recomputed, it would lose the step times, which live in this process only.
        ckpt.close()
        logging.info("%s is finished; its summary stands", workdir)
        return json.loads((workdir / "summary.json").read_text())
    try:
        for step in range(start + 1, start if finished else total + 1):
            task = names[order[step - 1]]
            train_step = steps[task][0]
            batch = data[task][0].batch(int(cursor[step - 1]))
            drop_n = train_step.draw(step - 1) if hasattr(train_step, "draw") else setup.eval_drop_n
            signature = (task, batch["input_ids"].shape, drop_n)
            t0 = clock.start("train" if signature in seen else "compile")
            state, metrics = train_step(state, setup.frozen, batch)
            loss, grad_norm = float(metrics["loss"]), float(metrics["grad_norm"])  # waits for the step
            dt = clock.start("other") - t0
            if signature in seen:
                step_times.append(dt)
            seen.add(signature)
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                status = "diverged"
                raise DivergedError(f"loss {loss} / grad norm {grad_norm} at step {step} ({task}); stopped, the last "
                                    f"good checkpoint is step {ckpt.latest_step()} in {ckpt.directory}")
            window.append(loss)
            if step % cfg.log_every == 0 or step == total:
                step_s = float(np.median(step_times[-cfg.log_every:])) if step_times else dt
                log.write({"step": step, "kind": "train", "loss": float(np.mean(window)), "grad_norm": grad_norm,
                           "lr": float(lr(step - 1)), "task": task, "drop_n": drop_n, "step_s": step_s,
                           "elapsed_s": clock.elapsed})
                tracking.progress(step, total, float(np.mean(window)), step_s, cfg.batch_size)
                window = []
            if step % eval_every == 0 or step == total:
                clock.start("eval")
                score, scores = evaluate_all(setup, steps, state.params, data)
                clock.start("other")
                if score > meta["best_metric"]:
                    best = jax.tree.map(jnp.copy, state.params)
                    meta.update(best_metric=np.float32(score), best_step=np.int32(step), bad_evals=np.int32(0),
                                time_to_best=np.float32(clock.elapsed), train_to_best=np.float32(clock.seconds["train"]))
                else:
                    meta["bad_evals"] = np.int32(meta["bad_evals"] + 1)
                flat = scores[names[0]] if len(names) == 1 else {"tasks": scores}
                log.write({"step": step, "kind": "eval", "score": score, **flat, "elapsed_s": clock.elapsed})
                logging.info("eval at step %d: %s (best %.4f at %d)", step, scores, meta["best_metric"], meta["best_step"])
            if step % ckpt_every == 0 or step == total:
                save(step)
            if cfg.patience and meta["bad_evals"] >= cfg.patience:
                status = "early_stopped"
                save(step)
                break
    finally:
        ckpt.close()
    summary = _summary(setup, status, step, total, per_epoch, meta, clock, step_times, ckpt, log.path)
    if jax.process_index() == 0:  # multi-process runs: one writer
        setup.export(best, workdir)  # an adapter run's adapter/ in AdapterHub format
    tracking.write_json(workdir / "summary.json", summary)
    return summary


def _summary(setup, status, step, total, per_epoch, meta, clock, step_times, ckpt, log_path) -> dict:
    cfg = setup.cfg
    records = tracking.MetricsLog.read(log_path)
    evals = [r for r in records if r["kind"] == "eval"]
    best_scores = next((r for r in evals if r["step"] == int(meta["best_step"])), {})
    train_logs = [r["step_s"] for r in records if r["kind"] == "train"]
    # A finished run whose summary was never written times no step here: the logged per-window
    # medians stand in for the lost list.
    median = float(np.median(step_times or train_logs)) if step_times or train_logs else None
    latest = ckpt.latest_step()
    return {
        "status": status, "task": setup.task.name, "tasks": [t.name for t in setup.tasks],
        "method": cfg.method.name, "drop": cfg.method.drop, "init_from": cfg.method.init_from,
        "steps": step, "total_steps": total, "steps_per_epoch": per_epoch, "batch_size": cfg.batch_size,
        "main_metric": setup.task.main_metric if len(setup.tasks) == 1 else "mean of the tasks' main metrics", "best": {k: v for k, v in best_scores.items() if k not in ("kind",)},
        "best_step": int(meta["best_step"]), "best_epoch": int(meta["best_step"]) / per_epoch,
        "time_to_best_s": float(meta["time_to_best"]), "train_time_to_best_s": float(meta["train_to_best"]),
        "time_to_stop_s": clock.elapsed, "seconds": dict(clock.seconds),
        "step_time_median_s": median, "examples_per_s": cfg.batch_size / median if median else None,
        "trainable_params": tracking.num_params(setup.trainable),
        "total_params": setup.served_params(),  # base, trained parts, frozen sub-adapters
        "checkpoint_bytes": tracking.directory_bytes(Path(ckpt.directory) / str(latest)) if latest is not None else 0,
        **tracking.peak_memory(),
    }


def restore_best(workdir: str | Path, cfg: TrainConfig | None = None) -> tuple[Setup, dict]:
    """(setup, best trainable params) of a finished or interrupted run in `workdir`."""
    workdir = Path(workdir)
    if cfg is None:
        _check_run_dir(workdir)
        cfg = from_config_dict(json.loads((workdir / "config.json").read_text()))
    setup = build(cfg)
    tx, _ = make_optimizer(cfg.optim, max(cfg.max_steps, 1), setup.trainable)
    state = init_state(setup.trainable, tx, cfg.seed)
    target = {"state": state, "best": state.params, "meta": _fresh_meta()}
    with Checkpointer(workdir / "checkpoints") as ckpt:
        tree = ckpt.restore(jax.eval_shape(lambda: target))
    return setup, tree["best"]


def _check_run_dir(workdir: Path, data_dir: str | None = None) -> None:
    """Refuses a directory that is not a train.py workdir, saying what was expected; an AdapterHub
    adapter directory (a run's `adapter/`, or one from AdapterHub) is the usual mix-up."""
    if (workdir / "config.json").is_file() and (workdir / "checkpoints").is_dir():
        return
    if (workdir / "adapter_config.json").is_file():
        run = workdir.parent if (workdir.parent / "config.json").is_file() else None
        task = json.loads((run / "config.json").read_text()).get("data", {}).get("task") if run else None
        raise ValueError(f"{workdir} is an adapter directory (adapter_config.json), not a train.py workdir; "
                         + (f"pass its run, --workdir={run}, or " if run else "")
                         + f"score the adapter itself with experiments/score.py --adapter={workdir} "
                         f"--task={task or 'TASK'} --data_dir={data_dir or 'DIR'}")
    if not workdir.is_dir():
        raise FileNotFoundError(f"{workdir} does not exist; --workdir must be a train.py workdir "
                                "(config.json, checkpoints/)")
    missing = [n for n in ("config.json", "checkpoints") if not (workdir / n).exists()]
    raise FileNotFoundError(f"{workdir} is not a train.py workdir (no {' or '.join(missing)}); pass the directory "
                            "a train.py run wrote, or score an adapter directory with experiments/score.py --adapter=DIR")


def _check_same_shapes(found, expected, where: str) -> None:
    """Refuses parameters of another model, naming the first tensor that differs."""
    got = {optim.leaf_path(p): x.shape for p, x in jax.tree_util.tree_flatten_with_path(found)[0]}
    want = {optim.leaf_path(p): x.shape for p, x in jax.tree_util.tree_flatten_with_path(expected)[0]}
    for name in sorted(set(got) | set(want)):
        if got.get(name) != want.get(name):
            raise ValueError(f"{where} holds another model: tensor {name} is {got.get(name, 'missing')}, this model "
                             f"has {want.get(name, 'no such tensor')}")


def evaluate_run(workdir: str | Path, data_dir: str | None = None, split: str = "validation") -> dict:
    """Scores a saved run's best parameters on `split` of `data_dir` (GLUE/XTREME layout): the
    task's metrics, or {task: metrics} for a multi-task run."""
    _check_run_dir(Path(workdir), data_dir)
    setup, best = restore_best(workdir)
    steps = make_steps(setup, make_optimizer(setup.cfg.optim, 1, setup.trainable)[0])
    data = load_data(setup, Path(workdir) / "cache", data_dir=data_dir, split=split, with_train=False)
    _, scores = evaluate_all(setup, steps, best, data)
    return scores[setup.task.name] if len(scores) == 1 else scores
