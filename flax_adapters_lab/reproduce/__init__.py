"""The reproduction suite: one job measuring the papers' efficiency questions side by side with
PyTorch baselines, writing report.md, plots, results.json and headline.json (experiments/reproduce.py).

Imports point down: reproduce → training → adapters → models.
"""

from flax_adapters_lab.reproduce import config as _config
from flax_adapters_lab.reproduce import gpu as _gpu
from flax_adapters_lab.reproduce import runner as _runner
from flax_adapters_lab.reproduce.config import ReproConfig, default_config
from flax_adapters_lab.reproduce.gpu import GpuConfig
from flax_adapters_lab.reproduce.runner import write_report
from flax_adapters_lab.reproduce.workload import Workload


def from_config_dict(cd):
    """A suite's frozen config: `GpuConfig` for the gpu suites (their own keys), else `ReproConfig`."""
    if str(cd.get("suite", "")).startswith("gpu"):
        return _gpu.from_config_dict(cd)
    return _config.from_config_dict(cd)


def run_suite(cfg, workdir, log=None):
    """Runs a suite (reproduce/runner.py, or reproduce/gpu.py for a GpuConfig); returns its headline."""
    run = _gpu.run_suite if isinstance(cfg, GpuConfig) else _runner.run_suite
    return run(cfg, workdir) if log is None else run(cfg, workdir, log=log)

__all__ = ["GpuConfig", "ReproConfig", "Workload", "default_config", "from_config_dict", "run_suite", "write_report"]
