"""The telluric transmission with an uncertainty, from the VAE's posterior (pure functions).

With reconstructions ``R_k`` (k = 1..K) of a spectrum ``F`` drawn from the posterior
(:meth:`karaoke.nn.model.Karaoke.reconstruct_samples`), the telluric estimate and its
uncertainty per pixel are::

    R     = mean_k R_k                       the telluric-free spectrum
    T     = F / R                            the telluric transmission (the paper's estimate)
    var T = var_k(F / R_k) + (sigma_F / R)^2 the network's uncertainty and the flux error

and the corrected spectrum ``F / T`` is ``R`` by construction, with the spread of the ``R_k``
as its uncertainty. :func:`coverage` checks the calibration where the truth is known.
"""

from __future__ import annotations

import warnings

import numpy as np


def telluric_estimate(flux, err, samples, valid=None) -> dict:
    """Telluric transmission and corrected spectrum with their uncertainties.

    Parameters
    ----------
    flux : ndarray, shape (..., L)
        Median-normalised flux (topocentric: the frame the network works in).
    err : ndarray, shape (..., L), or None
        1-sigma flux uncertainty in the same normalisation (None: the network's part only).
    samples : ndarray, shape (K, ..., L)
        Posterior reconstructions.
    valid : ndarray of bool, shape (..., L), optional
        Pixels with data; elsewhere T = 1 and the uncertainties are 0.

    Returns
    -------
    dict of ndarray, each shape (..., L)
        ``recon`` (mean reconstruction), ``recon_err`` (its posterior standard deviation),
        ``telluric`` (T), ``telluric_err`` (sigma_T), ``telluric_err_model`` (the posterior
        part alone).
    """
    flux = np.asarray(flux, np.float64)
    samples = np.asarray(samples, np.float64)
    if samples.shape[1:] != flux.shape:
        raise ValueError(f"samples have shape {samples.shape}, expected (K,) + {flux.shape}")
    recon = samples.mean(0)
    ok = np.abs(recon) > 1e-3
    if valid is not None:
        ok &= np.asarray(valid, bool)
    safe_r = np.where(ok, recon, 1.0)
    t = np.where(ok, flux / safe_r, 1.0)
    ratios = flux[None] / np.where(np.abs(samples) > 1e-3, samples, np.nan)  # (K, ..., L)
    if samples.shape[0] > 1:
        with warnings.catch_warnings():  # pixels where every draw is ~0 (no data): NaN, then 0 below
            warnings.simplefilter("ignore", RuntimeWarning)
            var_model = np.nanvar(ratios, axis=0)
    else:
        var_model = np.zeros_like(flux)
    var_noise = 0.0 if err is None else (np.asarray(err, np.float64) / safe_r) ** 2
    t_err = np.where(ok, np.sqrt(np.nan_to_num(var_model) + var_noise), 0.0)
    return {
        "recon": recon,
        "recon_err": samples.std(0),
        "telluric": t,
        "telluric_err": t_err,
        "telluric_err_model": np.where(ok, np.sqrt(np.nan_to_num(var_model)), 0.0),
    }


def coverage(estimate, sigma, truth, where=None, scale: float = 1.0) -> float:
    """Fraction of pixels with ``|estimate - truth| <= scale * sigma`` (0.683 if calibrated).

    Parameters
    ----------
    estimate, sigma, truth : ndarray, same shape
    where : ndarray of bool, same shape, optional
        Pixels counted (e.g. those inside telluric lines).
    scale : float
        Multiplies ``sigma``.
    """
    hit = np.abs(np.asarray(estimate) - np.asarray(truth)) <= scale * np.asarray(sigma)
    if where is not None:
        hit = hit[np.asarray(where, bool)]
    return float(np.mean(hit)) if hit.size else float("nan")


def calibration_scale(estimate, sigma, truth, where=None, level: float = 0.6827) -> float:
    """The factor ``s`` such that ``s * sigma`` covers the truth at ``level`` (1 if calibrated).

    Parameters
    ----------
    estimate, sigma, truth : ndarray, same shape
    where : ndarray of bool, optional
    level : float
        Target coverage (0.6827: one Gaussian sigma).
    """
    z = np.abs(np.asarray(estimate) - np.asarray(truth)) / np.maximum(np.asarray(sigma), 1e-12)
    if where is not None:
        z = z[np.asarray(where, bool)]
    return float(np.quantile(z, level)) if z.size else float("nan")
