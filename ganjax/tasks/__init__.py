"""The tasks: the kinds of model that the one training loop trains, chosen by `--config.task`. Each implements the
`ganjax.task.Task` protocol with what is particular to it, composed from the shared pieces below the tasks
(ganjax/updates.py, ganjax/adversarial.py, ganjax/scoring.py).

- `gan` (ganjax/tasks/gan.py): unconditional and class-conditional GANs, from latents.
- `image2image` (ganjax/tasks/image2image.py): image-conditioned models: restoration (denoising, super-resolution,
  inpainting) and paired translation (colourisation), with a reconstruction loss and an optional adversarial one.
- `cyclegan` (ganjax/tasks/cyclegan.py): unpaired translation between two image domains, read from two datasets.
- `vae` (ganjax/tasks/vae.py): variational autoencoders trained on the ELBO, and the VAE-GAN.
"""

from __future__ import annotations

import ml_collections

from ganjax.task import TASKS, Task, check_task_options
from ganjax.tasks import cyclegan, gan, image2image, vae  # noqa: F401  (importing registers the tasks)


def build_task(config: ml_collections.ConfigDict) -> Task:
    """The task `config.task` names ("gan" when a config predates the field), built from a validated config;
    ConfigError for an option it refuses or a metric it does not score."""
    task = TASKS.get(config.get("task", "gan")).from_config(config)
    check_task_options(config, task)
    return task
