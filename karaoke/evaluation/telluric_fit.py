"""A physics-based telluric fit (the molecfit workflow in miniature), for the Section 5.8
speed comparison: per spectrum, a HITRAN line-by-line transmission (O2 from molecular
constants, H2O from the embedded HITRAN table) is recomputed at every iteration for the
free parameters -- O2 column (airmass), precipitable water vapour, layer temperature and a
velocity offset -- convolved to the instrument resolution and scaled by a fitted linear
continuum, by non-linear least squares.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import least_squares

from karaoke.spectra.grid import C_KMS
from karaoke.synth.telluric import (
    C2,
    H2O_COLUMN_PER_MM,
    O2_BANDS,
    O2_COLUMN_ZENITH,
    _in_range,
    h2o_lines,
    o2_lines,
    optical_depth,
)


@dataclass
class TelluricFit:
    airmass: float
    pwv_mm: float
    temperature: float
    velocity: float
    transmission: np.ndarray  # (L,) on the input grid
    seconds: float
    n_evaluations: int


def _scaled(lines, temperature):
    """Line intensities moved from 296 K to ``temperature`` (Boltzmann factor and Q ~ T^-1)."""
    s = np.asarray(lines["intensity"]) * np.exp(-C2 * np.asarray(lines["elower"]) * (1 / temperature - 1 / 296.0))
    return dict(lines, intensity=s * 296.0 / temperature)


def lbl_transmission(wave_air, airmass, pwv_mm, temperature, velocity, resolution=115000.0, oversample=4):
    """Line-by-line transmission on ``wave_air`` (uniform, air A), instrument-convolved."""
    step = (wave_air[-1] - wave_air[0]) / (wave_air.size - 1)
    fine = np.arange(wave_air[0] - 2, wave_air[-1] + 2, step / oversample)
    shifted = fine * (1 - velocity / C_KMS)
    lo, hi = fine[0], fine[-1]
    o2 = [o2_lines(b, temperature=296.0) for b in O2_BANDS]
    o2 = {k: np.concatenate([d[k] for d in o2]) for k in ("wavenumber", "intensity", "gamma_air", "elower")}
    tau = airmass * optical_depth(
        shifted, _scaled(_in_range(o2, lo, hi), temperature), O2_COLUMN_ZENITH, 32.0, temperature=temperature
    )
    tau += (
        airmass
        * pwv_mm
        * optical_depth(
            shifted,
            _scaled(_in_range(h2o_lines(), lo, hi), temperature),
            H2O_COLUMN_PER_MM,
            18.0,
            temperature=temperature,
            pressure=0.8,
        )
    )
    t = np.exp(-tau)
    sigma_px = np.mean(fine) / resolution / 2.35482 / (step / oversample)
    t = gaussian_filter1d(t, sigma_px, mode="nearest")
    return np.interp(wave_air, fine, t)


def fit_transmission(wave_air, flux, mask=None, resolution=115000.0, x0=(1.2, 3.0, 260.0, 0.0)) -> TelluricFit:
    """Fit a normalised topocentric spectrum's telluric lines; returns the parameters and time.

    Parameters
    ----------
    wave_air : ndarray, shape (L,)
        Topocentric air wavelengths, Angstrom.
    flux : ndarray, shape (L,)
        Continuum-normalised flux.
    mask : ndarray, shape (L,), optional
        1 where a pixel may be used.
    resolution : float
        Resolving power of the instrument profile.
    x0 : tuple of 4 floats
        Start values: airmass, precipitable water vapour (mm), temperature (K), velocity shift (km/s).

    Returns
    -------
    TelluricFit
        Fitted airmass, PWV (mm), temperature (K) and velocity (km/s), the model transmission
        (L,) on the input grid, the wall time and the number of model evaluations.
    """
    wave_air = np.asarray(wave_air, dtype=np.float64)
    y = np.asarray(flux, dtype=np.float64)
    m = np.ones_like(y, bool) if mask is None else np.asarray(mask) > 0
    xn = (wave_air - wave_air.mean()) / np.ptp(wave_air)
    n_eval = 0

    def residual(p):
        nonlocal n_eval
        n_eval += 1
        t = lbl_transmission(wave_air, p[0], p[1], p[2], p[3], resolution)
        A = np.c_[t, t * xn][m]
        coef, *_ = np.linalg.lstsq(A, y[m], rcond=None)  # linear continuum, solved exactly
        return A @ coef - y[m]

    t0 = time.perf_counter()
    res = least_squares(
        residual,
        x0,
        bounds=([1.0, 0.0, 200.0, -5.0], [3.0, 30.0, 300.0, 5.0]),
        x_scale=[0.2, 1.0, 10.0, 0.5],
        diff_step=1e-3,
        max_nfev=60,
    )
    t = lbl_transmission(wave_air, *res.x, resolution)
    return TelluricFit(*map(float, res.x), t, time.perf_counter() - t0, n_eval)
