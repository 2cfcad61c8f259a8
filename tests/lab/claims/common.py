"""Helpers of the claims tests: the repository root (configs/claims.py's get_config), synthetic run
records and step costs, and synthetic GLUE files (SST-2 and STS-B)."""

import sys
from pathlib import Path

import numpy as np

from flax_adapters_lab.claims import plan

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from configs.claims import get_config  # noqa: E402,F401


STOPPED = {"status": "early_stopped"}  # a converged run's summary


def _records(cfg, kept_at, removed_at):
    """Synthetic records of converged runs: every drop task scores 0.8 without drop; specialised
    runs at n keep `kept_at[n]` (seed 0) and that minus 0.01 (seed 1); the no-drop run scored with
    n layers removed keeps `removed_at[n]`."""
    rec = {}
    for s, seed in enumerate(cfg.seeds):
        for task in cfg.drop_tasks:
            for n in cfg.drops:
                rec[plan.drop_name(cfg, task, n, seed)] = {"score": 0.8 * (kept_at[n] - 0.01 * s) if n else 0.8,
                                                          "summary": dict(STOPPED)}
            rec[plan.drop_name(cfg, task, 0, seed)]["scores_at"] = {str(n): 0.8 * removed_at[n] for n in plan.grid(cfg)}
    return rec


def _costs(reference, ratios):
    return {"reference": reference, "rounds": 12, "steps": 4, "variants": {},
            "ratios": {n: {"value": v, "ci": [v * 0.98, v * 1.02]} for n, v in ratios.items()}}


def write_glue(root: Path, n_train=256, n_dev=64) -> Path:
    """Synthetic SST-2 (learnable: the first word carries the label) and STS-B in GLUE layout."""
    rng = np.random.default_rng(0)
    pos, neg, filler = ["good", "great", "fine"], ["bad", "awful", "dull"], ["the", "film", "was", "a", "plot"]
    for split, n in (("train", n_train), ("dev", n_dev)):
        (root / "SST-2").mkdir(parents=True, exist_ok=True)
        (root / "STS-B").mkdir(parents=True, exist_ok=True)
        sst = ["sentence\tlabel"]
        sts = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
        for i in range(n):
            y = int(rng.integers(0, 2))
            sst.append(" ".join([rng.choice(pos if y else neg), *rng.choice(filler, 4)]) + f"\t{y}")
            a, b = " ".join(rng.choice(filler, 4)), " ".join(rng.choice(filler, 4))
            sts.append(f"{i}\tg\tf\ty\t0\tn\tn\t{a}\t{b}\t{rng.uniform(0, 5):.3f}")
        (root / "SST-2" / f"{split}.tsv").write_text("\n".join(sst) + "\n")
        (root / "STS-B" / f"{split}.tsv").write_text("\n".join(sts) + "\n")
    return root
