"""flax_adapters_lab/pool_scaling.py: the many-adapters serving benchmark on a tiny shape — every
variant timed, one compile per pool that a swap of adapters does not add to, and the report."""

import numpy as np
import pytest

from flax_adapters_lab import pool_scaling


def test_draws_are_uniform_or_zipf_like():
    rng = np.random.default_rng(0)
    uniform = pool_scaling.draw("uniform", 8, 4000, rng)
    zipf = pool_scaling.draw("zipf", 8, 4000, rng)
    assert uniform.min() == 0 and uniform.max() == 7 and abs(np.mean(uniform == 0) - 1 / 8) < 0.03
    assert np.mean(zipf == 0) > 0.3 > np.mean(zipf == 7)  # the head task is hot, the tail cold


def test_tiny_run_times_every_variant_without_recompiling(tmp_path):
    settings = pool_scaling.Settings(shapes=("tiny",), methods=("seq_bn", "lora"), modes=("gather", "grouped"),
                                     ks=(1, 4), batch=4, seq_len=16, rounds=2, baselines=())
    result = pool_scaling.run(settings, log=lambda s: None)
    (rows,) = result["shapes"].values()
    assert len(rows) == 2 * 2 * 3  # methods × modes × (K=1, K=4 uniform, K=4 zipf)
    for name, r in rows.items():
        assert len(r["samples_s"]) == 2 and r["p95_s"] >= r["p50_s"] > 0
        assert r["compiles"] == 1, name  # one program per pool and batch shape, whatever the rows name
        if r["k"] == 1:
            assert r["relative_throughput"]["value"] == pytest.approx(1.0)
        if r.get("recompile_check"):
            assert r["recompile_check"]["compiles_after_swap_and_run"] == r["recompile_check"]["compiles_before"]
    (gemms,) = result["gemm"].values()  # no torch side here: XLA's rates only
    assert set(gemms) == {"attention projection", "FFN up", "FFN down"}
    assert gemms["FFN up"]["m_k_n"] == [4 * 16, 64, 128] and gemms["FFN up"]["xla_gflops"] > 0  # tiny: 64 wide, FFN 128
    report = pool_scaling.markdown(result, plot_name="scaling.png")
    assert "| jax/lora/grouped/K=4/zipf |" in report and "## Targets" in report and "](scaling.png)" in report
    assert "| FFN down | 64 × 128 × 64 |" in report and report.count("| — | — |") == 3  # no torch side
    pool_scaling.plot(result, tmp_path / "scaling.png")
    # One run per method, joined: rows united, settings but methods must agree.
    other = {**result, "settings": {**result["settings"], "methods": ["ia3"]},
             "shapes": {s: {n.replace("lora", "ia3"): r for n, r in rows.items()} for s, rows in result["shapes"].items()}}
    merged = pool_scaling.merge([result, other])
    assert merged["settings"]["methods"] == ["seq_bn", "lora", "ia3"] and len(next(iter(merged["shapes"].values()))) == 18
    with pytest.raises(ValueError, match=r"differ in \['batch'\]"):
        pool_scaling.merge([result, {**other, "settings": {**other["settings"], "batch": 8}}])
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
