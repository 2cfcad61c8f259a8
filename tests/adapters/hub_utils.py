"""Test helpers: the same tiny random encoder in AdapterHub (PyTorch) and here, one adapter each.

`hub_pair` builds an AdapterHub flex model around a tiny random HF encoder, adds adapter 'a'
(randomising its weights, since several methods start as no-ops that would hide a misplacement),
optionally a head, saves both base and adapter, and returns what the parity tests compare.
"""

from __future__ import annotations

import numpy as np
import torch

import flax_adapters as fa

from tests.conftest import TINY, make_hf_model, padded_batch


def hub_pair(tmp_path, adapter_config, kind="bert", head=None, randomize=True, seed=0, **tiny):
    import adapters

    flex = {"bert": adapters.BertAdapterModel, "roberta": adapters.RobertaAdapterModel,
            "xlm-roberta": adapters.XLMRobertaAdapterModel}[kind]
    base = make_hf_model(kind, **tiny)
    base_dir = tmp_path / "base"
    base.save_pretrained(base_dir)
    model = flex.from_pretrained(base_dir).eval()
    model.add_adapter("a", config=adapter_config)
    if head == "classification":
        model.add_classification_head("a", num_labels=3)
    elif head == "regression":
        model.add_classification_head("a", num_labels=1)
    elif head == "tagging":
        model.add_tagging_head("a", num_labels=5)
    elif head == "multiple_choice":
        model.add_multiple_choice_head("a", num_choices=3)
    elif head == "question_answering":
        model.add_qa_head("a")
    if randomize:
        # (IA)³ vectors scale activations: randomise them around 1, everything else around 0.
        is_ia3 = type(adapter_config).__name__ == "IA3Config"
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if ".a." in n or n.endswith(".a") or "heads.a." in n:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if "lora_B" in n and is_ia3 else 0.0))
    model.set_active_adapters("a")
    model.eval()
    adapter_dir = tmp_path / "adapter"
    model.save_adapter(adapter_dir, "a", with_head=head is not None)
    return model, base_dir, adapter_dir


def batch_for(cfg, seed=0, batch=4, length=11):
    ids, mask, types = padded_batch(cfg.vocab_size, cfg.pad_token_id, batch=batch, length=length, seed=seed)
    if cfg.type_vocab_size == 1:
        types = np.zeros_like(types)
    return ids, mask, types


def hub_hidden(model, ids, mask, types):
    """AdapterHub's last_hidden_state with the active adapter (base model, no head)."""
    with torch.no_grad():
        out = model.base_model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                               token_type_ids=torch.tensor(types))
    return out.last_hidden_state.numpy()


def hub_logits(model, ids, mask, types):
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                    token_type_ids=torch.tensor(types))
    return out.logits.numpy()


def hub_qa_logits(model, ids, mask, types):
    """AdapterHub's question-answering output: (start_logits, end_logits), each [B, T]."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                    token_type_ids=torch.tensor(types))
    return out.start_logits.numpy(), out.end_logits.numpy()


def check_save_round_trip_and_adapterhub_loads_ours(tmp_path, configs, outputs, name, torch_format):
    """Ours -> ours exactly, and ours -> AdapterHub with its default call (True, our default: the .bin
    only, as AdapterHub writes it) or, for a safetensors-only directory, its use_safetensors=True call."""
    import adapters

    config, kind, tiny = configs[name]
    hub, base_dir, adapter_dir = hub_pair(tmp_path, config, kind=kind, **tiny)
    model = fa.from_pretrained(base_dir)
    model.load_adapter(adapter_dir)
    want = outputs(model, hub)
    ours = tmp_path / "ours"
    model.save_adapter(ours, "a", torch_format=torch_format)
    again = fa.from_pretrained(base_dir)
    again.load_adapter(ours, "b")
    np.testing.assert_allclose(outputs(again, hub, "b"), want, rtol=0, atol=0)

    flex = {"bert": adapters.BertAdapterModel, "roberta": adapters.RobertaAdapterModel}[kind]
    fresh = flex.from_pretrained(base_dir).eval()
    kwargs = {"use_safetensors": True} if torch_format is False else {}  # AdapterHub's default reads the .bin
    assert fresh.load_adapter(str(ours), **kwargs) == "a"
    fresh.set_active_adapters("a")
    ids, mask, types = batch_for(hub.config)
    np.testing.assert_allclose(hub_hidden(fresh, ids, mask, types), want, rtol=0, atol=1e-5)
