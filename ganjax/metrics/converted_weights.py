"""Pretrained weights converted into a Flax network's variables (the FID Inception archive, LPIPS's files), checked
against the variables that network expects before anything runs on them."""

from __future__ import annotations

import pathlib
from typing import Any

import jax

from ganjax.errors import ConfigError


def variable_shapes(variables: Any) -> dict[str, tuple[int, ...]]:
    """The shape of every array of a variables tree, by "collection/module/.../name"."""
    leaves = jax.tree_util.tree_leaves_with_path(variables)
    return {jax.tree_util.keystr(key, simple=True, separator="/"): tuple(leaf.shape) for key, leaf in leaves}


def check_fits(variables: Any, expected: Any, source: str | pathlib.Path, kind: str, network: str) -> None:
    """Refuses converted `variables` whose arrays differ from `expected` (the network's own, e.g. from
    jax.eval_shape of its init) in name or shape.

    Raises:
      ConfigError: one line naming `source` (a `kind`, such as "archive" or "file"), `network` and every array that
        differs: "conv1/kernel: (3, 3) in the file, absent in the network; ...".
    """
    have, want = variable_shapes(variables), variable_shapes(expected)
    if have != want:
        differ = [
            f"{key}: {have.get(key, 'absent')} in the {kind}, {want.get(key, 'absent')} in the network"
            for key in sorted(have.keys() | want.keys())
            if have.get(key) != want.get(key)
        ]
        raise ConfigError(f"{source} does not fit {network}: {'; '.join(differ)}")
