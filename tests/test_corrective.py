"""The corrective restorers (ganjax/models/corrective.py): the membrane fill, pixel unshuffling, and that each model
starts as its classical estimate and can move away from it."""

from __future__ import annotations

import functools
import importlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ganjax.errors import ConfigError
from ganjax.imresize import imresize
from ganjax.models.corrective import membrane_fill
from ganjax.models.restorers import build_restorer, depth_to_space, space_to_depth
from ganjax.tasks import build_task


def _model_config(name, **fields):
    return ml_collections.ConfigDict(dict(name=name, width=4, depth=2, batch_norm=True, dtype="float32") | fields)


def _init_and_apply(restorer, x):
    variables = jax.jit(functools.partial(restorer.module.init, train=False))(jax.random.key(0, impl="rbg"), x)
    return variables, jax.jit(functools.partial(restorer.module.apply, train=False))(variables, x)


def _ramp(height, width):
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return (0.3 * rows - 0.2 * columns + 1.0)[None, :, :, None].astype(np.float32)


def test_space_to_depth_is_pytorchs_pixel_unshuffle_and_inverts_depth_to_space():
    # Pixel (h * 2 + i, w * 2 + j), channel c goes to channel c * 4 + i * 2 + j of pixel (h, w).
    x = jnp.arange(8.0).reshape(1, 2, 2, 2)  # channels (0, 1) at (0,0), (2, 3) at (0,1), ...
    np.testing.assert_array_equal(np.asarray(space_to_depth(x, 2))[0, 0, 0], [0, 2, 4, 6, 1, 3, 5, 7])
    y = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 9, 18)), jnp.float32)
    np.testing.assert_array_equal(np.asarray(space_to_depth(depth_to_space(y, 3), 3)), np.asarray(y))


def test_membrane_fill_of_one_pixel_is_the_mean_of_its_four_neighbours():
    image = np.zeros((1, 5, 5, 1), np.float32)
    image[0, 1, 2], image[0, 3, 2], image[0, 2, 1], image[0, 2, 3] = 10.0, 20.0, 30.0, 60.0
    hole = np.zeros_like(image)
    hole[0, 2, 2] = 1.0
    filled = np.asarray(membrane_fill(jnp.asarray(image), jnp.asarray(hole)))
    assert filled[0, 2, 2, 0] == pytest.approx(30.0)  # (10 + 20 + 30 + 60) / 4
    np.testing.assert_array_equal(filled[hole == 0], image[hole == 0])


def test_membrane_fill_keeps_known_pixels_and_continues_a_linear_ramp_into_a_hole():
    """A linear function is harmonic, so the exact solution in an interior hole is the ramp itself; the coarse to
    fine solve gets within 1% of the ramp's 15-level range at 16 sweeps per level, and closer with more."""
    ramp = _ramp(32, 32)
    hole = np.zeros_like(ramp)
    hole[:, 5:20, 8:27] = 1.0
    masked, hole = jnp.asarray(ramp * (1 - hole)), jnp.asarray(hole)
    errors = [float(np.abs(np.asarray(membrane_fill(masked, hole, sweeps)) - ramp).max()) for sweeps in (4, 16, 64)]
    assert errors[1] < 0.16 and errors[2] < errors[1] < errors[0]
    np.testing.assert_array_equal(np.asarray(membrane_fill(masked, hole))[hole == 0], ramp[np.asarray(hole) == 0])
    constant = jnp.full((1, 8, 12, 3), 0.25)
    np.testing.assert_allclose(np.asarray(membrane_fill(constant * (1 - hole[:, :8, :12]), hole[:, :8, :12])), 0.25)


def test_fill_unet_starts_as_the_membrane_fill_and_its_correction_is_trained():
    restorer = build_restorer(_model_config("fill_unet"), in_channels=4, out_channels=3, scale=1)
    rng = np.random.default_rng(0)
    hole = (rng.uniform(size=(2, 8, 12, 1)) < 0.3).astype(np.float32)
    image = rng.uniform(-1, 1, (2, 8, 12, 3)).astype(np.float32) * (1 - hole)
    x = jnp.asarray(np.concatenate([image, hole], axis=-1))
    variables, restored = _init_and_apply(restorer, x)
    np.testing.assert_array_equal(np.asarray(restored), np.asarray(membrane_fill(x[..., :3], x[..., 3:])))

    def loss(params):
        return jnp.sum(restorer.module.apply({**variables, "params": params}, x, train=False) ** 2)

    grads = jax.grad(loss)(variables["params"])
    last = max((name for name in grads if name.startswith("Conv_")), key=lambda name: int(name.split("_")[1]))
    assert float(jnp.abs(grads[last]["kernel"]).max()) > 0  # the zero-initialised head learns first


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_starts_as_bicubic_upscaling(scale):
    restorer = build_restorer(_model_config("edsr", batch_norm=False), in_channels=1, out_channels=1, scale=scale)
    assert (restorer.scale, restorer.size_multiple) == (scale, 1)
    lr = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (2, 5, 7, 1)), jnp.float32)
    variables, upscaled = _init_and_apply(restorer, lr)
    assert set(variables) == {"params"}  # no batch norm
    assert upscaled.shape == (2, 5 * scale, 7 * scale, 1)
    np.testing.assert_allclose(np.asarray(upscaled), np.asarray(imresize(lr, scale)), atol=1e-6)


def test_ffdnet_removes_the_noise_it_predicts_at_a_quarter_of_the_pixels():
    restorer = build_restorer(_model_config("ffdnet", depth=3), in_channels=1, out_channels=1, scale=1)
    x = jnp.asarray(np.random.default_rng(2).uniform(-1, 1, (2, 6, 8, 1)), jnp.float32)
    variables, _ = _init_and_apply(restorer, x)
    first, last = variables["params"]["DnCNN_0"]["Conv_0"], variables["params"]["DnCNN_0"]["Conv_2"]
    assert first["kernel"].shape == (3, 3, 4, 4) and last["kernel"].shape == (3, 3, 4, 4)  # unshuffled 2x2 grey
    # The last convolution's bias is the noise predicted in each of the 4 sub-images: shuffled back, a 2x2 pattern.
    pattern = jnp.asarray([0.1, -0.2, 0.3, 0.4])
    body = {**variables["params"]["DnCNN_0"], "Conv_2": {"kernel": jnp.zeros_like(last["kernel"]), "bias": pattern}}
    params = {"DnCNN_0": body}
    restored = restorer.module.apply({**variables, "params": params}, x, train=False)
    expected = np.asarray(x) - np.tile(np.asarray(pattern).reshape(2, 2), (3, 4))[None, :, :, None]
    np.testing.assert_allclose(np.asarray(restored), expected, atol=1e-6)


def test_the_corrective_restorers_refuse_what_they_cannot_restore():
    with pytest.raises(ConfigError, match=r"fill_unet is for inpainting: .* \(3 \+ 1 channels\), got 3"):
        build_restorer(_model_config("fill_unet"), in_channels=3, out_channels=3, scale=1)
    with pytest.raises(ConfigError, match=r"ffdnet restores images of the channels it is given: 1 in, 3 out"):
        build_restorer(_model_config("ffdnet"), in_channels=1, out_channels=3, scale=1)
    with pytest.raises(ConfigError, match=r"'edsr' cannot upscale by 5; valid: 2, 3, 4, 8"):
        build_restorer(_model_config("edsr"), in_channels=1, out_channels=1, scale=5)
    restorer = build_restorer(_model_config("ffdnet"), in_channels=1, out_channels=1, scale=1)
    with pytest.raises(ConfigError, match=r"ffdnet needs an input whose height and width are multiples of 2"):
        restorer.module.init(jax.random.PRNGKey(0), jnp.zeros((1, 5, 6, 1)), train=False)


@pytest.mark.parametrize(
    "recipe,variant,restorer",
    [
        ("restore_denoise", "cpu", "ffdnet"),
        ("restore_denoise", "cpu_long", "ffdnet"),
        ("restore_sr4", "cpu", "edsr"),
        ("restore_inpaint", "cpu", "fill_unet"),
    ],
)
def test_the_cpu_recipes_build_their_corrective_restorer(recipe, variant, restorer):
    config = importlib.import_module(f"configs.{recipe}").get_config(variant)
    task = build_task(config)
    assert config.model.name == restorer and type(task.restorer.module).__module__ == "ganjax.models.corrective"
    state = jax.eval_shape(task.init_state, 0)  # the crop fits the restorer and the state builds
    assert jax.tree.leaves(state.networks["restorer"].params)
