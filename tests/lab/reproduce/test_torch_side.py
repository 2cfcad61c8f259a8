"""The PyTorch baselines' memory sharing (reproduce/torch_side.py): a variant that cannot run on the
group's Shared model borrows its base tensors — only those equal to the shared base's — so merging
keeps its own merged weights, never writes into the shared ones, and outputs are unchanged."""

import pytest

from flax_adapters_lab.reproduce import torch_side
from flax_adapters_lab.reproduce.workload import Workload

torch = pytest.importorskip("torch")
pytest.importorskip("adapters")

WL = Workload("tiny", 2, 8)


def logits(model, host):
    model.eval()
    with torch.inference_mode():
        out = model(**{k: torch.as_tensor(v).long() for k, v in host.items() if k != "labels"})
    return out.logits if hasattr(out, "logits") else out[0]


def test_borrow_shares_equal_base_tensors_and_keeps_merged_ones():
    shared = torch_side.Shared(WL)
    before = {k: v.clone() for k, v in shared.model.state_dict().items()}
    model = torch_side._flex(WL)
    model.add_classification_head("t", num_labels=2)
    model.add_adapter("t", config="lora")
    model.set_active_adapters("t")
    with torch.no_grad():  # a trained LoRA: merging must change the weights it targets
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.fill_(0.05)
    model.merge_adapter("t")
    host = WL.host_batch(seed=0)
    expected = logits(model, host)
    shared_bytes = torch_side.borrow(model, shared.model)

    donor = {k: v.data_ptr() for k, v in shared.model.state_dict().items()}
    mine = model.state_dict()
    same = [k for k in donor if k in mine and mine[k].data_ptr() == donor[k]]
    own = [k for k in donor if k in mine and mine[k].data_ptr() != donor[k]]
    assert shared_bytes > 0 and any("word_embeddings" in k for k in same)
    assert own and all("query" in k or "value" in k for k in own), own  # the merged LoRA targets only
    assert torch.equal(logits(model, host), expected)
    assert all(torch.equal(before[k], v) for k, v in shared.model.state_dict().items())


@pytest.mark.parametrize("merged", [False, True])
def test_peft_model_over_the_shared_base(merged):
    pytest.importorskip("peft")
    shared = torch_side.Shared(WL)
    model = torch_side.peft_lora(WL, shared, merged=merged)
    donor = {t.data_ptr() for t in shared.model.state_dict().values()}
    ptrs = [t.data_ptr() for k, t in model.state_dict().items() if "word_embeddings" in k]
    assert ptrs and all(p in donor for p in ptrs)
    host = WL.host_batch(seed=0)
    alone = torch_side.peft_lora(WL, None, merged=merged)
    alone.load_state_dict(model.state_dict())
    assert torch.allclose(logits(model, host), logits(alone, host), atol=1e-6)


def test_full_finetuning_over_the_shared_model_trains_its_tensors_in_place():
    shared = torch_side.Shared(WL)
    adapter_step = torch_side.train(WL, "seq_bn", WL.host_batch(seed=0), shared=shared)
    word = shared.model.state_dict()["bert.embeddings.word_embeddings.weight"]
    before = word.clone()
    full = torch_side.train(WL, None, WL.host_batch(seed=0), shared=shared)
    full.call()
    # No second copy: the full-FT step updated the shared model's own embedding table, and the
    # adapter step beside it still runs (its base frozen, its adapter and head trained).
    assert not torch.equal(word, before)
    adapter_step.setup()
    adapter_step.call()
    assert not any(p.requires_grad for n, p in shared.model.named_parameters() if n.startswith("bert.embeddings"))
    after_adapter = word.clone()
    full.call()  # the adapter step's freezing is its own model's: full FT still trains the base
    assert not torch.equal(word, after_adapter)
