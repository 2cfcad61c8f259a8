"""models/torch_zip.py: torch's checkpoint format written and read without torch, checked against
torch.save / torch.load themselves."""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest

from flax_adapters.models import torch_zip

ARRAYS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "scalar": np.array(3.0, np.float32),
          "ids": np.arange(5, dtype=np.int64), "empty": np.zeros((0, 3), np.float32),
          "transposed": np.arange(6, dtype=np.float32).reshape(2, 3).T, "half": np.ones(3, np.float16)}


def test_round_trip_without_torch(tmp_path):
    torch_zip.write_state_dict(tmp_path / "x.bin", ARRAYS)
    back = torch_zip.read_state_dict(tmp_path / "x.bin")
    assert list(back) == list(ARRAYS)
    for k, a in ARRAYS.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape and np.array_equal(back[k], a), k


def test_storage_records_are_aligned(tmp_path):
    import zipfile

    torch_zip.write_state_dict(tmp_path / "x.bin", ARRAYS)
    with zipfile.ZipFile(tmp_path / "x.bin") as zf, open(tmp_path / "x.bin", "rb") as f:
        for info in zf.infolist():
            f.seek(info.header_offset + 26)
            name_len, extra_len = np.frombuffer(f.read(4), "<u2")
            assert (info.header_offset + 30 + name_len + extra_len) % torch_zip.ALIGN == 0, info.filename


@pytest.mark.torch
def test_torch_loads_ours_and_we_load_torchs(tmp_path):
    import torch

    torch_zip.write_state_dict(tmp_path / "ours.bin", ARRAYS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "misaligned" or legacy-format warning either
        for mmap in (False, True):
            theirs = torch.load(tmp_path / "ours.bin", weights_only=True, mmap=mmap)
            for k, a in ARRAYS.items():
                assert tuple(theirs[k].shape) == a.shape and np.array_equal(theirs[k].numpy(), a), (k, mmap)
    base = torch.arange(12.0).reshape(3, 4)  # views share one storage, at an offset and strided
    torch.save({"t": base.t(), "row": base[1], "bf16": torch.ones(2, dtype=torch.bfloat16)}, tmp_path / "t.bin")
    got = torch_zip.read_state_dict(tmp_path / "t.bin")
    assert np.array_equal(got["t"], base.t().numpy()) and np.array_equal(got["row"], base[1].numpy())
    assert got["bf16"].dtype == ml_dtypes.bfloat16 and np.array_equal(got["bf16"].astype(np.float32), [1, 1])


def test_refuses_what_is_not_a_state_dict(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"not a zip")
    with pytest.raises(torch_zip.TorchZipError, match="junk.bin: not a torch zip checkpoint"):
        torch_zip.read_state_dict(tmp_path / "junk.bin")
    import pickle
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.bin", "w") as zf:  # a pickle naming anything else is refused
        zf.writestr("evil/data.pkl", pickle.dumps({"x": print}, protocol=2))
    with pytest.raises(torch_zip.TorchZipError, match="print, not a state dict"):
        torch_zip.read_state_dict(tmp_path / "evil.bin")
    with pytest.raises(torch_zip.TorchZipError, match="'w': dtype complex64"):
        torch_zip.write_state_dict(tmp_path / "c.bin", {"w": np.zeros(2, np.complex64)})
