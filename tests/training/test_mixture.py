"""The multi-task schedule (training/mixture.py): task probabilities by size, temperature and replay;
the schedule is a function of the seed and indexes each task's examples in order."""

import numpy as np
import pytest

from flax_adapters.training import mixture


def test_probabilities_follow_size_temperature_and_replay():
    sizes = {"a": 300, "b": 100}
    np.testing.assert_allclose(mixture.probabilities(sizes), [0.75, 0.25])
    np.testing.assert_allclose(mixture.probabilities(sizes, temperature=1e6), [0.5, 0.5], atol=1e-5)
    np.testing.assert_allclose(mixture.probabilities({"new": 10, "a": 300, "b": 100}, main="new", replay=0.2),
                               [0.8, 0.15, 0.05])
    with pytest.raises(ValueError, match="replay needs a main task"):
        mixture.probabilities(sizes, main="c", replay=0.2)


def test_schedule_is_a_function_of_the_seed_and_indexes_each_task():
    order = mixture.schedule({"a": 300, "b": 100}, 2000, seed=3)
    np.testing.assert_array_equal(order, mixture.schedule({"a": 300, "b": 100}, 2000, seed=3))
    assert abs((order == 0).mean() - 0.75) < 0.04
    index = mixture.within_task_index(order)
    for t in (0, 1):
        np.testing.assert_array_equal(index[order == t], np.arange((order == t).sum()))
