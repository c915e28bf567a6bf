"""StyleGAN2-ADA's network pickles (`network-snapshot-*.pkl` of NVlabs/stylegan2-ada-pytorch, and the converted
StyleGAN2 networks it publishes) read as numpy arrays, without PyTorch and without running the code they carry.

Such a pickle is a dict {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}. Each network was pickled by the
official `torch_utils.persistence`: `_reconstruct_persistent_obj(meta)`, where meta holds the source code of the
network's module (`module_src`, which an ordinary unpickler executes), the class name and the object's state (its
`_parameters`, `_buffers`, `_modules` and constructor arguments). A tensor's storage is pickled as
`torch.storage._load_from_bytes(bytes)`, the bytes a legacy `torch.save` of the storage: three small pickles (magic
number, protocol, system info), the storage's own pickle, its key, then the raw little-endian data after an int64
count.

`read_snapshot` unpickles with an allow-list (ganjax/torch_pickles.py, plus the names above and numpy's scalar
builders): the persistence records become `Module`s holding their tensors by dotted name and their constructor
arguments; the module source is kept as text and never executed; any other name is refused before it is called.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import pickle
import struct
from typing import Any

import numpy as np

from ganjax.errors import UnsafeArchiveError
from ganjax.torch_pickles import DAMAGED, TENSOR_BUILDERS, storage_reference

NETWORKS = ("G", "D", "G_ema")
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


@dataclasses.dataclass
class Module:
    """One official module: its class name, constructor arguments and tensors (parameters and buffers, by dotted
    name from this module, submodules' included), in PyTorch's layout."""

    class_name: str
    init_kwargs: dict[str, Any]
    tensors: dict[str, np.ndarray]


class _EasyDict(dict):
    """`dnnlib.util.EasyDict`, the official code's dict (constructor arguments are pickled as one): a plain dict."""


def _reconstruct_persistent(meta: Any) -> Module:
    """`torch_utils.persistence._reconstruct_persistent_obj`: the record of a module, its source never run."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise UnsafeArchiveError("a persistent object that is not a module record (type 'class' with a state dict)")
    state = meta["state"]
    tensors: dict[str, np.ndarray] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                tensors[name] = value
    for child_name, child in (state.get("_modules") or {}).items():
        if isinstance(child, Module):
            tensors.update({f"{child_name}.{name}": value for name, value in child.tensors.items()})
    return Module(str(meta.get("class_name")), dict(state.get("_init_kwargs") or {}), tensors)


def _load_storage(blob: bytes) -> np.ndarray:
    """`torch.storage._load_from_bytes`: the one storage a legacy `torch.save` wrote into `blob`, as a 1-D array."""
    file = io.BytesIO(blob)
    magic, protocol, system = (_StorageUnpickler(file).load() for _ in range(3))
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise UnsafeArchiveError("a storage that is not a legacy torch.save (wrong magic number or protocol)")
    if not isinstance(system, dict) or not system.get("little_endian", False):
        raise UnsafeArchiveError("a storage saved big-endian, which this reader does not handle")
    unpickler = _StorageUnpickler(file)
    key = unpickler.load()
    keys = _StorageUnpickler(file).load()
    if keys != [key] or key not in unpickler.references:
        raise UnsafeArchiveError(f"a storage blob should hold one storage, it lists {keys!r}")
    storage_type, numel = unpickler.references[key]
    (count,) = struct.unpack("<q", file.read(8))
    raw = file.read(count * storage_type.dtype.itemsize)
    if count != numel or len(raw) != numel * storage_type.dtype.itemsize:
        raise UnsafeArchiveError(f"a storage of {numel} elements holds {count} ({len(raw)} bytes)")
    return np.frombuffer(raw, dtype=storage_type.dtype)


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    """`numpy.core.multiarray.scalar`: a numpy scalar of `dtype` from its bytes (numeric types only)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise UnsafeArchiveError(f"a numpy scalar of {dtype!r} that is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


_SNAPSHOT_NAMES = {
    **TENSOR_BUILDERS,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("builtins", "set"): set,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class _StorageUnpickler(pickle.Unpickler):
    """The pickles inside a storage blob: storage types only; records each storage reference it meets."""

    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self.references: dict[str, tuple[Any, int]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and (module, name) in TENSOR_BUILDERS:
            return TENSOR_BUILDERS[(module, name)]
        raise UnsafeArchiveError(f"refusing to load {module}.{name} from a tensor's storage: not a storage type")

    def persistent_load(self, pid: Any) -> str:
        storage_type, key, numel = storage_reference(pid, "a tensor's storage")
        self.references[key] = (storage_type, numel)
        return key


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SNAPSHOT_NAMES:
            return _SNAPSHOT_NAMES[(module, name)]
        raise UnsafeArchiveError(
            f"refusing to load {module}.{name}: not a tensor, a module record or its arguments; the file may be "
            "tampered with, or is not a StyleGAN2-ADA network pickle"
        )


def read_snapshot(path: str | pathlib.Path) -> dict[str, Module]:
    """The networks of a StyleGAN2-ADA pickle: {"G": Module, "D": Module, "G_ema": Module}.

    Raises:
      FileNotFoundError: nothing at `path`.
      UnsafeArchiveError: a damaged file, one that names code or anything but tensors and module records, or one
        without the three networks; the message names the path and what was wrong.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no StyleGAN2-ADA network pickle at {path}")
    try:
        with path.open("rb") as file:
            root = _SnapshotUnpickler(file).load()
    except UnsafeArchiveError as error:
        raise UnsafeArchiveError(f"{path}: {error}") from None
    except DAMAGED as error:
        raise UnsafeArchiveError(f"{path} is damaged: {type(error).__name__}: {error}") from error
    missing = [name for name in NETWORKS if not isinstance(root, dict) or not isinstance(root.get(name), Module)]
    if missing:
        raise UnsafeArchiveError(f"{path} is not a StyleGAN2-ADA network pickle: it has no {', '.join(missing)}")
    return {name: root[name] for name in NETWORKS}
