"""Tensors out of a TorchScript archive, read with `zipfile` and numpy: no PyTorch, and no pickled code ever runs.

A TorchScript archive (what `torch.jit.save` writes; `torch.save` writes the same layout) is a zip holding
`<prefix>/data.pkl`, the pickled module tree, and `<prefix>/data/<key>`, one raw little-endian storage per key. The
pickle names the classes and functions that rebuild it; an ordinary unpickler imports and calls whatever is named, so
a tampered archive could run any code. `load_tensors` unpickles with an allow-list instead: the tensor-rebuild
functions and storage types become local numpy builders, TorchScript's own module classes (`__torch__.*`) a plain
attribute holder, and every other name is refused before anything is called.
"""

from __future__ import annotations

import pathlib
import pickle
import zipfile
from typing import Any

import numpy as np

from ganjax.errors import UnsafeArchiveError
from ganjax.torch_pickles import DAMAGED, TENSOR_BUILDERS, storage_reference


class ScriptModuleState:
    """A module of the pickled tree (a `__torch__.*` class): its attributes, tensors and submodules alike."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
            raise UnsafeArchiveError(f"a module's state must be a dict of attributes, not {type(state).__name__}")
        self.__dict__.update(state)


def _build_list(items: list) -> list:
    """`torch.jit._pickle.build_intlist`: TorchScript's typed list of ints (a module attribute such as padding)."""
    return list(items)


_ALLOWED = {**TENSOR_BUILDERS, ("torch.jit._pickle", "build_intlist"): _build_list}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allowed names; reads each storage from the archive once, when a tensor first refers to it."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, path: pathlib.Path) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.path = archive, prefix, path
        self.storages: dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.split(".")[0] == "__torch__" and name.isidentifier():
            return ScriptModuleState
        raise UnsafeArchiveError(
            f"refusing to load {module}.{name} from {self.path}: not a tensor or module state; "
            "the archive may be tampered with"
        )

    def persistent_load(self, pid: Any) -> np.ndarray:
        storage_type, key, numel = storage_reference(pid, str(self.path))
        if key not in self.storages:
            try:
                raw = self.archive.read(f"{self.prefix}/data/{key}")
            except KeyError:
                raise UnsafeArchiveError(f"{self.path} refers to storage {key!r}, which it does not contain") from None
            if len(raw) != numel * storage_type.dtype.itemsize:
                raise UnsafeArchiveError(f"storage {key!r} of {self.path} holds {len(raw)} bytes, not {numel} elements")
            self.storages[key] = np.frombuffer(raw, dtype=storage_type.dtype)
        return self.storages[key]


def _flatten(node: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
    """Adds every tensor under `node` (a module, or a dict such as a state dict) to `out` by its dotted path."""
    items = vars(node).items() if isinstance(node, ScriptModuleState) else node.items()
    for name, value in items:
        path = f"{prefix}{name}"
        if isinstance(value, np.ndarray):
            out[path] = value
        elif isinstance(value, ScriptModuleState | dict):
            _flatten(value, f"{path}.", out)


def _read_root(path: pathlib.Path) -> Any:
    """The unpickled root of the archive at `path` (a module or a dict), its storages read as numpy arrays."""
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.count("/") == 1 and name.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise UnsafeArchiveError(f"{path} should hold one <prefix>/data.pkl, found {pickles}")
        prefix = pickles[0].split("/")[0]
        if f"{prefix}/byteorder" in archive.namelist() and archive.read(f"{prefix}/byteorder") != b"little":
            raise UnsafeArchiveError(f"{path} stores big-endian tensors, which this reader does not handle")
        with archive.open(pickles[0]) as file:
            return _RestrictedUnpickler(file, archive, prefix, path).load()


def load_tensors(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """Every tensor of a TorchScript archive (or a `torch.save`d state dict), without PyTorch.

    Args:
      path: the archive, e.g. `fid_inception_v3_2015-12-05_pool3_torchscript.pt`.

    Returns:
      Dotted path in the module tree (e.g. "net.layers.conv.weight") -> numpy array, in PyTorch's layout (a
      convolution's weight is (out, in, height, width)) and element type.

    Raises:
      FileNotFoundError: nothing at `path`.
      UnsafeArchiveError: not a zip archive with one `<prefix>/data.pkl` (or a truncated one), a damaged record, a
        big-endian archive, or a pickle that names anything but tensors and module state (nothing named is ever
        called); the message names the path and what was wrong.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no TorchScript archive at {path}")
    if not zipfile.is_zipfile(path):  # also what a truncated copy is: its central directory, at the end, is lost
        raise UnsafeArchiveError(
            f"{path} is not a zip archive, or a truncated one (a TorchScript archive or a torch.save file from 1.6 on "
            "is a zip)"
        )
    try:
        root = _read_root(path)
    except UnsafeArchiveError:
        raise
    except DAMAGED as error:
        raise UnsafeArchiveError(f"{path} is damaged: {type(error).__name__}: {error}") from error
    if not isinstance(root, ScriptModuleState | dict):
        raise UnsafeArchiveError(f"{path} holds a {type(root).__name__}, not a module or a state dict")
    tensors: dict[str, np.ndarray] = {}
    _flatten(root, "", tensors)
    return tensors
