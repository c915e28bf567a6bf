"""The VAE task: a variational autoencoder (Kingma & Welling 2014) trained on the ELBO, or a VAE-GAN (Larsen et al.
2016) whose decoder is also a GAN's generator and whose reconstructions are measured in the discriminator's features.

Each train step takes a batch of images (1, B, H, W, C) in [-1, 1] and, with the step's own randomness (so resume
stays exact), prepares the likelihood's targets (Bernoulli binarises them afresh: dynamic binarisation), encodes
them, draws z from q(z|x) by reparameterisation and updates:

- a VAE (`--config.objective.likelihood` bernoulli, logistic or gaussian): encoder and decoder together on
  -log p(x|z) + beta_t * KL (ganjax/elbo.py);
- a VAE-GAN (`--config.objective.likelihood=discriminator`): first the discriminator (DCGAN's, any registered
  `--config.loss` and penalties) on real images against generated ones, the first half of the batch
  reconstructions and the second half decoded prior samples (so every loss and penalty sees batches of one size);
  then, against the updated discriminator, the encoder on beta_t * KL - log N(D_l(x); D_l(x~), I) and the decoder on
  feature_weight * that reconstruction term + the adversarial generator loss (Larsen et al., eqs. 8-10), D_l being
  the discriminator's last convolutional layer.

Samples, reconstructions and FID show the likelihood's mean image (the Bernoulli probabilities), decoded from the
parameters' EMA (the recipes set `ema.decay=0`: the parameters themselves, as the likelihood tables use). The
evaluation's bounds (`elbo`, `iwae`: ganjax/metrics/likelihood.py) score the first `eval.num_bound_images` images of
the split `eval.split`, each with its own fixed randomness (binarisation and latent draws), whatever the batching.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from ganjax import elbo, parallel
from ganjax.adversarial import Adversary
from ganjax.data import Source, open_source
from ganjax.errors import ConfigError, check
from ganjax.images import image_grid, picture
from ganjax.metrics.likelihood import BOUND_SCORES, BoundSamples
from ganjax.models import dcgan
from ganjax.models.base import compute_dtype
from ganjax.models.vae import Vae, VaeNetworks, build_vae_networks
from ganjax.optim import make_optimizers
from ganjax.sampling import EVAL_SEED_OFFSET, GRID_SEED_OFFSET, normal_latents
from ganjax.scoring import Evaluation, score
from ganjax.state import PyTree, TrainState, init_network, initial_ema
from ganjax.task import TASKS, Drawing, DrawRequest, Generative, StepFn
from ganjax.tasks.vae_gan import VaeGanUpdate
from ganjax.updates import ONE_DEVICE, Batch, Ema, Layout, Metrics, health, update_network

VAE, DISCRIMINATOR = "vae", "discriminator"
DISCRIMINATOR_LIKELIHOOD = "discriminator"  # --config.objective.likelihood of a VAE-GAN
GRID_COLUMNS = 8
DECODES_PER_CALL = 4096  # latent draws decoded at once by the importance-weighted bound (memory: about 1 GB for CIFAR)


@TASKS.register("vae")
@dataclasses.dataclass(frozen=True)
class VaeTask(Generative, VaeGanUpdate):
    """A VAE or VAE-GAN, rebuilt from the config. Its state's networks: "vae" (encoder and decoder, one optimizer)
    and, for a VAE-GAN, "discriminator".

    Attributes:
      networks: the encoder/decoder module and its shapes (ganjax/models/vae.py).
      likelihood: p(x|z) over pixels (ganjax/elbo.py); None for a VAE-GAN, whose decoder outputs images (tanh).
      beta: the KL's weight once warmed up (1: the ELBO).
      kl_warmup_steps: the KL's weight rises linearly from 0 to beta over these steps (0: none).
      g_optimizer: the encoder's and decoder's Optax transformation.
      adversary: a VAE-GAN's discriminator, images (B, H, W, C) -> logits (B,) that records its features, with its
        loss, optimizer and penalties; None for a VAE.
      feature_weight: gamma, the feature reconstruction's weight in the decoder's loss against the adversarial one.
      ema: the parameters' EMA, which samples and evaluation use.
    """

    name: ClassVar[str] = "vae"
    metrics: ClassVar[tuple[str, ...]] = tuple(BOUND_SCORES)
    refuses: ClassVar[tuple[str, ...]] = ("augment.policy", "optim.d_steps", "data.crop")
    batches_per_step: ClassVar[int] = 1

    networks: VaeNetworks
    likelihood: elbo.Likelihood | None
    beta: float
    kl_warmup_steps: int
    g_optimizer: optax.GradientTransformation
    ema: Ema
    adversary: Adversary | None = None
    feature_weight: float = 1.0
    config: ml_collections.ConfigDict = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def penalty_interval(self) -> int:
        return 1 if self.adversary is None else self.adversary.penalty_interval

    # ---------------------------------------------------------------------------------------------- the networks

    def encode(self, params: PyTree, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """images (B, H, W, C) -> q(z|x)'s mean and log variance, each (B, latent_dim)."""
        return self.networks.module.apply({"params": params}, images, method=Vae.encode)

    def decode(self, params: PyTree, z: jax.Array) -> jax.Array:
        """latents (B, latent_dim) -> the decoder's outputs (B, H, W, C * outputs per channel)."""
        return self.networks.module.apply({"params": params}, z, method=Vae.decode)

    def images(self, output: jax.Array) -> jax.Array:
        """Decoder outputs -> images (B, H, W, C) in [-1, 1]: the likelihood's mean, or a VAE-GAN's tanh."""
        return jnp.tanh(output) if self.likelihood is None else self.likelihood.mean(output)

    def sample(self, params: PyTree, z: jax.Array) -> jax.Array:
        """Decoded latents (B, latent_dim) -> images (B, H, W, C) in [-1, 1]."""
        return self.images(self.decode(params, z))

    def reconstruct(self, params: PyTree, images: jax.Array) -> jax.Array:
        """Images -> the decoded posterior means, (B, H, W, C) in [-1, 1]."""
        return self.sample(params, self.encode(params, images)[0])

    def interpolate(self, params: PyTree, start: jax.Array, end: jax.Array, frames: int) -> jax.Array:
        """Decodes `frames` points on the line between the posterior means of images start and end (each (S, H, W,
        C)): (S * frames, H, W, C), strip by strip."""
        a, b = self.encode(params, start)[0], self.encode(params, end)[0]
        t = jnp.linspace(0.0, 1.0, frames)[None, :, None]
        z = (1.0 - t) * a[:, None] + t * b[:, None]
        return self.sample(params, z.reshape(-1, z.shape[-1]))

    def judge(self, d_variables: PyTree, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The VAE-GAN's discriminator in inference mode: images (B, H, W, C) -> (logits (B,), the features of its
        last convolution (B, h, w, c)), both differentiable in the images."""
        logits, recorded = self.adversary.module.apply(
            d_variables, images, None, train=False, mutable=["intermediates"]
        )
        return logits, recorded["intermediates"]["features"][0]

    def negative_bounds(self, params: PyTree, images: jax.Array, keys: jax.Array, num_samples: int) -> jax.Array:
        """Each image's negative bound on log p(x), nats (B,) (`elbo.negative_bounds`)."""
        return elbo.negative_bounds(
            self.likelihood,
            lambda x: self.encode(params, x),
            lambda z: self.decode(params, z),
            images,
            keys,
            num_samples,
            DECODES_PER_CALL,
        )

    # ---------------------------------------------------------------------------------------------- the task protocol

    def init_state(self, seed: int | jax.Array) -> TrainState:
        g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
        images = jnp.zeros((1, *self.networks.sample_shape), jnp.float32)
        z = jnp.zeros((1, self.networks.latent_dim), jnp.float32)
        networks = {VAE: init_network(self.networks.module, self.g_optimizer, g_key, images, z)}
        if self.adversary is not None:
            networks[DISCRIMINATOR] = self.adversary.init(d_key, images, None)
        return TrainState(jnp.zeros((), jnp.int32), rng, networks, initial_ema(networks, (VAE,)))

    def make_step(self, layout: Layout = ONE_DEVICE, *, regularize: bool = True) -> StepFn:
        """The train step. Its metrics: `g_loss` (the VAE's loss; a VAE-GAN's decoder loss), `g_kl` (nats), the KL's
        weight, and `g_reconstruction` (-log p(x|z), nats) with `g_nelbo` (-ELBO at beta 1) for a VAE, or the
        encoder's loss, the feature reconstruction and the adversarial term with the discriminator's metrics for a
        VAE-GAN; gradient and parameter norms and non-finite flags."""

        def vae_step(state: TrainState, images: jax.Array, keys: jax.Array, kl_weight: jax.Array):
            target_key, z_key = keys[0], keys[1]
            target = self.likelihood.prepare(target_key, images)

            def objective(params):
                mean, log_var = self.encode(layout.gather(params), target)
                z = elbo.reparameterize(z_key, mean, log_var)
                log_px = self.likelihood.log_prob(self.decode(layout.gather(params), z), target)
                kl = elbo.kl_to_standard_normal(mean, log_var)
                terms = {"g_reconstruction": -jnp.mean(log_px), "g_kl": jnp.mean(kl), "g_nelbo": jnp.mean(kl - log_px)}
                return jnp.mean(kl_weight * kl - log_px), terms

            (loss, terms), grads = jax.value_and_grad(objective, has_aux=True)(state.networks[VAE].params)
            return {}, grads, {"g_loss": loss, **terms}, loss

        def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
            keys = jax.random.split(jax.random.fold_in(state.rng, state.step), 4)
            kl_weight = elbo.kl_weight(state.step, self.beta, self.kl_warmup_steps)
            update_vae = (
                vae_step if self.adversary is None else functools.partial(self.vae_gan_update, layout, regularize)
            )
            updated, grads, metrics, total = update_vae(state, batch["image"][0], keys, kl_weight)
            vae = update_network(self.g_optimizer, state.networks[VAE], grads)
            networks = {**state.networks, **updated, VAE: vae}
            new_state = state.replace(
                step=state.step + 1, networks=networks, ema=self.ema.update(state.ema, networks, state.step)
            )
            return new_state, {**metrics, "kl_weight": kl_weight, **health("g", total, grads, vae.params)}

        return step

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        shape = (1, batch_size, *self.networks.sample_shape)
        return {"image": jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)}

    def check_data(self, sources: dict[str, Source]) -> None:
        source = sources[""]
        shape = source.sample_shape
        if self.likelihood is not None and self.likelihood.levels == 2 and len(shape) == 3 and shape[-1] != 1:
            raise ConfigError(
                f"the bernoulli likelihood models binarised grey images (dynamically binarised MNIST), but "
                f"{source.name} has {shape[-1]}-channel images; use --config.objective.likelihood=logistic or gaussian"
            )
        if shape != self.networks.sample_shape:
            hint = ""
            if len(shape) == 3 and shape[0] == shape[1]:
                hint = f"; for this data set --config.model.resolution={shape[0]} --config.model.channels={shape[-1]}"
            raise ConfigError(
                f"the data and the model disagree: {source.name} has samples of shape {shape}, but the VAE models "
                f"images of shape {self.networks.sample_shape}{hint}"
            )

    def sample_grid(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], np.ndarray]:
        """Rows of fixed test images each followed by the row of their reconstructions (num_samples // 32 pairs, at
        least 1), then decoded prior samples for the rest of num_samples (at least a row)."""
        num_samples = self.config.train.num_samples
        pairs = max(1, num_samples // (4 * GRID_COLUMNS))
        inputs = jnp.asarray(evaluation_images(self.config, GRID_COLUMNS * pairs)[0])
        num_prior = max(GRID_COLUMNS, num_samples - 2 * GRID_COLUMNS * pairs)
        z = normal_latents(self.config.seed + GRID_SEED_OFFSET, num_prior, self.networks.latent_dim)
        replicated = parallel.replicated(mesh)
        reconstruct = jax.jit(self.reconstruct, out_shardings=replicated)
        sample = jax.jit(self.sample, out_shardings=replicated)

        def grid(state: TrainState) -> np.ndarray:
            reconstructions = np.asarray(reconstruct(state.ema[VAE], inputs))
            rows = []
            for pair in range(pairs):
                rows += [np.asarray(inputs[pair * GRID_COLUMNS : (pair + 1) * GRID_COLUMNS])]
                rows += [reconstructions[pair * GRID_COLUMNS : (pair + 1) * GRID_COLUMNS]]
            rows.append(np.asarray(sample(state.ema[VAE], z)))
            return image_grid(np.concatenate(rows), columns=GRID_COLUMNS)

        return grid

    def evaluator(self, mesh: jax.sharding.Mesh) -> Callable[[TrainState], Evaluation]:
        """Every metric in config.eval.metrics: the Inception ones on decoded prior samples from fixed latents, the
        bounds on the test images (read once, here)."""
        config = self.config
        eval_seed = config.eval.seed + EVAL_SEED_OFFSET
        replicated = parallel.replicated(mesh)
        sample = jax.jit(self.sample, out_shardings=replicated)
        bound = jax.jit(self.negative_bounds, static_argnums=3, out_shardings=replicated)
        wants_bounds = any(name in BOUND_SCORES for name in config.eval.metrics)
        test, protocol = evaluation_images(config, config.eval.num_bound_images) if wants_bounds else (None, {})
        if "iwae" in config.eval.metrics:
            protocol["iwae_samples"] = str(config.eval.iwae_samples)
        batch, feature_mesh = config.eval.batch_size, parallel.local_mesh()

        def evaluate(state: TrainState) -> Evaluation:
            def draw(num: int) -> np.ndarray:
                z = normal_latents(eval_seed, num, self.networks.latent_dim)
                parts = [sample(state.ema[VAE], z[start : start + batch]) for start in range(0, num, batch)]
                return np.concatenate([np.asarray(part) for part in parts])

            def bounds(metric: str) -> np.ndarray:
                num_samples = 1 if metric == "elbo" else config.eval.iwae_samples
                keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(eval_seed), i))(jnp.arange(len(test)))
                parts = [
                    bound(state.ema[VAE], test[i : i + batch], keys[i : i + batch], num_samples)
                    for i in range(0, len(test), batch)
                ]
                return np.concatenate([np.asarray(part, np.float64) for part in parts])

            levels = self.likelihood.levels if self.likelihood is not None else 256
            size = int(np.prod(self.networks.sample_shape))
            return score(BoundSamples(draw, bounds, size, levels, feature_mesh), config, protocol)

        return evaluate

    def draw(self, state: TrainState, request: DrawRequest) -> Drawing:
        """Decoded prior latents (the likelihood's mean image), or strips that walk between the encodings of two
        test images: each starts with the first image, decodes `request.frames` points on the line between the two
        posterior means, and ends with the second (pairs drawn by the seed from the run's eval split)."""
        check(request.label is None, f"--class={request.label}: VAE runs are unconditional; drop --class")
        params = state.ema[VAE]
        if not request.interpolate:
            z = normal_latents(request.seed, request.num, self.networks.latent_dim)
            samples = np.asarray(jax.jit(self.sample)(params, z))
            return Drawing(picture(samples, math.ceil(math.sqrt(request.num))), len(samples), "sample")
        strips, frames = max(1, request.num // request.frames), request.frames
        test, _ = evaluation_images(self.config, 0)
        rng = np.random.default_rng(request.seed)
        pairs = rng.choice(len(test), size=(strips, 2), replace=len(test) < 2 * strips)
        start, end = jnp.asarray(test[pairs[:, 0]]), jnp.asarray(test[pairs[:, 1]])
        decoded = np.asarray(jax.jit(self.interpolate, static_argnums=3)(params, start, end, frames))
        decoded = decoded.reshape(strips, frames, *decoded.shape[1:])
        rows = np.concatenate([np.asarray(start)[:, None], decoded, np.asarray(end)[:, None]], axis=1)
        return Drawing(picture(rows.reshape(-1, *rows.shape[2:]), frames + 2), strips * frames, "interpolation")

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> VaeTask:
        """The VAE or VAE-GAN a validated config describes; ConfigError for what only this task can check."""
        objective, model = config.objective, config.model
        vae_gan = objective.likelihood == DISCRIMINATOR_LIKELIHOOD
        if not vae_gan and objective.likelihood not in elbo.LIKELIHOODS.names():
            valid = ", ".join([*elbo.LIKELIHOODS.names(), DISCRIMINATOR_LIKELIHOOD])
            raise ConfigError(
                f"unknown likelihood {objective.likelihood!r} (--config.objective.likelihood); valid: {valid}"
            )
        likelihood = None if vae_gan else elbo.LIKELIHOODS.get(objective.likelihood)
        check(
            likelihood is None or likelihood.levels != 2 or model.channels == 1,
            f"the bernoulli likelihood models binarised grey images, but --config.model.channels={model.channels}; "
            "use --config.objective.likelihood=logistic or gaussian for colour images",
        )
        check(objective.beta >= 0, f"--config.objective.beta must be >= 0; got {objective.beta}")
        check(
            objective.kl_warmup_steps >= 0,
            f"--config.objective.kl_warmup_steps must be 0 (none) or positive; got {objective.kl_warmup_steps}",
        )
        weight, iwae_samples = objective.feature_weight, config.eval.iwae_samples
        check(weight >= 0, f"--config.objective.feature_weight must be >= 0; got {weight}")
        check(iwae_samples >= 1, f"--config.eval.iwae_samples must be at least 1; got {iwae_samples}")
        num_bound = config.eval.num_bound_images
        check(
            num_bound >= 0, f"--config.eval.num_bound_images must be 0 (the whole split) or positive; got {num_bound}"
        )
        bounds = [name for name in config.eval.metrics if name in BOUND_SCORES]
        check(
            not (vae_gan and bounds),
            f"--config.eval.metrics asks for {', '.join(bounds)}, a bound on the pixels' likelihood, but a VAE-GAN "
            "(--config.objective.likelihood=discriminator) has none: score it with fid, kid or precision_recall",
        )
        penalties = [name for name, weight in config.penalties.items() if weight]
        check(
            vae_gan or not penalties,
            f"--config.penalties.{', '.join(penalties)} regularises a discriminator, and a VAE has one only as a "
            "VAE-GAN (--config.objective.likelihood=discriminator)",
        )
        g_optimizer, d_optimizer = make_optimizers(config)
        adversary = None
        if vae_gan:
            dtype = compute_dtype(model.dtype)
            module = dcgan.Discriminator(model.resolution, model.d_width, model.d_spectral_norm, dtype)
            adversary = Adversary.from_config(config, module, d_optimizer)
        return cls(
            networks=build_vae_networks(model, 1 if vae_gan else likelihood.outputs_per_channel),
            likelihood=likelihood,
            beta=float(objective.beta),
            kl_warmup_steps=int(objective.kl_warmup_steps),
            g_optimizer=g_optimizer,
            adversary=adversary,
            feature_weight=float(objective.feature_weight),
            ema=Ema.from_config(config),
            config=config,
        )


def evaluation_images(config: ml_collections.ConfigDict, num: int) -> tuple[np.ndarray, dict[str, str]]:
    """The first `num` images (0: all) of the split `config.eval.split`, float32 (N, H, W, C) in [-1, 1], and the
    protocol line that says which they are and how the likelihood saw them."""
    data_config = ml_collections.ConfigDict(config.data.to_dict() | {"split": config.eval.split})
    source = open_source(data_config, config.eval.seed)
    count = source.num_examples if not num else min(num, source.num_examples)
    images = source.read(np.arange(count))["image"]
    seen = (
        "dynamically binarised (one fixed draw per image)"
        if config.objective.likelihood == "bernoulli"
        else "256 levels"
    )
    return images, {"bound_images": f"{source.name}, split {config.eval.split}, first {count}, {seen}"}
