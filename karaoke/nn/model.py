"""The network of Sedaghat et al. (2021), used unchanged by Stellar Karaoke (2023).

One short module, like nanoGPT: a frozen :class:`ModelConfig` and the :class:`Karaoke` module
(1D convolutional VAE, or a deterministic AE) with its :class:`ModelMeta`. Its inference API is
in :mod:`karaoke.nn.inference`, its self-describing checkpoints in :mod:`karaoke.nn.checkpoint`.

At 327680 px with 128 latent dimensions (``ModelConfig.paper()``) the parameter names and
shapes are exactly the authors' (``conv1.0.weight`` ... ``fc11``, ``fc12``, ``fc2``,
``deconv15.0.weight`` ... ``predict0.weight``; 7,046,997 parameters), so their released
``{'state_dict': ...}`` file loads strictly. ``ModelConfig.scaled`` gives the same family for
shorter inputs (regions of interest) on CPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from karaoke.nn.inference import Reconstructor

PAPER_ENC_CHANNELS = (16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512)
PAPER_ENC_KERNELS = (7, 5, 5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the network.

    ``enc_channels``/``enc_kernels`` list the stride-2 encoder convolutions (conv1...convK);
    conv{K+1} maps ``enc_channels[-1]`` to itself with stride 1. The decoder mirrors them.
    """

    n_pixels: int = 327680
    latent_dim: int = 128
    variational: bool = True
    enc_channels: tuple = PAPER_ENC_CHANNELS
    enc_kernels: tuple = PAPER_ENC_KERNELS

    def __post_init__(self):
        k = len(self.enc_channels)
        if k < 1 or len(self.enc_kernels) != k:
            raise ValueError("enc_channels and enc_kernels must be non-empty and of equal length")
        if self.n_pixels % (2**k):
            raise ValueError(f"n_pixels={self.n_pixels} must be divisible by 2^{k} (stride-2 layers)")
        if self.latent_dim < 1:
            raise ValueError("latent_dim must be >= 1")

    @property
    def n_down(self) -> int:
        return len(self.enc_channels)

    @property
    def bottleneck_length(self) -> int:
        return self.n_pixels // 2**self.n_down

    @property
    def flat_dim(self) -> int:
        return self.enc_channels[-1] * self.bottleneck_length

    @classmethod
    def paper(cls, latent_dim: int = 128, variational: bool = True) -> "ModelConfig":
        """The authors' HARPS network: 327680 px, bottleneck (512, 20)."""
        return cls(327680, latent_dim, variational)

    @classmethod
    def scaled(
        cls,
        n_pixels: int,
        latent_dim: int = 128,
        variational: bool = True,
        min_bottleneck: int = 16,
        width: float = 1.0,
    ) -> "ModelConfig":
        """The same family for a shorter input: the paper's first layers, then 256 and 512 channels.

        As many stride-2 layers as keep the bottleneck length >= ``min_bottleneck``; hidden
        channel counts are multiplied by ``width`` (>= 4 each).
        """
        n = 0
        while n_pixels % 2 ** (n + 1) == 0 and n_pixels // 2 ** (n + 1) >= min_bottleneck and n < 14:
            n += 1
        if n < 3:
            raise ValueError(f"n_pixels={n_pixels} too short or not divisible enough for this network")
        ch = PAPER_ENC_CHANNELS[: n - 2] + (256, 512)
        ch = tuple(max(4, int(round(c * width))) for c in ch)
        return cls(n_pixels, latent_dim, variational, ch, PAPER_ENC_KERNELS[: n - 2] + (3, 3))

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def replace(self, **kw) -> "ModelConfig":
        return replace(self, **kw)


def _conv(i, o, k, s):
    return nn.Sequential(nn.Conv1d(i, o, k, stride=s, padding=(k - 1) // 2), nn.LeakyReLU(0.1))


def _deconv(i, o, k=4, s=2, p=1):
    return nn.Sequential(nn.ConvTranspose1d(i, o, k, stride=s, padding=p), nn.LeakyReLU(0.1))


class OutputConv(nn.Conv1d):
    """The network's output layer, ``Conv1d(1, 1, 3, padding=1)``, computed as a three-tap
    stencil: ``y[n] = w0 x[n - 1] + w1 x[n] + w2 x[n + 1] + b`` (zero beyond the ends).

    The same parameters (names and shapes, so checkpoints load either way) and the same function
    within float32 rounding; a convolution with one input and one output channel fills one lane
    of the CPU's vector kernels, and its backward pass cost more than every other layer of the
    regime network's decoder (``benchmarks/training.py --layers``).
    """

    def __init__(self):
        super().__init__(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight[0, 0]  # (3,)
        xp = F.pad(x, (1, 1))  # (B, 1, L + 2)
        return xp[..., :-2] * w[0] + xp[..., 1:-1] * w[1] + xp[..., 2:] * w[2] + self.bias  # (B, 1, L)


@dataclass
class ModelMeta:
    """What a network carries beside its weights. Every :class:`Karaoke` has one from
    ``__init__`` (empty for a fresh network); :func:`karaoke.nn.checkpoint.load_model` fills it.

    Attributes
    ----------
    saved : dict
        The metadata saved with the weights (``train_config``, ``grid``, ``frame``, ``medium``,
        ``seed``, ``data_hash``, ``history``, ...; :func:`karaoke.nn.checkpoint.save_model`) and
        ``partial`` (a training checkpoint that had not reached its last epoch).
    path : Path or None
        The file the weights were loaded from.
    """

    saved: dict = field(default_factory=dict)
    path: Path | None = None

    @property
    def run_dir(self) -> Path | None:
        """The run folder the network was loaded from (:func:`karaoke.nn.training.train`), or None."""
        if self.path is not None and self.path.name in ("model.pt", "checkpoint.pt"):
            return self.path.parent
        return None

    @property
    def partial(self) -> bool:
        return bool(self.saved.get("partial", False))


class Karaoke(nn.Module, Reconstructor):
    """1D convolutional (variational) autoencoder for spectra."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.trained = False
        self.input_guard = None  # (L,) static input mask of a whitened network (see reconstruct)
        self.meta = ModelMeta()
        ch_in = (1,) + tuple(config.enc_channels[:-1])
        K = config.n_down
        for i, (ci, co, k) in enumerate(zip(ch_in, config.enc_channels, config.enc_kernels), start=1):
            setattr(self, f"conv{i}", _conv(ci, co, k, 2))
        cb = config.enc_channels[-1]
        setattr(self, f"conv{K + 1}", _conv(cb, cb, 3, 1))
        self.fc11 = nn.Linear(config.flat_dim, config.latent_dim)  # mean
        if config.variational:
            self.fc12 = nn.Linear(config.flat_dim, config.latent_dim)  # log-variance
        self.fc2 = nn.Linear(config.latent_dim, config.flat_dim)
        setattr(self, f"deconv{K + 1}", _deconv(cb, cb, 3, 1, 1))
        dec_out = tuple(reversed(ch_in))  # e.g. 256, 128, ..., 16, 1
        dec_in = (cb,) + dec_out[:-1]
        for j, (ci, co) in enumerate(zip(dec_in, dec_out)):
            setattr(self, f"deconv{K - j}", _deconv(ci, co))
        self.predict0 = OutputConv()
        self.reset_parameters()

    def reset_parameters(self):
        """Initialisation (the architecture and parameter names are untouched, so released
        weights still load strictly over it).

        PyTorch's default initialisation shrinks the signal by ~sqrt(3) per layer: through the
        ~20 layers the output ignores the input and the first layer's gradient is ~1e-10 of the
        last one's, so a network trained for minutes stays on the mean spectrum. Instead: He
        initialisation for the LeakyReLU(0.1) convolutions, variance-preserving linear layers,
        zero biases; the output layer starts near the constant 1 of a median-normalised
        spectrum (small weights, bias 1); the VAE's log-variance head starts at a narrow
        posterior (log sigma^2 = -6).
        """
        gain = nn.init.calculate_gain("leaky_relu", 0.1)
        for mod in self.modules():
            if isinstance(mod, (nn.Conv1d, nn.ConvTranspose1d)):
                fan_in = mod.in_channels * mod.kernel_size[0]
                if isinstance(mod, nn.ConvTranspose1d):
                    fan_in //= mod.stride[0]  # each output sees kernel/stride taps per input channel
                nn.init.normal_(mod.weight, 0.0, gain / fan_in**0.5)
                nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, 0.0, 1.0 / mod.in_features**0.5)
                nn.init.zeros_(mod.bias)
        nn.init.normal_(self.predict0.weight, 0.0, 0.01)
        nn.init.constant_(self.predict0.bias, 1.0)
        if self.config.variational:
            nn.init.normal_(self.fc12.weight, 0.0, 1e-4)
            nn.init.constant_(self.fc12.bias, -6.0)

    @property
    def run_dir(self) -> Path | None:
        """The run folder the network was loaded from (``meta.run_dir``), or None."""
        return self.meta.run_dir

    def encode(self, x: torch.Tensor):
        """x (B, 1, L) -> mu, logvar (B, D); logvar is None for the AE."""
        K = self.config.n_down
        h = x
        for i in range(1, K + 2):
            h = getattr(self, f"conv{i}")(h)  # (B, C_i, L / 2^min(i, K))
        h = h.flatten(1)  # (B, C_K * L_b)
        mu = self.fc11(h)  # (B, D)
        logvar = self.fc12(h) if self.config.variational else None
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> reconstruction (B, 1, L)."""
        K = self.config.n_down
        h = self.fc2(z).view(z.shape[0], self.config.enc_channels[-1], self.config.bottleneck_length)  # (B, C, L_b)
        for i in range(K + 1, 0, -1):
            h = getattr(self, f"deconv{i}")(h)  # (B, C, L_b * 2^(K+1-i))
        return self.predict0(h)  # (B, 1, L)

    def forward(self, x: torch.Tensor, sample: bool | None = None, logvar_range: tuple = ()):
        """x (B, 1, L) or (B, L) -> (reconstruction like x, mu (B, D), logvar (B, D) or None).

        ``sample`` (default: ``self.training``) draws z ~ N(mu, exp(logvar)); otherwise z = mu,
        as the released model does at inference. ``logvar_range`` (lo, hi) clamps the
        log-variance (training's ``TrainConfig.logvar_range``; empty: none).
        """
        squeeze = x.dim() == 2
        if squeeze:
            x = x[:, None, :]  # (B, 1, L)
        if x.shape[-1] != self.config.n_pixels:
            raise ValueError(f"input has {x.shape[-1]} pixels, the model expects {self.config.n_pixels}")
        mu, logvar = self.encode(x)
        if logvar_range and logvar is not None:
            logvar = logvar.clamp(*logvar_range)  # (B, D); the identity inside the range, gradients too
        sample = self.training if sample is None else sample
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if (sample and logvar is not None) else mu
        y = self.decode(z)  # (B, 1, L)
        return (y[:, 0] if squeeze else y), mu, logvar

    @contextlib.contextmanager
    def _inference(self):
        """Evaluation mode without gradients, the previous mode restored afterwards."""
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was)

    def _encode_batch(self, x: torch.Tensor):
        """x (b, 1, L) on the CPU -> mu, logvar (b, D) on the model's device (logvar None for the AE)."""
        return self.encode(x.to(next(self.parameters()).device))

    def _decode_batch(self, z: torch.Tensor) -> torch.Tensor:
        """z (b, D) on the model's device -> (b, L) on the CPU."""
        return self.decode(z)[:, 0].cpu()


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    int
    """
    return sum(p.numel() for p in model.parameters())
