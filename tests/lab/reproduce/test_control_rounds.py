"""How many rounds an A/A control needs (reproduce/control_rounds.py): simulated controls with a run's
spread, both rules, a biased control kept out of the band, a results file without controls refused."""

import numpy as np
import pytest


def test_aa_rounds_simulates_controls_with_a_runs_spread():
    from flax_adapters_lab.reproduce import control_rounds as aa_rounds

    rng = np.random.default_rng(0)

    def results(spread):
        ref = list(1 + spread * rng.standard_normal(60))
        twin = [r * (1 + spread * e) for r, e in zip(ref, rng.standard_normal(60))]
        infer = {"jax/bare": {"samples_s": ref}}
        return {"sections": {"methods": {"train": {"jax/seq_bn": {"samples_s": ref}}, "infer": infer,
                                         "aa": {"train": {"samples_s": twin, "reference": "jax/seq_bn"},
                                                "infer": {"samples_s": twin, "reference": "jax/bare"}}}}}

    quiet, noisy = aa_rounds.run(results(0.002), [10, 40], 20), aa_rounds.run(results(0.05), [10, 40], 20)
    for rule in ("rank", "bootstrap"):
        q = quiet["train"]["rules"][f"{rule} bias +0.000"]
        assert q["share_inside_by"] == {"10": 1.0, "40": 1.0} and q["median_rounds"] <= 10
        assert noisy["infer"]["rules"][f"{rule} bias +0.000"]["share_inside_by"]["40"] < 0.5
    assert noisy["infer"]["robust_sd"] > 0.03
    # the rank rule needs 6 rounds for any 95% interval; the bootstrap may stop on 3
    assert quiet["train"]["rules"]["rank bias +0.000"]["median_rounds"] >= 6
    # a control biased by 3% with a tight spread: both rules keep it out of 1 ± 1%
    biased = aa_rounds.run(results(0.002), [40], 10, biases=(0.03,))
    assert all(q["share_inside_by"]["40"] == 0.0 for q in biased["train"]["rules"].values())
    with pytest.raises(ValueError, match="no methods-section A/A control"):  # e.g. a claims.json by mistake
        aa_rounds.run({"suite": "quick", "claims": []}, [40], 1)
