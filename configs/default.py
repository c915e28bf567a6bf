"""The default recipe: DCGAN on MNIST (28x28 grey), non-saturating loss, Adam(5e-4, 0.5, 0.999), 3,000 steps of 64.

    python train.py --workdir runs/mnist_dcgan
    python train.py --workdir runs/mnist_dcgan --config.optim.d_lr=1e-4 --config.train.num_steps=2000

README.md's quick start gives the time of the 3,000 steps on 2 CPU cores. Offline, read the IDX files from a local
folder: `GANJAX_DATA_DIR=/path/to/data python train.py ...` (see docs/data.md).

`shared_config()` holds every field a run has, with the values the other recipes start from (Adam 2e-4, DCGAN's);
`get_config()` is the default recipe: that, with the learning rate that sweeps/mnist_default.py chose for this
budget (benchmarks/RESULTS.md, "The default recipe at its budget").
"""

import ml_collections

from ganjax.errors import ConfigError
from ganjax.parallel import FSDP_MIN_SIZE
from ganjax.penalties import PENALTIES


def get_config() -> ml_collections.ConfigDict:
    config = shared_config()
    config.optim.g_lr = config.optim.d_lr = 5e-4
    return config


def shared_config() -> ml_collections.ConfigDict:
    """Every field of a run, with the values the recipes start from: DCGAN on MNIST with DCGAN's Adam(2e-4, 0.5)."""
    config = ml_collections.ConfigDict()
    # What is trained (ganjax/tasks/): "gan", "image2image" (configs/restore_*.py), "cyclegan" (configs/translate_*.py),
    # "vae" (configs/vae_*.py, configs/vaegan_*.py)
    config.task = "gan"
    config.seed = 0

    config.model = ml_collections.ConfigDict()
    config.model.name = "dcgan"
    config.model.resolution = 28
    config.model.channels = 1
    config.model.latent_dim = 100
    config.model.g_width = 64
    config.model.d_width = 64
    config.model.g_batch_norm = True
    config.model.d_spectral_norm = False
    config.model.num_classes = 0  # > 0: class-conditional (the data must have labels)
    config.model.dtype = "float32"  # activations; "bfloat16" for mixed precision (parameters stay float32)

    config.loss = "non_saturating"
    # Discriminator penalties and their weights (0: off), e.g. --config.penalties.r1=5.0 (ganjax/penalties.py).
    config.penalties = ml_collections.ConfigDict({name: 0.0 for name in PENALTIES.names()})
    config.penalty_interval = 1  # lazy regularisation: penalties every k steps, weights times k

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 2e-4
    config.optim.d_lr = 2e-4
    config.optim.b1 = 0.5
    config.optim.b2 = 0.999
    config.optim.d_steps = 1
    config.optim.schedule = "constant"  # learning-rate decay over the run: constant, linear, cosine
    config.optim.warmup_steps = 0  # linear warm-up from 0 before the schedule

    config.ema = ml_collections.ConfigDict()
    config.ema.decay = 0.999
    config.ema.rampup = 0.05  # 0, or the EMA's half-life is at most this fraction of the steps so far

    # Differentiable augmentation of D's inputs (ganjax/augment.py): DiffAugment is policy=("color", "translation",
    # "cutout") with p=1; ADA sets ada_target (e.g. 0.6) and starts from p=0.
    config.augment = ml_collections.ConfigDict()
    config.augment.policy = ()
    config.augment.p = 1.0
    config.augment.ada_target = ml_collections.config_dict.placeholder(float)
    config.augment.ada_kimg = 500.0  # thousands of real images over which ADA can move p from 0 to 1

    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist"
    config.data.split = "train"
    # Folder holding the dataset in its standard local format (e.g. <root>/mnist/train-images-idx3-ubyte.gz).
    # Unset: $GANJAX_DATA_DIR if set, else TensorFlow Datasets.
    config.data.root = ml_collections.config_dict.placeholder(str)
    config.data.tfds_dir = ml_collections.config_dict.placeholder(str)  # TFDS data_dir; unset: TFDS's default
    config.data.path = ml_collections.config_dict.placeholder(str)  # for the "folder" and "npz" datasets
    config.data.resize = ml_collections.config_dict.placeholder(int)  # "folder": centre-crop and resize to this
    config.data.crop = ml_collections.config_dict.placeholder(int)  # train on random square crops of this side
    config.data.flip_rotate = False  # and on their 8 flips and rotations (square images or crops only)
    config.data.num_threads = 1  # background threads that read and prefetch batches

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 64  # global: summed over all devices and hosts, per discriminator update
    config.train.num_steps = 3000
    config.train.log_every = 50
    config.train.sample_every = 500
    config.train.checkpoint_every = 1000
    config.train.keep_checkpoints = 3
    config.train.num_samples = 64  # images in each sample grid

    config.eval = ml_collections.ConfigDict()
    config.eval.every = 0  # 0: evaluate only at the end of training
    # Seeds the evaluation's randomness (latents, noise, masks), apart from the training seed: runs with different
    # training seeds are scored on the same draws.
    config.eval.seed = 0
    # Any of fid, kid, precision_recall, inception_score (ganjax/metrics/inception_metrics.py), ring, ppl and
    # lpips_diversity (ganjax/metrics/perceptual.py; the lpips extra).
    config.eval.metrics = ()
    config.eval.num = 10_000  # generated images per evaluation
    config.eval.split = "test"  # the dataset split the generated images are compared with
    config.eval.num_reference = 0  # images of that split (0: all); their features are cached
    config.eval.resize = "tf"  # to 299x299: "tf" (TensorFlow/StyleGAN, as published records) or "pytorch" (pytorch-fid)
    config.eval.inception = ml_collections.config_dict.placeholder(str)  # weights; unset: searched (docs/evaluation.md)
    config.eval.batch_size = 100  # images per Inception call, split over the devices
    config.eval.cache_dir = ml_collections.config_dict.placeholder(str)  # unset: ~/.cache/ganjax/reference_features
    config.eval.best_metric = "fid"  # keep the checkpoint with the lowest value in <workdir>/best ("": none)
    # ppl and lpips_diversity (ganjax/metrics/perceptual.py): pairs of latents they compare; the walk's t of ppl
    # ("full": anywhere, "end": at the start) and the reference's central face crop (meant for FFHQ).
    config.eval.num_pairs = 10_000
    config.eval.ppl_sampling = "full"
    config.eval.ppl_crop = False

    # Devices per mesh axis (one may be -1: the rest); the batch is split over data and fsdp (docs/scaled_runs.md).
    config.mesh = ml_collections.ConfigDict()
    config.mesh.data = -1  # data parallel: the state is replicated over this axis
    config.mesh.fsdp = 1  # fully sharded data parallel: large state arrays are split over this axis
    config.sharding = ml_collections.ConfigDict()
    config.sharding.fsdp_min_size = FSDP_MIN_SIZE  # state arrays with fewer elements stay replicated over fsdp

    # Many processes (ganjax/distributed.py): "auto" connects them when a coordinator address is given or a launcher
    # (Cloud TPU, SLURM, Open MPI) started several; unset fields come from the launcher's environment.
    config.distributed = ml_collections.ConfigDict()
    config.distributed.enabled = "auto"  # "auto", "true" or "false"
    config.distributed.coordinator_address = ml_collections.config_dict.placeholder(str)  # "host:port" of process 0
    config.distributed.num_processes = ml_collections.config_dict.placeholder(int)
    config.distributed.process_id = ml_collections.config_dict.placeholder(int)
    config.distributed.initialization_timeout = 300  # seconds to wait for the coordinator and all processes
    config.distributed.local_device_count = ml_collections.config_dict.placeholder(int)  # CPU only: simulated devices
    return config


def image2image_config() -> ml_collections.ConfigDict:
    """The shared part of the image-to-image recipes (configs/restore_*.py, ganjax/tasks/image2image.py): the default
    config with the GAN's model replaced by a restorer and a conditional PatchGAN, a degradation, and an objective;
    each recipe sets the degradation, the model, the data and the evaluation."""
    config = shared_config()
    config.task = "image2image"
    config.model = ml_collections.ConfigDict(
        dict(
            # the restorer (ganjax/models/restorers.py): unet, dncnn, srresnet; ffdnet, fill_unet, edsr, which
            # correct a classical estimate (ganjax/models/corrective.py)
            name="dncnn",
            channels=1,  # of the clean images (and of the output)
            resolution=32,  # side of the training images when they are not cropped (--config.data.crop)
            width=64,
            depth=17,
            batch_norm=True,
            fill_sweeps=16,  # fill_unet: Jacobi sweeps per halving of its membrane fill
            dtype="float32",
            d_width=64,  # the conditional PatchGAN, trained when objective.adversarial_weight > 0
            d_layers=3,
            d_spectral_norm=True,
            d_batch_norm=False,
        )
    )
    # What the clean images go through inside the step (ganjax/degradations.py); fields other than name are read by
    # the degradation they belong to.
    config.degradation = ml_collections.ConfigDict(
        dict(
            name="noise",  # noise, downscale, inpaint, grey
            sigma=25.0,  # noise: standard deviation on the 0-255 scale
            sigma_max=ml_collections.config_dict.placeholder(float),  # noise: blind models draw U[sigma, sigma_max]
            scale=4,  # downscale: 2, 3 or 4
            quantize=True,  # downscale: round the low-resolution image to 8 bits, as a saved PNG would be
            mask="free_form",  # inpaint: free_form or centre
            area_min=0.05,  # inpaint, free_form: hole area fractions drawn uniformly in [area_min, area_max]
            area_max=0.6,
            centre_fraction=0.5,  # inpaint, centre: side of the square hole / side of the image
        )
    )
    config.objective = ml_collections.ConfigDict()
    config.objective.reconstruction = "l1"  # l1, l2, charbonnier (ganjax/reconstruction.py)
    config.objective.adversarial_weight = 0.0  # 0: the PSNR-oriented model; > 0 adds --config.loss on the PatchGAN
    config.objective.perceptual_weight = 0.0  # > 0 adds LPIPS(restored, clean) (the lpips extra; reconstruction.py)
    config.objective.perceptual_network = "vgg"  # its backbone: vgg or alex
    config.optim.g_lr = 1e-3
    config.optim.b1 = 0.9
    config.optim.schedule = "cosine"
    config.augment.p = 0.0
    config.eval.metrics = ("psnr", "ssim")
    config.eval.best_metric = "psnr"
    config.eval.y_channel = False  # score a grey model on the BT.601 luminance of RGB evaluation images
    config.eval.crop_border = 0  # pixels cropped from each side before scoring (the SR scale, in the tables)
    config.eval.path = ml_collections.config_dict.placeholder(str)  # a folder of clean images of any sizes
    config.eval.batch_size = 16
    config.train.num_samples = 8
    return config


def domain_data_config(name: str, **fields) -> ml_collections.ConfigDict:
    """One domain's dataset in a two-domain run (`translation_config`): the fields of `config.data` of a
    one-dataset run, and the split (or folder) that evaluation reads."""
    data = shared_config().data
    del data.num_threads  # shared by the domains: config.data.num_threads
    data.name = name
    data.eval_split = "test"  # the split evaluation reads (folders have none: the same images)
    data.eval_path = ml_collections.config_dict.placeholder(str)  # "folder": a folder of held-out images instead
    data.update(fields)
    return data


def translation_config() -> ml_collections.ConfigDict:
    """The shared part of the unpaired translation recipes (configs/translate_*.py, ganjax/tasks/cyclegan.py): the
    default config with two datasets, config.data.a and config.data.b, CycleGAN's networks (a ResNet generator and
    a 70x70 PatchGAN with instance norm, each way) and objective, and the official code's optimizer (Adam 2e-4,
    b1 0.5, held then decayed linearly to 0); each recipe sets the data, the sizes and the evaluation."""
    config = shared_config()
    config.task = "cyclegan"
    config.model = ml_collections.ConfigDict(
        dict(
            name="cyclegan_resnet",  # the generators: cyclegan_resnet (CycleGAN's ResNet), unet (pix2pix's)
            channels_a=3,  # of the images of domain A
            channels_b=3,  # of domain B
            resolution=32,  # side of the training images of both domains
            width=64,  # the generators' base channels (ngf)
            depth=6,  # cyclegan_resnet: residual blocks (6 up to 128x128, 9 at 256 officially); unet: levels
            batch_norm=False,  # unet only; cyclegan_resnet normalises by instance
            dtype="float32",
            d_width=64,  # the PatchGANs (ndf)
            d_layers=3,  # stride-2 convolutions: 3 is the 70x70 PatchGAN
            d_spectral_norm=False,
            d_batch_norm=False,
            d_instance_norm=True,
        )
    )
    config.data = ml_collections.ConfigDict(
        dict(num_threads=1, a=domain_data_config("cifar10"), b=domain_data_config("folder", resize=32))
    )
    config.objective = ml_collections.ConfigDict()
    # The official code's generator loss is MSE(D(G(x)), 1); ganjax's least_squares has 1/2 of it, hence weight 2.
    config.objective.adversarial_weight = 2.0
    config.objective.cycle_weight = 10.0
    config.objective.identity_weight = 0.5  # times the cycle weight (the official --lambda_identity); 0: off
    config.objective.pool_size = 50  # generated images each discriminator also sees; 0: only the newest
    config.objective.perceptual_weight = 0.0  # > 0 adds LPIPS(cycled, real) per domain (the lpips extra)
    config.objective.perceptual_network = "vgg"  # its backbone: vgg or alex
    config.loss = "least_squares"
    config.optim.update(g_lr=2e-4, d_lr=2e-4, b1=0.5, schedule="hold_then_linear")
    config.ema.update(decay=0.999, rampup=0.05)
    config.augment.p = 0.0
    config.eval.metrics = ("kid", "fid", "edge_ssim", "cycle_psnr")
    del config.eval.split  # each domain's data.<domain>.eval_split
    config.eval.best_metric = "kid"
    config.eval.batch_size = 100
    config.train.num_samples = 8
    return config


def vae_config() -> ml_collections.ConfigDict:
    """The shared part of the VAE recipes (configs/vae_*.py, configs/vaegan_*.py, ganjax/tasks/vae.py): the default
    config with the GAN's model replaced by an encoder/decoder (and the VAE-GAN's DCGAN discriminator), an objective,
    and the flax VAE example's optimizer (Adam 1e-3, b1 0.9, no EMA); each recipe sets the model, data and evaluation.
    """
    config = shared_config()
    config.task = "vae"
    config.model = ml_collections.ConfigDict(
        dict(
            name="conv",  # mlp (the flax example's), conv (DCGAN-sized) (ganjax/models/vae.py)
            resolution=28,
            channels=1,
            latent_dim=20,
            hidden=500,  # mlp: hidden units of the encoder and of the decoder
            width=64,  # conv: channels of the first convolution, doubled at each halving (DCGAN's g/d_width)
            dtype="float32",
            d_width=64,  # the VAE-GAN's DCGAN discriminator
            d_spectral_norm=False,
        )
    )
    config.objective = ml_collections.ConfigDict()
    # p(x|z): bernoulli (dynamically binarised grey images), logistic or gaussian (discretised, 256 levels, learned
    # scale); discriminator: the VAE-GAN, reconstructions measured in the discriminator's features (ganjax/elbo.py).
    config.objective.likelihood = "bernoulli"
    config.objective.beta = 1.0  # the KL's weight (1: the ELBO; beta-VAE above 1)
    config.objective.kl_warmup_steps = 0  # the KL's weight rises linearly from 0 to beta over these steps
    config.objective.feature_weight = 1.0  # VAE-GAN: gamma, the decoder's feature reconstruction weight
    config.optim.update(g_lr=1e-3, b1=0.9, b2=0.999)  # g_*: the encoder and decoder; d_*: the VAE-GAN's D
    config.ema.update(decay=0.0, rampup=0.0)  # 0: evaluate the parameters themselves, as the likelihood tables do
    config.augment.p = 0.0
    config.train.batch_size = 128
    config.eval.metrics = ("elbo",)  # also iwae, and fid, kid, precision_recall on decoded prior samples
    config.eval.best_metric = "nelbo"
    config.eval.iwae_samples = 5000  # importance samples per image of the iwae bound
    config.eval.num_bound_images = 0  # test images the bounds average over (0: the whole split)
    config.train.num_samples = 64
    return config


# Each task's shared config and its recipes: when an override names a field that the run's config lacks but another
# task's has, the CLIs say which runs take it.
TASK_CONFIGS = {
    "gan": (shared_config, "configs/default.py, configs/cifar10_*.py, configs/toy_ring.py"),
    "image2image": (image2image_config, "configs/restore_*.py"),
    "cyclegan": (translation_config, "configs/translate_*.py"),
    "vae": (vae_config, "configs/vae_*.py, configs/vaegan_*.py"),
}


def check_variant(recipe: str, variant: str, variants: tuple[str, ...]) -> None:
    """Refuses a `variant` of configs/<recipe>.py that is neither "" (the full recipe) nor one of `variants`.

    The variant is the text after ':' in `--config configs/<recipe>.py:VARIANT`, which ml_collections passes to
    `get_config`.
    """
    if variant and variant not in variants:
        raise ConfigError(
            f"unknown variant {variant!r} (--config configs/{recipe}.py:VARIANT); "
            f"valid: {', '.join(variants)}, or none for the full recipe"
        )


def train_briefly(config: ml_collections.ConfigDict) -> None:
    """The training of the recipes' `tiny` variants: 4 steps of batch 8 that log every step and sample and save
    every other one, in seconds on a CPU."""
    config.train.update(batch_size=8, num_steps=4, log_every=1, sample_every=2, checkpoint_every=2, num_samples=16)
