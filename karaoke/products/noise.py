"""The 1-sigma errors of an observed spectrum prepared for a network: the input's own where it
has them, else estimated from its pixel-to-pixel scatter."""

from __future__ import annotations

import numpy as np

from karaoke.spectra.grid import doppler_shift, regrid


def scatter_error(flux, valid) -> np.ndarray:
    """Per-pixel 1-sigma noise of a normalised spectrum that comes without errors, from its
    pixel-to-pixel scatter: ``sigma0 * sqrt(flux)`` (photon noise), with ``sigma0`` from the
    median absolute second difference of the valid pixels.

    Parameters
    ----------
    flux : ndarray, shape (L,)
        Median-normalised flux.
    valid : ndarray of bool, shape (L,)
    """
    x = np.asarray(flux, np.float64)
    ok = valid[:-2] & valid[1:-1] & valid[2:]
    d2 = (x[:-2] - 2 * x[1:-1] + x[2:])[ok]
    sigma0 = 1.4826 * float(np.median(np.abs(d2))) / np.sqrt(6.0) if d2.size else 0.0
    return np.where(valid, sigma0 * np.sqrt(np.clip(x, 0.0, None)), 0.0)


def observation_error(spec, grid, flux, mask, median) -> tuple[np.ndarray, str]:
    """The 1-sigma error of a prepared spectrum, normalised and topocentric like ``flux``.

    The input's own errors where it has them (regridded, divided by the normalisation and
    shifted like the flux), else :func:`scatter_error`.

    Parameters
    ----------
    spec : Spectrum
        The input (barycentric).
    grid : Grid
    flux, mask : ndarray, shape (L,)
        From :func:`karaoke.archive.prepare.prepare_observation`.
    median : float
        Its normalisation.

    Returns
    -------
    err : ndarray, shape (L,)
    source : str
        ``input`` or ``scatter``.
    """
    valid = np.asarray(mask) > 0
    if spec.err is not None and median > 0:
        e, cover = regrid(spec.wave, np.where(np.isfinite(spec.err), spec.err, np.nan), grid)
        e = np.where(cover > 0, e, 0.0) / median
        if spec.frame == "barycentric":
            e = doppler_shift(grid.wave, e, -float(spec.berv))
        if np.all(np.isfinite(e[valid])) and np.any(e[valid] > 0):
            return np.where(valid, e, 0.0), "input"
    return scatter_error(flux, valid), "scatter"
