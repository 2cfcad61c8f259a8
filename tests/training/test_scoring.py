"""Scoring what training left behind (training/scoring.py): experiments/score.py scores a saved adapter
+ head on a labelled file in one command, equal to the in-process model's predictions (real MiniLM);
a train.py workdir, a directory that is no adapter, or a head of another kind or size is refused
with the fix named."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.lab.claims.common import write_glue

ROOT = Path(__file__).resolve().parents[2]


def _score(*args):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", JAX_PLATFORMS="cpu", TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "score.py"), *args], capture_output=True,
                          text=True, env=env, timeout=600)


@pytest.mark.real
def test_score_command_matches_the_model(tmp_path, minilm_path):
    import flax_adapters as fa
    from flax_adapters.data import load_examples

    glue = write_glue(tmp_path / "glue", n_train=8, n_dev=40)
    model = fa.AdapterModel.from_pretrained(str(minilm_path))
    model.add_adapter("sst2", "seq_bn", seed=3)
    model.add_head("sst2", "classification", num_labels=2, seed=3)
    model.save_adapter(tmp_path / "adapter", "sst2")
    before = {p: p.read_bytes() for p in (tmp_path / "adapter").iterdir()}

    done = _score(f"--adapter={tmp_path / 'adapter'}", "--task=sst2", f"--data_dir={glue}", "--max_length=32")
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads(done.stdout[done.stdout.index("{"):])

    examples = load_examples("sst2", "validation", data_dir=str(glue))
    enc = model.tokenizer()(examples.text_a, padding=True, truncation=True, max_length=32, return_tensors="np")
    logits = np.asarray(model(enc["input_ids"], attention_mask=enc["attention_mask"],
                              token_type_ids=enc["token_type_ids"], adapter="sst2").logits)
    assert metrics["accuracy"] == pytest.approx(float(np.mean(logits.argmax(-1) == examples.labels)))
    assert {p: p.read_bytes() for p in (tmp_path / "adapter").iterdir()} == before  # read-only

    workdir = tmp_path / "run"
    (workdir / "adapter").mkdir(parents=True)
    bad = _score(f"--adapter={workdir}", "--task=sst2", f"--data_dir={glue}")
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("error:") and "<workdir>/adapter" in bad.stderr
    wrong = _score(f"--adapter={tmp_path / 'adapter'}", "--task=stsb", f"--data_dir={glue}")
    assert wrong.returncode != 0 and "stsb" in wrong.stderr.strip().splitlines()[-1]


def test_a_directory_that_is_no_adapter_is_named_before_any_model_loads(tmp_path):
    from flax_adapters.training.scoring import score_adapter

    (tmp_path / "run" / "adapter").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"run is not an AdapterHub adapter directory: no adapter_config"
                                                r"\.json \(a train.py workdir keeps its adapter in <workdir>/adapter\)"):
        score_adapter(tmp_path / "run", "sst2")
    with pytest.raises(FileNotFoundError, match="no adapter_config.json$"):
        score_adapter(tmp_path / "run" / "adapter", "sst2")


def test_the_head_must_answer_the_task():
    from flax_adapters.adapters import HeadConfig
    from flax_adapters.data import get_task
    from flax_adapters.training.scoring import _check_head

    _check_head(HeadConfig("classification", num_labels=2), get_task("sst2"), "d")
    _check_head(HeadConfig("classification", num_labels=1), get_task("stsb"), "d")  # AdapterHub's regression head
    _check_head(HeadConfig("multiple_choice", num_choices=3), get_task("socialiqa"), "d")
    with pytest.raises(ValueError, match="d's head is classification with 2 outputs; task mnli needs a "
                                         "classification head with 3"):
        _check_head(HeadConfig("classification", num_labels=2), get_task("mnli"), "d")
    with pytest.raises(ValueError, match="head is tagging with 9 outputs; task sst2 needs a classification head"):
        _check_head(HeadConfig("tagging", num_labels=9), get_task("sst2"), "d")
