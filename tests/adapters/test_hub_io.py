"""AdapterHub directories (adapters/hub_io.py): the on-disk size of one task's adapter, our export
beside AdapterHub's own save_adapter for every method, with prefix tuning's shared pool written once
(issue 21, point 3); AdapterHub's default call loads what we save, head included; a directory made
for another base model is refused, tensor named, nothing half-loaded.
(Every method loaded from AdapterHub onto the real MiniLM: test_real_checkpoint.py.)

Run as a script to print the size table for a model shape (sizes in BUILD_NOTES.md come from this;
the script was tests/adapters/test_storage.py before the tests were laid out by module):
    python -m tests.adapters.test_hub_io                      # the tiny test shape
    python -m tests.adapters.test_hub_io 384 6 12 1536        # hidden, layers, heads, FFN (MiniLM)
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import flax_adapters as fa
from flax_adapters.adapters import AdapterError
from tests.adapters.hub_utils import batch_for, hub_logits, hub_pair

METHODS = ("seq_bn", "double_seq_bn", "par_bn", "lora", "ia3", "prefix_tuning", "compacter", "compacter++")
# Compacter needs hidden/32 divisible by phm_dim 4.
SHAPE = dict(hidden_size=128, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64)
LAYER_COPY = re.compile(r"encoder\.layer\.\d+\.attention\.self\.prefix_tuning\.pool\.")


def measure(method: str, tmp: Path, **shape) -> dict:
    """Bytes of AdapterHub's save_adapter (its default, pytorch_adapter.bin) and of our export of the
    same weights: the .bin we write for AdapterHub's default call and our adapter.safetensors."""
    import adapters

    import flax_adapters as fa
    from tests.adapters.hub_utils import hub_pair

    hub, base_dir, hub_dir = hub_pair(tmp / method, adapters.AdapterConfig.load(method), **shape)
    model = fa.from_pretrained(base_dir)
    model.load_adapter(hub_dir)
    ours = tmp / method / "ours"
    model.save_adapter(ours, "a")                                  # the default: AdapterHub's .bin
    model.save_adapter(tmp / method / "ours_st", "a", torch_format=False)  # safetensors instead
    size = lambda p: p.stat().st_size
    return {"method": method, "params": model.adapters["a"].num_parameters,
            "adapterhub_bin": size(hub_dir / "pytorch_adapter.bin"), "ours_bin": size(ours / "pytorch_adapter.bin"),
            "ours_safetensors": size(tmp / method / "ours_st" / "adapter.safetensors"), "dirs": (hub_dir, ours),
            "ours_files": sorted(p.name for p in ours.iterdir())}


@pytest.mark.torch
@pytest.mark.parametrize("method", METHODS)
def test_our_export_is_the_size_of_adapterhubs(tmp_path, method):
    """Our .bin (our default save) is at most 1.05x AdapterHub's own (same format, a few records
    fewer: no serialization id); our safetensors holds the float32
    weights (4 bytes per parameter) with less per-tensor overhead than a torch zip, so it is no
    larger. Prefix tuning's pool is written once, not per layer."""
    import torch

    row = measure(method, tmp_path, **SHAPE)
    assert 4 * row["params"] < row["ours_bin"] <= 1.05 * row["adapterhub_bin"], row
    assert row["ours_files"] == ["adapter_config.json", "pytorch_adapter.bin"], row  # one copy, AdapterHub's layout
    assert 4 * row["params"] < row["ours_safetensors"] <= row["adapterhub_bin"], row
    hub_dir, ours = row["dirs"]
    theirs = torch.load(hub_dir / "pytorch_adapter.bin", weights_only=True)
    written = torch.load(ours / "pytorch_adapter.bin", weights_only=True)
    # Our names are AdapterHub's, less its per-layer aliases of the prefix pool.
    assert sorted(written) == sorted(k for k in theirs if not LAYER_COPY.search(k))
    if method == "prefix_tuning":
        assert len(theirs) > len(written) > 0


@pytest.mark.torch
def test_prefix_pool_in_either_form_loads(tmp_path):
    """Our loader reads the pool once (our export) or also under every layer (AdapterHub's own save,
    and our export before the pool was written once), with the same outputs."""
    import adapters
    from safetensors.numpy import load_file, save_file

    import flax_adapters as fa
    from tests.adapters.hub_utils import batch_for, hub_hidden, hub_pair

    hub, base_dir, hub_dir = hub_pair(tmp_path, adapters.PrefixTuningConfig(prefix_length=5, leave_out=[1]))
    ids, mask, types = batch_for(hub.config)
    want = hub_hidden(hub, ids, mask, types)
    model = fa.from_pretrained(base_dir)
    model.load_adapter(hub_dir)  # AdapterHub's form: pool + per-layer copies (.bin)
    model.save_adapter(tmp_path / "once", "a", torch_format=False)
    once = load_file(str(tmp_path / "once" / "adapter.safetensors"))
    assert not any(LAYER_COPY.search(k) for k in once)
    copies = dict(once)
    for k, v in once.items():  # the old form: every layer (left-out ones too) holds a copy
        for i in range(hub.config.num_hidden_layers):
            copies[k.replace("bert.prefix_tuning.prefix_tunings.a.",
                             f"bert.encoder.layer.{i}.attention.self.prefix_tuning.pool.prefix_tunings.a.")] = v
    (tmp_path / "copies").mkdir()
    save_file(copies, str(tmp_path / "copies" / "adapter.safetensors"))
    (tmp_path / "copies" / "adapter_config.json").write_text((tmp_path / "once" / "adapter_config.json").read_text())
    for name, directory in (("once", tmp_path / "once"), ("copies", tmp_path / "copies")):
        model.load_adapter(directory, name)
        got = model(ids, attention_mask=mask, token_type_ids=types, adapter=name).last_hidden_state
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("head", ["classification", "tagging"])
def test_adapterhub_default_call_loads_our_adapter_and_head(tmp_path, head):
    """Issue 22.1: `AutoAdapterModel.load_adapter(dir)` with no flags (it reads pytorch_adapter.bin and
    pytorch_model_head.bin) loads a directory we saved, head included, with equal logits."""
    import adapters
    from adapters import DoubleSeqBnConfig

    hub, base_dir, adapter_dir = hub_pair(tmp_path, DoubleSeqBnConfig(), head=head)
    model = fa.from_pretrained(base_dir)
    model.load_adapter(adapter_dir)
    model.save_adapter(tmp_path / "ours", "a")
    fresh = adapters.AutoAdapterModel.from_pretrained(base_dir).eval()
    assert fresh.load_adapter(str(tmp_path / "ours")) == "a"
    fresh.set_active_adapters("a")
    ids, mask, types = batch_for(hub.config)
    want = np.asarray(model(ids, attention_mask=mask, token_type_ids=types, adapter="a").logits)
    np.testing.assert_allclose(hub_logits(fresh, ids, mask, types), want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(hub_logits(hub, ids, mask, types), want, rtol=0, atol=1e-5)


def test_adapter_directory_for_another_base_model_is_refused(tmp_path):
    from flax_adapters.models import EncoderConfig

    small = EncoderConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                          intermediate_size=40, max_position_embeddings=32)
    source = fa.AdapterModel.from_config(small)
    source.add_adapter("a", "seq_bn", reduction_factor=4)
    source.add_adapter("l", "lora", intermediate_lora=True)
    source.save_adapter(tmp_path / "a", "a")
    source.save_adapter(tmp_path / "l", "l")
    wider = fa.AdapterModel.from_config(small.replace(hidden_size=48))
    with pytest.raises(AdapterError, match="made for a model with hidden_size 32, this model has 48"):
        wider.load_adapter(tmp_path / "a")
    roberta = fa.AdapterModel.from_config(small.replace(model_type="roberta", pad_token_id=1))
    with pytest.raises(AdapterError, match="made for model_type 'bert', this model is 'roberta'"):
        roberta.load_adapter(tmp_path / "a")
    other_ffn = fa.AdapterModel.from_config(small.replace(intermediate_size=64))
    with pytest.raises(AdapterError, match=r"intermediate\.dense\.loras\.l\.lora_B' has shape"):
        other_ffn.load_adapter(tmp_path / "l")
    deeper = fa.AdapterModel.from_config(small.replace(num_hidden_layers=3))
    with pytest.raises(AdapterError, match=r"missing tensor 'bert\.encoder\.layer\.2\."):
        deeper.load_adapter(tmp_path / "a")
    assert not wider.adapters and not other_ffn.adapters and not deeper.adapters  # nothing half-loaded


def main(argv):
    hidden, layers, heads, ffn = (int(a) for a in argv) if argv else SHAPE.values()
    shape = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=ffn)
    print(f"shape {shape}; bytes on disk of one adapter (no head)")
    print(f"{'method':<14}{'params':>12}{'AdapterHub .bin':>17}{'ours .bin':>12}{'ours .safetensors':>19}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for m in METHODS:
            if m.startswith("compacter") and (hidden // 32) % 4:
                continue
            r = measure(m, Path(tmp), **shape)
            print(f"{m:<14}{r['params']:>12,}{r['adapterhub_bin']:>17,}{r['ours_bin']:>12,}"
                  f"{r['ours_safetensors']:>19,}{r['ours_safetensors'] / r['adapterhub_bin']:>8.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
