"""The embedded synthetic survey: the project's default data set, made by code, no files.

Many distinct stars (effective temperature, metallicity, rotation, systemic radial velocity)
observed many times each from a ground-based observatory:

1. Each star has a rest-frame spectrum on a fine uniform-in-ln(lambda) grid: a Planck
   continuum, thousands of absorption lines from one fixed "atomic" line list whose strengths
   depend on Teff and [Fe/H] (so some lines appear only in some stars), Gaussian intrinsic
   profiles (as narrow as telluric lines for slow rotators), Balmer lines, and rotational
   broadening.
2. Each observation shifts it to the topocentric frame (``v = RV - BERV``), multiplies by the
   telluric transmission of :class:`karaoke.synth.telluric.TelluricModel` (O2 gamma/B bands and H2O
   at fixed observatory wavelengths, depths scaled by airmass and water vapour), convolves with
   the instrument profile (R = 115000 by default), samples on the output grid like HARPS, and
   adds photon noise at a drawn S/N.

The exact truth is kept: the noiseless stellar-only spectrum (same convolution and scale) and
the convolved transmission, for every observation. Everything is deterministic given the seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import numpy as np
from tqdm.auto import tqdm

from karaoke.spectra.grid import C_KMS, HARPS_DATA_RANGE, Grid, artifact_mask
from karaoke.spectra.survey import Survey
from karaoke.synth.telluric import TelluricModel

#: Bump when the survey generator changes what it makes for an unchanged config (keys the cache).
SYNTH_VERSION = 2
#: The stellar line list is a fixed property of the synthetic universe, not of a survey.
LINELIST_SEED = 20230101
#: Balmer lines (air Angstrom).
BALMER = (6562.80, 4861.33, 4340.47, 4101.74)
#: The Ca II infrared triplet (air Angstrom): the strongest stellar lines of the SDSS red camera.
CA_TRIPLET = (8498.02, 8542.09, 8662.14)


@dataclass(frozen=True)
class SurveyConfig:
    """Configuration of a synthetic survey (frozen; its hash keys caches).

    The grid is ``grid_start + grid_step * i`` for ``i < n_pixels`` (air Angstrom, topocentric).
    """

    n_spectra: int = 3000
    n_stars: int = 200
    seed: int = 0
    grid_start: float = 6270.0
    grid_step: float = 0.01
    n_pixels: int = 2048
    resolution: float = 115000.0
    oversample: int = 4
    snr_range: tuple = (40.0, 400.0)
    teff_range: tuple = (3900.0, 7000.0)
    rv_sigma: float = 30.0
    berv_max: float = 30.0
    airmass_range: tuple = (1.0, 2.2)
    pwv_range: tuple = (0.5, 20.0)
    line_density: float = 6.0  # stellar lines per Angstrom at 6000 A (rises to the blue)
    data_range: tuple | None = None  # usable range (A); outside it the artifact mask is 0

    def __post_init__(self):
        if self.n_spectra < 1 or self.n_stars < 1 or self.n_pixels < 16:
            raise ValueError(f"invalid survey size in {self}")
        if self.n_stars > self.n_spectra:
            raise ValueError("n_stars cannot exceed n_spectra")
        if self.oversample < 1 or self.resolution <= 0:
            raise ValueError("oversample must be >= 1 and resolution > 0")

    @property
    def grid(self) -> Grid:
        return Grid(self.grid_start, self.grid_step, self.n_pixels)

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        if d["data_range"] is None:
            del d["data_range"]  # keeps the hashes of configs made before this field existed
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SurveyConfig":
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def replace(self, **kw) -> "SurveyConfig":
        return replace(self, **kw)


def stellar_line_list(lo: float, hi: float, density: float = 2.5):
    """The synthetic universe's stellar line list between ``lo`` and ``hi`` (air Angstrom).

    Lines are drawn once from a fixed seed over 3600-7100 A (the HARPS range), and from a second
    fixed seed over 7100-9400 A (the SDSS red camera), so every survey and grid sees the same
    lines at the same rest wavelengths.

    Parameters
    ----------
    lo, hi : float
        Rest air wavelengths, Angstrom.
    density : float
        Lines per Angstrom.

    Returns
    -------
    dict of arrays
        ``wave`` (rest air A), ``tau0`` (central optical depth in a solar-like star), ``chi``
        (excitation, eV), ``k`` (temperature exponent; large for cool-star lines).
    """
    parts = [_draw_lines(LINELIST_SEED, 3600.0, 7100.0, density)]
    if hi > 7100.0:
        parts.append(_draw_lines(LINELIST_SEED + 1, 7100.0, 9400.0, density))
    lines = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    keep = (lines["wave"] > lo) & (lines["wave"] < hi)
    order = np.argsort(lines["wave"][keep])
    return {k: v[keep][order] for k, v in lines.items()}


def _draw_lines(seed: int, a: float, b: float, density: float) -> dict:
    rng = np.random.default_rng(seed)
    # density(lam) = density * (6000/lam)^2 -> sample by inverse CDF of 1/lam^2
    n = int(density * 6000.0**2 * (1 / a - 1 / b))
    u = rng.uniform(size=n)
    wave = 1.0 / (1 / a - u * (1 / a - 1 / b))
    tau0 = 10 ** rng.uniform(-1.8, 1.0, n)
    chi = rng.uniform(0.0, 5.0, n)
    kind = rng.uniform(size=n)
    k = np.where(kind < 0.2, rng.uniform(-3, 0, n), rng.uniform(1, 5, n))  # ions vs neutrals
    cool = kind > 0.94
    k = np.where(cool, rng.uniform(10, 16, n), k)  # molecular-like: only in cool stars
    tau0 = np.where(cool, tau0 * 0.3, tau0)
    return {"wave": wave, "tau0": tau0, "chi": chi, "k": k}


def _gauss_kernel(sigma_px: float) -> np.ndarray:
    half = max(1, int(np.ceil(5 * sigma_px)))
    x = np.arange(-half, half + 1)
    g = np.exp(-0.5 * (x / max(sigma_px, 1e-6)) ** 2)
    return g / g.sum()


def _rotation_kernel(vsini: float, dv: float, epsilon: float = 0.6) -> np.ndarray:
    """Gray's rotational broadening kernel sampled at velocity step ``dv`` (km/s), area 1."""
    if vsini <= 2 * dv:
        return np.array([1.0])
    half = int(np.ceil(vsini / dv))
    x = np.arange(-half, half + 1) * dv / vsini
    inside = np.abs(x) < 1
    y = np.zeros_like(x)
    y[inside] = 2 * (1 - epsilon) * np.sqrt(1 - x[inside] ** 2) + 0.5 * np.pi * epsilon * (1 - x[inside] ** 2)
    return y / y.sum()


def _fftconvolve_rows(a: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    return fftconvolve(a, kernel[None, :] if a.ndim == 2 else kernel, mode="same", axes=-1)


def _draw_population(cfg: SurveyConfig, rng):
    ns = cfg.n_stars
    teff = rng.uniform(*cfg.teff_range, ns)
    feh = np.clip(rng.normal(-0.1, 0.25, ns), -1.0, 0.5)
    u = rng.uniform(size=ns)
    vsini = np.where(
        u < 0.6, rng.uniform(0.5, 4, ns), np.where(u < 0.9, rng.uniform(4, 15, ns), rng.uniform(15, 45, ns))
    )
    vsini = np.where(teff < 6200, np.minimum(vsini, rng.uniform(0.5, 12, ns)), vsini)  # cool stars rotate slowly
    halo = rng.uniform(size=ns) < 0.1
    rv = np.where(halo, rng.normal(0, 3 * cfg.rv_sigma, ns), rng.normal(0, cfg.rv_sigma, ns))
    micro = rng.uniform(0.8, 1.6, ns)
    # observations per star: every star at least once, the rest by lognormal popularity
    weights = rng.lognormal(0, 1.0, ns)
    extra = rng.choice(ns, size=cfg.n_spectra - ns, p=weights / weights.sum())
    star_of_obs = np.concatenate([np.arange(ns), extra])
    star_of_obs = star_of_obs[rng.permutation(cfg.n_spectra)]
    return dict(teff=teff, feh=feh, vsini=vsini, rv=rv, micro=micro), star_of_obs


def _star_rest_spectrum(lnw: np.ndarray, dv: float, lines, teff, feh, vsini, micro):
    """Rest-frame normalised stellar spectrum on a uniform ln(lambda) grid (step ``dv`` km/s)."""
    theta = 5040.0 / teff - 5040.0 / 5777.0
    tau = lines["tau0"] * 10 ** (feh - theta * lines["chi"] * 0.25) * (5777.0 / teff) ** lines["k"]
    pos = (np.log(lines["wave"]) - lnw[0]) / (dv / C_KMS)
    sticks = np.zeros_like(lnw)
    i0 = np.floor(pos).astype(int)
    f = pos - i0
    ok = (i0 >= 0) & (i0 < lnw.size - 1)
    np.add.at(sticks, i0[ok], tau[ok] * (1 - f[ok]))
    np.add.at(sticks, i0[ok] + 1, tau[ok] * f[ok])
    v_th = np.sqrt(2 * 1.380649e-23 * teff / (56 * 1.6605e-27)) / 1e3  # Fe thermal, km/s
    b = np.sqrt(v_th**2 + micro**2)  # Doppler parameter
    tau_profile = _fftconvolve_rows(sticks, _gauss_kernel(b / np.sqrt(2) / dv))
    flux = np.exp(-np.clip(tau_profile, 0, None))
    lam = np.exp(lnw)
    for lb in BALMER:  # broad hydrogen lines, stronger in hotter stars
        if lam[0] - 60 < lb < lam[-1] + 60:
            depth = np.clip(0.25 + 0.5 * (teff - 4000) / 3000, 0.1, 0.75)
            width = 0.6 * (teff / 5777.0) ** 3  # Lorentzian HWHM, A
            flux *= 1 - depth / (1 + ((lam - lb) / width) ** 2)
    for lc, strength in zip(CA_TRIPLET, (0.6, 1.0, 0.8)):  # Ca II triplet: deep, broad wings, stronger when cool
        if lam[0] - 30 < lc < lam[-1] + 30:
            depth = strength * np.clip(0.75 - 0.35 * (teff - 4000) / 3000, 0.3, 0.75) * 10 ** (0.3 * feh)
            width = 1.2 * strength * (5777.0 / teff) ** 0.5  # Lorentzian HWHM, A
            flux *= 1 - np.clip(depth, 0, 0.85) / (1 + ((lam - lc) / width) ** 2)
    flux = _fftconvolve_rows(flux - 1.0, _rotation_kernel(vsini, dv)) + 1.0
    # Planck continuum (shape only)
    lam_cm = lam * 1e-8
    planck = 1.0 / (lam_cm**5 * (np.exp(1.4387769 / (lam_cm * teff)) - 1))
    return flux * planck / np.median(planck)


def make_survey(config: SurveyConfig | None = None, progress: bool = True, chunk: int | None = None) -> Survey:
    """Generate the synthetic survey described by ``config`` (deterministic given its seed).

    Parameters
    ----------
    config : SurveyConfig, optional
        Grid, numbers of spectra and stars, seed (default ``SurveyConfig()``).
    progress : bool
        Show a progress bar.
    chunk : int, optional
        Spectra generated at a time (memory bound; the result does not depend on it).

    Returns
    -------
    Survey
        ``flux`` (N, L) photon counts (float32, topocentric air grid), with truth arrays
        ``stellar`` (N, L; noiseless stellar-only spectrum in the same counts) and
        ``transmission`` (N, L; instrument-convolved telluric transmission), and per-spectrum
        metadata (star id, Teff, RV, BERV, airmass, PWV, S/N, vsini).
    """
    cfg = config or SurveyConfig()
    plan = survey_plan(cfg)
    grid, wave, lnw, dv, lam_fine, lines = (
        plan["grid"],
        plan["wave"],
        plan["lnw"],
        plan["dv"],
        plan["lam_fine"],
        plan["lines"],
    )
    star, star_of_obs, N = plan["star"], plan["star_of_obs"], cfg.n_spectra
    berv, airmass, pwv, snr, tilt, noise_seeds = (
        plan[k] for k in ("berv", "airmass", "pwv", "snr", "tilt", "noise_seeds")
    )

    chunk = chunk or max(1, min(256, int(1.5e7 // lnw.size)))
    tell = TelluricModel(lam_fine)
    instr = _gauss_kernel(C_KMS / cfg.resolution / 2.35482 / dv)
    rest = {}
    stars_needed = np.unique(star_of_obs)
    it = tqdm(stars_needed, desc="stars", disable=not progress, leave=False)
    for s in it:
        rest[s] = _star_rest_spectrum(
            lnw, dv, lines, star["teff"][s], star["feh"][s], star["vsini"][s], star["micro"][s]
        ).astype(np.float32)
    flux = np.empty((N, grid.n), np.float32)
    stellar = np.empty((N, grid.n), np.float32)
    trans = np.empty((N, grid.n), np.float32)
    x_norm = (wave - wave.mean()) / (np.ptp(wave) / 2)
    for c0 in tqdm(range(0, N, chunk), desc="observations", disable=not progress, leave=False):
        idx = np.arange(c0, min(N, c0 + chunk))
        v = star["rv"][star_of_obs[idx]] - berv[idx]  # topocentric stellar velocity
        # V{s, v}: sample the rest spectrum at ln(lambda) + ln(1 - v/c)
        s_topo = np.stack(
            [np.interp(lnw + np.log1p(-vi / C_KMS), lnw, rest[st]) for vi, st in zip(v, star_of_obs[idx])]
        )
        t = tell.transmission(airmass[idx], pwv[idx])
        obs = _fftconvolve_rows(s_topo * t, instr)
        s_conv = _fftconvolve_rows(s_topo, instr)
        t_conv = _fftconvolve_rows(t - 1.0, instr) + 1.0
        for j, i in enumerate(idx):
            thr = 1 + tilt[i, 0] * x_norm + tilt[i, 1] * (x_norm**2 - 1 / 3)
            o = np.interp(wave, lam_fine, obs[j]) * thr
            sc = np.interp(wave, lam_fine, s_conv[j]) * thr
            scale = snr[i] ** 2 / np.median(sc)
            counts = o * scale
            nrng = np.random.default_rng(noise_seeds[i])
            flux[i] = counts + nrng.normal(size=grid.n) * np.sqrt(np.clip(counts, 1.0, None))
            stellar[i] = sc * scale
            trans[i] = np.interp(wave, lam_fine, t_conv[j])
    return _survey(plan, flux, stellar, trans, "karaoke.synth.generator")


def survey_plan(cfg: SurveyConfig) -> dict:
    """Everything random about a survey, drawn from its seed, and the grids it is computed on.

    The numpy generator (:func:`make_survey`) and the torch one (:mod:`karaoke.synth.device`)
    both start from this plan, so that they make the same stars, observations and conditions.

    Parameters
    ----------
    cfg : SurveyConfig

    Returns
    -------
    dict
        ``grid``, ``wave`` (L,) output air wavelengths; ``lnw`` (F,) the fine uniform
        ln(lambda) grid, ``dv`` its step (km/s), ``lam_fine`` (F,); ``lines`` the stellar line
        list; ``star`` (per-star parameters), ``star_of_obs`` (N,); per observation ``berv``
        (km/s), ``airmass``, ``pwv`` (mm), ``snr``, ``tilt`` (N, 2), ``noise_seeds`` (N,).
    """
    rng = np.random.default_rng(cfg.seed)
    grid = cfg.grid
    wave = grid.wave
    # fine uniform ln(lambda) grid with margins for the velocity shifts and kernels
    vmax = 4 * cfg.rv_sigma + cfg.berv_max + 120.0
    dv = C_KMS * grid.step / (wave.mean() * cfg.oversample)
    lo, hi = wave[0] * (1 - vmax / C_KMS), wave[-1] * (1 + vmax / C_KMS)
    lnw = np.arange(np.log(lo), np.log(hi), dv / C_KMS)
    lines = stellar_line_list(lo * (1 - 300 / C_KMS), hi * (1 + 300 / C_KMS), cfg.line_density)
    star, star_of_obs = _draw_population(cfg, rng)
    N = cfg.n_spectra
    phase = rng.uniform(0, 2 * np.pi, N)
    berv = cfg.berv_max * np.cos(phase) * rng.uniform(0.6, 1.0, N)
    airmass = 1.0 / np.cos(np.arccos(1.0 / rng.uniform(*cfg.airmass_range, N)))
    pwv = np.exp(rng.uniform(np.log(cfg.pwv_range[0]), np.log(cfg.pwv_range[1]), N))
    snr = np.exp(rng.uniform(np.log(cfg.snr_range[0]), np.log(cfg.snr_range[1]), N))
    tilt = rng.normal(0, 0.03, (N, 2))  # smooth throughput variations
    noise_seeds = rng.integers(0, 2**63, N)
    return {
        "cfg": cfg,
        "grid": grid,
        "wave": wave,
        "lnw": lnw,
        "dv": dv,
        "lam_fine": np.exp(lnw),
        "lines": lines,
        "star": star,
        "star_of_obs": star_of_obs,
        "berv": berv,
        "airmass": airmass,
        "pwv": pwv,
        "snr": snr,
        "tilt": tilt,
        "noise_seeds": noise_seeds,
    }


def _survey(plan: dict, flux, stellar, trans, generator: str) -> Survey:
    """The Survey of a plan's observations, with their metadata and artifact mask."""
    cfg, grid, wave = plan["cfg"], plan["grid"], plan["wave"]
    star, star_of_obs = plan["star"], plan["star_of_obs"]
    meta = {
        "star_id": star_of_obs.astype(np.int64),
        "teff": star["teff"][star_of_obs],
        "feh": star["feh"][star_of_obs],
        "vsini": star["vsini"][star_of_obs],
        "rv": star["rv"][star_of_obs],
        "berv": plan["berv"],
        "airmass": plan["airmass"],
        "pwv": plan["pwv"],
        "snr": plan["snr"],
    }
    if cfg.data_range is not None:
        mask = artifact_mask(grid, cfg.data_range, gaps=())
    elif wave[0] < HARPS_DATA_RANGE[0] or wave[-1] > HARPS_DATA_RANGE[1]:
        mask = artifact_mask(grid)  # the HARPS padding and CCD gap
    else:
        mask = None
    return Survey(
        wave=wave,
        flux=flux,
        stellar=stellar,
        transmission=trans,
        meta=meta,
        mask=mask,
        frame="topocentric",
        medium="air",
        attrs={"generator": generator, "config": cfg.to_dict()},
    )
