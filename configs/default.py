"""The default recipe: DCGAN on MNIST (28x28 grey), non-saturating loss, Adam.

    python train.py --workdir runs/mnist_dcgan
    python train.py --workdir runs/mnist_dcgan --config.optim.d_lr=1e-4 --config.train.num_steps=2000

About 3 minutes on 2 CPU cores for the 3,000 steps. Offline, read the IDX files from a local folder:
`GANJAX_DATA_DIR=/path/to/data python train.py ...` (see README.md, "Data").
"""

import ml_collections


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

    config.loss = "non_saturating"

    config.optim = ml_collections.ConfigDict()
    config.optim.g_lr = 2e-4
    config.optim.d_lr = 2e-4
    config.optim.b1 = 0.5
    config.optim.b2 = 0.999
    config.optim.d_steps = 1

    config.ema = ml_collections.ConfigDict()
    config.ema.decay = 0.999

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
