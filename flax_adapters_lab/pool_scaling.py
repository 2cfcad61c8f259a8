"""What does the thousandth task cost? Multi-task serving from one encoder as the number of
adapters K grows: our AdapterPool (flax_adapters/adapters/pool.py) beside PEFT's mixed-adapter
LoRA batches and AdapterHub switching its active adapter per task, timed in the same rounds.

For each model shape and method, K ∈ `ks` adapters sit in one pool; every batch's rows name
adapters drawn uniformly or Zipf-like (p(k) ∝ 1/(k+1)^1.1: a few hot tasks, a long tail). A round
times one batch of every variant (timing.interleaved: fresh order per round), so

    relative throughput at K = time of a batch at K = 1 ÷ time of a batch at K   (paired per round)

is what background load cannot move; its 95% interval comes from resampling rounds (stats.ratio).
Recorded beside: p50 / p95 latency per batch, adapter memory per slot, and the pool's compile count
after the rounds *and* after adding and removing adapters (the claim: zero recompiles across K
within a pool's capacity).

    result = run(Settings(shapes=("minilm",), ks=(1, 8, 64)))
    markdown(result, plot_name="scaling.png"); plot(result, "scaling.png")
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from flax_adapters.adapters import AdapterModel, HeadConfig
from flax_adapters.adapters.pool import AdapterPool
from flax_adapters_lab import provenance, stats, timing
from flax_adapters_lab.reproduce.workload import Workload

DRAWS = ("uniform", "zipf")
ZIPF_S = 1.1


@dataclasses.dataclass(frozen=True)
class Settings:
    shapes: tuple = ("minilm", "bert-base")
    methods: tuple = ("seq_bn", "lora")
    modes: tuple = ("gather", "grouped")
    ks: tuple = (1, 8, 64, 512)
    batch: int = 16
    seq_len: int = 64
    rounds: int = 8
    baselines: tuple = ("peft", "adapterhub")   # PyTorch sides, at the K they reach
    baseline_max_k: int = 64                    # AdapterHub/PEFT: larger K only costs setup time here
    seed: int = 0


def draw(kind: str, k: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Adapter index of each row: uniform over K, or Zipf-like (rank k with weight 1/(k+1)^s)."""
    if kind == "uniform":
        return rng.integers(0, k, batch)
    weights = 1.0 / np.arange(1, k + 1) ** ZIPF_S
    return rng.choice(k, size=batch, p=weights / weights.sum())


def _pool(model: AdapterModel, method: str, mode: str, k: int, seed: int) -> tuple[AdapterPool, tuple]:
    """(a pool of K adapters and classification heads of `method`, the (adapter, head) written into
    every slot: speed does not depend on the values)."""
    scratch = AdapterModel(model.config, model.graphdef, model.params)
    scratch.add_adapter("a", method, seed=seed)
    scratch.add_head("a", "classification", num_labels=2, seed=seed)
    pool = AdapterPool(model, method, HeadConfig("classification", num_labels=2), capacity=k, mode=mode)
    source = (scratch.adapters["a"], scratch.heads["a"])
    for i in range(k):
        pool.add(f"task{i}", source)
    return pool, source


def jax_variants(wl: Workload, settings: Settings, host: dict, rng) -> tuple[dict, dict, dict]:
    """({variant: call}, {variant: (pool, the adapter its slots hold)}, {variant: meta}) for every
    method, mode, K and draw."""
    model = AdapterModel.from_config(wl.encoder_config(), seed=settings.seed)
    ids, mask, types = (jax.device_put(host[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
    calls, pools, meta = {}, {}, {}
    for method in settings.methods:
        for mode in settings.modes:
            for k in settings.ks:
                pool, source = _pool(model, method, mode, k, settings.seed)
                for kind in DRAWS if k > 1 else ("uniform",):
                    idx = draw(kind, k, len(host["input_ids"]), rng).astype(np.int32)
                    name = f"jax/{method}/{mode}/K={k}/{kind}"
                    calls[name] = lambda p=pool, i=idx: p.apply(ids, mask, types, i)
                    pools[name] = (pool, source)
                    meta[name] = {"side": "jax", "method": method, "mode": mode, "k": k, "draw": kind,
                                  "distinct_adapters": int(len(set(idx.tolist()))),
                                  "adapter_bytes_per_slot": pool.slot_bytes}
    return calls, pools, meta


def torch_variants(wl: Workload, settings: Settings, host: dict, rng) -> tuple[dict, dict]:
    """PEFT LoRA with `adapter_names` (one forward, rows mixed) and AdapterHub switching the active
    adapter per task (one forward per distinct adapter of the batch, its rows only)."""
    import torch

    calls, meta = {}, {}
    tensors = {k: torch.as_tensor(np.asarray(host[k], np.int64)) for k in ("input_ids", "attention_mask",
                                                                          "token_type_ids")}
    ks = [k for k in settings.ks if k <= settings.baseline_max_k]
    if "peft" in settings.baselines and "lora" in settings.methods:
        import peft
        import transformers

        torch.manual_seed(settings.seed)
        base = transformers.BertModel(wl.hf_config()).eval()
        lora = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"], init_lora_weights=False)
        model = peft.get_peft_model(base, lora, adapter_name="task0").eval()
        for i in range(1, max(ks)):
            model.add_adapter(f"task{i}", lora)
        for k in ks:
            for kind in DRAWS if k > 1 else ("uniform",):
                names = [f"task{i}" for i in draw(kind, k, len(host["input_ids"]), rng)]
                name = f"peft/lora/mixed/K={k}/{kind}"

                def call(names=names):
                    with torch.no_grad():
                        return model(**tensors, adapter_names=names).last_hidden_state

                calls[name] = call
                meta[name] = {"side": "peft", "method": "lora", "mode": "adapter_names", "k": k, "draw": kind,
                              "distinct_adapters": len(set(names))}
    if "adapterhub" in settings.baselines:
        import adapters

        for method in settings.methods:
            torch.manual_seed(settings.seed)
            model = adapters.AutoAdapterModel.from_config(wl.hf_config()).eval()
            config = {"seq_bn": adapters.SeqBnConfig(), "lora": adapters.LoRAConfig(r=8, alpha=16)}[method]
            for i in range(max(ks)):
                model.add_adapter(f"task{i}", config=config)
            for k in ks:
                for kind in DRAWS if k > 1 else ("uniform",):
                    idx = draw(kind, k, len(host["input_ids"]), rng)
                    groups = [(f"task{a}", np.flatnonzero(idx == a)) for a in sorted(set(idx.tolist()))]
                    name = f"adapterhub/{method}/switch/K={k}/{kind}"

                    def call(model=model, groups=groups):
                        outs = []
                        with torch.no_grad():
                            for adapter, rows in groups:
                                model.set_active_adapters(adapter)
                                sub = {n: t[torch.as_tensor(rows)] for n, t in tensors.items()}
                                outs.append(model.base_model(**sub).last_hidden_state)
                        return outs

                    calls[name] = call
                    meta[name] = {"side": "adapterhub", "method": method, "mode": "switch per task", "k": k,
                                  "draw": kind, "distinct_adapters": len(groups)}
    return calls, meta


def gemm_rates(wl: Workload, rounds: int, with_torch: bool) -> dict:
    """GFLOP/s of the encoder's three GEMM shapes (tokens × hidden × hidden: the attention
    projections; × FFN and back), XLA and torch timed in the same rounds. The bound beside "ahead of
    PEFT": a forward made of these GEMMs cannot beat the framework whose kernels run them faster."""
    import jax.numpy as jnp

    cfg, tokens = wl.encoder_config(), wl.tokens()
    shapes = {"attention projection": (tokens, cfg.hidden_size, cfg.hidden_size),
              "FFN up": (tokens, cfg.hidden_size, cfg.intermediate_size),
              "FFN down": (tokens, cfg.intermediate_size, cfg.hidden_size)}
    calls, rng = {}, np.random.default_rng(0)
    matmul = jax.jit(jnp.matmul)
    for name, (m, k, n) in shapes.items():
        a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
        ja, jb = jax.device_put(a), jax.device_put(b)
        calls[f"xla/{name}"] = lambda ja=ja, jb=jb: matmul(ja, jb)
        if with_torch:
            import torch

            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            calls[f"torch/{name}"] = lambda ta=ta, tb=tb: torch.matmul(ta, tb)
    samples = timing.interleaved(calls, rounds, warmup=2)
    out = {}
    for name, (m, k, n) in shapes.items():
        rate = lambda side: 2 * m * k * n / float(np.median(samples[f"{side}/{name}"])) / 1e9  # noqa: E731
        out[name] = {"m_k_n": [m, k, n], "xla_gflops": rate("xla")}
        if with_torch:
            out[name].update(torch_gflops=rate("torch"), xla_over_torch=rate("xla") / rate("torch"))
    return out


def _no_recompile(pool: AdapterPool, source: tuple, call) -> dict:
    """Removes an adapter, adds a new one into the freed slot (a full pool would double its
    capacity, the one time shapes change: so remove first), then runs again: the compile count
    must not move."""
    before = pool.compiles
    pool.remove(pool.names[-1])
    pool.add("a new task", source)
    jax.block_until_ready(call())
    return {"compiles_before": before, "compiles_after_swap_and_run": pool.compiles}


def run(settings: Settings, log=print) -> dict:
    out = {"settings": dataclasses.asdict(settings), "environment": provenance.environment(), "shapes": {}}
    for shape in settings.shapes:
        wl = Workload(shape, settings.batch, settings.seq_len)
        host = wl.host_batch(seed=settings.seed)
        rng = np.random.default_rng(settings.seed)
        t0 = time.perf_counter()
        calls, pools, meta = jax_variants(wl, settings, host, rng)
        if settings.baselines:
            tcalls, tmeta = torch_variants(wl, settings, host, rng)
            calls, meta = {**calls, **tcalls}, {**meta, **tmeta}
        log(f"{shape}: {len(calls)} variants built in {time.perf_counter() - t0:.0f} s; timing {settings.rounds} rounds")
        samples = timing.interleaved(calls, settings.rounds, warmup=1, progress=log)
        rows = {}
        for name, s in samples.items():
            m = meta[name]
            ref = next(n for n in samples if meta[n]["side"] == m["side"] and meta[n]["method"] == m["method"]
                       and meta[n]["mode"] == m["mode"] and meta[n]["k"] == min(settings.ks))
            rel = stats.ratio({n: {"samples_s": v} for n, v in samples.items()}, ref, name)  # t(K=1) / t(K)
            rows[name] = dict(m, p50_s=float(np.percentile(s, 50)), p95_s=float(np.percentile(s, 95)),
                              samples_s=s, relative_throughput=rel)
            if name in pools:
                rows[name]["compiles"] = pools[name][0].compiles
        # Zero recompiles across K within capacity: remove an adapter from each pool and run again.
        for name, (pool, source) in {n: p for n, p in pools.items() if meta[n]["k"] > 1}.items():
            rows[name]["recompile_check"] = _no_recompile(pool, source, calls[name]) if name.endswith("uniform") else None
        out["shapes"][wl.describe()] = rows
        out.setdefault("gemm", {})[wl.describe()] = gemm_rates(wl, settings.rounds, bool(settings.baselines))
        del calls, pools
    return out


def merge(results: list[dict]) -> dict:
    """One result from runs of the same shapes and settings that differ in `methods` (one run per
    method halves the peak memory at large K). Every ratio stays within its own run's rounds."""
    first = results[0]
    keys = [k for k in first["settings"] if k != "methods"]
    for r in results[1:]:
        if [r["settings"][k] for k in keys] != [first["settings"][k] for k in keys]:
            raise ValueError("merged runs must share every setting but methods; they differ in "
                             f"{[k for k in keys if r['settings'][k] != first['settings'][k]]}")
    out = {"settings": dict(first["settings"], methods=[m for r in results for m in r["settings"]["methods"]]),
           "environment": first["environment"], "merged_environments": [r["environment"] for r in results],
           "shapes": {}}
    for r in results:
        for shape, rows in r["shapes"].items():
            out["shapes"].setdefault(shape, {}).update(rows)
    return out


def targets(result: dict) -> list[dict]:
    """The issue's targets on the JAX pool: relative throughput ≥ 0.9 at K = 64 and ≥ 0.8 at K = 512
    (per method and mode, uniform draws); zero recompiles; ahead of PEFT at every K it reaches."""
    out = []
    for shape, rows in result["shapes"].items():
        for name, r in rows.items():
            if r["side"] != "jax" or r["draw"] != "uniform" or r["k"] not in (64, 512):
                continue
            goal = 0.9 if r["k"] == 64 else 0.8
            rel = r["relative_throughput"]
            out.append({"shape": shape, "target": f"{name}: relative throughput ≥ {goal}", "value": rel["value"],
                        "ci": rel["ci"], "verdict": stats.verdict(rel["ci"], goal, "≥", rel["value"])})
        for name, r in rows.items():
            if r["side"] != "peft":
                continue
            ours = [n for n, q in rows.items() if q["side"] == "jax" and q["method"] == "lora" and q["k"] == r["k"]
                    and q["draw"] == r["draw"]]
            for n in ours:  # ahead of PEFT: our batch time ÷ PEFT's < 1
                rel = stats.ratio({k: {"samples_s": v["samples_s"]} for k, v in rows.items()}, n, name)
                out.append({"shape": shape, "target": f"{n} ÷ {name} < 1 (time per batch)", "value": rel["value"],
                            "ci": rel["ci"], "verdict": stats.verdict(rel["ci"], 1.0, "≤", rel["value"])})
    return out


def plot(result: dict, path) -> None:
    """Relative throughput against K (log scale), one panel per shape, a line per side / method /
    mode / draw with its 95% interval as a band, the targets (0.9 at K = 64, 0.8 at 512) as marks."""
    import matplotlib
    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401  (matplotlib.ticker.FuncFormatter below)

    shapes = result["shapes"]
    fig, axes = plt.subplots(1, len(shapes), figsize=(6.4 * len(shapes), 4.4), squeeze=False)
    for ax, (shape, rows) in zip(axes[0], shapes.items()):
        lines: dict[str, list] = {}
        for r in rows.values():
            key = f"{r['side']} {r['method']} {r['mode']}"
            for draw in DRAWS if r["k"] == min(q["k"] for q in rows.values()) else (r["draw"],):
                lines.setdefault(f"{key} {draw}", []).append(r)  # K = 1 starts both draws' lines
        keys = sorted({label.rsplit(" ", 1)[0] for label in lines})
        colours = dict(zip(keys, plt.get_cmap("tab10").colors))  # a colour per side/method/mode, a dash per draw
        for label, rs in sorted(lines.items()):
            rs = sorted(rs, key=lambda r: r["k"])
            ks = [r["k"] for r in rs]
            value = [r["relative_throughput"]["value"] for r in rs]
            colour, uniform = colours[label.rsplit(" ", 1)[0]], label.endswith("uniform")
            ax.plot(ks, value, "-" if uniform else "--", marker="o", ms=3, color=colour, label=label)
            if uniform:  # one band per colour keeps the panel readable
                low, high = ([r["relative_throughput"]["ci"][i] for r in rs] for i in (0, 1))
                ax.fill_between(ks, low, high, color=colour, alpha=0.12)
        ax.plot([64, 512], [0.9, 0.8], "k*", ms=9, label="targets (≥)")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
        ax.set_xlabel("adapters in the pool (K)")
        ax.set_ylabel("throughput relative to K = 1")
        ax.set_title(shape, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(result: dict, plot_name: str | None = None) -> str:
    lines = ["# Serving many adapters from one encoder", "",
             f"Batch {result['settings']['batch']} × {result['settings']['seq_len']} tokens, fp32, random weights; "
             f"{result['settings']['rounds']} interleaved rounds; machine {result['environment'].get('cpu')}, "
             f"{result['environment'].get('cpu_count')} CPUs. Relative throughput = time of a batch at the smallest K "
             "÷ at K, paired per round, 95% bootstrap interval.", ""]
    if plot_name:
        lines += [f"![relative throughput against K]({plot_name})", ""]
    for shape, rows in result["shapes"].items():
        lines += [f"## {shape}", "", "| variant | distinct adapters in batch | p50 s | p95 s | relative throughput "
                  "[95%] | bytes / adapter | compiles |", "|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            rel = r["relative_throughput"]
            check = r.get("recompile_check")
            compiles = "—" if "compiles" not in r else str(r["compiles"]) + (
                f" (after a swap: {check['compiles_after_swap_and_run']})" if check else "")
            lines.append(f"| {name} | {r['distinct_adapters']} | {r['p50_s']:.4f} | {r['p95_s']:.4f} | "
                         f"{rel['value']:.3f} [{rel['ci'][0]:.3f}, {rel['ci'][1]:.3f}] | "
                         f"{r.get('adapter_bytes_per_slot', '—')} | {compiles} |")
        lines.append("")
    for shape, gemms in result.get("gemm", {}).items():  # older results have none
        lines += [f"## GEMM rates at the encoder's shapes, {shape} (GFLOP/s, median of the rounds)", "",
                  "| GEMM | m × k × n | XLA | torch | XLA ÷ torch |", "|---|---|---|---|---|"]
        for name, g in gemms.items():
            torch_side = f"{g['torch_gflops']:.0f} | {g['xla_over_torch']:.2f}" if "torch_gflops" in g else "— | —"
            lines.append(f"| {name} | {' × '.join(map(str, g['m_k_n']))} | {g['xla_gflops']:.0f} | {torch_side} |")
        lines.append("")
    lines += ["## Targets", "", "| shape | target | value [95%] | verdict |", "|---|---|---|---|"]
    for t in targets(result):
        lines.append(f"| {t['shape']} | {t['target']} | {t['value']:.3f} [{t['ci'][0]:.3f}, {t['ci'][1]:.3f}] | "
                     f"{t['verdict']} |")
    return "\n".join(lines) + "\n"
