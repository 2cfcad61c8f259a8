"""Which training runs the claims need: one `Run` per train.py workdir, in the order they run.

Every run is an ordinary train-loop run (resumable, with its summary.json), named
`<task>_<method>_<variant>_s<seed>`:

  <task>_<m>_n<k>_s<s>      adapter of method m absent from layers 0…k-1 in training and inference
                            (specialised AdapterDrop; k = 0 is the plain adapter, which is also scored
                            with its lowest layers' adapters removed, and is a fusion source)
  <task>_<m>_robust_s<s>    robust AdapterDrop: n drawn per batch; scored at every n
  <task>_fusion_full_s<s>   AdapterFusion over the sources' n0 seed-0 adapters; scored pruned too
  <task>_fusion_drop<k>_s<s>  the same fusion absent from layers 0…k-1
  conv_<task>_<m>_s<s>      time to convergence: early stopping with patience, per task of `convergence`
                            (where it would repeat <task>_<m>_n0_s<s> exactly, that run is read)
  mt_<tasks>_s<s>           multi-task full fine-tuning over the drop tasks

Runs are ordered by claim, most central first (both seeds of a claim before the next claim), so a
job stopped early has whole claims to report: the no-drop adapters (fusion sources included) and
the AdapterDrop grid at the paper's n, robust AdapterDrop, convergence on the first convergence task,
multi-task, fusion, convergence on the other tasks (the families: long runs), then the rest of the n
grid (which only draws the curve).

`cost_groups` names the runs whose training steps are timed side by side for the convergence-time
verdicts (step_cost.py).
"""

from __future__ import annotations

import dataclasses

from flax_adapters_lab.claims.config import ClaimsConfig

FULL = "full"


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    kind: str             # drop | robust | fusion | convergence | multitask
    task: str
    method: str
    seed: int
    changes: dict         # TrainConfig keys (dotted) → value, on top of the suite's base config
    drop: int = 0         # specialised n, or the fusion's dropped layers
    score_drops: tuple = ()   # after training: the best adapter scored at each of these n
    prune: bool = False   # after training: the fusion pruned to fusion_keep per layer, scored
    needs: tuple = ()     # runs whose adapters this one reads


def drop_name(cfg: ClaimsConfig, task: str, n: int, seed: int) -> str:
    return f"{task}_{cfg.drop_method}_n{n}_s{seed}"


def conv_name(cfg: ClaimsConfig, task: str, method: str, seed: int) -> str:
    """The run a convergence row reads. Where it would train exactly the no-drop adapter run (the
    drop method on a drop task, no convergence-specific training keys: the converged suite), that
    run is read instead of training the same config twice."""
    if method == cfg.drop_method and task in cfg.drop_tasks and not cfg.convergence_train:
        return drop_name(cfg, task, 0, seed)
    return f"conv_{task}_{method}_s{seed}"


def lr(cfg: ClaimsConfig, method: str) -> float:
    return cfg.lr_full if method == FULL else cfg.lr_methods.get(method, cfg.lr_adapter)


def cost_groups(cfg: ClaimsConfig) -> dict[str, tuple[str, ...]]:
    """{group: run names} whose steps are timed side by side, the reference first: per convergence
    task its methods (full FT first), and the multi-task model with the per-task adapters it is
    compared with. Seed-0 runs: a step's cost does not depend on the seed, only on the shapes."""
    s = cfg.seeds[0]
    groups = {f"conv_{t}": tuple(conv_name(cfg, t, m, s) for m in sorted(ms, key=lambda m: m != FULL))
              for t, ms in cfg.conv.items()}
    if cfg.multitask:
        groups["multitask"] = (multitask_name(cfg, s),) + tuple(drop_name(cfg, t, 0, s) for t in multitask_tasks(cfg))
    return groups


def _adapter(cfg: ClaimsConfig, task: str, n: int, seed: int, score_drops=()) -> Run:
    options = {"leave_out": tuple(range(n))} if n else {}
    return Run(drop_name(cfg, task, n, seed), "drop", task, cfg.drop_method, seed,
               {"data.task": task, "method.name": cfg.drop_method, "method.options": options,
                "optim.learning_rate": lr(cfg, cfg.drop_method), "seed": seed}, drop=n, score_drops=score_drops)


def runs(cfg: ClaimsConfig) -> list[Run]:
    """Every run of the suite, in the order they run (stable within a claim: seed-major)."""
    core = {0, cfg.paper_n, min(cfg.paper_n + 1, cfg.num_layers - 1)}
    first = next(iter(cfg.conv), None)

    def rank(r: Run) -> int:
        if r.kind == "drop":
            return 0 if r.drop in core or r.task not in cfg.drop_tasks else 6
        if r.kind == "convergence" and r.task != first:
            return 5
        return {"robust": 1, "convergence": 2, "multitask": 3, "fusion": 4}[r.kind]

    return sorted(_all_runs(cfg), key=rank)


def _all_runs(cfg: ClaimsConfig) -> list[Run]:
    out: list[Run] = []
    all_n = grid(cfg)
    for seed in cfg.seeds:
        for task in cfg.drop_tasks:
            for n in cfg.drops:
                out.append(_adapter(cfg, task, n, seed, score_drops=all_n if n == 0 else ()))
            out.append(Run(f"{task}_{cfg.drop_method}_robust_s{seed}", "robust", task, cfg.drop_method, seed,
                           {"data.task": task, "method.name": cfg.drop_method, "method.drop": "robust",
                            "method.drop_choices": tuple(cfg.robust_choices),
                            "optim.learning_rate": lr(cfg, cfg.drop_method), "seed": seed}, score_drops=all_n))
        if cfg.fusion_targets:
            sources = [drop_name(cfg, t, 0, cfg.seeds[0]) for t in cfg.fusion_sources]
            if seed == cfg.seeds[0]:  # the sources that are no drop task: their own seed-0 adapters
                out += [_adapter(cfg, t, 0, seed) for t in cfg.fusion_sources if t not in cfg.drop_tasks]
            for target in cfg.fusion_targets:
                base = {"data.task": target, "method.name": "fusion", "optim.learning_rate": cfg.lr_fusion,
                        "seed": seed, "method.fusion_adapters": tuple(sources)}  # names: the runner makes paths
                out.append(Run(f"{target}_fusion_full_s{seed}", "fusion", target, "fusion", seed, base,
                               prune=True, needs=tuple(sources)))
                out.append(Run(f"{target}_fusion_drop{cfg.fusion_drop_n}_s{seed}", "fusion", target, "fusion",
                               seed, dict(base, **{"method.drop": "static", "method.drop_n": cfg.fusion_drop_n}),
                               drop=cfg.fusion_drop_n, needs=tuple(sources)))
        for task, methods in cfg.conv.items():
            for method in methods:
                if conv_name(cfg, task, method, seed) == drop_name(cfg, task, 0, seed):
                    continue  # the no-drop adapter run above is this run
                out.append(Run(conv_name(cfg, task, method, seed), "convergence", task, method, seed,
                               {"data.task": task, "method.name": method, "optim.learning_rate": lr(cfg, method),
                                "seed": seed, **dotted(cfg.convergence_train)}))
        if cfg.multitask:
            mt = multitask_tasks(cfg)
            out.append(Run(multitask_name(cfg, seed), "multitask", mt[0], FULL, seed,
                           {"data.task": mt[0], "data.tasks": mt, "method.name": FULL,
                            "optim.learning_rate": cfg.lr_full, "seed": seed, **dotted(cfg.multitask_train)}))
    return out


def grid(cfg: ClaimsConfig) -> tuple:
    """Every n of the AdapterDrop curve: the specialised runs' and the scored ones."""
    return tuple(sorted(set(cfg.drops) | set(cfg.score_drops)))


def multitask_tasks(cfg: ClaimsConfig) -> tuple:
    return tuple(cfg.multitask_tasks or cfg.drop_tasks)


def multitask_name(cfg: ClaimsConfig, seed: int) -> str:
    return f"mt_{'+'.join(multitask_tasks(cfg))}_s{seed}"


def dotted(d: dict, prefix: str = "") -> dict:
    """{'optim': {'learning_rate': 1e-3}} → {'optim.learning_rate': 1e-3} (dotted keys pass through)."""
    out = {}
    for key, value in d.items():
        if isinstance(value, dict) and key not in ("options", "overrides"):
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
