"""StyleGAN2's layers (ganjax/models/stylegan2_layers.py) on cases worked by hand: demodulation's unit-norm kernels
and unit-variance outputs, the batched modulated convolution against one convolution per sample, minibatch standard
deviation's groups, the activations' gains and clamp, and the equalised learning rate's run-time scaling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ganjax.models.stylegan2_layers import (
    STYLEGAN2_FIR,
    EqualizedConv,
    EqualizedDense,
    bias_act,
    minibatch_std,
    modulated_conv2d,
    normalize_2nd_moment,
)
from ganjax.resampling import conv2d_resample


def _per_sample_kernels(kernel, styles):
    """Each sample's kernel written out: inputs scaled by the style, each output channel divided by its norm."""
    kernels = kernel[None] * styles[:, None, None, :, None]
    return kernels / np.sqrt(np.sum(kernels**2, axis=(1, 2, 3), keepdims=True) + 1e-8)


@pytest.mark.parametrize("up", [1, 2])
def test_the_modulated_convolution_is_one_convolution_per_sample_with_unit_norm_kernels(up):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 8, 4)).astype(np.float32)
    kernel = rng.normal(size=(3, 3, 4, 5)).astype(np.float32)
    styles = rng.uniform(0.2, 2.0, size=(3, 4)).astype(np.float32)
    kernels = _per_sample_kernels(kernel, styles)
    np.testing.assert_allclose(np.sqrt(np.sum(kernels**2, axis=(1, 2, 3))), 1.0, rtol=1e-6)
    got = modulated_conv2d(jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(styles), up=up, padding=1)
    fir = STYLEGAN2_FIR if up > 1 else None
    for sample in range(3):
        want = conv2d_resample(x[sample : sample + 1], kernels[sample], fir, up=up, padding=1)
        np.testing.assert_allclose(np.asarray(got[sample : sample + 1]), np.asarray(want), rtol=1e-4, atol=1e-5)


def test_demodulation_keeps_unit_variance_inputs_at_unit_variance():
    """With i.i.d. N(0, 1) inputs each output pixel is a unit-norm combination of them: variance 1 away from the
    zero padding, whatever the styles and weights (which is why StyleGAN2 replaced AdaIN by it)."""
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (4, 48, 48, 16))
    kernel = jax.random.normal(keys[1], (3, 3, 16, 6)) * jnp.arange(1.0, 7.0)  # output channels of unequal scale
    styles = jax.random.uniform(keys[2], (4, 16), minval=0.1, maxval=5.0)
    y = modulated_conv2d(x, kernel, styles, padding=1)[:, 1:-1, 1:-1]
    np.testing.assert_allclose(np.asarray(jnp.var(y, axis=(1, 2))), 1.0, atol=0.1)
    undemodulated = modulated_conv2d(x, kernel, styles, demodulate=False, padding=1)[:, 1:-1, 1:-1]
    assert float(jnp.max(jnp.var(undemodulated, axis=(1, 2)))) > 10.0


def test_minibatch_std_by_hand():
    # 4 samples of one pixel and 2 channels; groups of 2 are samples {0, 2} and {1, 3}.
    x = jnp.asarray([[1.0, 0.0], [5.0, 2.0], [3.0, 4.0], [5.0, 8.0]]).reshape(4, 1, 1, 2)
    # Group {0, 2}: population stds |1-3|/2 = 1 and |0-4|/2 = 2, mean 1.5; group {1, 3}: 0 and 3, mean 1.5 (+1e-8).
    y = np.asarray(minibatch_std(x, group_size=2))
    assert y.shape == (4, 1, 1, 3)
    np.testing.assert_allclose(y[:, 0, 0, :2], np.asarray(x)[:, 0, 0])
    np.testing.assert_allclose(y[:, 0, 0, 2], [1.5, 1.5 + 0.5e-4, 1.5, 1.5 + 0.5e-4], rtol=1e-6)
    # Two channel blocks: each block's own mean.
    np.testing.assert_allclose(np.asarray(minibatch_std(x, 2, num_channels=2))[:, 0, 0, 2:], [[1, 2], [1e-4, 3]] * 2,
                               rtol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="a batch of 6 does not split into groups of 4"):
        minibatch_std(jnp.zeros((6, 1, 1, 2)), group_size=4)


def test_activation_gain_bias_and_clamp():
    x = jnp.asarray([[-1.0, 2.0]])
    np.testing.assert_allclose(bias_act(x, jnp.asarray([0.5, 0.5]), "lrelu"), [[-0.1 * np.sqrt(2), 2.5 * np.sqrt(2)]],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(bias_act(x, None, "linear", gain=3.0, clamp=4.0), [[-3.0, 4.0]])
    unit = normalize_2nd_moment(jnp.asarray([[3.0, 4.0]]))  # mean square 12.5
    np.testing.assert_allclose(unit, [[3 / np.sqrt(12.5), 4 / np.sqrt(12.5)]], rtol=1e-6)


def test_equalized_dense_scales_at_run_time_by_the_learning_rate_multiplier():
    layer = EqualizedDense(3, lr_multiplier=0.01, bias_init=1.0)
    x = jax.random.normal(jax.random.PRNGKey(1), (5, 64))
    params = layer.init(jax.random.PRNGKey(0), x)["params"]
    # Stored at 1 / 0.01 the scale they act at: Adam's steps on them are 100 times smaller in effect.
    assert 80 < float(jnp.std(params["kernel"])) < 120 and np.allclose(params["bias"], 1.0)
    want = x @ (params["kernel"] * 0.01 / 8.0) + 0.01
    np.testing.assert_allclose(layer.apply({"params": params}, x), want, rtol=1e-5, atol=1e-5)


def test_equalized_conv_downsamples_with_its_gain_and_clamp():
    layer = EqualizedConv(4, down=2, activation="linear", gain=0.5, clamp=0.1)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 8, 8, 3))
    params = layer.init(jax.random.PRNGKey(0), x)["params"]
    y = layer.apply({"params": params}, x)
    assert y.shape == (2, 4, 4, 4) and float(jnp.max(jnp.abs(y))) == pytest.approx(0.05)
    unclamped = EqualizedConv(4, down=2, activation="linear").apply({"params": params}, x)
    want = conv2d_resample(x, params["kernel"] / np.sqrt(27.0), STYLEGAN2_FIR, down=2, padding=1)
    np.testing.assert_allclose(unclamped, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, np.clip(0.5 * np.asarray(want), -0.05, 0.05), rtol=1e-5, atol=1e-6)
