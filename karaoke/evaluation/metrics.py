"""Quantitative evaluation (Section 5.2): telluric mask, pseudo-truth, continuum, Qt and Qs,
plus the baselines that the paper's metrics are read against (PCA, a low-pass filter).

All functions are pure and work on arrays of shape (L,) or (N, L) sampled on a uniform grid.

Definitions (per spectrum; sums over the region of interest and the artifact mask):

* ``T``: the telluric reference profile, a transmission divided by its own slowly varying
  continuum (a high-pass filter: upper envelope over ``continuum_window_A``, smoothed), so it is
  1 away from lines and keeps only the line absorption.
* ``M_t = [T < 1 - depth_threshold]`` (default 1 % depth), ``M_s = 1 - M_t``.
* pseudo-truth ``S~ = median_filter(S / T, median_px)``; the exact truth of a synthetic survey
  is its noiseless stellar spectrum times the continuum part of the transmission.
* ``Qt = sum(M_t |S^ - S~|) / sum(M_t |S - S~|)``, clipped to [0, 1].
* ``Qs = sum(M_s |S^ - S~|) / sum(M_s |C^ - S~|)``, ``C^`` a continuum estimate of ``S~``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, median_filter, percentile_filter, uniform_filter1d

#: Default region of interest of the paper (air Angstrom).
PAPER_ROI = (5800.0, 6910.0)


@dataclass(frozen=True)
class MetricConfig:
    """Documented choices of the evaluation (the authors did not release theirs).

    depth_threshold : a pixel is telluric where the high-passed profile is below 1 - threshold.
    continuum_window_A : window (A) of the upper envelope that defines the slow continuum of T.
    median_px : median-smoothing kernel of the pseudo-truth (pixels, odd).
    stellar_continuum_window_A, stellar_continuum_percentile : continuum estimate of S~.
    roi : region of interest (A); intersected with the grid.
    """

    depth_threshold: float = 0.01
    continuum_window_A: float = 10.0
    median_px: int = 5
    stellar_continuum_window_A: float = 2.0
    stellar_continuum_percentile: float = 95.0
    roi: tuple = PAPER_ROI


def _rows(a):
    a = np.asarray(a, dtype=np.float64)
    return a[None] if a.ndim == 1 else a


def window_px(window_A: float, step: float) -> int:
    """Odd window length (pixels, at least 3) of ``window_A`` Angstrom on a grid of ``step`` A."""
    return max(3, int(round(window_A / step)) | 1)


def upper_envelope(y, window_px: int) -> np.ndarray:
    """Smooth upper envelope of ``y`` (N, L): running maximum, then a running mean."""
    y = _rows(y)
    env = maximum_filter1d(y, size=window_px, axis=-1, mode="nearest")
    return uniform_filter1d(env, size=window_px, axis=-1, mode="nearest")


def telluric_profile(transmission, step: float, cfg: MetricConfig = MetricConfig()) -> np.ndarray:
    """High-pass-filtered telluric reference profile T (N, L): transmission / its continuum."""
    t = _rows(transmission)
    cont = upper_envelope(t, window_px(cfg.continuum_window_A, step))
    return np.clip(t / np.where(cont > 0, cont, 1.0), 0.0, None)


def telluric_mask(profile, cfg: MetricConfig = MetricConfig()) -> np.ndarray:
    """Binary telluric mask M_t (N, L) from a high-passed profile: 1 where depth > threshold."""
    return (_rows(profile) < 1.0 - cfg.depth_threshold).astype(np.float64)


def pseudo_truth(flux, profile, cfg: MetricConfig = MetricConfig()) -> np.ndarray:
    """Pseudo-truth S~ = median_filter(S / T) (N, L); division spikes at T ~ 0 are limited."""
    s = _rows(flux)
    t = np.clip(_rows(profile), 0.05, None)
    return median_filter(s / t, size=(1, cfg.median_px), mode="nearest")


def continuum_estimate(spectrum, step: float, cfg: MetricConfig = MetricConfig()) -> np.ndarray:
    """Continuum C^ (N, L) of a telluric-free spectrum: running upper percentile, smoothed."""
    s = _rows(spectrum)
    w = window_px(cfg.stellar_continuum_window_A, step)
    env = percentile_filter(s, cfg.stellar_continuum_percentile, size=(1, w), mode="nearest")
    return uniform_filter1d(env, size=w, axis=-1, mode="nearest")


def roi_mask(wave, roi) -> np.ndarray:
    """1 on pixels inside the region of interest (shape (L,))."""
    wave = np.asarray(wave)
    return ((wave >= roi[0]) & (wave <= roi[1])).astype(np.float64)


def transmission_rms(flux, recon, reference, pixmask=None, cfg: MetricConfig = MetricConfig()) -> np.ndarray:
    """RMS of a telluric transmission estimate ``flux / recon`` against a reference transmission,
    per spectrum, over the reference's telluric pixels (depth > ``cfg.depth_threshold``).

    The figure molecfit-like tools quote (e.g. PyMolFit against molecfit: 0.004-0.006). It
    includes the photon noise of ``flux`` (a perfect telluric-free reconstruction of a spectrum
    with S/N 100 scores ~0.01).

    Parameters
    ----------
    flux : array (N, L) or (L,)
        Normalised observed spectra (topocentric: tellurics at rest).
    recon : array, same shape
        Telluric-free reconstructions (or stellar templates) on the same pixels.
    reference : array, same shape
        Reference transmission (e.g. :func:`karaoke.archive.realdata.telluric_reference`), 1 in
        the continuum.
    pixmask : array, same shape, optional
        1 where the data are valid.
    cfg : MetricConfig

    Returns
    -------
    ndarray (N,)
        NaN for a spectrum with no telluric pixel.
    """
    f, r, t = _rows(flux), _rows(recon), _rows(reference)
    if not (f.shape == r.shape == t.shape):
        raise ValueError(f"flux {f.shape}, recon {r.shape} and reference {t.shape} must have one shape")
    use = (t < 1.0 - cfg.depth_threshold) & (np.abs(r) > 1e-6)
    if pixmask is not None:
        use &= _rows(pixmask) > 0
    est = np.where(use, f / np.where(use, r, 1.0), 0.0)
    sq = np.where(use, (est - t) ** 2, 0.0)
    n = use.sum(1)
    return np.where(n > 0, np.sqrt(sq.sum(1) / np.maximum(n, 1)), np.nan)


def quality(recon, flux, truth, tmask, pixmask, continuum) -> tuple[np.ndarray, np.ndarray]:
    """Qt and Qs per spectrum (arrays of shape (N,)).

    Parameters (all (N, L) or (L,)): ``recon`` S^, ``flux`` the input S, ``truth`` S~,
    ``tmask`` M_t, ``pixmask`` 1 on pixels to count (artifact mask x ROI), ``continuum`` C^.
    """
    r, s, t, mt, pm, c = (_rows(a) for a in (recon, flux, truth, tmask, pixmask, continuum))
    mt = mt * pm
    ms = (1.0 - _rows(tmask)) * pm
    nt = np.sum(mt * np.abs(s - t), axis=-1)
    ns = np.sum(ms * np.abs(c - t), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        qt = np.clip(np.sum(mt * np.abs(r - t), axis=-1) / nt, 0.0, 1.0)
        qs = np.sum(ms * np.abs(r - t), axis=-1) / ns
    qt = np.where(nt > 0, qt, np.nan)
    qs = np.where(ns > 0, qs, np.nan)
    return qt, qs


@dataclass
class Evaluation:
    """Per-spectrum metrics: ``qt``, ``qs`` (N,), plus the arrays they were computed from."""

    qt: np.ndarray
    qs: np.ndarray
    truth: np.ndarray
    tmask: np.ndarray
    profile: np.ndarray

    def summary(self) -> dict:
        return {
            "Qt": float(np.nanmedian(self.qt)),
            "Qs": float(np.nanmedian(self.qs)),
            "Qt_mean": float(np.nanmean(self.qt)),
            "Qs_mean": float(np.nanmean(self.qs)),
            "n": int(np.isfinite(self.qt).sum()),
        }


def _truth(flux, step, transmission, stellar, cfg):
    """(S~ (N, L), high-passed telluric profile (N, L)) of :func:`truth_spectra`."""
    trans = np.broadcast_to(_rows(transmission), flux.shape)
    profile = telluric_profile(trans, step, cfg)
    if stellar is not None:
        slow = trans / np.where(profile > 0, profile, 1.0)  # continuum part of the transmission
        return _rows(stellar) * slow, profile
    return pseudo_truth(flux, profile, cfg), profile


def truth_spectra(flux, wave, transmission, stellar=None, cfg: MetricConfig = MetricConfig()) -> np.ndarray:
    """The telluric-free spectra S~ that Qt and Qs compare a reconstruction with.

    Parameters
    ----------
    flux, wave, transmission, stellar, cfg
        As in :func:`evaluate_reconstruction`.

    Returns
    -------
    ndarray (N, L)
        ``stellar x continuum(T)`` (the exact truth) where ``stellar`` is given, else the
        paper's pseudo-truth from ``transmission``; topocentric, on ``wave``.
    """
    flux = _rows(flux)
    step = float(np.median(np.diff(np.asarray(wave, dtype=np.float64))))
    return _truth(flux, step, transmission, stellar, cfg)[0]


def evaluate_reconstruction(
    recon, flux, wave, transmission, stellar=None, pixmask=None, cfg: MetricConfig = MetricConfig(), roi=None
) -> Evaluation:
    """Qt and Qs of reconstructions of normalised spectra.

    Parameters
    ----------
    recon, flux : array (N, L)
        Reconstructions S^ and inputs S (median-normalised, topocentric, on ``wave``).
    wave : array (L,)
        Air Angstrom.
    transmission : array (N, L) or (L,)
        Telluric transmission for each spectrum (a model such as molecfit's, or the exact
        transmission of a synthetic survey), on ``wave`` in the spectra's frame.
    stellar : array (N, L), optional
        Exact telluric-free spectra (same normalisation). Given: S~ is the exact truth
        ``stellar x continuum(T)``; else S~ is the paper's pseudo-truth from ``transmission``.
    pixmask : array (L,) or (N, L), optional
        Artifact mask (1 = use).
    cfg : MetricConfig
        Thresholds and widths of the metrics (telluric mask depth, continuum window, ROI).
    roi : (float, float), optional
        Region of interest; default ``cfg.roi`` if it overlaps the grid, else the whole grid.
    """
    flux = _rows(flux)
    wave = np.asarray(wave, dtype=np.float64)
    step = float(np.median(np.diff(wave)))
    truth, profile = _truth(flux, step, transmission, stellar, cfg)
    tmask = telluric_mask(profile, cfg)
    cont = continuum_estimate(truth, step, cfg)
    roi = roi or cfg.roi
    rm = roi_mask(wave, roi)
    if rm.sum() == 0:
        rm = np.ones_like(wave)
    pm = rm[None] * (1.0 if pixmask is None else np.broadcast_to(_rows(pixmask), flux.shape))
    qt, qs = quality(recon, flux, truth, tmask, pm, cont)
    return Evaluation(qt, qs, truth, tmask, profile)


def response_ratio(reconstruct, flux, out, lines, mask) -> np.ndarray:
    """sum(mask |f(S) - f(S / P)|) / sum(mask |S - S / P|) per spectrum, P a line profile,
    ``out`` = f(S)."""
    clean = flux / np.clip(lines, 0.05, None)
    d_out = np.abs(out - np.asarray(reconstruct(clean.astype(np.float32)), np.float64))
    den = np.sum(mask * np.abs(flux - clean), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.sum(mask * d_out, axis=-1) / den, np.nan)


def _telluric_setup(flux, wave, transmission, cfg: MetricConfig, roi):
    """(flux (N, L) float64, step, high-passed telluric profile (N, L), ROI mask (L,))."""
    flux = _rows(flux)
    wave = np.asarray(wave, dtype=np.float64)
    step = float(np.median(np.diff(wave)))
    profile = telluric_profile(np.broadcast_to(_rows(transmission), flux.shape), step, cfg)
    rm = roi_mask(wave, roi or cfg.roi)
    return flux, step, profile, (rm if rm.sum() else np.ones_like(wave))


def telluric_leakage(
    reconstruct, flux, wave, transmission, cfg: MetricConfig = MetricConfig(), roi=None, recon=None
) -> np.ndarray:
    """The telluric half of :func:`line_responses`, which needs only a telluric transmission
    (e.g. a telluric model fitted to real spectra, whose stars have no exact truth).

    Parameters
    ----------
    reconstruct, flux, wave, transmission, cfg, roi, recon
        As in :func:`line_responses`.

    Returns
    -------
    leakage : ndarray (N,)
        ``sum(M_t |f(S) - f(S / T)|) / sum(M_t |S - S / T|)``; NaN where a spectrum has no
        telluric pixel.
    """
    flux, step, profile, rm = _telluric_setup(flux, wave, transmission, cfg, roi)
    out = np.asarray(reconstruct(flux.astype(np.float32)) if recon is None else _rows(recon), np.float64)
    return response_ratio(reconstruct, flux, out, profile, telluric_mask(profile, cfg) * rm[None])


def line_responses(
    reconstruct, flux, wave, transmission, stellar, cfg: MetricConfig = MetricConfig(), roi=None, recon=None
) -> tuple[np.ndarray, np.ndarray]:
    """How strongly a method's output responds to the telluric and to the stellar lines of its
    input, per spectrum (synthetic surveys, which know both exactly).

    Qt mixes two things inside the telluric mask: tellurics kept, and stellar lines missed (a
    method that reconstructs nothing gets a high Qt even where no telluric line survives, and a
    network that always outputs the survey's mean telluric pattern keeps tellurics that do not
    come from its input). The responses measure each kind of line alone: reconstruct the input
    ``S`` and the same input with one kind of line divided out, ``S / P``, and compare the
    *change* of the output with the change of the input::

        leakage  = sum(M_t |f(S) - f(S / T)|) / sum(M_t |S - S / T|)      (telluric profile T)
        stellar  = sum(M_* |f(S) - f(S / P_*)|) / sum(M_* |S - S / P_*|)  (stellar lines P_*)

    ``M_*`` marks stellar lines deeper than the depth threshold outside the telluric mask.
    The identity gives 1 and 1, a constant output 0 and 0; the paper's goal is leakage near 0
    with a stellar response near 1.

    Parameters
    ----------
    reconstruct : callable
        ``(N, L) -> (N, L)``, e.g. ``model.reconstruct`` or ``PCABaseline(...).reconstruct``.
    flux : array (N, L)
        Normalised inputs S (topocentric).
    wave : array (L,)
        Air Angstrom.
    transmission : array (N, L) or (L,)
        Exact telluric transmission of each spectrum on ``wave``.
    stellar : array (N, L)
        Exact telluric-free stellar spectra (same normalisation).
    cfg : MetricConfig
        Thresholds and windows of the telluric mask and continua.
    roi : (float, float), optional
        As in :func:`evaluate_reconstruction`.
    recon : array (N, L), optional
        ``reconstruct(flux)`` when the caller already has it (not computed again).

    Returns
    -------
    leakage, stellar_response : ndarray (N,) each; NaN where a spectrum has no such pixels.
    """
    flux, step, profile, rm = _telluric_setup(flux, wave, transmission, cfg, roi)
    mt = telluric_mask(profile, cfg)
    st = _rows(stellar)
    star_lines = st / np.clip(continuum_estimate(st, step, cfg), 1e-6, None)
    ms = (star_lines < 1.0 - cfg.depth_threshold) * (1.0 - mt) * rm[None]
    out = np.asarray(reconstruct(flux.astype(np.float32)) if recon is None else _rows(recon), np.float64)
    return (
        response_ratio(reconstruct, flux, out, profile, mt * rm[None]),
        response_ratio(reconstruct, flux, out, star_lines, ms),
    )


def static_telluric_pattern(
    reconstruct, flux, wave, transmission, cfg: MetricConfig = MetricConfig(), roi=None
) -> float:
    """Depth of the survey's mean telluric pattern in a method's output when the *input* holds no
    telluric lines, as a fraction of that mean depth (synthetic surveys).

    A network trained in the topocentric frame can learn the telluric lines as a fixed pattern
    that it outputs whatever its input holds; :func:`line_responses` cannot see such a pattern
    (it does not change with the input), and Qt counts it as kept tellurics. Here every input is
    cleaned of its telluric lines (``S / T``), the outputs are averaged, high-passed (divided by
    a running mean over ``continuum_window_A``) and regressed on the mean line depth ``1 - <T>``
    inside the telluric mask of ``<T>``: the slope is 0 for no static pattern and 1 for the mean
    telluric lines at full depth.

    Parameters
    ----------
    reconstruct, flux, wave, transmission, cfg, roi
        As in :func:`line_responses`.

    Returns
    -------
    float
        The slope: 0 (no static pattern) to 1 (the mean telluric lines at full depth).
    """
    flux, step, profile, rm = _telluric_setup(flux, wave, transmission, cfg, roi)
    out = np.asarray(reconstruct((flux / np.clip(profile, 0.05, None)).astype(np.float32)), np.float64).mean(0)
    hp = out / uniform_filter1d(out, window_px(cfg.continuum_window_A, step), mode="nearest") - 1.0
    depth = 1.0 - profile.mean(0)
    sel = (depth > cfg.depth_threshold) & (rm > 0)
    if not sel.any():
        return float("nan")
    return float(np.sum(-hp[sel] * depth[sel]) / np.sum(depth[sel] ** 2))


class PCABaseline:
    """The paper's linear foil: PCA with as many components as the network's latent size."""

    def __init__(self, n_components: int):
        if n_components < 1:
            raise ValueError("n_components must be >= 1")
        self.n_components = n_components
        self.mean_ = None
        self.components_ = None

    def fit(self, flux, seed: int = 0) -> "PCABaseline":
        """Fit on spectra (N, L) with an exact (or, for large inputs, randomised) SVD."""
        import torch

        x = torch.as_tensor(np.asarray(flux, dtype=np.float32))
        self.mean_ = x.mean(0)
        xc = x - self.mean_
        k = min(self.n_components, min(xc.shape))
        if min(xc.shape) <= 4096:
            _, _, vh = torch.linalg.svd(xc, full_matrices=False)
            self.components_ = vh[:k]
        else:
            torch.manual_seed(seed)
            _, _, v = torch.svd_lowrank(xc, q=k + 10, niter=4)
            self.components_ = v[:, :k].T
        return self

    def reconstruct(self, flux) -> np.ndarray:
        """Project spectra (N, L) on the components and back; returns (N, L) float32."""
        if self.components_ is None:
            raise RuntimeError("PCABaseline.reconstruct needs a fitted PCA: call fit() first")
        import torch

        x = torch.as_tensor(np.asarray(flux, dtype=np.float32)) - self.mean_
        return ((x @ self.components_.T) @ self.components_ + self.mean_).numpy()


def lowpass_baseline(flux, sigma_px: float = 4.0) -> np.ndarray:
    """A plain low-pass filter (Gaussian, ``sigma_px`` pixels): rejects every narrow line.

    Parameters
    ----------
    flux : ndarray, shape (N, L) or (L,)
    sigma_px : float
        Gaussian sigma, pixels.

    Returns
    -------
    ndarray, same shape as ``flux``
    """
    return gaussian_filter1d(_rows(flux), sigma_px, axis=-1, mode="nearest").astype(np.float32)
