"""PyTorch's checkpoint file (`torch.save` of a state dict: pytorch_model.bin, pytorch_adapter.bin),
read and written without torch.

AdapterHub's default `load_adapter(dir)` reads only `.bin` files, so an adapter directory that
AdapterHub users can load as they always do must hold one; the library must not need torch to
write or read it. The format (torch.serialization, "new zipfile" since torch 1.6) is a stored zip:

    <root>/data.pkl      pickle (protocol 2) of an OrderedDict {name: tensor}; each tensor is
                         torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, {})
                         and each storage a persistent id ('storage', torch.<T>Storage, key, 'cpu', numel)
    <root>/data/<key>    the storage's raw little-endian bytes, 64-byte aligned
    <root>/byteorder, <root>/version, ...

Writing emits those pickle opcodes directly (the classes they name are torch's; only their names
are needed). Reading unpickles with a loader that accepts exactly those names (as torch's
`weights_only=True` does) and maps each storage onto numpy. tests/models/test_torch_zip.py checks
both directions against torch itself.

    write_state_dict(path, {"bert.encoder.layer.0.output.adapters.a.adapter_down.0.weight": array})
    tensors = read_state_dict(path)
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np

# torch's legacy storage class per numpy dtype (the names torch.save writes into data.pkl).
STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
            np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
            np.dtype(np.int32): "IntStorage", np.dtype(np.int16): "ShortStorage",
            np.dtype(np.int8): "CharStorage", np.dtype(np.uint8): "ByteStorage", np.dtype(np.bool_): "BoolStorage",
            np.dtype(ml_dtypes.bfloat16): "BFloat16Storage"}
DTYPES = {name: dtype for dtype, name in STORAGES.items()}
ALIGN = 64           # torch aligns every storage record to 64 bytes (its mmap load relies on it)
_PAD_FIELD = 0x4246  # the zip "extra field" id torch's writer pads records with


class TorchZipError(ValueError):
    """The file is not a torch zip checkpoint of plain tensors."""


# --- writing ---------------------------------------------------------------------------------------
def _unicode(s: str) -> bytes:
    raw = s.encode("utf-8")
    return pickle.BINUNICODE + struct.pack("<I", len(raw)) + raw


def _int(n: int) -> bytes:
    if 0 <= n < 256:
        return pickle.BININT1 + bytes([n])
    if -(2 ** 31) <= n < 2 ** 31:
        return pickle.BININT + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return pickle.LONG1 + bytes([len(raw)]) + raw


def _tuple(items: list[bytes]) -> bytes:
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _pickle(arrays: dict[str, np.ndarray]) -> bytes:
    """data.pkl of {name: tensor}: storage i holds the i-th array (contiguous, offset 0). Names
    repeated per tensor (the rebuild function, the storage class, 'cpu') are memoised, as torch's
    pickler does, so the file is no larger than torch.save's."""
    memo: dict[bytes, int] = {}

    def once(op: bytes) -> bytes:
        if op in memo:
            return pickle.BINGET + bytes([memo[op]]) if memo[op] < 256 else pickle.LONG_BINGET + struct.pack("<I", memo[op])
        memo[op] = len(memo)
        return op + (pickle.BINPUT + bytes([memo[op]]) if memo[op] < 256 else pickle.LONG_BINPUT + struct.pack("<I", memo[op]))

    ordered = once(_global("collections", "OrderedDict"))
    out = [pickle.PROTO + bytes([2]), ordered, pickle.EMPTY_TUPLE, pickle.REDUCE, pickle.MARK]
    for key, (name, a) in enumerate(arrays.items()):
        strides = [s // a.itemsize for s in a.strides] if a.size else [1] * a.ndim
        storage = _tuple([once(_unicode("storage")), once(_global("torch", STORAGES[a.dtype])), _unicode(str(key)),
                          once(_unicode("cpu")), _int(a.size)]) + pickle.BINPERSID
        hooks = once(_global("collections", "OrderedDict")) + pickle.EMPTY_TUPLE + pickle.REDUCE
        args = _tuple([storage, _int(0), _tuple([_int(d) for d in a.shape]), _tuple([_int(s) for s in strides]),
                       pickle.NEWFALSE, hooks])
        out += [_unicode(name), once(_global("torch._utils", "_rebuild_tensor_v2")), args, pickle.REDUCE]
    out += [pickle.SETITEMS, pickle.STOP]
    return b"".join(out)


def _write_record(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """A stored record whose data starts on an ALIGN boundary (padding in the local header's extra field)."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell() + 30 + len(name.encode()) + 4  # local header, name, the extra field's own header
    pad = (-start) % ALIGN
    info.extra = struct.pack("<HH", _PAD_FIELD, pad) + b"Z" * pad
    zf.writestr(info, data)
    info.extra = b""  # the padding belongs in the local header only, not again in the central directory


def write_state_dict(path: str | os.PathLike, tensors: dict[str, np.ndarray]) -> None:
    """Writes `tensors` as torch.save(OrderedDict of tensors) would, loadable by torch.load
    (weights_only=True included). Arrays keep their dtype (one of STORAGES)."""
    arrays = {}
    for name, value in tensors.items():
        a = np.asarray(value)
        a = a if a.flags.c_contiguous else a.copy(order="C")  # (ascontiguousarray turns 0-d into 1-d)
        if a.dtype not in STORAGES:
            raise TorchZipError(f"tensor {name!r}: dtype {a.dtype} has no torch storage here "
                                f"(supported: {sorted(str(d) for d in STORAGES)})")
        arrays[name] = a.astype(a.dtype.newbyteorder("<"), copy=False)
    root = Path(path).stem or "archive"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        _write_record(zf, f"{root}/data.pkl", _pickle(arrays))
        _write_record(zf, f"{root}/.format_version", b"1")
        _write_record(zf, f"{root}/.storage_alignment", str(ALIGN).encode())
        _write_record(zf, f"{root}/byteorder", b"little")
        for key, a in enumerate(arrays.values()):
            _write_record(zf, f"{root}/data/{key}", a.tobytes())
        _write_record(zf, f"{root}/version", b"3\n")


# --- reading ---------------------------------------------------------------------------------------
def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *metadata):
    """torch._utils._rebuild_tensor_v2 onto numpy: a strided view of the storage, copied out."""
    if not size:
        return np.array(storage[offset])
    itemsize = storage.itemsize
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.array(view)


class _Loader(pickle.Unpickler):
    """Unpickles data.pkl accepting only what a state dict of plain tensors holds."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile, root: str, where: str):
        super().__init__(io.BytesIO(data))
        self.zf, self.root, self.where, self.storages = zf, root, where, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in DTYPES:
            return DTYPES[name]
        raise TorchZipError(f"{self.where}: holds {module}.{name}, not a state dict of plain tensors")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise TorchZipError(f"{self.where}: unexpected persistent id {pid!r}")
        _, dtype, key, _, numel = pid
        if key not in self.storages:
            raw = self.zf.read(f"{self.root}/data/{key}")
            self.storages[key] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"), count=numel)
        return self.storages[key]


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{name: array} of a torch.save'd state dict of tensors (any torch version's zip format)."""
    where = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise TorchZipError(f"{where}: not a torch zip checkpoint ({e}); a pre-1.6 torch file needs torch to read")
    with zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if not pkl:
            raise TorchZipError(f"{where}: no <root>/data.pkl in the zip (not written by torch.save)")
        root = pkl[0].split("/")[0]
        if f"{root}/byteorder" in zf.namelist() and zf.read(f"{root}/byteorder").strip() != b"little":
            raise TorchZipError(f"{where}: big-endian checkpoints are not supported")
        try:
            state = _Loader(zf.read(pkl[0]), zf, root, where).load()
        except TorchZipError:
            raise
        except Exception as e:  # noqa: BLE001 — a truncated or foreign pickle: one line naming the file
            raise TorchZipError(f"{where}: unreadable data.pkl ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not all(isinstance(v, np.ndarray) for v in state.values()):
        raise TorchZipError(f"{where}: not a state dict of tensors")
    return dict(state)
