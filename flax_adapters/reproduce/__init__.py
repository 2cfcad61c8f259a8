"""The reproduction suite: one job measuring the papers' efficiency questions side by side with
PyTorch baselines, writing report.md, plots, results.json and headline.json (experiments/reproduce.py).

Imports point down: reproduce → training → adapters → models.
"""

from flax_adapters.reproduce.config import ReproConfig, default_config, from_config_dict
from flax_adapters.reproduce.runner import run_suite, write_report
from flax_adapters.reproduce.workload import Workload

__all__ = ["ReproConfig", "Workload", "default_config", "from_config_dict", "run_suite", "write_report"]
