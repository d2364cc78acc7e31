"""Training state: everything a run needs to resume exactly where it stopped.

A :class:`TrainingState` holds the position (optimiser step, epoch, step within the epoch and
the loss sums of the unfinished epoch), the per-epoch history and the three random generators
(batch sampling, whitening velocities, torch's global generator for the VAE's noise). It is
saved with the model and optimiser states into one self-describing checkpoint file (written
atomically) and read back onto the CPU whatever device wrote it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from karaoke import __version__
from karaoke.nn.checkpoint import CHECKPOINT_FORMAT, save_atomic

#: Keys of a training checkpoint that hold torch.Generator states (CPU ByteTensors).
RNG_KEYS = ("rng_sample", "rng_whiten", "rng_torch")


def read_checkpoint(path) -> dict:
    """A training checkpoint, loaded onto the CPU whatever device trained it.

    Generator states must stay CPU ``uint8`` tensors (``torch.Generator.set_state`` refuses
    anything else, also for a CUDA generator): loading with ``map_location=cuda`` would move
    them to the GPU. Model and optimiser states are moved to the device by
    ``load_state_dict``.

    Raises
    ------
    ValueError
        If the file cannot be read or an RNG state is not a byte tensor.
    """
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable training checkpoint ({type(exc).__name__}: {exc})") from exc
    for key in RNG_KEYS:
        t = ck.get(key)
        if t is None:
            continue
        if not (torch.is_tensor(t) and t.dtype == torch.uint8):
            raise ValueError(f"{path}: {key} is not a generator state (ByteTensor)")
        ck[key] = t.cpu()
    return ck


@dataclass
class TrainingState:
    """Where a run stands, and its random generators.

    Attributes
    ----------
    step : int
        Optimiser steps taken since the start of the run.
    epoch : int
        Epochs completed.
    epoch_step : int
        Steps already taken in the unfinished epoch ``epoch`` (0 at an epoch boundary).
    epoch_sums : ndarray, shape (3,)
        Summed (loss, L1, KL) of those steps.
    history : list of dict
        One row per completed epoch.
    g_sample, g_whiten : torch.Generator
        Batch sampling (CPU) and whitening velocities (on the training device).
    best_val : float
        Lowest held-out L1 after an epoch so far (the collapse guard's reference; inf before).
    best_epoch : int
        The epoch that reached it.
    best : dict or None
        ``model_state`` and ``optimizer_state`` at the end of that epoch, and ``ema_state``
        where the run averages its weights (kept only while the guard is on, :meth:`snapshot`).
    lr_scale : float
        Factor on the scheduled learning rate (halved at each rollback of the guard).
    """

    g_sample: torch.Generator
    g_whiten: torch.Generator
    step: int = 0
    epoch: int = 0
    epoch_step: int = 0
    epoch_sums: np.ndarray = field(default_factory=lambda: np.zeros(3))
    history: list = field(default_factory=list)
    best_val: float = float("inf")
    best_epoch: int = 0
    best: dict | None = None
    lr_scale: float = 1.0

    def snapshot(self, model, optimizer, val: float, ema=None):
        """Keep the model's, optimiser's (and weight average's) states as the best so far
        (copies, on their device)."""
        self.best_val, self.best_epoch = float(val), self.epoch + 1
        self.best = {
            "model_state": _clone(model.state_dict()),
            "optimizer_state": copy.deepcopy(optimizer.state_dict()),
        }
        if ema is not None:
            self.best["ema_state"] = _clone(ema.state_dict())

    def roll_back(self, model, optimizer, lr_factor: float = 0.5, ema=None):
        """Return the model, optimiser (and weight average) to the best state kept and scale the
        learning rate by ``lr_factor`` from here on (the step counter, the schedule and the
        generators go on)."""
        model.load_state_dict(self.best["model_state"])
        optimizer.load_state_dict(copy.deepcopy(self.best["optimizer_state"]))
        if ema is not None:
            ema.load_state_dict(self.best["ema_state"])
        self.lr_scale *= lr_factor

    @classmethod
    def new(cls, seed: int, device) -> "TrainingState":
        """A fresh state: generators seeded ``seed + 1`` (sampling) and ``seed + 2`` (whitening)."""
        return cls(
            g_sample=torch.Generator().manual_seed(seed + 1),
            g_whiten=torch.Generator(device=device).manual_seed(seed + 2),
        )

    def save(self, path, model, optimizer, provenance: dict, ema=None):
        """Write model, optimiser, position, generators (and the weight average, ``ema``: a
        ``torch.optim.swa_utils.AveragedModel``) to ``path`` (atomically)."""
        save_atomic(
            {
                **({"ema_state": ema.state_dict()} if ema is not None else {}),
                "epoch_step": self.epoch_step,
                "epoch_sums": np.asarray(self.epoch_sums).tolist(),
                "format": CHECKPOINT_FORMAT,
                "version": __version__,
                **provenance,
                "step": self.step,
                "epoch": self.epoch,
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "rng_sample": self.g_sample.get_state(),
                "rng_whiten": self.g_whiten.get_state().cpu(),
                "rng_torch": torch.get_rng_state(),
                "history": self.history,
                "guard": {
                    "best_val": self.best_val,
                    "best_epoch": self.best_epoch,
                    "lr_scale": self.lr_scale,
                    "best": self.best,
                },
            },
            path,
        )

    def restore(self, ck: dict, model, optimizer, ema=None):
        """Load a checkpoint read by :func:`read_checkpoint` into ``model``, ``optimizer``,
        the weight average ``ema`` (where the run keeps one), this state and torch's global
        generator."""
        model.load_state_dict(ck["model_state"])
        optimizer.load_state_dict(ck["optimizer_state"])
        if ema is not None:
            if "ema_state" not in ck:
                raise ValueError("the checkpoint holds no weight average (ema_state) for a run that keeps one")
            ema.load_state_dict(ck["ema_state"])
        self.g_sample.set_state(ck["rng_sample"])
        self.g_whiten.set_state(ck["rng_whiten"])  # CPU ByteTensor for CPU and CUDA generators alike
        torch.set_rng_state(ck["rng_torch"])
        self.history, self.step, self.epoch = ck["history"], ck["step"], ck["epoch"]
        self.epoch_step = ck.get("epoch_step", 0)
        self.epoch_sums = np.asarray(ck.get("epoch_sums", np.zeros(3)))
        guard = ck.get("guard") or {}
        self.best_val = float(guard.get("best_val", float("inf")))
        self.best_epoch = int(guard.get("best_epoch", 0))
        self.lr_scale = float(guard.get("lr_scale", 1.0))
        self.best = guard.get("best")


def _clone(state: dict) -> dict:
    """A copy of a state dict's tensors, on their device."""
    return {k: v.detach().clone() for k, v in state.items()}
