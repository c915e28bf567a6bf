"""The default recipe: DCGAN on MNIST (28x28 grey), non-saturating loss, Adam.

    python train.py --workdir runs/mnist_dcgan
    python train.py --workdir runs/mnist_dcgan --config.optim.d_lr=1e-4 --config.train.num_steps=2000

About 3 minutes on 2 CPU cores for the 3,000 steps. Offline, read the IDX files from a local folder:
`GANJAX_DATA_DIR=/path/to/data python train.py ...` (see README.md, "Data").
"""

import ml_collections

from ganjax.penalties import PENALTIES


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
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
    config.eval.metrics = ()

    config.mesh = ml_collections.ConfigDict()
    config.mesh.data = -1  # devices on the data axis; -1: all of them
    return config
