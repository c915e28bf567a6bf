"""PyTorch references of ganjax's GAN recipes: the same generator and discriminator, and the same training step.

The benchmarks put ganjax beside these (eager and torch.compile). `torch_networks(config.model)` builds the pair of
nn.Modules for the families dcgan, sngan, biggan and r3gan; `torch_runner(config, batch_size)` builds a recipe's
whole training step. tests/test_torch_references.py checks, for every recipe and its `tiny` variant, that the
trainable parameter counts of G and D equal ganjax's, and runs two steps of each tiny recipe.

Matched exactly:
- The layers, layer for layer, with their widths, biases, kernel sizes, strides and paddings: DCGAN's transposed
  convolutions and batch norms; SNGAN/BigGAN's residual blocks, batch norms (affine when unconditional; per-class
  tables on a one-hot label for SNGAN; linear maps of one shared class embedding for BigGAN), SAGAN self-attention
  (1x1 convolutions to C/8, C/8, C/2 and back, keys and values max-pooled, a gamma starting at 0) and the
  projection head; R3GAN's learned 4x4 bases, grouped 3x3 convolutions, 1x1 transitions, bilinear resampling
  (antialiased downsampling, as jax.image.resize) and class embedding. ganjax's 1x1 convolutions are Dense layers
  on the channel axis, here 1x1 Conv2d: the same map and the same parameters.
- Spectral norm (torch.nn.utils.parametrizations.spectral_norm, one power iteration per training-mode forward)
  where ganjax has it: on D's convolutions, linear layers and class embedding, and on G's layers and BigGAN's
  conditional-BN maps when g_spectral_norm. As in ganjax, D advances its power iteration only on the real batch of
  each discriminator update (train mode); its other evaluations use the vectors as they stand (eval mode, which in
  these networks changes nothing else: D has no batch norm).
- Parameter counts: trainable parameters only, on both sides (spectral norm's u/v vectors and batch-norm statistics
  are buffers here and "batch_stats" in ganjax).
- The step (ganjax/step.py): d_steps discriminator updates, each on its own real batch (and, when conditional, its
  labels) and on a batch generated without gradient by G in training mode (batch norm statistics updated); then one
  generator update through the frozen D (D's real logits are computed there only for the relativistic losses,
  which read them); Adam with the recipe's learning rates, betas and schedule (each network's schedule counting its
  own updates, after any warm-up); the EMA of G's parameters with the recipe's decay and ramp-up. The loss is the
  recipe's (every ganjax loss is written out below); the penalties r1, r2 and wgan_gp with their weights, on every
  penalty_interval-th step with the weight times the interval (lazy regularisation). R1 and R2 take the input
  gradient of the same D pass that gives the loss's logits (create_graph=True), as R3GAN's own code does; ganjax's
  R1/R2 differentiate the same function (an identical pass, which XLA may share).
- Labels of generated samples are drawn uniformly per update, as ganjax's.
- Mixed precision: dtype "bfloat16" runs every forward pass under torch.autocast(bfloat16) (parameters and Adam
  state float32), where ganjax computes in bfloat16 with float32 parameters; the pieces ganjax keeps in float32
  are kept in float32 here too: D's pooled features and projection head (SNGAN/BigGAN, R3GAN's basis and head),
  the attention softmax, G's output.

What differs:
- Initialisation: the distributions follow ganjax's (N(0, 0.02) for DCGAN; Glorot-uniform, with gain sqrt(2) in
  residual branches, for SNGAN/BigGAN; He-normal scaled by 1/sqrt(L) and a zero last convolution for R3GAN, ...),
  but the draws are PyTorch's, so the two frameworks do not start from the same weights. Where the distribution is
  not reproduced exactly (for instance PyTorch's default for some biases), it only changes the starting point.
- Layout: NCHW here, NHWC in ganjax (flattening and reshaping orders differ accordingly; counts do not).
- ganjax's step also computes gradient and parameter norms, non-finite flags and logit statistics; this one does not.
- Not mirrored: augmentation (DiffAugment/ADA: refused), the bcr penalty (refused), FSDP/multi-device.
- Random numbers are drawn by PyTorch's generators on the device (latents, labels, wgan_gp's interpolation).

torch.compile (compile=True) wraps the two modules (torch.compile(G), torch.compile(D); "module compile"), not the
step: the backward passes and Adam stay eager (fused Adam on CUDA in both modes), and a D evaluation that must be
differentiated twice (the R1/R2/wgan_gp passes, on the steps that apply them) runs the uncompiled D, because
AOTAutograd does not support double backward ("torch.compile with aot_autograd does not currently support double
backward", PyTorch 2.13). For R3GAN, whose every D update takes R1 and R2, D is therefore eager in the D updates
under compile=True and compiled only in the G update.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable

import ml_collections
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

_LEAKY_SLOPE = 0.2  # R3GAN's and DCGAN's


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
    return _spectral_norm(module) if enabled else module


def _glorot(module: nn.Module, gain: float = 1.0) -> nn.Module:
    nn.init.xavier_uniform_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def _float32_head(device_type: str):
    """A context in which autocast is off: the layers ganjax runs in float32 whatever the compute dtype."""
    return torch.autocast(device_type, enabled=False)


# ---------------------------------------------------------------------------------------------------------------
# DCGAN (ganjax/models/dcgan.py)


def spatial_layout(resolution: int) -> tuple[int, int]:
    """(base, doublings), as ganjax.models.dcgan.spatial_layout."""
    base, doublings = resolution, 0
    while base > 7 and base % 2 == 0:
        base, doublings = base // 2, doublings + 1
    if not 3 <= base <= 7 or doublings == 0:
        raise ValueError(f"DCGAN cannot build resolution {resolution}")
    return base, doublings


class DCGANGenerator(nn.Module):
    def __init__(self, model: ml_collections.ConfigDict):
        super().__init__()
        base, doublings = spatial_layout(model.resolution)
        bn = model.g_batch_norm
        features = model.g_width * 2 ** (doublings - 1)
        layers = [
            nn.Linear(model.latent_dim, base * base * features, bias=not bn),
            nn.Unflatten(1, (features, base, base)),
        ]
        layers += [nn.BatchNorm2d(features, momentum=0.1, eps=1e-5), nn.ReLU()] if bn else [nn.ReLU()]
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=not bn)]
            features //= 2
            layers += [nn.BatchNorm2d(features, momentum=0.1, eps=1e-5), nn.ReLU()] if bn else [nn.ReLU()]
        layers += [nn.ConvTranspose2d(features, model.channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        for layer in self.net:
            if isinstance(layer, nn.Linear | nn.ConvTranspose2d):
                nn.init.normal_(layer.weight, 0.0, 0.02)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).float()


class DCGANDiscriminator(nn.Module):
    def __init__(self, model: ml_collections.ConfigDict):
        super().__init__()
        base, doublings = spatial_layout(model.resolution)
        sn = model.d_spectral_norm
        layers, in_features, features = [], model.channels, model.d_width
        for _ in range(doublings):
            conv = nn.Conv2d(in_features, features, 4, 2, 1)
            nn.init.normal_(conv.weight, 0.0, 0.02)
            nn.init.zeros_(conv.bias)
            layers += [_sn(conv, sn), nn.LeakyReLU(_LEAKY_SLOPE)]
            in_features, features = features, features * 2
        head = nn.Linear(in_features * base * base, 1)
        nn.init.normal_(head.weight, 0.0, 0.02)
        nn.init.zeros_(head.bias)
        layers += [nn.Flatten(), _sn(head, sn)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)[:, 0].float()


# ---------------------------------------------------------------------------------------------------------------
# Shared layers (ganjax/layers.py)


class ConditionalBatchNorm(nn.Module):
    """ganjax.layers.ConditionalBatchNorm: affine BN when `condition_dim` is 0; otherwise BN without affine, times
    (1 + condition @ W_gain) plus condition @ W_bias (bias-free linear maps, spectrally normalised when asked)."""

    def __init__(self, features: int, condition_dim: int = 0, *, spectral_norm: bool = False, zero_init: bool = True):
        super().__init__()
        self.bn = nn.BatchNorm2d(features, momentum=0.1, eps=1e-5, affine=not condition_dim)
        self.conditional = bool(condition_dim)
        if self.conditional:
            self.gain = nn.Linear(condition_dim, features, bias=False)
            self.bias = nn.Linear(condition_dim, features, bias=False)
            for layer in (self.gain, self.bias):
                if zero_init:
                    nn.init.zeros_(layer.weight)
                else:
                    _glorot(layer)
            self.gain, self.bias = _sn(self.gain, spectral_norm), _sn(self.bias, spectral_norm)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        x = self.bn(x)
        if not self.conditional:
            return x
        return x * (1 + self.gain(condition)[:, :, None, None]) + self.bias(condition)[:, :, None, None]


class SelfAttention(nn.Module):
    """ganjax.layers.SelfAttention (SAGAN): x + gamma * o(softmax(f(x)^T g(x)) h(x)), keys and values max-pooled."""

    def __init__(self, features: int, spectral_norm: bool):
        super().__init__()

        def conv1x1(cin: int, cout: int) -> nn.Module:
            return _sn(_glorot(nn.Conv2d(cin, cout, 1, bias=False)), spectral_norm)

        self.f, self.g = conv1x1(features, features // 8), conv1x1(features, features // 8)
        self.h, self.o = conv1x1(features, features // 2), conv1x1(features // 2, features)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, features, height, width = x.shape
        queries = self.f(x).flatten(2)  # (B, C/8, HW)
        keys = F.max_pool2d(self.g(x), 2).flatten(2)  # (B, C/8, HW/4)
        values = F.max_pool2d(self.h(x), 2).flatten(2)  # (B, C/2, HW/4)
        scores = torch.bmm(queries.transpose(1, 2), keys)  # (B, HW, HW/4)
        attention = torch.softmax(scores.float(), dim=-1).to(values.dtype)
        attended = torch.bmm(values, attention.transpose(1, 2)).view(batch, features // 2, height, width)
        return x + self.gamma * self.o(attended)


class ProjectionHead(nn.Module):
    """ganjax.layers.ProjectionHead: w.h + b (+ embed(y).h when conditional), in float32."""

    def __init__(self, features: int, num_classes: int, spectral_norm: bool, init=_glorot):
        super().__init__()
        self.linear = _sn(init(nn.Linear(features, 1)), spectral_norm)
        self.embed = None
        if num_classes:
            embed = nn.Embedding(num_classes, features)
            init(embed)
            self.embed = _sn(embed, spectral_norm)

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        with _float32_head(features.device.type):
            features = features.float()
            logits = self.linear(features)[:, 0]
            if self.embed is not None:
                logits = logits + torch.sum(self.embed(labels) * features, dim=-1)
            return logits


# ---------------------------------------------------------------------------------------------------------------
# SNGAN and BigGAN (ganjax/models/sngan_biggan.py)

_SQRT2 = math.sqrt(2.0)


def _resnet_conv(cin: int, cout: int, kernel_size: int, gain: float, spectral_norm: bool) -> nn.Module:
    conv = nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2)
    return _sn(_glorot(conv, gain), spectral_norm)


class GeneratorBlock(nn.Module):
    """BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, plus the shortcut conv1x1-upsample (ganjax's order)."""

    def __init__(self, cin: int, features: int, norm, spectral_norm: bool):
        super().__init__()
        self.norm1, self.norm2 = norm(cin), norm(features)
        self.conv1 = _resnet_conv(cin, features, 3, _SQRT2, spectral_norm)
        self.conv2 = _resnet_conv(features, features, 3, _SQRT2, spectral_norm)
        self.shortcut = _resnet_conv(cin, features, 1, 1.0, spectral_norm)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        h = F.relu(self.norm1(x, condition))
        h = self.conv1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(self.norm2(h, condition)))
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class DiscriminatorBlock(nn.Module):
    """[ReLU]-conv3x3-ReLU-conv3x3-[avgpool], plus the shortcut [avgpool]-conv1x1 (identity when neither)."""

    def __init__(self, cin: int, features: int, downsample: bool, preactivation: bool, spectral_norm: bool):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1 = _resnet_conv(cin, features, 3, _SQRT2, spectral_norm)
        self.conv2 = _resnet_conv(features, features, 3, _SQRT2, spectral_norm)
        self.shortcut = None
        if downsample or cin != features:
            self.shortcut = _resnet_conv(cin, features, 1, 1.0, spectral_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        shortcut = x
        if self.downsample:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
        if self.shortcut is not None:
            shortcut = self.shortcut(shortcut)
        return h + shortcut


class ResNetGenerator(nn.Module):
    """ganjax.models.sngan_biggan.Generator; `biggan` selects the shared class embedding and self-attention."""

    def __init__(self, model: ml_collections.ConfigDict, biggan: bool):
        super().__init__()
        width, sn, num_classes = model.g_width, model.g_spectral_norm, model.num_classes
        self.width, self.num_classes = width, num_classes
        self.linear = _sn(_glorot(nn.Linear(model.latent_dim, 4 * 4 * width)), sn)
        self.embed = None
        if not num_classes:

            def norm(features):
                return ConditionalBatchNorm(features)
        elif not biggan:  # SNGAN: per-class tables on a one-hot label, starting at gain 1 and bias 0

            def norm(features):
                return ConditionalBatchNorm(features, num_classes)
        else:  # BigGAN: linear maps of one shared class embedding
            self.embed = nn.Embedding(num_classes, model.embedding_dim)
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

            def norm(features):
                return ConditionalBatchNorm(features, model.embedding_dim, spectral_norm=sn, zero_init=False)

        attention_resolution = model.attention_resolution if biggan else 0
        blocks, size = [], 4
        for _ in range(int(math.log2(model.resolution // 4))):
            size *= 2
            blocks.append(GeneratorBlock(width, width, norm, sn))
            blocks.append(SelfAttention(width, sn) if size == attention_resolution else nn.Identity())
        self.blocks = nn.ModuleList(blocks)
        self.out_norm = ConditionalBatchNorm(width)
        self.out_conv = _resnet_conv(width, model.channels, 3, 1.0, sn)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.linear(z).view(-1, self.width, 4, 4)
        condition = None
        if self.embed is not None:
            condition = self.embed(labels)
        elif self.num_classes:  # SNGAN's tables: rows picked by a one-hot label
            condition = F.one_hot(labels, self.num_classes).to(z.dtype)
        for block, attention in zip(self.blocks[::2], self.blocks[1::2], strict=True):
            x = attention(block(x, condition))
        x = self.out_conv(F.relu(self.out_norm(x, None)))
        return torch.tanh(x).float()


class ResNetDiscriminator(nn.Module):
    """ganjax.models.sngan_biggan.Discriminator."""

    def __init__(self, model: ml_collections.ConfigDict, biggan: bool):
        super().__init__()
        width, sn = model.d_width, model.d_spectral_norm
        attention_resolution = model.attention_resolution if biggan else 0
        halvings = int(math.log2(model.resolution // 8))
        layers, cin, size = [], model.channels, model.resolution
        for index in range(halvings + 2):
            downsample = index < halvings
            layers.append(DiscriminatorBlock(cin, width, downsample, index > 0, sn))
            cin = width
            if downsample:
                size //= 2
                if size == attention_resolution:
                    layers.append(SelfAttention(width, sn))
        self.blocks = nn.Sequential(*layers)
        self.head = ProjectionHead(width, model.num_classes, sn)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        features = torch.sum(F.relu(self.blocks(x)).float(), dim=(2, 3))
        return self.head(features, labels)


# ---------------------------------------------------------------------------------------------------------------
# R3GAN (ganjax/models/r3gan.py)

_LEAKY_RELU_GAIN_SQUARED = 2 / (1 + _LEAKY_SLOPE**2)


def _lecun(module: nn.Module, scale: float = 1.0) -> nn.Module:
    """Variance scale / fan-in, normal (ganjax's lecun_normal and variance_scaling(..., "fan_in", "normal"))."""
    fan_in = module.weight[0].numel()
    nn.init.normal_(module.weight, 0.0, math.sqrt(scale / fan_in))
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


class R3GANBlock(nn.Module):
    """x + conv1x1(lrelu(grouped_conv3x3(lrelu(conv1x1(x))))), through C * expansion."""

    def __init__(self, features: int, expansion: int, group_size: int, blocks_in_network: int):
        super().__init__()
        expanded = features * expansion
        scale = _LEAKY_RELU_GAIN_SQUARED / math.sqrt(blocks_in_network)
        self.expand = _lecun(nn.Conv2d(features, expanded, 1), scale)
        self.grouped = _lecun(nn.Conv2d(expanded, expanded, 3, padding=1, groups=expanded // group_size), scale)
        self.project = nn.Conv2d(expanded, features, 1, bias=False)
        nn.init.zeros_(self.project.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.expand(x), _LEAKY_SLOPE)
        h = F.leaky_relu(self.grouped(h), _LEAKY_SLOPE)
        return x + self.project(h)


def _r3gan_stages(model: ml_collections.ConfigDict):
    widths = tuple(model.widths)
    return widths, model.blocks_per_stage * len(widths)


class R3GANGenerator(nn.Module):
    def __init__(self, model: ml_collections.ConfigDict):
        super().__init__()
        widths, blocks_in_network = _r3gan_stages(model)
        self.embed = None
        in_features = model.latent_dim
        if model.num_classes:
            self.embed = nn.Embedding(model.num_classes, model.latent_dim)
            nn.init.normal_(self.embed.weight)
            in_features *= 2
        self.basis = nn.Parameter(torch.randn(widths[0], 4, 4))
        self.linear = _lecun(nn.Linear(in_features, widths[0], bias=False))
        stages, features = [], widths[0]
        for stage, width in enumerate(widths):
            layers = []
            if stage:
                if width != features:
                    layers.append(_lecun(nn.Conv2d(features, width, 1, bias=False)))
                layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            features = width
            layers += [
                R3GANBlock(width, model.expansion, model.group_size, blocks_in_network)
                for _ in range(model.blocks_per_stage)
            ]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.out = _lecun(nn.Conv2d(features, model.channels, 1, bias=False))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=-1)
        x = self.basis * self.linear(z)[:, :, None, None]
        return torch.tanh(self.out(self.stages(x))).float()


class R3GANDiscriminator(nn.Module):
    def __init__(self, model: ml_collections.ConfigDict):
        super().__init__()
        widths, blocks_in_network = _r3gan_stages(model)
        self.stem = _lecun(nn.Conv2d(model.channels, widths[-1], 1, bias=False))
        stages, features, size = [], widths[-1], model.resolution
        for stage, width in enumerate(reversed(widths)):
            layers = []
            if stage:
                size //= 2
                layers.append(_Downsample(features, size))
                if width != features:
                    layers.append(_lecun(nn.Conv2d(features, width, 1, bias=False)))
            features = width
            layers += [
                R3GANBlock(width, model.expansion, model.group_size, blocks_in_network)
                for _ in range(model.blocks_per_stage)
            ]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.basis = nn.Parameter(torch.randn(widths[0], 4, 4) / 4)
        self.head = ProjectionHead(widths[0], model.num_classes, False, init=_lecun)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        x = self.stages(self.stem(x))
        features = torch.sum(x.float() * self.basis, dim=(2, 3))
        return self.head(features, labels)


class _Downsample(nn.Module):
    """Antialiased bilinear 2x downsampling of (B, features, 2 size, 2 size) to (B, features, size, size):
    ganjax.layers.downsample_bilinear_2x (jax.image.resize's filter).

    Along each axis output i is (x[2i - 1] + 3 x[2i] + 3 x[2i + 1] + x[2i + 2]) / 8, renormalised where the filter
    leaves the image: a depthwise 4x4 stride-2 convolution, then a division. (F.interpolate(..., antialias=True)
    computes the same in float32 but has no bfloat16 kernel on the CPU.)
    """

    def __init__(self, features: int, size: int):
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
        self.register_buffer("kernel", (taps[:, None] * taps[None, :]).expand(features, 1, 4, 4).clone())
        share = torch.ones(size)  # of the filter inside the image, per output row (and column)
        share[0] = share[-1] = 7 / 8
        self.register_buffer("coverage", share[:, None] * share[None, :])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.kernel.to(x.dtype), stride=2, padding=1, groups=x.shape[1])
        return y / self.coverage.to(y.dtype)


# ---------------------------------------------------------------------------------------------------------------
# Networks, losses, penalties, schedules and the step


def torch_networks(model: ml_collections.ConfigDict) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) for `config.model`: G(z (B, latent_dim), labels (B,) or None) -> images
    (B, C, R, R) float32 in [-1, 1]; D(images, labels) -> logits (B,) float32."""
    name = model.name
    if name == "dcgan":
        return DCGANGenerator(model), DCGANDiscriminator(model)
    if name in ("sngan", "biggan"):
        biggan = name == "biggan"
        return ResNetGenerator(model, biggan), ResNetDiscriminator(model, biggan)
    if name == "r3gan":
        return R3GANGenerator(model), R3GANDiscriminator(model)
    raise ValueError(f"no PyTorch reference for model {name!r}; have dcgan, sngan, biggan, r3gan")


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (spectral-norm vectors and batch-norm statistics are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _loss(name: str):
    """(real logits, fake logits) -> (D loss, G loss), as ganjax/losses.py."""
    softplus, relu = F.softplus, F.relu

    def non_saturating(real, fake):
        return softplus(-real).mean() + softplus(fake).mean(), softplus(-fake).mean()

    def minimax(real, fake):
        d_loss = softplus(-real).mean() + softplus(fake).mean()
        return d_loss, -softplus(fake).mean()

    def hinge(real, fake):
        return relu(1.0 - real).mean() + relu(1.0 + fake).mean(), -fake.mean()

    def wasserstein(real, fake):
        return fake.mean() - real.mean(), -fake.mean()

    def least_squares(real, fake):
        return 0.5 * ((real - 1.0) ** 2).mean() + 0.5 * (fake**2).mean(), 0.5 * ((fake - 1.0) ** 2).mean()

    def relativistic_pairing(real, fake):
        return softplus(fake - real).mean(), softplus(real - fake).mean()

    def relativistic_average(real, fake):
        real_vs_fake, fake_vs_real = real - fake.mean(), fake - real.mean()
        d_loss = softplus(-real_vs_fake).mean() + softplus(fake_vs_real).mean()
        g_loss = softplus(-fake_vs_real).mean() + softplus(real_vs_fake).mean()
        return d_loss, g_loss

    losses = {f.__name__: f for f in (non_saturating, minimax, hinge, wasserstein, least_squares)}
    losses.update(relativistic_pairing=relativistic_pairing, relativistic_average=relativistic_average)
    if name not in losses:
        raise ValueError(f"no PyTorch reference for loss {name!r}")
    return losses[name]


def _schedule(name: str, learning_rate: float, num_updates: int, warmup: int):
    """update count -> learning rate, as ganjax.optim.learning_rate_schedule (optax's schedules)."""
    total = max(num_updates - warmup, 1)

    def linear(start: float, end: float, steps: int, t: int) -> float:
        return start + (end - start) * min(max(t / steps, 0.0), 1.0)

    def main(t: int) -> float:
        if name == "constant":
            return learning_rate
        if name == "linear":
            return linear(learning_rate, 0.0, total, t)
        if name == "cosine":
            return learning_rate * 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
        if name == "hold_then_linear":
            hold = total // 2
            return learning_rate if t < hold else linear(learning_rate, 0.0, total - hold, t - hold)
        raise ValueError(f"no PyTorch reference for schedule {name!r}")

    main(0)  # refuse an unknown name now
    return lambda t: linear(0.0, learning_rate, warmup, t) if t < warmup else main(t - warmup)


_PENALTIES = ("r1", "r2", "wgan_gp")


def _squared_input_gradient(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Per-sample ||d outputs_i / d inputs_i||^2 (B,), differentiable (create_graph)."""
    (gradients,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return gradients.float().square().flatten(1).sum(1)


@dataclasses.dataclass(frozen=True)
class TorchTraining:
    """A recipe's training in PyTorch (`torch_training`).

    Attributes:
      run: run() does one step and returns {"d_loss", "g_loss"} as 0-d tensors of the device (the D loss of the last
        D update, without penalties).
      sync: sync(result) waits for the device.
      generator: G as trained (eager), whose batch-norm statistics are the ones its EMA is sampled with, as ganjax's.
      ema: the EMA of G's parameters, in the order of generator.parameters().
      g_params, d_params: trainable parameter counts.
    """

    run: Callable[[], dict[str, torch.Tensor]]
    sync: Callable[[object], None]
    generator: nn.Module
    ema: list[torch.Tensor]
    g_params: int
    d_params: int

    @torch.no_grad()
    def ema_samples(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The EMA generator in inference mode (as ganjax's `generate`): z (N, latent_dim) -> (N, C, H, W)."""
        generator = copy.deepcopy(self.generator).eval()
        for parameter, average in zip(generator.parameters(), self.ema, strict=True):
            parameter.copy_(average)
        return generator(z, labels)


def torch_runner(config: ml_collections.ConfigDict, batch_size: int, **kwargs):
    """`torch_training(config, batch_size, **kwargs)` as ((run, sync), (G parameters, D parameters)), the pair that
    benchmarks/common.py's interleaved_seconds_per_call takes."""
    training = torch_training(config, batch_size, **kwargs)
    return (training.run, training.sync), (training.g_params, training.d_params)


def torch_training(
    config: ml_collections.ConfigDict,
    batch_size: int,
    *,
    dtype: str | None = None,
    compile: bool = False,
    device: str | torch.device | None = None,
    real_batches: Callable[[], tuple[torch.Tensor, torch.Tensor | None]] | None = None,
) -> TorchTraining:
    """The recipe's training step in PyTorch.

    Args:
      config: a ganjax GAN config (configs/cifar10_*.py): model, loss, penalties, penalty_interval, optim, ema,
        train.num_steps (for the schedules).
      batch_size: per discriminator update, as config.train.batch_size.
      dtype: "float32" or "bfloat16" (torch.autocast); None: config.model.dtype.
      compile: torch.compile the two modules (see the module's docstring for what stays eager).
      device: where to run; None: CUDA when available, else the CPU.
      real_batches: real_batches() -> (images (batch_size, C, H, W) in [-1, 1], labels (batch_size,) or None) on
        `device`, the real data of one discriminator update; None: the same d_steps random batches at every step
        (for speed measurements).
    """
    model = config.model
    dtype = dtype or model.get("dtype", "float32")
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"dtype must be float32 or bfloat16, got {dtype!r}")
    if tuple(config.augment.get("policy", ())) or config.augment.get("ada_target") is not None:
        raise ValueError("the PyTorch reference has no augmentation (DiffAugment/ADA); set config.augment.policy=()")
    weights = {name: float(weight) for name, weight in config.penalties.items() if weight}
    unknown = sorted(set(weights) - set(_PENALTIES))
    if unknown:
        raise ValueError(f"no PyTorch reference for the penalties {unknown}; have {', '.join(_PENALTIES)}")
    interval = int(config.get("penalty_interval", 1)) if weights else 1

    torch.manual_seed(0)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    generator, discriminator = (net.to(device) for net in torch_networks(model))
    g_params, d_params = count_parameters(generator), count_parameters(discriminator)
    g_eager, d_eager = generator, discriminator
    if compile:
        generator, discriminator = torch.compile(generator), torch.compile(discriminator)

    optim, d_steps = config.optim, int(config.optim.d_steps)
    fused = {"fused": True} if device.type == "cuda" else {}
    g_opt = torch.optim.Adam(g_eager.parameters(), optim.g_lr, betas=(optim.b1, optim.b2), **fused)
    d_opt = torch.optim.Adam(d_eager.parameters(), optim.d_lr, betas=(optim.b1, optim.b2), **fused)
    num_steps, warmup = int(config.train.num_steps), int(optim.get("warmup_steps", 0))
    g_lr = _schedule(optim.schedule, optim.g_lr, num_steps, warmup)
    d_lr = _schedule(optim.schedule, optim.d_lr, num_steps * d_steps, warmup * d_steps)
    ema = [p.detach().clone() for p in g_eager.parameters()]
    ema_decay, ema_rampup = float(config.ema.decay), float(config.ema.get("rampup", 0.0))
    loss = _loss(config.loss)
    relativistic = config.loss.startswith("relativistic")

    num_classes, latent_dim = int(model.get("num_classes", 0)), int(model.latent_dim)
    shape = (d_steps, batch_size, model.channels, model.resolution, model.resolution)
    reals = torch.rand(shape, device=device) * 2 - 1
    real_labels = [None] * d_steps
    if num_classes:
        real_labels = list(torch.randint(0, num_classes, (d_steps, batch_size), device=device))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bfloat16")
    counter = {"step": 0}
    last_real = {}  # the real batch of the last D update, which the relativistic losses' G update reads

    def generator_inputs():
        z = torch.randn(batch_size, latent_dim, device=device)
        labels = torch.randint(0, num_classes, (batch_size,), device=device) if num_classes else None
        return z, labels

    def discriminator_update(index: int, penalties: dict[str, float]) -> torch.Tensor:
        with torch.no_grad(), autocast:
            z, fake_labels = generator_inputs()
            fake = generator(z, fake_labels)  # training mode: batch norm statistics advance
        real, labels = real_batches() if real_batches else (reals[index].detach(), real_labels[index])
        last_real.update(real=real.detach(), labels=labels)
        d_opt.zero_grad(set_to_none=True)
        # A pass whose logits are differentiated twice (R1, R2) runs the eager D: compiled graphs have no double
        # backward.
        with autocast:
            real = real.requires_grad_("r1" in penalties)
            discriminator.train()  # the power iteration advances on the real batch only
            real_logits = (d_eager if "r1" in penalties else discriminator)(real, labels)
            discriminator.eval()
            fake = fake.detach().requires_grad_("r2" in penalties)
            fake_logits = (d_eager if "r2" in penalties else discriminator)(fake, fake_labels)
            d_loss, _ = loss(real_logits, fake_logits)
            total = d_loss
            if "r1" in penalties:
                total = total + penalties["r1"] * _squared_input_gradient(real_logits, real).mean()
            if "r2" in penalties:
                total = total + penalties["r2"] * _squared_input_gradient(fake_logits, fake).mean()
            if "wgan_gp" in penalties:
                eps = torch.rand(batch_size, 1, 1, 1, device=device)
                interpolates = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
                norms = _squared_input_gradient(d_eager(interpolates, labels), interpolates).sqrt()
                total = total + penalties["wgan_gp"] * ((norms - 1.0) ** 2).mean()
        total.backward()
        for group in d_opt.param_groups:
            group["lr"] = d_lr(counter["step"] * d_steps + index)
        d_opt.step()
        return d_loss.detach()

    def generator_update() -> torch.Tensor:
        discriminator.eval()
        discriminator.requires_grad_(False)
        g_opt.zero_grad(set_to_none=True)
        with autocast:
            z, fake_labels = generator_inputs()
            fake_logits = discriminator(generator(z, fake_labels), fake_labels)
            # Only the relativistic losses read D's real logits in G's update (ganjax's XLA drops the pass otherwise).
            real_logits = (
                discriminator(last_real["real"], last_real["labels"]) if relativistic else fake_logits.detach()
            )
            _, g_loss = loss(real_logits, fake_logits)
        g_loss.backward()
        for group in g_opt.param_groups:
            group["lr"] = g_lr(counter["step"])
        g_opt.step()
        discriminator.requires_grad_(True)
        return g_loss.detach()

    def run():
        step = counter["step"]
        penalties = {name: weight * interval for name, weight in weights.items()} if step % interval == 0 else {}
        for index in range(d_steps):
            d_loss = discriminator_update(index, penalties)
        g_loss = generator_update()
        decay = ema_decay
        if ema_rampup:
            decay = min(decay, 0.5 ** (1.0 / (ema_rampup * (step + 1))))
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(g_eager.parameters()), 1.0 - decay)
        counter["step"] = step + 1
        return {"d_loss": d_loss, "g_loss": g_loss}

    def sync(_):
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return TorchTraining(run, sync, g_eager, ema, g_params, d_params)
