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
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import linen as nn

from ganjax import elbo, parallel
from ganjax.data import Source, open_source
from ganjax.data.pipeline import crop_shape
from ganjax.errors import ConfigError
from ganjax.evaluation import Evaluation, agree_across_processes
from ganjax.losses import LOSSES, LossPair
from ganjax.metrics import METRICS, inception_metrics
from ganjax.metrics.likelihood import BOUND_SCORES, BoundSamples
from ganjax.models import dcgan
from ganjax.models.base import compute_dtype
from ganjax.models.vae import Vae, VaeNetworks, build_vae_networks
from ganjax.optim import make_optimizers
from ganjax.penalties import PENALTIES, Inputs
from ganjax.sampling import EVAL_SEED_OFFSET, GRID_SEED_OFFSET, image_grid, normal_latents
from ganjax.state import NetworkState, PyTree, TrainState, init_network
from ganjax.step import Metrics, StepFn, ema_decay, health, update, update_discriminator
from ganjax.tasks import TASKS

Batch = dict[str, jax.Array]
DISCRIMINATOR_LIKELIHOOD = "discriminator"  # --config.objective.likelihood of a VAE-GAN
GRID_COLUMNS = 8
DECODES_PER_CALL = 4096  # latent draws decoded at once by the importance-weighted bound (memory: about 1 GB for CIFAR)


@dataclasses.dataclass(frozen=True)
class VaeTask:
    """The static part of a VAE or VAE-GAN, rebuilt from the config.

    Attributes:
      networks: the encoder/decoder module and its shapes (ganjax/models/vae.py).
      likelihood: p(x|z) over pixels (ganjax/elbo.py); None for a VAE-GAN, whose decoder outputs images (tanh).
      beta: the KL's weight once warmed up (1: the ELBO).
      kl_warmup_steps: the KL's weight rises linearly from 0 to beta over these steps (0: none).
      g_optimizer: the encoder's and decoder's Optax transformation; d_optimizer the discriminator's.
      discriminator: a VAE-GAN's discriminator, images (B, H, W, C) -> logits (B,) that records its features; None.
      loss: the VAE-GAN's adversarial objective (ganjax/losses.py).
      feature_weight: gamma, the feature reconstruction's weight in the decoder's loss against the adversarial one.
      penalties: (name, weight) of the discriminator's penalties; regularization_interval: lazy regularisation.
      ema_decay, ema_rampup: the parameters' EMA, which samples and evaluation use.
    """

    networks: VaeNetworks
    likelihood: elbo.Likelihood | None
    beta: float
    kl_warmup_steps: int
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation
    discriminator: nn.Module | None = None
    loss: Callable[[jax.Array, jax.Array], LossPair] | None = None
    feature_weight: float = 1.0
    penalties: tuple[tuple[str, float], ...] = ()
    regularization_interval: int = 1
    ema_decay: float = 0.0
    ema_rampup: float = 0.0

    batches_per_step: ClassVar[int] = 1

    @property
    def adversarial(self) -> bool:
        return self.discriminator is not None

    @property
    def penalty_interval(self) -> int:
        return self.regularization_interval if self.penalties and self.adversarial else 1

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
        logits, recorded = self.discriminator.apply(d_variables, images, None, train=False, mutable=["intermediates"])
        return logits, recorded["intermediates"]["features"][0]

    def negative_bounds(self, params: PyTree, images: jax.Array, keys: jax.Array, num_samples: int) -> jax.Array:
        """Each image's negative bound on log p(x), nats (B,): the ELBO's one-sample estimate with the KL in closed
        form when num_samples is 1, else the importance-weighted bound with that many samples. Image i (H, W, C)
        draws its target and latents from keys[i] alone."""
        per_image = max(1, DECODES_PER_CALL // len(images))
        chunk = max(divisor for divisor in range(1, min(num_samples, per_image) + 1) if num_samples % divisor == 0)

        def one(key: jax.Array, image: jax.Array) -> jax.Array:
            target_key, z_key = jax.random.split(key)
            target = self.likelihood.prepare(target_key, image[None])
            mean, log_var = self.encode(params, target)
            if num_samples == 1:
                z = elbo.reparameterize(z_key, mean, log_var)
                log_px = self.likelihood.log_prob(self.decode(params, z), target)
                return (elbo.kl_to_standard_normal(mean, log_var) - log_px)[0]

            def log_weights(chunk_key: jax.Array) -> jax.Array:
                z = elbo.reparameterize(chunk_key, jnp.repeat(mean, chunk, 0), jnp.repeat(log_var, chunk, 0))
                targets = jnp.broadcast_to(target, (chunk, *target.shape[1:]))
                log_px = self.likelihood.log_prob(self.decode(params, z), targets)
                return log_px + elbo.gaussian_log_density(z) - elbo.gaussian_log_density(z, mean, log_var)

            weights = jax.lax.map(log_weights, jax.random.split(z_key, num_samples // chunk))
            return -elbo.importance_weighted_bound(weights.reshape(num_samples, 1))[0]

        return jax.vmap(one)(keys, images)

    # ---------------------------------------------------------------------------------------------- the task protocol

    def init_state(self, seed: int | jax.Array) -> TrainState:
        g_key, d_key, rng = jax.random.split(jax.random.PRNGKey(seed), 3)
        images = jnp.zeros((1, *self.networks.sample_shape), jnp.float32)
        z = jnp.zeros((1, self.networks.latent_dim), jnp.float32)
        generator = init_network(self.networks.module, self.g_optimizer, g_key, images, z)
        if self.adversarial:
            discriminator = init_network(self.discriminator, self.d_optimizer, d_key, images, None)
        else:  # no discriminator: an empty network keeps the state's layout
            discriminator = NetworkState(params={}, collections={}, opt_state=self.d_optimizer.init({}))
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            rng=rng,
            generator=generator,
            discriminator=discriminator,
            ema_params=jax.tree.map(jnp.copy, generator.params),
            augment_p=jnp.zeros((), jnp.float32),  # unused: VAEs do not augment
        )

    def make_step(
        self,
        data_sharding: jax.sharding.Sharding | None = None,
        *,
        regularize: bool = True,
        param_sharding: jax.sharding.Sharding | None = None,
    ) -> StepFn:
        """The train step. Its metrics: `g_loss` (the VAE's loss; a VAE-GAN's decoder loss), `g_kl` (nats), the KL's
        weight, and `g_reconstruction` (-log p(x|z), nats) with `g_nelbo` (-ELBO at beta 1) for a VAE, or the
        encoder's loss, the feature reconstruction and the adversarial term with the discriminator's metrics for a
        VAE-GAN; gradient and parameter norms and non-finite flags."""
        del data_sharding  # every array in the step is laid out like the batch already
        weights = {name: weight * self.penalty_interval for name, weight in self.penalties} if regularize else {}
        penalties = {name: PENALTIES.get(name) for name in weights}

        def gathered(params: PyTree) -> PyTree:
            return params if param_sharding is None else jax.lax.with_sharding_constraint(params, param_sharding)

        def vae_step(state: TrainState, images: jax.Array, keys: jax.Array, kl_weight: jax.Array):
            target_key, z_key = keys[0], keys[1]
            target = self.likelihood.prepare(target_key, images)

            def objective(params):
                mean, log_var = self.encode(gathered(params), target)
                z = elbo.reparameterize(z_key, mean, log_var)
                log_px = self.likelihood.log_prob(self.decode(gathered(params), z), target)
                kl = elbo.kl_to_standard_normal(mean, log_var)
                terms = {"g_reconstruction": -jnp.mean(log_px), "g_kl": jnp.mean(kl), "g_nelbo": jnp.mean(kl - log_px)}
                return jnp.mean(kl_weight * kl - log_px), terms

            (loss, terms), grads = jax.value_and_grad(objective, has_aux=True)(state.generator.params)
            return state.discriminator, grads, {"g_loss": loss, **terms}, loss

        def vae_gan_step(state: TrainState, images: jax.Array, keys: jax.Array, kl_weight: jax.Array):
            z_key, prior_key, penalty_key = keys[1], keys[2], keys[3]
            batch_size = images.shape[0]
            prior_z = jax.random.normal(prior_key, (batch_size, self.networks.latent_dim), jnp.float32)
            first_half = (jnp.arange(batch_size) < batch_size // 2)[:, None, None, None]

            def generated(params):
                """(reconstructions, the mixed batch D judges, KL per example)."""
                mean, log_var = self.encode(gathered(params), images)
                z = jnp.concatenate([elbo.reparameterize(z_key, mean, log_var), prior_z])
                decoded = self.images(self.decode(gathered(params), z))  # one decoder pass for both kinds
                reconstructions, samples = decoded[:batch_size], decoded[batch_size:]
                return (
                    reconstructions,
                    jnp.where(first_half, reconstructions, samples),
                    elbo.kl_to_standard_normal(mean, log_var),
                )

            _, fakes, _ = generated(state.generator.params)
            d, d_metrics, _ = update_discriminator(
                self.discriminator,
                self.d_optimizer,
                self.loss,
                penalties,
                weights,
                state.discriminator,
                Inputs(images, None),
                Inputs(jax.lax.stop_gradient(fakes), None),
                penalty_key,
                gathered,
            )
            d_variables = {"params": gathered(d.params), **d.collections}
            real_logits, real_features = self.judge(d_variables, images)

            def losses(params):
                reconstructions, fakes, kl = generated(params)
                logits, features = self.judge(d_variables, jnp.concatenate([reconstructions, fakes]))
                feature_reconstruction = -jnp.mean(elbo.feature_log_prob(real_features, features[:batch_size]))
                _, adversarial = self.loss(real_logits, logits[batch_size:])
                encoder_loss = jnp.mean(kl_weight * kl) + feature_reconstruction
                decoder_loss = self.feature_weight * feature_reconstruction + adversarial
                terms = {
                    "g_encoder_loss": encoder_loss,
                    "g_kl": jnp.mean(kl),
                    "g_feature_reconstruction": feature_reconstruction,
                    "g_adversarial": adversarial,
                }
                return encoder_loss, decoder_loss, terms

            def encoder_objective(params):
                encoder_loss, _, terms = losses(params)
                return encoder_loss, terms

            # Each half of the VAE descends its own loss (Larsen et al.): two gradients of one forward computation.
            params = state.generator.params
            (_, terms), encoder_grads = jax.value_and_grad(encoder_objective, has_aux=True)(params)
            decoder_loss, decoder_grads = jax.value_and_grad(lambda params: losses(params)[1])(params)
            grads = {"encoder": encoder_grads["encoder"], "decoder": decoder_grads["decoder"]}
            metrics = {**d_metrics, "g_loss": decoder_loss, **terms}
            return d, grads, metrics, decoder_loss + terms["g_encoder_loss"]

        def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
            keys = jax.random.split(jax.random.fold_in(state.rng, state.step), 4)
            kl_weight = elbo.kl_weight(state.step, self.beta, self.kl_warmup_steps)
            update_vae = vae_gan_step if self.adversarial else vae_step
            d, grads, metrics, total = update_vae(state, batch["image"][0], keys, kl_weight)
            g = update(self.g_optimizer, state.generator, grads)
            ema_params = optax.incremental_update(
                g.params, state.ema_params, step_size=1.0 - ema_decay(self, state.step)
            )
            new_state = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema_params)
            return new_state, {**metrics, "kl_weight": kl_weight, **health("g", total, grads, g.params)}

        return step

    def batch_spec(self, batch_size: int, sharding: jax.sharding.Sharding) -> dict[str, jax.ShapeDtypeStruct]:
        shape = (1, batch_size, *self.networks.sample_shape)
        return {"image": jax.ShapeDtypeStruct(shape, jnp.float32, sharding=sharding)}

    def check_data(self, sources: dict[str, Source], data_config: ml_collections.ConfigDict) -> None:
        source = sources[""]
        shape = crop_shape(source.sample_shape, data_config.crop)
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

    def sample_grid(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], np.ndarray]:
        """Rows of fixed test images each followed by the row of their reconstructions (num_samples // 32 pairs, at
        least 1), then decoded prior samples for the rest of num_samples (at least a row)."""
        pairs = max(1, config.train.num_samples // (4 * GRID_COLUMNS))
        inputs = jnp.asarray(evaluation_images(config, GRID_COLUMNS * pairs)[0])
        num_prior = max(GRID_COLUMNS, config.train.num_samples - 2 * GRID_COLUMNS * pairs)
        z = normal_latents(config.seed + GRID_SEED_OFFSET, num_prior, self.networks.latent_dim)
        replicated = parallel.replicated(mesh)
        reconstruct = jax.jit(self.reconstruct, out_shardings=replicated)
        sample = jax.jit(self.sample, out_shardings=replicated)

        def grid(state: TrainState) -> np.ndarray:
            reconstructions = np.asarray(reconstruct(state.ema_params, inputs))
            rows = []
            for pair in range(pairs):
                rows += [np.asarray(inputs[pair * GRID_COLUMNS : (pair + 1) * GRID_COLUMNS])]
                rows += [reconstructions[pair * GRID_COLUMNS : (pair + 1) * GRID_COLUMNS]]
            rows.append(np.asarray(sample(state.ema_params, z)))
            return image_grid(np.concatenate(rows), columns=GRID_COLUMNS)

        return grid

    def evaluator(
        self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh
    ) -> Callable[[TrainState], Evaluation]:
        """Every metric in config.eval.metrics: the Inception ones on decoded prior samples from fixed latents, the
        bounds on the test images (read once, here)."""
        eval_seed = config.seed + EVAL_SEED_OFFSET
        replicated = parallel.replicated(mesh)
        sample = jax.jit(self.sample, out_shardings=replicated)
        bound = jax.jit(self.negative_bounds, static_argnums=3, out_shardings=replicated)
        wants_bounds = any(name in BOUND_SCORES for name in config.eval.metrics)
        test, description = evaluation_images(config, config.eval.num_bound_images) if wants_bounds else (None, {})
        local_devices = parallel.make_mesh(ml_collections.ConfigDict({parallel.DATA_AXIS: -1}), jax.local_devices())
        batch = config.eval.batch_size

        def evaluate(state: TrainState) -> Evaluation:
            def draw(num: int) -> np.ndarray:
                z = normal_latents(eval_seed, num, self.networks.latent_dim)
                parts = [sample(state.ema_params, z[start : start + batch]) for start in range(0, num, batch)]
                return np.concatenate([np.asarray(part) for part in parts])

            def bounds(metric: str) -> np.ndarray:
                num_samples = 1 if metric == "elbo" else config.eval.iwae_samples
                keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(eval_seed), i))(jnp.arange(len(test)))
                parts = [
                    bound(state.ema_params, test[i : i + batch], keys[i : i + batch], num_samples)
                    for i in range(0, len(test), batch)
                ]
                return np.concatenate([np.asarray(part, np.float64) for part in parts])

            levels = self.likelihood.levels if self.likelihood is not None else 256
            samples = BoundSamples(draw, bounds, int(np.prod(self.networks.sample_shape)), levels, local_devices)
            scores: dict[str, float] = {}
            for name in config.eval.metrics:
                scores.update(METRICS.get(name)(samples, config))
            extractor = inception_metrics.extractor_used(samples)
            protocol = dict(description)
            if "iwae" in config.eval.metrics:
                protocol["iwae_samples"] = str(config.eval.iwae_samples)
            if extractor is not None:
                protocol |= inception_metrics.protocol(extractor)
            return Evaluation(agree_across_processes(scores), protocol)

        return evaluate


def evaluation_images(config: ml_collections.ConfigDict, num: int) -> tuple[np.ndarray, dict[str, str]]:
    """The first `num` images (0: all) of the split `config.eval.split`, float32 (N, H, W, C) in [-1, 1], and the
    protocol line that says which they are and how the likelihood saw them."""
    source = open_source(ml_collections.ConfigDict(config.data.to_dict() | {"split": config.eval.split}), config.seed)
    count = source.num_examples if not num else min(num, source.num_examples)
    images = source.read(np.arange(count))["image"]
    seen = (
        "dynamically binarised (one fixed draw per image)"
        if config.objective.likelihood == "bernoulli"
        else "256 levels"
    )
    return images, {"bound_images": f"{source.name}, split {config.eval.split}, first {count}, {seen}"}


# ---------------------------------------------------------------------------------------------------- building


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


@TASKS.register("vae")
def build_vae(config: ml_collections.ConfigDict) -> VaeTask:
    """The VAE or VAE-GAN a validated config describes; ConfigError for what only this task can check."""
    objective, model = config.objective, config.model
    vae_gan = objective.likelihood == DISCRIMINATOR_LIKELIHOOD
    if not vae_gan and objective.likelihood not in elbo.LIKELIHOODS.names():
        valid = ", ".join([*elbo.LIKELIHOODS.names(), DISCRIMINATOR_LIKELIHOOD])
        raise ConfigError(
            f"unknown likelihood {objective.likelihood!r} (--config.objective.likelihood); valid: {valid}"
        )
    likelihood = None if vae_gan else elbo.LIKELIHOODS.get(objective.likelihood)
    _check(
        likelihood is None or likelihood.levels != 2 or model.channels == 1,
        f"the bernoulli likelihood models binarised grey images, but --config.model.channels={model.channels}; use "
        "--config.objective.likelihood=logistic or gaussian for colour images",
    )
    _check(objective.beta >= 0, f"--config.objective.beta must be >= 0; got {objective.beta}")
    _check(
        objective.kl_warmup_steps >= 0,
        f"--config.objective.kl_warmup_steps must be 0 (none) or positive; got {objective.kl_warmup_steps}",
    )
    weight, iwae_samples = objective.feature_weight, config.eval.iwae_samples
    _check(weight >= 0, f"--config.objective.feature_weight must be >= 0; got {weight}")
    _check(iwae_samples >= 1, f"--config.eval.iwae_samples must be at least 1; got {iwae_samples}")
    _check(
        config.eval.num_bound_images >= 0,
        f"--config.eval.num_bound_images must be 0 (the whole split) or positive; got {config.eval.num_bound_images}",
    )
    bounds = [name for name in config.eval.metrics if name in BOUND_SCORES]
    _check(
        not (vae_gan and bounds),
        f"--config.eval.metrics asks for {', '.join(bounds)}, a bound on the pixels' likelihood, but a VAE-GAN "
        "(--config.objective.likelihood=discriminator) has none: score it with fid, kid or precision_recall",
    )
    penalties = tuple((name, float(weight)) for name, weight in config.penalties.items() if weight)
    _check(
        vae_gan or not penalties,
        f"--config.penalties.{penalties[0][0] if penalties else ''} regularises a discriminator, and a VAE has one "
        "only as a VAE-GAN (--config.objective.likelihood=discriminator)",
    )
    _check(
        not config.augment.policy,
        "--config.augment.policy augments a GAN discriminator's inputs; VAE runs do not augment: set "
        "--config.augment.policy='()'",
    )
    _check(config.optim.d_steps == 1, f"--config.optim.d_steps must be 1 for VAE runs; got {config.optim.d_steps}")
    _check(
        not config.data.crop,
        f"--config.data.crop={config.data.crop}: VAE runs model whole images; set --config.model.resolution instead",
    )
    networks = build_vae_networks(model, 1 if vae_gan else likelihood.outputs_per_channel)
    g_optimizer, d_optimizer = make_optimizers(config)
    discriminator = (
        dcgan.Discriminator(model.resolution, model.d_width, model.d_spectral_norm, compute_dtype(model.dtype))
        if vae_gan
        else None
    )
    return VaeTask(
        networks=networks,
        likelihood=likelihood,
        beta=float(objective.beta),
        kl_warmup_steps=int(objective.kl_warmup_steps),
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        discriminator=discriminator,
        loss=LOSSES.get(config.loss) if vae_gan else None,
        feature_weight=float(objective.feature_weight),
        penalties=penalties,
        regularization_interval=config.penalty_interval,
        ema_decay=config.ema.decay,
        ema_rampup=config.ema.rampup,
    )
