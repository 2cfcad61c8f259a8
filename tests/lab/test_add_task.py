"""flax_adapters_lab/add_task.py: the add-a-task table and its inputs."""

import pytest


def test_add_task_table_lists_every_task_and_the_cost_of_adding():
    from flax_adapters_lab import add_task

    summaries = {"mt": {"task": "sst2", "best": {"tasks": {"sst2": {"accuracy": 0.9}, "stsb": {"pearson": 0.8}}}},
                 "one": {"task": "rte", "main_metric": "accuracy", "best": {"accuracy": 0.6}}}
    assert add_task._scores(summaries["mt"]) == {"sst2": 0.9, "stsb": 0.8}
    assert add_task._scores(summaries["one"]) == {"rte": 0.6}
    table = {"old": ["sst2", "stsb"], "new": "rte", "rows": {
        "existing": dict(time_s=None, scores={"sst2": 0.9, "stsb": 0.8}),
        "adapter": dict(time_s=12.3, steps=40, scores={"sst2": 0.88, "stsb": 0.7, "rte": 0.6})}}
    lines = add_task.markdown(table).splitlines()
    assert lines[0].startswith("| way of adding rte | time to add (s) | best step | sst2 | stsb | rte | mean |")
    assert lines[2] == "| existing | — | — | 0.900 | 0.800 | — | 0.850 |"
    assert lines[3] == "| adapter | 12 | 40 | 0.880 | 0.700 | 0.600 | 0.727 |"
    with pytest.raises(ValueError, match="at least two old tasks"):
        add_task.run(None, "/tmp/unused", old=["sst2"], new="rte")
