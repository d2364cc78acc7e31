"""The network of Sedaghat et al. (2021), used unchanged by Stellar Karaoke (2023).

One short module, like nanoGPT: a frozen :class:`ModelConfig`, the :class:`Karaoke` module
(1D convolutional VAE, or a deterministic AE), and self-describing checkpoints.

At 327680 px with 128 latent dimensions (``ModelConfig.paper()``) the parameter names and
shapes are exactly the authors' (``conv1.0.weight`` ... ``fc11``, ``fc12``, ``fc2``,
``deconv15.0.weight`` ... ``predict0.weight``; 7,046,997 parameters), so their released
``{'state_dict': ...}`` file loads strictly. ``ModelConfig.scaled`` gives the same family for
shorter inputs (regions of interest) on CPU.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

PAPER_ENC_CHANNELS = (16, 16, 16, 32, 32, 32, 64, 64, 64, 128, 128, 128, 256, 512)
PAPER_ENC_KERNELS = (7, 5, 5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3)
CHECKPOINT_FORMAT = "karaoke-checkpoint"


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


def requires_trained(method):
    """Guard a method that needs trained weights (loaded from a checkpoint or trained)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not getattr(self, "trained", False):
            raise RuntimeError(
                f"{type(self).__name__}.{method.__name__} needs a trained model: load one "
                "with karaoke.load_model(path) or train it (karaoke.nn.training.train)"
            )
        return method(self, *args, **kwargs)

    return wrapper


class Reconstructor:
    """The inference API shared by :class:`Karaoke` and its ONNX Runtime engine
    (:class:`karaoke.nn.export.OnnxKaraoke`): both batch, guard and draw through
    :func:`posterior_draws`. A subclass provides ``config``, ``input_guard``, ``trained``,
    ``_encode_batch``, ``_decode_batch`` and the ``_inference`` context.
    """

    @requires_trained
    def reconstruct(self, flux, batch_size: int = 16):
        """Deterministic reconstruction (z = mu) of normalised spectra.

        Parameters
        ----------
        flux : array or Tensor, shape (N, L)
            Median-normalised spectra on the model's grid (topocentric for the paper's use).
        batch_size : int
            Spectra reconstructed at once.

        Returns
        -------
        ndarray, shape (N, L), float32
            The reconstruction; on the guard band of a whitened network (``input_guard`` 0:
            padding, gaps and the grid edges widened by the largest whitening shift, where the
            network saw only zeros in training) the input is passed through unchanged, i.e.
            no telluric correction is claimed there.
        """
        with self._inference():
            return posterior_draws(
                self._encode_batch,
                self._decode_batch,
                flux,
                self.config.n_pixels,
                self.input_guard,
                None,
                batch_size,
                0,
            )[0]

    @requires_trained
    def reconstruct_samples(self, flux, n_samples: int = 16, batch_size: int = 16, seed=0):
        """Reconstructions from the posterior: ``z ~ q(z | x) = N(mu, exp(logvar))``, decoded.

        Their spread is the network's uncertainty about the telluric-free spectrum (for the AE,
        which has no posterior, every sample is the deterministic reconstruction).

        Parameters
        ----------
        flux : array or Tensor, shape (N, L)
            Median-normalised spectra on the model's grid (topocentric).
        n_samples : int
            K, draws per spectrum.
        batch_size : int
            Spectra encoded at once.
        seed : int or sequence of int
            Seed of the draws (the same seed gives the same samples, on any device and engine);
            one per spectrum makes each spectrum's draws independent of the others in the call
            and of ``batch_size``.

        Returns
        -------
        ndarray, shape (K, N, L), float32
            As :meth:`reconstruct` (the input passed through on the guard band) for each draw.
        """
        with self._inference():
            return posterior_draws(
                self._encode_batch,
                self._decode_batch,
                flux,
                self.config.n_pixels,
                self.input_guard,
                n_samples,
                batch_size,
                seed,
            )


class Karaoke(nn.Module, Reconstructor):
    """1D convolutional (variational) autoencoder for spectra."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.trained = False
        self.input_guard = None  # (L,) static input mask of a whitened network (see reconstruct)
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
        self.predict0 = nn.Conv1d(1, 1, 3, padding=1)
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

    def forward(self, x: torch.Tensor, sample: bool | None = None):
        """x (B, 1, L) or (B, L) -> (reconstruction like x, mu (B, D), logvar (B, D) or None).

        ``sample`` (default: ``self.training``) draws z ~ N(mu, exp(logvar)); otherwise z = mu,
        as the released model does at inference.
        """
        squeeze = x.dim() == 2
        if squeeze:
            x = x[:, None, :]  # (B, 1, L)
        if x.shape[-1] != self.config.n_pixels:
            raise ValueError(f"input has {x.shape[-1]} pixels, the model expects {self.config.n_pixels}")
        mu, logvar = self.encode(x)
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


def posterior_draws(encode, decode, flux, n_pixels: int, guard, n_samples, batch_size: int, seed):
    """Reconstructions of normalised spectra through any implementation of the network.

    Shared by :class:`Karaoke` and the ONNX Runtime engine (:mod:`karaoke.nn.export`), so that
    both batch, guard and draw identically: the noise ``eps`` of ``z = mu + eps * sigma`` is
    drawn on the CPU from torch generators, the same for every device and engine.

    Parameters
    ----------
    encode : callable
        ``x`` (b, 1, L) float32 CPU tensor -> ``(mu, logvar)``, each (b, D) (``logvar`` None
        for the AE), on any device.
    decode : callable
        ``z`` (b, D) -> reconstruction (b, L) float32 CPU tensor.
    flux : array or Tensor, shape (N, L)
        Median-normalised spectra on the model's grid (topocentric).
    n_pixels : int
        L, the network's input length (a spectrum of another length is refused).
    guard : array, shape (L,), or None
        The network's ``input_guard`` (0 where the input is passed through unchanged).
    n_samples : int or None
        K posterior draws per spectrum; None for the deterministic reconstruction (z = mu).
    batch_size : int
        Spectra encoded at once.
    seed : int or sequence of int
        Seed of the draws; one per spectrum makes each spectrum's draws independent of the
        others and of ``batch_size``.

    Returns
    -------
    ndarray, shape (K, N, L) float32 (K = 1 when ``n_samples`` is None)
    """
    import numpy as np

    if n_samples is not None and n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x = torch.as_tensor(np.asarray(flux, dtype=np.float32))
    if x.dim() != 2:
        raise ValueError(f"flux must be 2-D (spectra, pixels), got shape {tuple(x.shape)}")
    if x.shape[1] != n_pixels:
        raise ValueError(f"input has {x.shape[1]} pixels, the model expects {n_pixels}")
    if np.ndim(seed) == 0:
        gens = [torch.Generator().manual_seed(int(seed))]
    else:
        if len(seed) != x.shape[0]:
            raise ValueError(f"{len(seed)} seeds for {x.shape[0]} spectra")
        gens = [torch.Generator().manual_seed(int(s)) for s in seed]
    g = None if guard is None else torch.as_tensor(np.asarray(guard, np.float32))
    K = 1 if n_samples is None else n_samples
    out = np.empty((K,) + tuple(x.shape), np.float32)
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size]  # (b, L)
        mu, logvar = encode((xb if g is None else xb * g)[:, None, :].contiguous())  # (b, D) each
        for k in range(K):
            z = mu
            if logvar is not None and n_samples is not None:  # drawn on the CPU: the same on any device
                if len(gens) == 1:
                    eps = torch.randn(mu.shape, generator=gens[0])
                else:
                    eps = torch.stack([torch.randn(mu.shape[1:], generator=g_) for g_ in gens[i : i + batch_size]])
                z = mu + eps.to(mu.device) * torch.exp(0.5 * logvar)
            y = decode(z)  # (b, L)
            out[k, i : i + batch_size] = (y if g is None else torch.where(g > 0, y, xb)).numpy()
    return out


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


def _atomic_torch_save(obj, path: Path):
    from karaoke._atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_model(model: Karaoke, path, **metadata) -> Path:
    """Save a self-describing checkpoint (config, version, weights and any ``metadata``:
    seed, data hash, step, training config, history...). Written atomically.

    Parameters
    ----------
    model : Karaoke
    path : path
    **metadata
        Stored beside the weights (JSON-like values).

    Returns
    -------
    Path
    """
    from karaoke import __version__

    obj = {
        "format": CHECKPOINT_FORMAT,
        "version": __version__,
        "model_config": model.config.to_dict(),
        "model_state": model.state_dict(),
        **metadata,
    }
    _atomic_torch_save(obj, Path(path))
    return Path(path)


def _strip_prefix(state: dict) -> dict:
    if all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def config_from_state_dict(state: dict) -> ModelConfig:
    """Infer the architecture from a state dict with the authors' layer names."""
    state = _strip_prefix(state)
    convs = sorted(int(k[4:].split(".")[0]) for k in state if k.startswith("conv") and k.endswith(".0.weight"))
    if not convs or "fc11.weight" not in state or "fc2.weight" not in state:
        raise ValueError("state dict lacks the conv*/fc11/fc2 layers of a karaoke network")
    K = max(convs) - 1
    chans = tuple(int(state[f"conv{i}.0.weight"].shape[0]) for i in range(1, K + 1))
    kernels = tuple(int(state[f"conv{i}.0.weight"].shape[2]) for i in range(1, K + 1))
    latent, flat = state["fc11.weight"].shape
    n_pixels = int(flat) // chans[-1] * 2**K
    return ModelConfig(n_pixels, int(latent), "fc12.weight" in state, chans, kernels)


def load_model(path, map_location="cpu", allow_partial: bool = False) -> Karaoke:
    """Load a ready-to-use model (eval mode, ``trained=True``).

    ``path`` may be one of our checkpoints, a run folder (its ``model.pt``), or the authors'
    released file (``{'state_dict': ...}``, loaded strictly).

    Parameters
    ----------
    path : path
        Checkpoint file or run folder.
    map_location : str or torch.device
        Where the weights are loaded (default the CPU; move the model with ``.to``).
    allow_partial : bool
        Accept a training checkpoint that has not reached its last epoch (a run folder with
        only ``checkpoint.pt``, or that file itself); ``checkpoint_meta['partial']`` is then
        True. By default such a file is refused: its network is not the trained one.

    Raises
    ------
    ValueError
        Missing or unreadable file, weights that do not fit, non-finite weights (a diverged
        training), or a partial training without ``allow_partial``.
    """
    path = Path(path)
    if path.is_dir():
        if (path / "model.pt").exists():
            path = path / "model.pt"
        elif (path / "checkpoint.pt").exists():
            path = path / "checkpoint.pt"
        else:
            raise ValueError(f"{path}: run folder holds neither model.pt nor checkpoint.pt")
    if not path.exists():
        raise ValueError(f"{path}: model file does not exist")
    try:
        obj = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    partial = False
    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        cfg = ModelConfig.from_dict(obj["model_config"])
        state = obj["model_state"]
        if "optimizer_state" in obj:  # a training checkpoint, not a finished model.pt
            epochs = int(obj.get("train_config", {}).get("epochs", 0))
            partial = int(obj.get("epoch", 0)) < epochs or int(obj.get("epoch_step", 0)) > 0
            if partial and not allow_partial:
                raise ValueError(
                    f"{path}: training has not finished (epoch {obj.get('epoch')} of {epochs}); "
                    "finish it with 'karaoke train' (it resumes), or accept the partly trained "
                    "network explicitly (--allow-partial)"
                )
    elif isinstance(obj, dict) and "state_dict" in obj:
        state = _strip_prefix(obj["state_dict"])
        cfg = config_from_state_dict(state)
    else:
        raise ValueError(f"{path}: neither a karaoke checkpoint nor a {{'state_dict': ...}} file")
    bad = [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(
            f"{path}: non-finite weights in {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} "
            "(a diverged training); retrain"
        )
    model = Karaoke(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit the network ({exc})") from exc
    model.trained = True
    model.eval()
    if isinstance(obj, dict) and obj.get("input_guard") is not None:
        from karaoke.nn.whitening import mask_from_ranges

        model.input_guard = mask_from_ranges(obj["input_guard"], cfg.n_pixels)
    model.checkpoint_path = str(path)
    model.checkpoint_meta = (
        {k: v for k, v in obj.items() if k not in ("model_state", "state_dict", "optimizer_state")}
        if isinstance(obj, dict)
        else {}
    )
    model.checkpoint_meta["partial"] = partial
    return model
