"""What PyTorch's pickles name to rebuild a tensor, as local numpy builders: the allow-list shared by ganjax's
readers of PyTorch files (ganjax/metrics/torchscript.py for TorchScript archives, ganjax/stylegan2_snapshot.py for
StyleGAN2-ADA's network pickles). No PyTorch is imported and nothing a file names is called unless it is here."""

from __future__ import annotations

import collections
import pickle
import zipfile
import zlib
from typing import Any

import numpy as np

from ganjax.errors import UnsafeArchiveError

# The storage types PyTorch pickles (torch.FloatStorage, ...), by the element type they hold.
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class StorageType:
    """Stands for a pickled `torch.<Type>Storage`: the numpy element type of the storages that name it."""

    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype).newbyteorder("<")


def rebuild_tensor(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> np.ndarray:
    """`torch._utils._rebuild_tensor_v2`: the strided view of `storage` (elements, not bytes), copied C-contiguous."""
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride) or offset < 0:
        raise UnsafeArchiveError(f"a tensor of size {size}, stride {stride}, offset {offset} is malformed")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if 0 not in size and last >= storage.size:
        raise UnsafeArchiveError(f"a tensor of size {size}, stride {stride} reads past its storage of {storage.size}")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride], writeable=False
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    """`torch._utils._rebuild_parameter`: a parameter is its tensor."""
    return data


TENSOR_BUILDERS = {
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()},
}

# What zipfile and the unpicklers raise on damaged bytes: a bad CRC or header, a corrupt deflate stream, a record or
# pickle that ends early, opcodes that make no pickle, or builder arguments of the wrong number or type.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, pickle.UnpicklingError, TypeError, ValueError, IndexError)


def storage_reference(pid: Any, where: str) -> tuple[StorageType, str, int]:
    """(storage type, key, number of elements) of a persistent id: ("storage", type, key, location, numel) in a zip
    archive, with a sixth item, a view of another storage or None, in the legacy format (views are refused)."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage" and pid[5:] in ((), (None,))):
        raise UnsafeArchiveError(f"unexpected persistent id {pid!r} in {where}")
    _, storage_type, key, _, numel = pid[:5]
    if not isinstance(storage_type, StorageType) or not isinstance(key, str) or not isinstance(numel, int):
        raise UnsafeArchiveError(f"malformed storage reference {pid!r} in {where}")
    return storage_type, key, numel
