"""The synthetic survey generated with torch, on a GPU when there is one.

The same physics as :func:`karaoke.synth.generator.make_survey`, from the same plan
(:func:`karaoke.synth.generator.survey_plan`: the same stars, velocities, airmasses, water
vapour, S/N and throughput tilts for a seed): the stars' rest spectra (line sticks convolved
with their Doppler profile, Balmer and Ca II wings, rotation, Planck continuum) and every
observation (shift to the topocentric frame, telluric transmission, instrument profile,
sampling, photon noise) are computed as batched tensors in float64, convolutions by FFT. The
telluric optical depths are computed once on the CPU (:class:`karaoke.synth.telluric.TelluricModel`).

The noiseless truth (``stellar``, ``transmission``) equals the numpy generator's to float
rounding (tests check it on a small grid); the photon noise is drawn by torch, so ``flux``
differs from the numpy generator's by a different noise realisation of the same statistics.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from karaoke.spectra.grid import C_KMS
from karaoke.spectra.survey import Survey
from karaoke.synth.generator import (
    BALMER,
    CA_TRIPLET,
    SurveyConfig,
    _gauss_kernel,
    _rotation_kernel,
    _survey,
    survey_plan,
)
from karaoke.synth.telluric import TelluricModel


def conv_same(x: torch.Tensor, kernel) -> torch.Tensor:
    """``scipy.signal.fftconvolve(x, kernel, mode='same')`` along the last axis, by FFT.

    Parameters
    ----------
    x : Tensor, shape (..., F)
    kernel : array, shape (K,), K odd
    """
    k = torch.as_tensor(np.asarray(kernel), dtype=x.dtype, device=x.device)
    n, m = x.shape[-1], k.shape[0]
    size = n + m - 1
    nfft = 1 << (size - 1).bit_length()
    full = torch.fft.irfft(torch.fft.rfft(x, nfft) * torch.fft.rfft(k, nfft), nfft)[..., :size]
    start = (m - 1) // 2
    return full[..., start : start + n]


def star_rest_spectra(lnw, dv, lines, teff, feh, vsini, micro, device) -> torch.Tensor:
    """Rest-frame spectra of several stars on the uniform ln(lambda) grid ``lnw``.

    Parameters
    ----------
    lnw : ndarray, shape (F,)
        ln(air Angstrom), uniform with step ``dv / c``.
    dv : float
        Grid step, km/s.
    lines : dict of ndarray
        The stellar line list (:func:`karaoke.synth.generator.stellar_line_list`).
    teff, feh, vsini, micro : ndarray, shape (S,)
        Effective temperature (K), [Fe/H], v sin i and microturbulence (km/s) of each star.
    device : torch.device

    Returns
    -------
    Tensor, shape (S, F), float64
        As :func:`karaoke.synth.generator._star_rest_spectrum` for each star.
    """
    f = torch.float64
    S, F = len(teff), lnw.size
    theta = 5040.0 / teff - 5040.0 / 5777.0
    tau = (
        lines["tau0"][None]
        * 10 ** (feh[:, None] - theta[:, None] * lines["chi"][None] * 0.25)
        * (5777.0 / teff[:, None]) ** lines["k"][None]
    )  # (S, n_lines)
    pos = (np.log(lines["wave"]) - lnw[0]) / (dv / C_KMS)
    i0 = np.floor(pos).astype(np.int64)
    fr = pos - i0
    ok = (i0 >= 0) & (i0 < F - 1)
    sticks = torch.zeros(S, F, dtype=f, device=device)
    idx = torch.as_tensor(i0[ok], device=device)
    t_ok = torch.as_tensor(tau[:, ok], dtype=f, device=device)
    fr_ok = torch.as_tensor(fr[ok], dtype=f, device=device)
    sticks.index_add_(1, idx, t_ok * (1 - fr_ok))
    sticks.index_add_(1, idx + 1, t_ok * fr_ok)
    lam = torch.as_tensor(np.exp(lnw), dtype=f, device=device)
    out = torch.empty(S, F, dtype=f, device=device)
    for s in range(S):  # each star has its own profile widths
        v_th = np.sqrt(2 * 1.380649e-23 * teff[s] / (56 * 1.6605e-27)) / 1e3
        b = np.sqrt(v_th**2 + micro[s] ** 2)
        prof = conv_same(sticks[s], _gauss_kernel(b / np.sqrt(2) / dv))
        flux = torch.exp(-torch.clamp(prof, min=0))
        lo, hi = np.exp(lnw[0]), np.exp(lnw[-1])
        for lb in BALMER:  # broad hydrogen lines, stronger in hotter stars
            if lo - 60 < lb < hi + 60:
                depth = float(np.clip(0.25 + 0.5 * (teff[s] - 4000) / 3000, 0.1, 0.75))
                width = 0.6 * (teff[s] / 5777.0) ** 3
                flux = flux * (1 - depth / (1 + ((lam - lb) / width) ** 2))
        for lc, strength in zip(CA_TRIPLET, (0.6, 1.0, 0.8)):  # Ca II triplet
            if lo - 30 < lc < hi + 30:
                depth = strength * np.clip(0.75 - 0.35 * (teff[s] - 4000) / 3000, 0.3, 0.75) * 10 ** (0.3 * feh[s])
                width = 1.2 * strength * (5777.0 / teff[s]) ** 0.5
                flux = flux * (1 - float(np.clip(depth, 0, 0.85)) / (1 + ((lam - lc) / width) ** 2))
        flux = conv_same(flux - 1.0, _rotation_kernel(vsini[s], dv)) + 1.0
        lam_cm = lam * 1e-8
        planck = 1.0 / (lam_cm**5 * (torch.exp(1.4387769 / (lam_cm * teff[s])) - 1))
        out[s] = flux * planck / _median(planck[None])[0]
    return out


def _median(x: torch.Tensor) -> torch.Tensor:
    """``numpy.median`` along the last axis (the mean of the two middle values for even lengths)."""
    s, _ = torch.sort(x, dim=-1)
    n = x.shape[-1]
    return s[..., n // 2] if n % 2 else 0.5 * (s[..., n // 2 - 1] + s[..., n // 2])


def _interp_weights(x_new, x_old):
    """Index and weight of ``numpy.interp(x_new, x_old, y)`` (x_old increasing), for reuse."""
    j = np.clip(np.searchsorted(x_old, x_new, side="right") - 1, 0, x_old.size - 2)
    w = np.clip((x_new - x_old[j]) / (x_old[j + 1] - x_old[j]), 0.0, 1.0)
    return j, w


def make_survey_torch(
    config: SurveyConfig | None = None,
    device="auto",
    progress: bool = True,
    chunk: int | None = None,
    seed_noise: int | None = None,
) -> Survey:
    """Generate the synthetic survey of ``config`` with torch (a GPU when ``device`` is one).

    Parameters
    ----------
    config : SurveyConfig, optional
    device : str or torch.device
        ``auto`` (CUDA if present), ``cpu``, ``cuda``...
    progress : bool
    chunk : int, optional
        Observations computed at once (memory bound; the truth does not depend on it).
    seed_noise : int, optional
        Seed of the photon noise (default: the config's seed).

    Returns
    -------
    Survey
        As :func:`karaoke.synth.generator.make_survey`: ``flux`` (N, L) photon counts with the
        truth ``stellar`` and ``transmission`` (N, L), topocentric air grid, float32.
    """
    cfg = config or SurveyConfig()
    dev = torch.device(
        "cuda" if (device == "auto" and torch.cuda.is_available()) else ("cpu" if device == "auto" else device)
    )
    f = torch.float64
    plan = survey_plan(cfg)
    wave, lnw, dv, lam_fine, lines = plan["wave"], plan["lnw"], plan["dv"], plan["lam_fine"], plan["lines"]
    star, star_of_obs, N, L = plan["star"], plan["star_of_obs"], cfg.n_spectra, plan["grid"].n
    stars = np.unique(star_of_obs)
    rest = torch.empty(stars.size, lnw.size, dtype=torch.float32, device=dev)
    for c0 in tqdm(range(0, stars.size, 16), desc="stars", disable=not progress, leave=False):
        s = stars[c0 : c0 + 16]
        rest[c0 : c0 + len(s)] = star_rest_spectra(
            lnw, dv, lines, star["teff"][s], star["feh"][s], star["vsini"][s], star["micro"][s], dev
        ).float()
    row_of_star = np.full(star["teff"].size, -1)
    row_of_star[stars] = np.arange(stars.size)
    tell = TelluricModel(lam_fine)
    tau_fixed = torch.as_tensor(tell.tau_o2 + tell.tau_rayleigh, dtype=f, device=dev)  # (F,)
    tau_h2o = torch.as_tensor(tell.tau_h2o, dtype=f, device=dev)
    instr = _gauss_kernel(C_KMS / cfg.resolution / 2.35482 / dv)
    j_out, w_out = (torch.as_tensor(a, device=dev) for a in _interp_weights(wave, lam_fine))
    x_norm = torch.as_tensor((wave - wave.mean()) / (np.ptp(wave) / 2), dtype=f, device=dev)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed if seed_noise is None else seed_noise)
    flux = np.empty((N, L), np.float32)
    stellar = np.empty((N, L), np.float32)
    trans = np.empty((N, L), np.float32)
    chunk = chunk or max(1, min(256, int(2e7 // lnw.size)))
    F = lnw.size
    lnw_t = torch.as_tensor(lnw, dtype=f, device=dev)
    step = float(lnw[1] - lnw[0])
    for c0 in tqdm(range(0, N, chunk), desc="observations", disable=not progress, leave=False):
        idx = np.arange(c0, min(N, c0 + chunk))
        v = torch.as_tensor(star["rv"][star_of_obs[idx]] - plan["berv"][idx], dtype=f, device=dev)  # (b,)
        # the rest spectrum sampled at ln(lambda) + ln(1 - v/c), as numpy.interp (clamped at the ends)
        pos = ((lnw_t[None] + torch.log1p(-v[:, None] / C_KMS)) - lnw_t[0]) / step  # (b, F)
        pos = torch.clamp(pos, 0, F - 1)
        i0 = torch.clamp(torch.floor(pos).long(), max=F - 2)
        fr = pos - i0
        rows = torch.as_tensor(row_of_star[star_of_obs[idx]], device=dev)
        r = rest[rows].double()  # (b, F)
        s_topo = torch.gather(r, 1, i0) * (1 - fr) + torch.gather(r, 1, i0 + 1) * fr
        am = torch.as_tensor(plan["airmass"][idx], dtype=f, device=dev)[:, None]
        pwv = torch.as_tensor(plan["pwv"][idx], dtype=f, device=dev)[:, None]
        t = torch.exp(-am * (tau_fixed[None] + pwv * tau_h2o[None]))  # (b, F)
        obs = conv_same(s_topo * t, instr)
        s_conv = conv_same(s_topo, instr)
        t_conv = conv_same(t - 1.0, instr) + 1.0

        def sample(a):  # (b, F) -> (b, L) at the output wavelengths
            return a[:, j_out] * (1 - w_out) + a[:, j_out + 1] * w_out

        tilt = torch.as_tensor(plan["tilt"][idx], dtype=f, device=dev)
        thr = 1 + tilt[:, :1] * x_norm[None] + tilt[:, 1:] * (x_norm[None] ** 2 - 1 / 3)  # (b, L)
        o, sc = sample(obs) * thr, sample(s_conv) * thr
        scale = torch.as_tensor(plan["snr"][idx] ** 2, dtype=f, device=dev)[:, None] / _median(sc)[:, None]
        counts = o * scale
        noise = torch.randn(counts.shape, generator=gen, device=dev, dtype=f)
        flux[idx] = (counts + noise * torch.sqrt(torch.clamp(counts, min=1.0))).float().cpu().numpy()
        stellar[idx] = (sc * scale).float().cpu().numpy()
        trans[idx] = sample(t_conv).float().cpu().numpy()
    return _survey(plan, flux, stellar, trans, f"karaoke.synth.device ({dev.type})")
