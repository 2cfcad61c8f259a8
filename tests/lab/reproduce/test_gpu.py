"""The GPU suite's config (reproduce/gpu.py): its workload combinations, and bad values refused."""

import pytest

from flax_adapters_lab.reproduce import gpu
from tests.training.test_config import load_config


def test_gpu_config_validation():
    get_config = lambda suite: load_config("reproduce", suite)  # noqa: E731
    cfg = gpu.from_config_dict(get_config("gpu"))
    assert gpu.combos(cfg) == ["128:bfloat16", "512:bfloat16", "128:float32", "512:float32"]
    assert cfg.batch == 32 and cfg.parallel_tasks == 8 and 5 in cfg.parallel_drops
    cd = get_config("gpu_tiny")
    cd.drops = (5, 12)
    with pytest.raises(ValueError, match="outside"):
        gpu.from_config_dict(cd)
    cd = get_config("gpu")
    cd.torch = "tensorflow"
    with pytest.raises(ValueError, match="torch"):
        gpu.from_config_dict(cd)
