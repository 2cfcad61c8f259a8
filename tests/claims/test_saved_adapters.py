"""The committed claims adapters (results/claims_quick_cpu/adapters) re-score to the dev scores
claims.json records (the whole dev file, as the scoring command computes it) — with our loader
and with AdapterHub's `adapters` on PyTorch."""

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "claims_quick_cpu"
DATA = ROOT.parent / "shared" / "data"   # glue/ and conll2003/ (GLUE tasks accept the parent)
GLUE = DATA / "glue"
# One plain adapter and one trained without its lowest layers (AdapterHub's leave_out), on two
# tasks, and the NER drop task's plain adapter.
CHECKED = ("sst2_seq_bn_n0_s0", "stsb_seq_bn_n2_s0", "conll2003_seq_bn_n0_s0")

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(not (RESULTS / "claims.json").is_file(), reason="no committed claims results"),
              pytest.mark.skipif(not GLUE.is_dir(), reason="needs ../shared/data/glue")]


def _adapter(name):
    entry = json.loads((RESULTS / "claims.json").read_text())["adapters"].get(name)
    if entry is None:
        pytest.skip(f"{name} is not among the committed adapters")
    return RESULTS / "adapters" / name, entry


@pytest.mark.parametrize("name", CHECKED)
def test_ours_rescores_to_the_recorded_dev_score(name, minilm_path):
    from flax_adapters.data import get_task
    from flax_adapters.training.scoring import score_adapter

    directory, entry = _adapter(name)
    metrics = score_adapter(directory, entry["task"], data_dir=str(DATA), model=str(minilm_path),
                            max_length=entry["max_length"])
    assert metrics[get_task(entry["task"]).main_metric] == pytest.approx(entry["dev_score"], abs=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("name", CHECKED[1:2])  # SST-2's 6735 sentences in eager torch: minutes on a busy CI CPU
def test_adapterhub_loads_and_scores_the_same(name, minilm_path):
    torch = pytest.importorskip("torch")
    adapters = pytest.importorskip("adapters")
    from transformers import AutoTokenizer

    from flax_adapters.data import compute_metrics, get_task, load_examples

    directory, entry = _adapter(name)
    task = get_task(entry["task"])
    model = adapters.AutoAdapterModel.from_pretrained(str(minilm_path)).eval()
    loaded = model.load_adapter(str(directory), use_safetensors=True)
    model.set_active_adapters(loaded)
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    examples = load_examples(task, "validation", data_dir=str(GLUE))
    logits = []
    with torch.no_grad():
        for i in range(0, len(examples), 64):
            texts = [examples.text_a[i:i + 64]] + ([examples.text_b[i:i + 64]] if examples.text_b else [])
            enc = tok(*texts, truncation=True, max_length=entry["max_length"], padding=True, return_tensors="pt")
            logits.append(model(**enc).logits.numpy())
    metrics = compute_metrics(task, np.concatenate(logits).astype(np.float64), np.asarray(examples.labels))
    main = {"sst2": "accuracy", "stsb": "pearson"}[entry["task"]]
    assert metrics[main] == pytest.approx(entry["dev_score"], abs=2e-3)
