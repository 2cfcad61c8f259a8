"""Helpers of the reproduce tests: the tiny suite's config with changes."""

from flax_adapters_lab.reproduce import from_config_dict
from tests.training.test_config import load_config


def tiny(**changes):
    c = load_config("reproduce", "tiny")
    for k, v in changes.items():
        c[k] = v
    return from_config_dict(c)
