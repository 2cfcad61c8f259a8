"""The committed claims adapters (results/claims_*_cpu/adapters) re-score to the dev scores
claims.json records (the whole dev file, as the scoring command computes it) — with our loader
and with AdapterHub's `adapters` on PyTorch, loaded by its default call `load_adapter(dir)` exactly
as written; each directory holds one copy of the weights, no larger than AdapterHub's own save."""

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "results" / "claims_quick_cpu"
CONVERGED = ROOT / "results" / "claims_converged_cpu"
DATA = ROOT.parent / "shared" / "data"   # glue/ and conll2003/ (GLUE tasks accept the parent)
GLUE = DATA / "glue"
# One plain adapter and one trained without its lowest layers (AdapterHub's leave_out), on two
# tasks, and the NER drop task's plain adapter.
CHECKED = ("sst2_seq_bn_n0_s0", "stsb_seq_bn_n2_s0", "conll2003_seq_bn_n0_s0")

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(not (RESULTS / "claims.json").is_file(), reason="no committed claims results"),
              pytest.mark.skipif(not GLUE.is_dir(), reason="needs ../shared/data/glue")]


def _adapter(name, results=RESULTS):
    if not (results / "claims.json").is_file():
        pytest.skip(f"no committed {results.name}")
    entry = json.loads((results / "claims.json").read_text())["adapters"].get(name)
    if entry is None:
        pytest.skip(f"{name} is not among the committed adapters of {results.name}")
    return results / "adapters" / name, entry


@pytest.mark.parametrize("name", CHECKED)
def test_ours_rescores_to_the_recorded_dev_score(name, minilm_path):
    from flax_adapters.data import get_task
    from flax_adapters.training.scoring import score_adapter

    directory, entry = _adapter(name)
    metrics = score_adapter(directory, entry["task"], data_dir=str(DATA), model=str(minilm_path),
                            max_length=entry["max_length"])
    assert metrics[get_task(entry["task"]).main_metric] == pytest.approx(entry["dev_score"], abs=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("results, name", [(RESULTS, CHECKED[1]), (CONVERGED, "stsb_seq_bn_n0_s0"),
                                           (CONVERGED, "stsb_seq_bn_n2_s0")])  # leave_out: layers 0, 1
def test_adapterhub_loads_and_scores_the_same(results, name, minilm_path, tmp_path):
    """SST-2's 6735 sentences in eager torch take minutes on a busy CI CPU: STS-B's 1500 pairs."""
    torch = pytest.importorskip("torch")
    adapters = pytest.importorskip("adapters")
    from transformers import AutoTokenizer

    from flax_adapters.data import compute_metrics, get_task, load_examples

    directory, entry = _adapter(name, results)
    task = get_task(entry["task"])
    assert sorted(p.name for p in directory.iterdir()) == [
        "adapter_config.json", "head_config.json", "pytorch_adapter.bin", "pytorch_model_head.bin"]
    model = adapters.AutoAdapterModel.from_pretrained(str(minilm_path)).eval()
    loaded = model.load_adapter(str(directory))  # AdapterHub's default call, as its users write it
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
    assert metrics[task.main_metric] == pytest.approx(entry["dev_score"], abs=2e-3)
    # One copy of the weights: at most 1.05x AdapterHub's own save of the same adapter and head.
    model.save_adapter(str(tmp_path / "theirs"), loaded)
    size = lambda d: sum(p.stat().st_size for p in d.iterdir())  # noqa: E731
    assert size(directory) <= 1.05 * size(tmp_path / "theirs"), (size(directory), size(tmp_path / "theirs"))
