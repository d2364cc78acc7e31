"""Batch sources: which spectra a training step sees, and how they reach the device.

Every source draws the indices of a batch the same way -- with replacement, each spectrum
weighted by 1 / (its star's number of training spectra) when stars are known, so that a star
observed 500 times does not outweigh one observed 5 times -- from a CPU generator, so that one
seed gives the same batches on any device. They differ in where the spectra live:

* :class:`ArrayBatches`: numpy arrays or memmaps (a prepared store is read batch by batch, never
  loaded); on CUDA the batch is copied through page-locked memory, overlapping with compute.
* :class:`DeviceBatches`: the training spectra held on the device (a GPU survey that fits in
  its memory): a batch is one gather, with no host copy at all.
"""

from __future__ import annotations

import numpy as np
import torch


def sampling_weights(star_id, train_idx: np.ndarray, per_star: bool = True) -> torch.Tensor:
    """Sampling weight of each training spectrum, shape (n_train,), float64.

    ``1 / count`` of its star among the training spectra when ``star_id`` (shape (N,)) is
    given and ``per_star``; otherwise uniform.
    """
    if star_id is not None and per_star:
        _, inv, counts = np.unique(np.asarray(star_id)[train_idx], return_inverse=True, return_counts=True)
        return torch.as_tensor(1.0 / counts[inv], dtype=torch.float64)
    return torch.ones(len(train_idx), dtype=torch.float64)


class ArrayBatches:
    """Batches gathered from host arrays (ndarray or memmap).

    Parameters
    ----------
    flux : array, shape (N, L)
        Normalised flux.
    mask : array, shape (N, L) or (L,)
        Pixel validity (1 valid, 0 masked).
    train_idx : ndarray of int, shape (n_train,)
        Rows that may be drawn.
    weights : Tensor, shape (n_train,)
        Sampling weights (:func:`sampling_weights`).
    device : torch.device
    """

    def __init__(self, flux, mask, train_idx, weights, device):
        self.flux, self.mask = flux, mask
        self.train_idx = torch.as_tensor(np.asarray(train_idx))
        self.weights, self.device = weights, torch.device(device)

    def draw(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """Row indices of one batch, shape (B,), drawn with ``generator`` (CPU)."""
        return self.train_idx[torch.multinomial(self.weights, batch_size, replacement=True, generator=generator)]

    def gather(self, pick: torch.Tensor):
        """Flux and mask of rows ``pick`` on the device, both (B, L) float32."""
        pick = pick.numpy()
        x = torch.from_numpy(np.ascontiguousarray(self.flux[pick], dtype=np.float32))  # (B, L)
        m = self.mask[pick] if self.mask.ndim == 2 else np.broadcast_to(self.mask, x.shape)
        m = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))  # (B, L)
        if self.device.type == "cuda":  # page-locked: the copy to the GPU overlaps with compute
            x, m = x.pin_memory(), m.pin_memory()
        return x.to(self.device, non_blocking=True), m.to(self.device, non_blocking=True)

    def next(self, batch_size: int, generator: torch.Generator):
        """One batch: (flux, mask), each (B, L) on the device."""
        return self.gather(self.draw(batch_size, generator))


class DeviceBatches(ArrayBatches):
    """Batches gathered on the device from the training spectra copied there once.

    Only the B indices travel to the device per step (asynchronously); the same indices are
    drawn as by :class:`ArrayBatches`, so a run is the same whichever source feeds it.
    """

    def __init__(self, flux, mask, train_idx, weights, device):
        super().__init__(flux, mask, train_idx, weights, device)
        rows = np.asarray(train_idx)
        self._pos = torch.full((int(rows.max()) + 1 if rows.size else 0,), -1, dtype=torch.long)
        self._pos[torch.as_tensor(rows)] = torch.arange(rows.size)  # survey row -> row on the device
        self.d_flux = torch.as_tensor(np.asarray(flux[rows], dtype=np.float32), device=self.device)  # (n, L)
        m = np.asarray(mask[rows] if mask.ndim == 2 else mask, dtype=np.float32)
        self.d_mask = torch.as_tensor(m, device=self.device)  # (n, L) or (L,)

    def gather(self, pick: torch.Tensor):
        pos = self._pos[pick].to(self.device, non_blocking=True)  # (B,)
        x = self.d_flux.index_select(0, pos)  # (B, L)
        m = self.d_mask.index_select(0, pos) if self.d_mask.ndim == 2 else self.d_mask.expand_as(x)
        return x, m.contiguous()


def survey_bytes(n_spectra: int, n_pixels: int, per_pixel_mask: bool) -> int:
    """Device memory (bytes) that :class:`DeviceBatches` needs for float32 flux and mask."""
    return 4 * n_spectra * n_pixels * (2 if per_pixel_mask else 1)


def make_batches(flux, mask, train_idx, weights, device, on_device: str = "auto", headroom: float = 0.5):
    """The batch source for ``device``.

    ``on_device``: ``"auto"`` keeps the training spectra on a CUDA device when they take at
    most ``headroom`` of its free memory, ``"yes"`` always, ``"no"`` never (always on CPU).
    """
    device = torch.device(device)
    if on_device not in ("auto", "yes", "no"):
        raise ValueError(f"on_device must be auto, yes or no, got {on_device!r}")
    fits = False
    if device.type == "cuda" and on_device == "auto":
        free, _ = torch.cuda.mem_get_info(device)
        fits = survey_bytes(len(train_idx), flux.shape[1], mask.ndim == 2) <= headroom * free
    if on_device == "yes" or fits:
        return DeviceBatches(flux, mask, train_idx, weights, device)
    return ArrayBatches(flux, mask, train_idx, weights, device)
