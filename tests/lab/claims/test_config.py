"""The claims job's config (claims/config.py): bad values are refused with the culprit named, a
misspelt key of the partial training configs where it is, a missing families table."""

import pytest

from flax_adapters_lab.claims import from_config_dict
from tests.lab.claims.common import get_config


def test_families_table_must_exist():
    cd = get_config("quick")
    cd.families_table = "/nonexistent/runs.json"
    with pytest.raises(ValueError, match="families_table: no file /nonexistent/runs.json"):
        from_config_dict(cd)


def test_config_errors_name_the_culprit():
    cd = get_config("quick")
    cd.drop_tasks = ("sst2", "nosuchtask")
    with pytest.raises(ValueError, match="nosuchtask"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.seeds = (0,)
    with pytest.raises(ValueError, match="two seeds"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.drops = (1, 2)
    with pytest.raises(ValueError, match="include 0"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.score_drops = (0, 6)
    with pytest.raises(ValueError, match=r"score_drops: \[6\] outside"):
        from_config_dict(cd)
    cd = get_config("quick")   # the partial training configs are typed: a misspelt key is named where it is
    cd.train = dict(cd.train.to_dict(), optim=dict(learning_rat=1e-3))
    with pytest.raises(ValueError, match=r"unknown key\(s\) config\.train\.optim\.learning_rat; valid keys"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.task_overrides = dict(cd.task_overrides.to_dict(), sst2=dict(max_steps="many"))
    with pytest.raises(ValueError, match=r"config\.task_overrides\.sst2\.max_steps"):
        from_config_dict(cd)
    cd = get_config("quick")
    cd.multitask_tasks = ("sst2", "rte")
    with pytest.raises(ValueError, match=r"multitask_tasks \['rte'\]"):
        from_config_dict(cd)
