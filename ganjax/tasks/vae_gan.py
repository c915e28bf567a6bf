"""The VAE-GAN's update (Larsen et al. 2016), the adversarial half of ganjax/tasks/vae.py: the discriminator (the
shared `Adversary`) on real images against generated ones, then the VAE's gradients, the encoder's and the
decoder's from their own losses."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ganjax import elbo
from ganjax.penalties import Inputs
from ganjax.state import NetworkState, PyTree, TrainState
from ganjax.updates import Layout, Metrics

VAE, DISCRIMINATOR = "vae", "discriminator"


class VaeGanUpdate:
    """The VAE-GAN's update, for the VAE task (ganjax/tasks/vae.py) to inherit: it reads the task's networks,
    `encode`, `decode`, `images`, `judge`, `adversary` and `feature_weight`."""

    def vae_gan_update(
        self,
        layout: Layout,
        regularize: bool,
        state: TrainState,
        images: jax.Array,
        keys: jax.Array,
        kl_weight: jax.Array,
    ) -> tuple[dict[str, NetworkState], PyTree, Metrics, jax.Array]:
        """A VAE-GAN's update of its discriminator and the VAE's gradients (ganjax/tasks/vae.py describes the
        objectives) for images (B, H, W, C) in [-1, 1], with the step's keys (4, 2) and the KL's weight.

        Returns:
          ({"discriminator": the updated discriminator}, the VAE's gradients, the metrics, the VAE's total loss).
        """
        z_key, prior_key, penalty_key = keys[1], keys[2], keys[3]
        batch_size = images.shape[0]
        prior_z = layout.constrain(jax.random.normal(prior_key, (batch_size, self.networks.latent_dim)))
        first_half = (jnp.arange(batch_size) < batch_size // 2)[:, None, None, None]

        def generated(params):
            """(reconstructions, the mixed batch D judges, KL per example)."""
            mean, log_var = self.encode(layout.gather(params), images)
            z = jnp.concatenate([elbo.reparameterize(z_key, mean, log_var), prior_z])
            decoded = self.images(self.decode(layout.gather(params), z))  # one decoder pass for both kinds
            reconstructions, samples = decoded[:batch_size], decoded[batch_size:]
            return (
                reconstructions,
                jnp.where(first_half, reconstructions, samples),
                elbo.kl_to_standard_normal(mean, log_var),
            )

        params = state.networks[VAE].params
        fakes = jax.lax.stop_gradient(generated(params)[1])
        d, d_metrics, _ = self.adversary.update(
            state.networks[DISCRIMINATOR],
            Inputs(images, None),
            Inputs(fakes, None),
            penalty_key,
            regularize=regularize,
            layout=layout,
        )
        d_variables = {"params": layout.gather(d.params), **d.collections}
        real_logits, real_features = self.judge(d_variables, images)

        def losses(params):
            reconstructions, fakes, kl = generated(params)
            logits, features = self.judge(d_variables, jnp.concatenate([reconstructions, fakes]))
            feature_reconstruction = -jnp.mean(elbo.feature_log_prob(real_features, features[:batch_size]))
            _, adversarial = self.adversary.loss(real_logits, logits[batch_size:])
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
        (_, terms), encoder_grads = jax.value_and_grad(encoder_objective, has_aux=True)(params)
        decoder_loss, decoder_grads = jax.value_and_grad(lambda params: losses(params)[1])(params)
        grads = {"encoder": encoder_grads["encoder"], "decoder": decoder_grads["decoder"]}
        metrics = {**d_metrics, "g_loss": decoder_loss, **terms}
        return {DISCRIMINATOR: d}, grads, metrics, decoder_loss + terms["g_encoder_loss"]
