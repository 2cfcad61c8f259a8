"""Task registry: names, label orders, hub locations, local layouts."""

import pytest

from flax_adapters.data import TASKS, Task, get_task

NAMES = ("cola", "conll2003", "mnli", "mrpc", "pawsx", "qnli", "rte", "socialiqa", "squad", "sst2", "stsb", "xnli")
FAMILIES = {"conll2003": "tagging", "socialiqa": "multiple_choice", "squad": "question_answering"}


def test_registry_is_complete_and_consistent():
    assert tuple(sorted(TASKS)) == NAMES
    for name, task in TASKS.items():
        assert task.name == name and task.main_metric in task.metrics
        if name in FAMILIES:
            assert task.kind == FAMILIES[name] and task.layout.format != "tsv"
            assert {"train", "validation"} <= set(task.splits)
        elif task.kind == "regression":
            assert task.num_labels == 1 and task.label_names == () and len(task.text_columns) in (1, 2)
        else:
            assert task.kind == "classification" and task.num_labels == len(task.label_names) >= 2
            assert len(task.text_columns) in (1, 2) and {"train", "validation", "test"} <= set(task.splits)
        hash(task)  # frozen and hashable: usable as a dict key / static jit argument
    assert get_task("social_i_qa").name == "socialiqa" and get_task("CoNLL-2003").name == "conll2003"
    assert get_task("squad").holdout and get_task("socialiqa").holdout and not get_task("conll2003").holdout


@pytest.mark.parametrize("variant,name", [("SST-2", "sst2"), ("sst2", "sst2"), ("sst_2", "sst2"), ("sts-b", "stsb"),
                                          ("STS-B", "stsb"), ("paws-x", "pawsx"), ("PAWS-X", "pawsx"),
                                          ("MNLI", "mnli"), ("CoLA", "cola"), (" XNLI ", "xnli")])
def test_name_variants(variant, name):
    assert get_task(variant).name == name
    assert get_task(get_task(variant)) is get_task(name)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as err:
        get_task("sst-3")
    message = str(err.value)
    assert "\n" not in message and "sst-3" in message
    assert all(n in message for n in NAMES)


def test_label_orders_follow_hf_datasets():
    assert get_task("rte").label_names == ("entailment", "not_entailment")
    assert get_task("qnli").label_names == ("entailment", "not_entailment")
    assert get_task("mnli").label_names == ("entailment", "neutral", "contradiction")
    assert get_task("xnli").label_names == ("entailment", "neutral", "contradiction")
    assert get_task("xnli").label_index()["contradictory"] == 2  # XNLI-MT / XTREME train spelling
    assert get_task("mrpc").label_names == ("not_equivalent", "equivalent")


def test_main_metrics_follow_glue():
    main = {n: t.main_metric for n, t in TASKS.items()}
    assert main == {"sst2": "accuracy", "rte": "accuracy", "qnli": "accuracy", "mnli": "accuracy",
                    "xnli": "accuracy", "pawsx": "accuracy", "mrpc": "f1", "cola": "matthews",
                    "stsb": "pearson", "conll2003": "entity_f1", "socialiqa": "accuracy", "squad": "f1"}
    assert get_task("stsb").metrics == ("pearson", "spearman")


def test_hub_locations():
    mnli, xnli, pawsx = get_task("mnli"), get_task("xnli"), get_task("pawsx")
    assert (mnli.hub_path, mnli.hub_name(), mnli.hub_split("validation")) == ("nyu-mll/glue", "mnli",
                                                                              "validation_matched")
    assert mnli.hub_split("validation_mismatched") == "validation_mismatched"
    assert (xnli.hub_path, xnli.hub_name("de"), xnli.hub_split("validation", "de")) == ("facebook/xnli", "de",
                                                                                       "validation")
    assert (pawsx.hub_path, pawsx.hub_name("ja")) == ("google-research-datasets/paws-x", "ja")
    assert get_task("sst2").hub_name() == "sst2" and get_task("sst2").text_columns == ("sentence",)


def test_local_layouts():
    assert get_task("mnli").local_file("validation") == "dev_matched.tsv"
    assert get_task("mnli").local_file("validation_mismatched") == "dev_mismatched.tsv"
    assert get_task("sst2").local_file("train") == "train.tsv"
    assert get_task("xnli").local_file("validation", "de") == "dev-de.tsv"
    assert get_task("pawsx").local_file("train") == "train-en.tsv"
    assert "SST-2" in get_task("sst2").local_dirs and "STS-B" in get_task("stsb").local_dirs
    cola = get_task("cola")
    assert not cola.layout_for("train").header and cola.layout_for("test").header


@pytest.mark.parametrize("call,word", [(lambda: get_task("sst2").local_file("dev"), "split"),
                                       (lambda: get_task("xnli").local_file("validation", "xx"), "language"),
                                       (lambda: get_task("sst2").hub_split("train", "de"), "language")])
def test_bad_split_or_language(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_task_is_frozen():
    with pytest.raises(Exception):
        get_task("rte").num_labels = 3
    assert isinstance(get_task("rte"), Task)
