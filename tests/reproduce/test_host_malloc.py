"""The timing process's glibc malloc setting (benchmark.MALLOC_REUSE): under "reuse" an XLA CPU
program's temporaries stay in the heap between calls instead of being mapped and faulted in afresh;
the suite's binary re-executes itself under the configured setting and records it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flax_adapters import benchmark

ROOT = Path(__file__).resolve().parents[2]

# Minor page faults of the third call of a jitted program whose temporaries are ~64 MiB (a product
# of two 2048 × 2048 matrices, then another: XLA allocates the intermediate per call).
FAULTS = """
import resource, jax, jax.numpy as jnp
x = jnp.ones((2048, 2048), jnp.float32)
f = jax.jit(lambda a: jnp.tanh(a @ a) @ a).lower(x).compile()
for _ in range(2):
    f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
f(x).block_until_ready()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in benchmark.MALLOC_REUSE}
    return dict(env, JAX_PLATFORMS="cpu", **extra)


@pytest.mark.skipif(sys.platform != "linux", reason="glibc malloc")
def test_reuse_keeps_xla_temporaries_mapped_between_calls():
    def faults(env):
        out = subprocess.run([sys.executable, "-c", FAULTS], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        return int(out.stdout.split()[-1])

    default, reuse = faults(clean_env()), faults(clean_env(**benchmark.MALLOC_REUSE))
    # Each 16 MiB block is ~4k pages faulted in per call by default (measured 3968), none under reuse.
    assert default > 2000 and reuse < default / 10, (default, reuse)


def test_setting_names_are_checked():
    with pytest.raises(ValueError, match="malloc setting 'fast': choose reuse or default"):
        benchmark.reexec_with("fast")


@pytest.mark.skipif(sys.platform != "linux", reason="glibc malloc")
def test_the_binary_runs_under_its_configured_setting(tmp_path):
    for setting in ("reuse", "default"):
        workdir = tmp_path / setting
        out = subprocess.run([sys.executable, str(ROOT / "experiments" / "reproduce.py"),
                              f"--config={ROOT / 'configs' / 'reproduce.py'}:tiny", "--config.sections=convergence",
                              f"--config.host_malloc={setting}", f"--workdir={workdir}"],
                             env=clean_env(**({} if setting == "reuse" else benchmark.MALLOC_REUSE)),
                             capture_output=True, text=True, cwd=ROOT, timeout=240)
        assert out.returncode == 0, out.stderr[-3000:]
        results = json.loads((workdir / "results.json").read_text())
        assert results["environment"]["malloc"] == setting
