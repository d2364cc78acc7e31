"""A wobble-style baseline (Bedell et al. 2019), written in torch.

Per object: a stellar template in the barycentric frame and a telluric template fixed in the
observatory frame whose (log) depth scales per epoch, plus a smooth per-epoch continuum, fitted
jointly to all epochs in log flux:

    log y_i(lam) = s(lam) + a_i * V{t, +BERV_i}(lam) + P_i(lam),   t <= 0,

with an L1 penalty that keeps the telluric template sparse (zero away from lines).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from karaoke.nn.whitening import velocity_shift
from karaoke.spectra.grid import Grid, doppler_shift


@dataclass
class WobbleFit:
    stellar: np.ndarray  # (N, L) telluric-free spectra, barycentric (template x continuum)
    telluric: np.ndarray  # (N, L) fitted transmission per epoch, barycentric
    template_t: np.ndarray  # (L,) log telluric template, observatory frame
    amplitude: np.ndarray  # (N,)
    seconds: float
    loss: float


def fit_wobble(
    flux,
    mask,
    grid: Grid,
    berv,
    airmass=None,
    iterations: int = 400,
    lr: float = 0.02,
    l1: float = 1e-3,
    poly_degree: int = 2,
    seed: int = 0,
) -> WobbleFit:
    """Fit the baseline to normalised barycentric spectra ``flux`` (N, L) of one object.

    Parameters
    ----------
    flux : ndarray, shape (N, L)
        Median-normalised spectra, barycentric frame, on ``grid``.
    mask : ndarray, shape (N, L) or (L,)
        1 for valid pixels.
    grid : Grid
        Air wavelength grid, Angstrom.
    berv : ndarray, shape (N,)
        Barycentric Earth radial velocity of each spectrum, km/s.
    airmass : ndarray, shape (N,), optional
        Start values of the per-epoch telluric depth scaling.
    iterations, lr, l1 : int, float, float
        Adam iterations, learning rate and the L1 weight on the telluric log-depth.
    poly_degree : int
        Degree of the per-epoch continuum polynomial.
    seed : int

    Returns
    -------
    WobbleFit
        ``stellar`` (N, L) telluric-free spectra and ``telluric`` (N, L) transmission per epoch
        (barycentric), ``template_t`` (L,) log telluric template in the observatory frame,
        ``amplitude`` (N,), wall time and final loss.
    """
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    x = torch.as_tensor(np.clip(np.asarray(flux, dtype=np.float64), 1e-3, None))
    m = torch.as_tensor(np.asarray(np.broadcast_to(mask, x.shape), dtype=np.float64))
    logx = torch.log(x)
    N, L = x.shape
    v = torch.as_tensor(np.asarray(berv, dtype=np.float64))
    a0 = np.ones(N) if airmass is None else np.asarray(airmass, dtype=np.float64)
    s = torch.nn.Parameter((logx * m).sum(0) / m.sum(0).clamp(min=1))
    t_raw = torch.nn.Parameter(torch.full((L,), -6.0, dtype=torch.float64))
    log_a = torch.nn.Parameter(torch.as_tensor(np.log(a0)))
    xs = torch.linspace(-1, 1, L, dtype=torch.float64)
    basis = torch.stack([xs**d for d in range(poly_degree + 1)])  # (D, L)
    c = torch.nn.Parameter(torch.zeros(N, poly_degree + 1, dtype=torch.float64))
    opt = torch.optim.Adam([s, t_raw, log_a, c], lr=lr)

    def model():
        t = -torch.nn.functional.softplus(t_raw)  # (L,) <= 0, observatory frame
        t_b, _ = velocity_shift(t.expand(N, L).contiguous(), v, grid, fill=0.0)  # (N, L) barycentric
        return s[None] + torch.exp(log_a)[:, None] * t_b + c @ basis, t, t_b

    for _ in range(iterations):
        pred, t, _ = model()
        loss = ((pred - logx) ** 2 * m).sum() / m.sum() + l1 * t.abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred, t, t_b = model()
        a = torch.exp(log_a)
        stellar = torch.exp(s[None] + c @ basis)
        telluric = torch.exp(a[:, None] * t_b)
    return WobbleFit(
        stellar.numpy(), telluric.numpy(), t.numpy(), a.numpy(), time.perf_counter() - t0, float(loss.detach())
    )


def wobble_reconstruct(flux, grid: Grid, berv, mask=None, airmass=None, iterations: int = 400, **fit_kw) -> np.ndarray:
    """Telluric-free models of topocentric spectra of one object from the wobble-style fit, in
    the frame of the input: the reconstruction step a network provides, for the same probes.

    The spectra are shifted to the barycentric frame (+BERV), fitted with :func:`fit_wobble`,
    and the fitted stellar spectra shifted back (-BERV). Pixels that a shift brings in from
    beyond the grid's ends are left out of the fit.

    Parameters
    ----------
    flux : ndarray, shape (N, L)
        Median-normalised spectra of one object, topocentric frame, on ``grid``.
    grid : Grid
        Air wavelength grid, Angstrom.
    berv : ndarray, shape (N,)
        Barycentric Earth radial velocity of each spectrum, km/s.
    mask : ndarray, shape (N, L) or (L,), optional
        1 for valid pixels, barycentric frame (e.g. the spectra's pixel mask before their shift
        to topocentric); default all valid.
    airmass : ndarray, shape (N,), optional
        Start values of the per-epoch telluric depth scaling.
    iterations : int
    **fit_kw
        Further arguments of :func:`fit_wobble` (``lr``, ``l1``, ``poly_degree``, ``seed``).

    Returns
    -------
    ndarray, shape (N, L), float32
        The fitted stellar spectra (template x continuum), topocentric frame.
    """
    flux = np.asarray(flux, dtype=np.float64)
    berv = np.asarray(berv, dtype=np.float64)
    if flux.ndim != 2 or flux.shape[1] != grid.n or berv.shape != (flux.shape[0],):
        raise ValueError(f"flux must be (N, {grid.n}) and berv (N,), got {flux.shape} and {berv.shape}")
    wave = grid.wave
    inside = doppler_shift(wave, np.ones_like(flux), berv) > 0.999  # (N, L) not past the grid's ends
    valid = inside if mask is None else np.asarray(mask) * inside
    fit = fit_wobble(
        doppler_shift(wave, flux, berv, fill=1.0), valid, grid, berv, airmass, iterations=iterations, **fit_kw
    )
    return doppler_shift(wave, fit.stellar, -berv, fill=1.0).astype(np.float32)
