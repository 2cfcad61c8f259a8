"""The committed NER adapter (results/families_minilm_cpu, all-MiniLM-L6-v2 + Pfeiffer on CoNLL-2003)
loads in AdapterHub as well as ours and tags a sentence the same way, token by token."""

import json
from pathlib import Path

import numpy as np
import pytest

import flax_adapters as fa

pytestmark = [pytest.mark.real, pytest.mark.torch]
RESULTS = Path(__file__).resolve().parents[3] / "results" / "families_minilm_cpu"
SENTENCE = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]


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
