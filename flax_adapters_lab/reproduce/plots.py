"""The report's PNG plots (matplotlib, Agg backend: no display needed). Each function takes one
section's results and writes one file; it returns the file name, or None when there is nothing
to draw."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def methods(m: dict, out: Path) -> str | None:
    names = list(m.get("trainable_params", {}))
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = range(len(names))
    series = [("JAX", [m["train"].get(f"jax/{n}", {}).get("speedup_vs_full") for n in names]),
              ("PyTorch + AdapterHub", [m["train"].get(f"torch/{n}", {}).get("speedup_vs_full") for n in names]),
              ("bound: XLA FLOPs", [m["train"].get(f"jax/{n}", {}).get("flops_ratio_full_over_this") for n in names])]
    width = 0.8 / len(series)
    for k, (label, ys) in enumerate(series):
        ax.bar([i + k * width for i in x], [y or 0 for y in ys], width, label=label)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks([i + width for i in x], names, rotation=20)
    ax.set_ylabel("training step speed-up vs full FT")
    ax.legend(fontsize=8)
    return _save(fig, out / "methods_train_speedup.png")


def adapterdrop(a: dict, out: Path) -> str | None:
    res = a.get("train", {})
    jax_rows = sorted((r for k, r in res.items() if k.startswith("jax/")), key=lambda r: r["n"])
    if not jax_rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot([r["n"] for r in jax_rows], [r["speedup_vs_n0"] for r in jax_rows], "o-", label="JAX")
    ax.plot([r["n"] for r in jax_rows], [r["cost_model"] for r in jax_rows], "k--", label="cost model 2L/(2L−n)")
    torch_rows = sorted((r for k, r in res.items() if k.startswith("torch/")), key=lambda r: r["n"])
    if torch_rows:
        ax.plot([r["n"] for r in torch_rows], [r["speedup_vs_n0"] for r in torch_rows], "s", label="PyTorch + AdapterHub")
    ax.set_xlabel("layers without adapters (n)")
    ax.set_ylabel("training step speed-up vs n = 0")
    ax.legend(fontsize=8)
    return _save(fig, out / "adapterdrop_train.png")


def parallel(p: dict, out: Path) -> str | None:
    if not p.get("tasks"):
        return None
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for N, res in p["tasks"].items():
        rows = sorted((r for k, r in res.items() if k.startswith("jax/")), key=lambda r: r["n"])
        line, = ax.plot([r["n"] for r in rows], [r["speedup_vs_n0"] for r in rows], "o-", label=f"N = {N}")
        ax.plot([r["n"] for r in rows], [r["cost_model_vs_n0"] for r in rows], "--", color=line.get_color(), lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("shared lower layers (n)")
    ax.set_ylabel("inference speed-up vs n = 0")
    ax.set_title("parallel multi-task inference (dashed: cost model)", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, out / "parallel_inference.png")


def jax_vs_torch(m: dict, out: Path) -> str | None:
    pairs = [(f"{kind}:{k[4:]}", m[kind][f"torch/{k[4:]}"]["median_s"] / r["median_s"])
             for kind in ("train", "infer") for k, r in m[kind].items()
             if k.startswith("jax/") and f"torch/{k[4:]}" in m[kind]]
    if not pairs:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.bar([p[0] for p in pairs], [p[1] for p in pairs])
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(1.7, color="red", lw=0.8, ls="--", label="target 1.7×")
    ax.set_ylabel("PyTorch eager time ÷ JAX time")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    ax.legend(fontsize=8)
    return _save(fig, out / "jax_vs_torch.png")
