"""The PyTorch references of the GAN recipes (benchmarks/torch_models.py): the same parameter counts as ganjax's, for
every recipe and its `tiny` variant, and two finite training steps of each tiny recipe. Skipped without PyTorch
(CI does not install it)."""

from __future__ import annotations

import importlib
import math
import pathlib
import sys

import jax
import pytest

torch = pytest.importorskip("torch")

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import torch_models  # noqa: E402

from ganjax.tasks import build_task  # noqa: E402

RECIPES = ("dcgan", "sngan", "biggan", "r3gan")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread: on the shared 2-core machines PyTorch's second thread spins, and a small matrix-vector
    product (spectral norm's power iteration) then takes milliseconds instead of microseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def recipe(family: str, variant: str):
    return importlib.import_module(f"configs.cifar10_{family}").get_config(variant)


def ganjax_sizes(config) -> tuple[list[int], list[int]]:
    """The sizes of G's and D's parameter arrays in ganjax's state, sorted, from shapes only (nothing is computed)."""
    state = jax.eval_shape(build_task(config).init_state, 0)
    return tuple(
        sorted(math.prod(leaf.shape) for leaf in jax.tree.leaves(net.params))
        for net in (state.networks["generator"], state.networks["discriminator"])
    )


def ganjax_counts(config) -> tuple[int, int]:
    """(G, D) trainable parameters of ganjax's state."""
    return tuple(sum(sizes) for sizes in ganjax_sizes(config))


@pytest.mark.parametrize("variant", ["tiny", ""])
@pytest.mark.parametrize("family", RECIPES)
def test_parameter_counts_equal_ganjax(family, variant):
    config = recipe(family, variant)
    generator, discriminator = torch_models.torch_networks(config.model)
    theirs = (torch_models.count_parameters(generator), torch_models.count_parameters(discriminator))
    assert theirs == ganjax_counts(config)
    # Tensor by tensor too (as sizes: the layouts differ, NCHW against NHWC), so that no two differences cancel.
    assert tuple(sorted(p.numel() for p in net.parameters()) for net in (generator, discriminator)) == ganjax_sizes(
        config
    )


@pytest.mark.parametrize("family", RECIPES)
def test_runner_takes_finite_steps(family):
    config = recipe(family, "tiny")
    (run, sync), counts = torch_models.torch_runner(config, config.train.batch_size, device="cpu")
    assert counts == ganjax_counts(config)
    for _ in range(2):
        result = run()
        sync(result)
        assert all(math.isfinite(value.item()) for value in result.values()), result
