"""Training: masked L1 + weighted KL with warm-up, Adam, velocity whitening on the device.

``train`` writes a run folder::

    RUN/checkpoint.pt   latest state (model, optimiser, RNGs, step, history): resume point
    RUN/model.pt        final self-describing model (config, version, seed, data hash, step)
    RUN/history.csv     one row per epoch (losses, KL weight, time)
    RUN/run.json        configs and provenance

and resumes from ``checkpoint.pt`` after an interruption. ``train_cached`` keys run folders by
a hash of (model config, training config, data hash), so every notebook, test and CLI call that
asks for the same network reuses one run.

The loop is flat: batches come from a source (:mod:`karaoke.nn.batches`), the position and the
generators live in a :class:`~karaoke.nn.state.TrainingState`, and several processes share the
work under ``torchrun`` (:mod:`karaoke.nn.distributed`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from karaoke._atomic import check_output_dir, write_csv, write_text
from karaoke._malloc import reuse_freed_memory
from karaoke.nn import distributed
from karaoke.nn.batches import make_batches, sampling_weights
from karaoke.nn.checkpoint import load_model, save_model
from karaoke.nn.model import Karaoke, ModelConfig
from karaoke.nn.state import RNG_KEYS, TrainingState, read_checkpoint  # noqa: F401  (re-exported)
from karaoke.nn.whitening import guard_mask, mask_ranges, random_velocities, whiten
from karaoke.paths import cache_dir
from karaoke.spectra.survey import Survey

#: Learning-rate schedules (:meth:`TrainConfig.lr_at`).
LR_SCHEDULES = ("constant", "onecycle")
#: TrainConfig fields added after runs were cached, with their defaults (left out of the run key
#: at the default).
_LATER_FIELDS = {
    "logvar_range": [],
    "lr_schedule": "constant",
    "loss_reduction": "mean",
    "compile": False,
    "grad_clip": 0.0,
    "guard_rise": 0.0,
    "adam_betas": [0.9, 0.999],
    "adam_eps": 1e-8,
    "kl_target": 0.0,
    "kl_free": 0.0,
    "ema_decay": 0.0,
}
#: How the loss is reduced (:func:`vae_loss`).
LOSS_REDUCTIONS = ("mean", "sum")

#: Version of the training procedure (part of every run key): 2 = whitened inputs carry a
#: static guard band (:func:`karaoke.nn.whitening.guard_mask`), so zero-filled blocks no longer
#: reveal the virtual velocity. 3 = the collapse guard ignores the epochs of the KL warm-up.
TRAIN_VERSION = 3


@dataclass(frozen=True)
class TrainConfig:
    """Training settings (defaults: the authors' script, with the paper's KL weight 0.1).

    ``kl_warmup`` = (first, last) iteration of the linear ramp of the KL weight from 0 to
    ``kl_weight`` (authors: 5000 -> 20000 with weight 0.3). ``max_velocity`` is N of the
    whitening ``v ~ U(-N, N)`` km/s (0: the topocentric network). ``compile`` trains through
    ``torch.compile`` (slower on this project's CPUs, ``benchmarks/training.py --kernels``: 0.67x;
    for GPUs, where it is to be measured). There is no mixed precision: a median-normalised
    spectrum sits near 1, where a bfloat16 step is 2^-7 = 0.008, as deep as the lines that matter
    (a bf16-autocast network did not learn where float32 did; docs/history.md).

    ``grad_clip`` > 0 rescales each step's gradient to at most that global L2 norm
    (``torch.nn.utils.clip_grad_norm_``), a guard against the rare step that throws a network
    off (a VAE's log-variance running away at the learning rate's peak). The norm's scale
    depends on the loss reduction, the number of pixels and the network, so the threshold is
    measured per recipe: every run's ``history.csv`` records the median and largest norm of each
    epoch (``grad_norm_p50``, ``grad_norm_max``) and the fraction of steps clipped. 0: no clipping.
    The norm is computed every step either way (one fused reduction on the device): 0.4 ms, 0.5 %
    of a step of the regime network at batch 32, and 1.2 ms, 0.25 % of a paper-network step at
    batch 2 (one CPU thread of this project's AMD EPYC).

    ``guard_rise`` > 0 is the collapse guard: after every epoch the held-out L1 is compared with
    the best so far, and when it has risen by more than that fraction (a posterior collapse or
    a divergence at the learning rate's peak; also a non-finite loss), the run returns to the
    state of its best epoch (weights and Adam's moments) and goes on at half the learning rate
    for the rest of the schedule (each rollback halves it again). ``history.csv`` records
    ``lr_scale`` and ``rolled_back`` per epoch. A run that never trips it follows exactly the
    trajectory it would follow without the guard. 0: no guard (a non-finite loss stops the run).
    The guard watches only the epochs that end after the KL warm-up (``warmed_up``): while the
    KL weight ramps up the held-out L1 rises by design (the code is being squeezed), and an
    epoch of a looser loss is no state to return to. (With the best taken from the first epoch,
    an H2O-window network at KL weight 1.0 was sent back to its first epoch seven times in 60,
    its rate halved each time, and never learned.)

    ``logvar_range`` (lo, hi) clamps the VAE's log-variance in training. A run that diverged at
    the learning rate's peak had its log-variance run from below 2 to 134 in 19 steps (the
    sampled code and the KL term's exponential fed each other until the loss overflowed); the
    gradient clipping did not stop it (the norm is not what grows first). Empty: no clamp; inside
    the range the clamp is the identity, gradients included.

    ``adam_betas`` and ``adam_eps`` are Adam's (defaults: PyTorch's). Adam moves each weight by
    at most about ``lr (1 - beta1) / sqrt(1 - beta2)`` in one step, whatever the gradient's
    scale, which is why clipping the gradient's norm does not bound a step: 3.2 ``lr`` at
    beta2 = 0.999, 1.0 ``lr`` at 0.99, 0.46 ``lr`` at 0.95, where a second moment that has
    decayed through quiet steps meets a sudden large gradient.

    ``kl_target`` > 0 holds the KL term at a capacity instead of only penalising it: the loss is
    L1 + beta |KL - kl_target| (Burgess et al. 2018, "Understanding disentangling in beta-VAE"),
    so the bottleneck carries about that many nats (per spectrum with ``loss_reduction="sum"``)
    however far the training has converged; ``kl_weight`` is then how firmly. 0: L1 + beta KL.

    ``kl_free`` > 0 is a floor of "free" nats (Kingma et al. 2016, "Improved variational
    inference with inverse autoregressive flow"): the loss is L1 + beta max(KL, kl_free), so below
    the floor the KL term does not pull the code towards the prior at all. It is a guard against
    the early partial collapse in which the KL weight's warm-up squeezes the bottleneck to a few
    tens of nats before the decoder can use them (such runs converge slowly, and their whitened
    Qs is the worst); above the floor the loss is the usual one. 0: no floor.

    ``ema_decay`` > 0 keeps an exponential moving average of the weights (Polyak averaging,
    ``torch.optim.swa_utils``; after every step ``e <- d e + (1 - d) w``, the first step's weights
    as its start) and uses it wherever the run's result is read: the held-out L1 of each epoch
    (so also the collapse guard's comparison), the guard's best state, and the saved model. The
    optimiser steps the raw weights as before, so the trajectory is the run without it. 0: off.
    """

    max_velocity: float = 30.0
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-4
    kl_weight: float = 0.1
    kl_warmup: tuple = (5000, 20000)
    seed: int = 0
    holdout_fraction: float = 0.1
    per_star_weights: bool = True
    max_val_spectra: int = 512
    min_median: float = 50.0
    lr_schedule: str = "constant"
    loss_reduction: str = "mean"
    compile: bool = False
    grad_clip: float = 0.0
    guard_rise: float = 0.0
    logvar_range: tuple = ()
    adam_betas: tuple = (0.9, 0.999)
    adam_eps: float = 1e-8
    kl_target: float = 0.0
    kl_free: float = 0.0
    ema_decay: float = 0.0

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"invalid training config {self}")
        if self.max_velocity < 0 or self.kl_weight < 0:
            raise ValueError("max_velocity and kl_weight must be >= 0")
        if self.logvar_range and not (len(self.logvar_range) == 2 and self.logvar_range[0] < self.logvar_range[1]):
            raise ValueError(f"logvar_range must be (lo, hi) with lo < hi, or empty, got {self.logvar_range!r}")
        if not (self.guard_rise >= 0 and math.isfinite(self.guard_rise)):
            raise ValueError(f"guard_rise must be a finite fraction >= 0 (0: no guard), got {self.guard_rise!r}")
        if not (self.grad_clip >= 0 and math.isfinite(self.grad_clip)):
            raise ValueError(f"grad_clip must be a finite norm >= 0 (0: no clipping), got {self.grad_clip!r}")
        if not (len(self.adam_betas) == 2 and all(0 <= b < 1 for b in self.adam_betas)):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas!r}")
        if not (self.adam_eps > 0 and math.isfinite(self.adam_eps)):
            raise ValueError(f"adam_eps must be a finite number > 0, got {self.adam_eps!r}")
        if not (self.kl_target >= 0 and math.isfinite(self.kl_target)):
            raise ValueError(f"kl_target must be a finite number of nats >= 0 (0: none), got {self.kl_target!r}")
        if not (self.kl_free >= 0 and math.isfinite(self.kl_free)):
            raise ValueError(f"kl_free must be a finite number of nats >= 0 (0: none), got {self.kl_free!r}")
        if not (0 <= self.ema_decay < 1):
            raise ValueError(f"ema_decay must be in [0, 1) (0: no weight average), got {self.ema_decay!r}")
        if self.kl_free > 0 and self.kl_target > 0:
            raise ValueError("kl_free and kl_target are two forms of the KL term: set one of them")
        if len(self.kl_warmup) != 2 or self.kl_warmup[0] > self.kl_warmup[1]:
            raise ValueError("kl_warmup must be (start, end) with start <= end")
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise ValueError(f"loss_reduction must be one of {LOSS_REDUCTIONS}, got {self.loss_reduction!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")

    def warmed_up(self, step: int) -> bool:
        """Whether the KL weight has reached its final value by iteration ``step``."""
        return step >= self.kl_warmup[1]

    def beta(self, step: int) -> float:
        """KL weight at iteration ``step``."""
        a, b = self.kl_warmup
        if step < a:
            return 0.0
        if step >= b or b == a:
            return self.kl_weight
        return self.kl_weight * (step - a) / (b - a)

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        for k, default in _LATER_FIELDS.items():  # fields added later are keyed only when set, so
            if d.get(k) == default:  # the runs trained before they existed stay valid
                d.pop(k)
        return d

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate at optimiser step ``step`` of ``total_steps``.

        ``constant``: ``lr``. ``onecycle``: a cosine rise from ``lr / 25`` to ``lr`` over the
        first 30 % of the steps, then a cosine decay to ``lr / 1e4`` (Smith & Topin 2019, as
        ``torch.optim.lr_scheduler.OneCycleLR``).
        """
        if self.lr_schedule == "constant":
            return self.lr
        warm = max(1, int(0.3 * total_steps))
        lo, end = self.lr / 25.0, self.lr / 1e4
        if step < warm:
            return lo + (self.lr - lo) * (1 - math.cos(math.pi * step / warm)) / 2
        frac = min(1.0, (step - warm) / max(1, total_steps - warm))
        return end + (self.lr - end) * (1 + math.cos(math.pi * frac)) / 2

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def replace(self, **kw) -> "TrainConfig":
        return replace(self, **kw)

    def at_kl_weight(self, kl_weight: float) -> "TrainConfig":
        """This recipe with another KL weight (a rung of the KL ladder, ``--kl-weight``): at a
        weight above the recipe's the free nats are dropped, since a floor chosen against the
        collapse of a loose code would hold a tighter one open (the point of the higher weight)."""
        kl_free = self.kl_free if kl_weight <= self.kl_weight else 0.0
        return replace(self, kl_weight=float(kl_weight), kl_free=kl_free)


def static_mask(survey: Survey, sample: int = 512) -> np.ndarray:
    """The artifact mask shared by a survey's spectra, shape (L,): its 1-D mask, or for
    per-spectrum masks the pixels valid in at least half of up to ``sample`` evenly spaced
    spectra (padding and instrument gaps, the same in every spectrum, come out 0)."""
    if survey.mask.ndim == 1:
        return (np.asarray(survey.mask) > 0).astype(np.float32)
    rows = np.unique(np.linspace(0, len(survey) - 1, min(sample, len(survey))).astype(int))
    return (np.asarray(survey.mask[rows], dtype=np.float32).mean(0) >= 0.5).astype(np.float32)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run folder keeps the last good checkpoint."""


def pick_device(device: str | None = "auto") -> torch.device:
    """``auto`` -> CUDA if available, else CPU.

    Raises
    ------
    ValueError
        For a device name torch does not know, or a CUDA/MPS device this machine lacks.
    """
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} asked for, but this machine has no CUDA GPU (or this torch "
                "build has no CUDA support); use --device cpu or auto"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} is not available on this machine")
    return dev


def vae_loss(
    recon, target, mask, mu, logvar, beta: float, reduction: str = "mean", kl_target: float = 0.0, kl_free: float = 0.0
):
    """Masked L1 + beta * KL (or beta * |KL - kl_target| when ``kl_target`` > 0: a capacity; or
    beta * max(KL, kl_free) when ``kl_free`` > 0: free nats; :class:`TrainConfig`); returns
    (total, l1, kl) tensors, ``kl`` the KL itself.

    ``reduction="mean"``: L1 averaged over all pixels, KL over all latent dimensions (the
    authors' script). ``"sum"``: per spectrum, L1 summed over pixels and KL summed over latent
    dimensions, both averaged over the batch (the ELBO of one spectrum). With Adam the overall
    scale does not matter, but the balance of KL and L1 does (sum: ``beta`` weighs the KL of D
    dimensions against the L1 of L pixels), and so does Adam's ``eps`` against tiny per-pixel
    mean gradients.

    Shapes: recon/target/mask (B, L); mu/logvar (B, D) (logvar None for the AE: KL = 0).
    """
    err = (recon - target).abs() * mask  # (B, L)
    if logvar is None:
        kl_el = torch.zeros_like(mu)
    else:
        kl_el = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())  # (B, D)
    if reduction == "sum":
        l1, kl = err.sum(1).mean(), kl_el.sum(1).mean()
    else:
        l1, kl = err.mean(), kl_el.mean()
    if kl_target > 0:
        term = (kl - kl_target).abs()
    elif kl_free > 0:
        term = kl.clamp(min=kl_free)  # no gradient below the floor
    else:
        term = kl
    return l1 + beta * term, l1, kl


def run_key(model_config: ModelConfig, train_config: TrainConfig, data_hash: str) -> str:
    blob = json.dumps(
        {
            "model": model_config.to_dict(),
            "train": train_config.to_dict(),
            "data": data_hash,
            "train_version": TRAIN_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_history(path: Path, history: list):
    if history:  # a run resumed from an older checkpoint gains columns: keep them all, first seen first
        fields = list(dict.fromkeys(k for row in history for k in row))
        write_csv(path, [{k: row.get(k, "") for k in fields} for row in history], fields)


def normalised_once(survey: Survey, min_median: float = 50.0):
    """``survey.normalised(min_median)``, or the survey as it is when it is normalised already
    (``attrs['normalised']``, e.g. a prepared store, which is not loaded into memory).

    Returns
    -------
    norm : Survey
    rejected : dict
        As :meth:`karaoke.spectra.survey.Survey.normalised` (empty for a normalised survey).
    """
    if survey.attrs.get("normalised"):
        return survey, {}
    return survey.normalised(min_median=min_median)


def prepare_training_data(survey: Survey, cfg: TrainConfig):
    """Normalise (rejecting noise-like spectra) and split; returns (normalised survey, train, val).

    A survey already normalised (``attrs['normalised']``, e.g. a prepared store) is used as is,
    without loading it into memory.
    """
    norm, rejected = normalised_once(survey, cfg.min_median)
    if len(norm) < 2:
        raise ValueError(f"only {len(norm)} usable spectra after rejecting {len(rejected)} noise-like ones")
    train_idx, val_idx = norm.split(cfg.holdout_fraction)
    return norm, train_idx, val_idx, rejected


def train(
    survey: Survey,
    model_config: ModelConfig,
    train_config: TrainConfig,
    out_dir,
    device: str | None = "auto",
    progress: bool = True,
    max_steps: int | None = None,
    on_device: str = "auto",
) -> Karaoke:
    """Train (or resume training) a network on ``survey``; returns the trained model.

    Parameters
    ----------
    survey : Survey
        Spectra on the model's grid in the topocentric frame (un-normalised or normalised).
    model_config, train_config : ModelConfig, TrainConfig
    out_dir : path
        Run folder (created); an existing ``checkpoint.pt`` with the same configs and data
        is resumed.
    device : "auto", "cpu", "cuda", ...
    progress : bool
        Show progress bars (one per epoch).
    max_steps : int, optional
        Stop after this many optimiser steps in this call (a checkpoint is written), e.g. to
        test interruption and resume.
    on_device : "auto", "yes" or "no"
        Keep the training spectra in the GPU's memory (:func:`karaoke.nn.batches.make_batches`;
        "auto": when they fit). The batches drawn are the same either way.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) the processes train one network together
    (:mod:`karaoke.nn.distributed`): ``batch_size`` is the global batch, split evenly over them;
    rank 0 writes the run folder.
    """
    cfg = train_config
    if survey.n_pixels != model_config.n_pixels:
        raise ValueError(f"survey has {survey.n_pixels} pixels, the model expects {model_config.n_pixels}")
    if survey.frame != "topocentric":
        raise ValueError("train on topocentric spectra (shift barycentric ones by -BERV first)")
    out = check_output_dir(out_dir, "run folder")
    reuse_freed_memory()  # large activations without a page fault per byte each step (karaoke._malloc)
    ctx, dev = distributed.setup(pick_device(device))
    try:
        return _train(survey, model_config, cfg, out, dev, ctx, progress, max_steps, on_device)
    finally:
        distributed.teardown(ctx)


def _train(survey, model_config, cfg, out, dev, ctx, progress, max_steps, on_device):
    """The step loop of :func:`train` in one process (rank ``ctx.rank`` of ``ctx.world``):
    set-up, epochs (each ending in validation, the collapse guard and a checkpoint), finish."""
    run = _Run.start(survey, model_config, cfg, out, dev, ctx, progress and ctx.is_main, on_device)
    steps_left = max_steps
    while run.state.epoch < cfg.epochs:
        steps_left = run.epoch(steps_left)
        if steps_left is not None and steps_left <= 0:  # max_steps reached: checkpointed, resumable from here
            return run.model
    return run.finish()


@dataclass
class _Run:
    """One training run in one process: its configs, network, optimiser, state and data."""

    cfg: TrainConfig
    out: Path
    dev: torch.device
    ctx: object  # karaoke.nn.distributed context
    progress: bool
    model: Karaoke
    net: torch.nn.Module  # the model, or its DDP / compiled wrapper
    opt: torch.optim.Optimizer
    state: TrainingState
    provenance: dict
    norm: Survey
    grid: object  # karaoke.spectra.grid.Grid
    guard: torch.Tensor  # (L,) static input guard on the device
    batches: object  # karaoke.nn.batches source
    val_sel: np.ndarray
    shard: slice
    steps_per_epoch: int
    ema: object = None  # torch.optim.swa_utils.AveragedModel of the weights, where cfg.ema_decay > 0

    @property
    def result_model(self) -> torch.nn.Module:
        """The network whose weights are the run's result: the weight average, or the weights."""
        return self.model if self.ema is None else self.ema.module

    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.cfg.epochs

    @classmethod
    def start(cls, survey, model_config, cfg, out, dev, ctx, progress, on_device) -> "_Run":
        """Data, network, optimiser and state, resumed from the run folder's checkpoint if any."""
        if cfg.batch_size % ctx.world:
            raise ValueError(f"batch size {cfg.batch_size} does not split evenly over {ctx.world} processes")
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
        data_hash = survey.data_hash()
        norm, train_idx, val_idx, rejected = prepare_training_data(survey, cfg)
        grid = norm.grid
        guard_np = guard_mask(grid, cfg.max_velocity, static_mask(norm))  # (L,)

        torch.manual_seed(cfg.seed)
        model = Karaoke(model_config).to(dev)
        model.input_guard = guard_np
        net = distributed.wrap(model, ctx, dev)  # DDP over several processes, else the model itself
        if cfg.compile:  # fused kernels (inductor); checkpoints keep the plain module's weights
            net = torch.compile(net)
        # the fused kernel: one pass over the parameters per step (benchmarks/training.py --kernels on
        # this project's CPU: 1.11x faster a step for the regime network, 1.68x with 1024 latent dimensions)
        opt = torch.optim.Adam(
            model.parameters(),
            lr=cfg.lr,
            betas=tuple(cfg.adam_betas),
            eps=cfg.adam_eps,
            fused=dev.type in ("cpu", "cuda"),
        )
        ema = None
        if cfg.ema_decay > 0:  # a copy of the model whose weights follow the average
            ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
        state = TrainingState.new(cfg.seed, dev)
        provenance = {
            "model_config": model_config.to_dict(),
            "train_config": cfg.to_dict(),
            "data_hash": data_hash,
            "seed": cfg.seed,
            "n_train": int(train_idx.size),
            "n_val": int(val_idx.size),
            "n_rejected": len(rejected),
            "grid": grid.to_dict(),
            "frame": norm.frame,
            "medium": norm.medium,
            "input_guard": mask_ranges(guard_np),
            "train_version": TRAIN_VERSION,
            "torch_threads": torch.get_num_threads(),
            "device": str(dev),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the float path (karaoke.nn.pool)
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        }
        ckpt_path = out / "checkpoint.pt"
        if ckpt_path.exists():
            ck = read_checkpoint(ckpt_path)
            if (
                ck.get("data_hash") != data_hash
                or ck.get("train_config") != cfg.to_dict()
                or ck.get("model_config") != model_config.to_dict()
            ):
                raise ValueError(
                    f"{ckpt_path}: checkpoint belongs to another configuration or data set; use another run folder"
                )
            state.restore(ck, model, opt, ema)
        if ctx.rank:  # the VAE's sampling noise: a stream of its own per rank (rank 0 keeps the 1-process one)
            torch.manual_seed(cfg.seed + 1_000_003 * ctx.rank + state.step)
        if ctx.is_main:
            write_text(out / "run.json", json.dumps(provenance, indent=2))

        star_id = norm.meta["star_id"] if "star_id" in norm.meta else None
        weights = sampling_weights(star_id, train_idx, cfg.per_star_weights)
        batches = make_batches(norm.flux, norm.mask, train_idx, weights, dev, on_device)
        return cls(
            cfg,
            out,
            dev,
            ctx,
            progress,
            model,
            net,
            opt,
            state,
            provenance,
            norm,
            grid,
            torch.from_numpy(guard_np).to(dev),
            batches,
            val_idx[: cfg.max_val_spectra],
            ctx.shard(cfg.batch_size),
            max(1, math.ceil(train_idx.size / cfg.batch_size)),
            ema,
        )

    def host_sums(self, dsums, n_steps, guarded=False) -> np.ndarray:
        """The epoch's (loss, L1, KL) sums on the host, averaged over the processes; a non-finite
        one stops the run unless the collapse guard is to roll it back."""
        total = self.state.epoch_sums + distributed.all_mean(dsums, self.ctx).cpu().numpy()
        if not np.all(np.isfinite(total)) and not guarded:
            raise TrainingDiverged(
                f"{self.out}: the loss became non-finite in epoch {self.state.epoch + 1} (by step {self.state.step}; "
                f"mean loss, L1, KL {total / max(1, n_steps)}): check the survey for NaN/inf or lower --lr. "
                + (
                    f"{self.ckpt_path} keeps the last good state."
                    if self.ckpt_path.exists()
                    else "No checkpoint was written."
                )
            )
        return total

    def epoch(self, steps_left: int | None) -> int | None:
        """Train the rest of the current epoch, or ``steps_left`` steps of it; the steps still
        allowed after it (0: stopped mid-epoch and checkpointed; None: no limit)."""
        cfg, state, model, opt, dev = self.cfg, self.state, self.model, self.opt, self.dev
        model.train()
        t0 = time.time()
        first = state.epoch_step
        dsums = torch.zeros(3, dtype=torch.float64, device=dev)  # summed on the device: no sync per step
        gnorms = torch.full((self.steps_per_epoch,), float("nan"), device=dev)  # each step's gradient norm
        bar = tqdm(
            range(first, self.steps_per_epoch),
            desc=f"epoch {state.epoch + 1}/{cfg.epochs}",
            disable=not self.progress,
            leave=False,
        )
        for inner in bar:
            pick = self.batches.draw(cfg.batch_size, state.g_sample)[self.shard]  # (B / K,) this rank's share
            v = random_velocities(cfg.batch_size, cfg.max_velocity, state.g_whiten, device=dev)[self.shard]  # km/s
            x, m = self.batches.gather(pick)  # (B / K, L) on the device
            xw, mw, _ = whiten(x, self.grid, cfg.max_velocity, m, guard=self.guard, velocities=v)  # (B / K, L)
            recon, mu, logvar = self.net(xw, logvar_range=cfg.logvar_range)  # (B / K, L), (B / K, D), (B / K, D)
            for group in opt.param_groups:
                group["lr"] = cfg.lr_at(state.step, self.total_steps) * state.lr_scale
            loss, l1, kl = vae_loss(
                recon, xw, mw, mu, logvar, cfg.beta(state.step), cfg.loss_reduction, cfg.kl_target, cfg.kl_free
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorms[inner] = clip_gradients(model, cfg.grad_clip)
            opt.step()
            if self.ema is not None:
                self.ema.update_parameters(model)  # one fused lerp over the parameters
            state.step += 1
            dsums += torch.stack([loss.detach(), l1.detach(), kl.detach()]).double()
            if self.progress and inner % 25 == 0:  # a host sync, only for the progress bar
                bar.set_postfix(l1=f"{l1.item():.4f}", kl=f"{kl.item():.2f}")
            if steps_left is not None:
                steps_left -= 1
                if steps_left <= 0:
                    state.epoch_sums, state.epoch_step = self.host_sums(dsums, inner + 1 - first), inner + 1
                    if self.ctx.is_main:  # mid-epoch: resume continues from this step
                        state.save(self.ckpt_path, model, opt, self.provenance, self.ema)
                    distributed.barrier(self.ctx)
                    return 0
        self.end_epoch(dsums, gnorms, first, t0)
        return steps_left

    def end_epoch(self, dsums, gnorms, first: int, t0: float) -> None:
        """Validation, the collapse guard, the history row and the checkpoint of a finished epoch."""
        cfg, state, norm = self.cfg, self.state, self.norm
        # read once per epoch: a non-finite loss stops here, or with the guard rolls back below
        guarded = cfg.guard_rise > 0 and state.best is not None
        sums = self.host_sums(dsums, self.steps_per_epoch - first, guarded)
        finite = bool(np.all(np.isfinite(sums)))
        val_l1 = float("nan")
        if finite:
            flux, mask = norm.flux[self.val_sel], norm.pixel_mask()[self.val_sel]
            val_l1 = evaluate_loss(self.result_model, flux, mask, self.grid, cfg, self.dev, guard=self.guard)
        rise = cfg.guard_rise if cfg.warmed_up(state.step) else 0.0  # the guard waits for the warm-up
        rolled = _collapse_guard(state, self.model, self.opt, val_l1, finite, rise, self.ema)
        if self.val_sel.size and not math.isfinite(val_l1) and not rolled:
            raise TrainingDiverged(
                f"{self.out}: the held-out loss is non-finite after epoch {state.epoch + 1}; "
                f"{self.ckpt_path} keeps the last good state (epoch {state.epoch})."
            )
        n_b = self.steps_per_epoch
        state.history.append(
            {
                "epoch": state.epoch + 1,
                "step": state.step,
                "loss": sums[0] / n_b,
                "l1": sums[1] / n_b,
                "kl": sums[2] / n_b,
                "val_l1": val_l1,
                "beta": cfg.beta(state.step),
                "seconds": round(time.time() - t0, 3),
                **_norm_summary(gnorms, cfg.grad_clip),
                "lr_scale": state.lr_scale,
                "rolled_back": int(rolled),
            }
        )
        state.epoch, state.epoch_step, state.epoch_sums = state.epoch + 1, 0, np.zeros(3)
        if self.ctx.is_main:
            state.save(self.ckpt_path, self.model, self.opt, self.provenance, self.ema)
            _write_history(self.out / "history.csv", state.history)

    def finish(self) -> Karaoke:
        """The trained model, in eval mode, saved as ``model.pt`` with its provenance."""
        model, state = self.model, self.state
        if self.ema is not None:  # the result is the weight average
            model.load_state_dict(self.ema.module.state_dict())
        model.trained = True
        model.eval()
        if self.ctx.is_main:
            save_model(
                model,
                self.out / "model.pt",
                **self.provenance,
                step=state.step,
                epoch=self.cfg.epochs,
                history=state.history,
            )
        distributed.barrier(self.ctx)
        return model


def _collapse_guard(state: TrainingState, model, opt, val_l1: float, finite: bool, rise: float, ema=None) -> bool:
    """After an epoch: keep the state when its held-out L1 is the best so far, or roll back to
    the best one when the loss went non-finite or the held-out L1 rose by more than ``rise``
    (a fraction of the best). Returns whether it rolled back. Off (never rolls back, keeps
    nothing) when ``rise`` is 0."""
    if rise <= 0:
        return False
    if state.best is not None and (not finite or _guard_trips(val_l1, state.best_val, rise)):
        state.roll_back(model, opt, ema=ema)
        return True
    if finite and math.isfinite(val_l1) and val_l1 < state.best_val:
        state.snapshot(model, opt, val_l1, ema)
    return False


def guard_trip_epoch(val_l1, rise: float, warmed_up=None) -> int | None:
    """The first epoch (1-based) at which the collapse guard would roll back a run whose
    held-out L1 after each epoch was ``val_l1`` (a non-finite value counts as a rise), or None.
    Until that epoch a guarded run follows the unguarded one exactly, so None means the two runs
    are the same run.

    Parameters
    ----------
    val_l1 : sequence of float
        Held-out L1 per epoch of an unguarded run (``history.csv``'s ``val_l1``).
    rise : float
        The guard's ``guard_rise`` (> 0).
    warmed_up : sequence of bool, optional
        Per epoch, whether it ended after the KL warm-up (:meth:`TrainConfig.warmed_up` of the
        history's ``step``); the guard ignores the others. Default: every epoch.
    """
    best = float("inf")
    warmed_up = [True] * len(val_l1) if warmed_up is None else list(warmed_up)
    if len(warmed_up) != len(val_l1):
        raise ValueError(f"warmed_up has {len(warmed_up)} epochs, val_l1 {len(val_l1)}")
    for epoch, (v, watched) in enumerate(zip(val_l1, warmed_up), start=1):
        if not watched:
            continue
        if best < float("inf") and _guard_trips(v, best, rise):
            return epoch
        if math.isfinite(v):
            best = min(best, v)
    return None


def _guard_trips(val_l1: float, best: float, rise: float) -> bool:
    """The collapse guard's rule: a non-finite held-out L1, or one more than ``rise`` above the best."""
    return not math.isfinite(val_l1) or val_l1 > best * (1 + rise)


def clip_gradients(model, max_norm: float) -> torch.Tensor:
    """The global L2 norm of a network's gradients, which are rescaled in place to at most
    ``max_norm`` (:func:`torch.nn.utils.clip_grad_norm_`, in its two halves).

    On a GPU the rescaling is unconditional (a multiply by 1.0 when under the limit), so that no
    step waits for the norm on the host. On the CPU there is nothing to wait for, and the pass
    over every gradient is skipped when it would multiply by 1.0 (an exact no-op, so the run is
    the same step for step): 1-1.5 of the regime network's 100 ms a step on one core.

    Parameters
    ----------
    model : torch.nn.Module
        The network after ``backward``; parameters without a gradient are left out.
    max_norm : float
        The largest norm kept; 0 records the norm and clips nothing.

    Returns
    -------
    Tensor, shape ()
        The norm before clipping, on the gradients' device.
    """
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
    if max_norm > 0 and (norm.device.type != "cpu" or not bool(max_norm / (norm + 1e-6) >= 1.0)):
        torch.nn.utils.clip_grads_with_norm_(params, max_norm, norm, foreach=True)
    return norm


def _norm_summary(gnorms: torch.Tensor, max_norm: float) -> dict:
    """Median and largest gradient norm of an epoch's steps, and the fraction clipped (steps of
    an epoch interrupted and resumed count from the resume on)."""
    g = gnorms.cpu().numpy().astype(np.float64)
    g = g[~np.isnan(g)]
    if g.size == 0:
        return {"grad_norm_p50": float("nan"), "grad_norm_max": float("nan"), "clipped": float("nan")}
    return {
        "grad_norm_p50": float(np.median(g)),
        "grad_norm_max": float(g.max()),
        "clipped": float(np.mean(g > max_norm)) if max_norm > 0 else 0.0,
    }


@torch.no_grad()
def evaluate_loss(
    model, flux, mask, grid, cfg: TrainConfig, device, batch_size: int = 64, guard: torch.Tensor | None = None
) -> float:
    """Mean masked L1 on whitened held-out spectra (fixed seed, so epochs are comparable)."""
    if len(flux) == 0:
        return float("nan")
    was = model.training
    model.eval()
    g = torch.Generator(device=device).manual_seed(12345)
    tot, n = 0.0, 0
    for i in range(0, len(flux), batch_size):
        x = torch.as_tensor(np.ascontiguousarray(flux[i : i + batch_size], dtype=np.float32), device=device)
        m = torch.as_tensor(np.ascontiguousarray(mask[i : i + batch_size], dtype=np.float32), device=device)
        xw, mw, _ = whiten(x, grid, cfg.max_velocity, m, generator=g, guard=guard)
        y, _, _ = model(xw)
        tot += float(((y - xw).abs() * mw).mean()) * len(x)
        n += len(x)
    model.train(was)
    return tot / n


def run_dir_for(model_config: ModelConfig, train_config: TrainConfig, data_hash: str, root=None) -> Path:
    return Path(root or cache_dir() / "runs") / run_key(model_config, train_config, data_hash)


def train_cached(
    survey: Survey,
    model_config: ModelConfig,
    train_config: TrainConfig,
    root=None,
    device: str | None = "auto",
    progress: bool = True,
) -> Karaoke:
    """Return the trained model for these configs and data, training (or resuming) only if needed.

    Parameters
    ----------
    survey : Survey
        Topocentric spectra on the model's grid.
    model_config, train_config : ModelConfig, TrainConfig
    root : path, optional
        Folder of the run cache (default ``data/cache/runs``); a run's folder is keyed by
        :func:`run_key`.
    device : str
        ``auto``, ``cpu``, ``cuda``...
    progress : bool

    Returns
    -------
    Karaoke
        In eval mode; ``run_dir`` is its run folder.
    """
    run = run_dir_for(model_config, train_config, survey.data_hash(), root)
    if (run / "model.pt").exists():
        model = load_model(run / "model.pt")
    else:
        train(survey, model_config, train_config, run, device=device, progress=progress)
        model = load_model(run / "model.pt")
    return model


def load_history(run_dir) -> list[dict]:
    """The per-epoch history of a run folder.

    Parameters
    ----------
    run_dir : path
        Folder written by :func:`train`.

    Returns
    -------
    list of dict
        One per epoch: ``epoch``, ``step``, ``loss``, ``l1``, ``kl``, ``val_l1``, ``beta``,
        ``seconds``, and (runs since the gradient norm was recorded) ``grad_norm_p50``,
        ``grad_norm_max``, ``clipped`` (floats; NaN for epochs trained before).
    """
    with open(Path(run_dir) / "history.csv") as fh:
        return [{k: float(v) if v != "" else float("nan") for k, v in row.items()} for row in csv.DictReader(fh)]
