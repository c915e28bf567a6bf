"""CycleGAN's evaluation: the first `eval.num` images of domain A's evaluation set translated to B, scored by
`score_translations`, which also scores the classical baselines (benchmarks/translation.py): the Inception metrics
(KID, FID) of the translations against domain B's evaluation images, the edge-map SSIM between each input and its
translation (content kept; ganjax/metrics/translation.py), the LPIPS distance between each input and its translation
(`lpips`, `lpips_vgg`: how far the translation moves the photo, 0 for the identity; the `lpips` extra) and the PSNR
of the cycle's reconstruction b2a(a2b(a)) against the input. And `translation_grid`, the sample grid of both
directions and their cycles.

KID, not FID, is the metric to trust with a small domain such as the 1,209 clip-art drawings: FID's estimate from N
images is biased by a term that shrinks like 1/N and differs between models, so at N ~ 1,000 it ranks them by sample
size as much as by quality, while KID's estimator is unbiased.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ganjax.data import Source, open_source
from ganjax.errors import DataError
from ganjax.images import image_grid, model_range_to_pixels
from ganjax.metrics import ScoredSamples, lpips
from ganjax.metrics.fidelity import psnr
from ganjax.metrics.translation import edge_ssim
from ganjax.scoring import Evaluation, score
from ganjax.state import PyTree, TrainState
from ganjax.tasks.image2image_evaluation import MAX_PSNR


def evaluation_data_config(config: ml_collections.ConfigDict, domain: str) -> ml_collections.ConfigDict:
    """Domain `domain`'s dataset config for evaluation: its training config with `split` set to its eval_split and,
    when eval_path is set, `path` to it (a folder of held-out images)."""
    data = config.data[domain]
    overrides = {"split": data.eval_split} | ({"path": data.eval_path} if data.eval_path else {})
    return ml_collections.ConfigDict(data.to_dict() | overrides)


def describe_evaluation_set(data: ml_collections.ConfigDict, source: Source) -> str:
    """The dataset and, for datasets that have splits (not a folder or an .npz file), the split."""
    return source.name if data.name in ("folder", "npz") else f"{source.name}, split {data.split}"


def evaluation_inputs(
    config: ml_collections.ConfigDict, domain: str, shape: tuple[int, int, int], num: int
) -> tuple[jax.Array, str]:
    """The first `num` images of domain `domain`'s evaluation set, (N, H, W, C) float32 in [-1, 1], and its
    description; DataError when they do not have the models' `shape` (H, W, C)."""
    data = evaluation_data_config(config, domain)
    source = open_source(data, config.eval.seed)
    count = min(num, source.num_examples)
    if count == 0:
        raise DataError(f"the evaluation set of domain {domain} ({describe_evaluation_set(data, source)}) is empty")
    images = source.read(np.arange(count))["image"]
    if images.shape[1:] != shape:
        raise DataError(
            f"the evaluation images of domain {domain} ({describe_evaluation_set(data, source)}) have shape "
            f"{images.shape[1:]}, but the models translate {shape}: set --config.data.{domain}.resize"
        )
    return jnp.asarray(images), f"{describe_evaluation_set(data, source)}, first {count}"


def score_translations(
    config: ml_collections.ConfigDict,
    inputs: np.ndarray,
    translated: np.ndarray,
    cycled: np.ndarray | None,
    name: str,
    mesh: jax.sharding.Mesh | None = None,
) -> Evaluation:
    """config.eval.metrics of translations of images of A into B, against domain B's evaluation images: also the
    scoring of the classical baselines (benchmarks/translation.py), which have no cycle.

    Args:
      inputs: (N, H, W, C_a) float32 in [-1, 1], the images of A.
      translated: (N, H, W, C_b) their translations, in [-1, 1].
      cycled: (N, H, W, C_a) the translations translated back, or None (then `cycle_psnr` cannot be asked for).
      name: the description of the inputs, for the protocol.
      mesh: the devices that extract Inception features; None: the default device.
    """
    input_pixels = jnp.asarray(model_range_to_pixels(inputs))
    per_image = {
        "edge_ssim": np.asarray(edge_ssim(input_pixels, jnp.asarray(model_range_to_pixels(translated))), np.float64)
    }
    if cycled is not None:
        cycle_psnr = psnr(jnp.asarray(model_range_to_pixels(cycled)), input_pixels)
        per_image["cycle_psnr"] = np.minimum(np.asarray(cycle_psnr, np.float64), MAX_PSNR)
    asked_lpips = lpips.asked_metrics(config.eval.metrics)
    # Grey and colour domains compare in RGB, grey repeated (as LPIPS treats a grey pair).
    channels = max(inputs.shape[-1], translated.shape[-1])
    pair = [np.broadcast_to(images, (*images.shape[:3], channels)) for images in (inputs, translated)]
    for metric in asked_lpips:
        per_image[metric] = np.asarray(lpips.distance(*pair, lpips.METRIC_NETWORKS[metric]), np.float64)
    samples = ScoredSamples(np.asarray(translated, np.float32), per_image, None, mesh)
    # The Inception metrics compare with domain B: its evaluation images (eval.num_reference of them; 0: all).
    reference = ml_collections.ConfigDict(config.to_dict())
    reference.data = evaluation_data_config(config, "b")
    reference.eval.split = reference.data.split
    reference_set = reference.data.path if reference.data.name in ("folder", "npz") else reference.data.split
    protocol = {"inputs": name, "direction": "a2b", "reference": f"domain b: {reference.data.name} {reference_set}"}
    if asked_lpips:
        protocol["lpips_networks"] = f"between each input and its translation; {lpips.describe_metrics(asked_lpips)}"
    return score(samples, reference, protocol)


def translation_grid(
    translate: Callable[[str, PyTree, jax.Array], jax.Array], inputs: dict[str, jax.Array], channels: int
) -> Callable[[TrainState], np.ndarray]:
    """state -> a sample grid of six rows: a | a2b(a) | b2a(a2b(a)), then b | b2a(b) | a2b(b2a(b)), for `inputs`
    {"a": (N, H, W, C_a), "b": (N, H, W, C_b)} and `translate(direction, variables, images)` with the state's EMA
    generators; grey images are shown in grey beside colour ones (broadcast to `channels`)."""

    def shown(images: jax.Array) -> np.ndarray:
        return np.broadcast_to(np.asarray(images), (*images.shape[:3], channels))

    def grid(state: TrainState) -> np.ndarray:
        rows = []
        for direction, back, source in (("a2b", "b2a", "a"), ("b2a", "a2b", "b")):
            translated = translate(direction, state.ema_variables(direction), inputs[source])
            cycled = translate(back, state.ema_variables(back), translated)
            rows += [shown(inputs[source]), shown(translated), shown(cycled)]
        return image_grid(np.concatenate(rows), columns=len(inputs["a"]))

    return grid
