"""Adapters saved by AdapterHub on the real pretrained MiniLM load here and reproduce its outputs."""

import numpy as np
import pytest
import torch

import flax_adapters as fa

pytestmark = [pytest.mark.real, pytest.mark.torch]


def _hub_configs():
    import adapters as ah

    return {"seq_bn": ah.SeqBnConfig(), "double_seq_bn": ah.DoubleSeqBnConfig(), "par_bn": ah.ParBnConfig(),
            "lora": ah.LoRAConfig(), "ia3": ah.IA3Config(), "prefix_tuning": ah.PrefixTuningConfig(),
            "compacter": ah.CompacterConfig()}


@pytest.mark.parametrize("method", ["seq_bn", "double_seq_bn", "par_bn", "lora", "ia3", "prefix_tuning", "compacter"])
def test_adapterhub_adapter_on_minilm(minilm_path, tmp_path, method):
    import adapters as ah

    if method not in fa.adapters.METHODS:
        pytest.fail(f"method {method!r} is not registered")
    hub = ah.BertAdapterModel.from_pretrained(minilm_path).eval()
    hub.add_adapter("task", config=_hub_configs()[method])
    hub.add_classification_head("task", num_labels=2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # several methods start as no-ops; random weights expose misplacements
        for name, p in hub.named_parameters():
            if ".task." in name or "heads.task" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05 + (1.0 if method == "ia3" and "loras." in name else 0.0))
    hub.set_active_adapters("task")
    hub.save_adapter(tmp_path / "task", "task")

    model = fa.from_pretrained(minilm_path)
    name = model.load_adapter(tmp_path / "task")
    tok = model.tokenizer()
    enc = tok(["Adapters are cheap to store.", "But are they fast to train to convergence?", "Yes."],
              padding=True, return_tensors="np")
    with torch.no_grad():
        want = hub(**{k: torch.tensor(v) for k, v in enc.items()}).logits.numpy()
    got = model(enc["input_ids"], attention_mask=enc["attention_mask"], token_type_ids=enc["token_type_ids"],
                adapter=name).logits
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-4)
