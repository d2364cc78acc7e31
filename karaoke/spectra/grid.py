"""Wavelength grids, regridding, normalisation and Doppler shifts (pure functions, numpy).

Conventions
-----------
* Wavelengths are in Angstrom. HARPS/ESPRESSO products and every grid here are in **air**
  unless a name says ``vacuum``; HITRAN line lists are **vacuum** wavenumbers (cm^-1).
* A velocity ``v`` (km/s) acts on a spectrum through the operator of the paper, Eq. (7):
  ``V{x, v}(lam) = x(lam * (1 - v / c))``, i.e. a feature at ``lam0`` moves to
  ``lam0 / (1 - v / c)`` (positive ``v`` redshifts). Barycentric -> topocentric is
  ``V{x, -BERV}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Speed of light in km/s.
C_KMS = 299792.458

#: Artifact region of the HARPS CCD gap (air Angstrom), from the authors' code.
HARPS_CCD_GAP = (5303.64, 5338.04)
#: Real-data region kept by the authors (air Angstrom).
HARPS_DATA_RANGE = (3785.0, 6910.0)


class NoiseLikeSpectrum(ValueError):
    """A spectrum rejected by the paper's noise-like rule (median or mean too low)."""


@dataclass(frozen=True)
class Grid:
    """A uniform wavelength grid ``wave[i] = start + step * i`` (air Angstrom, float64).

    Parameters
    ----------
    start : float
        First pixel centre (Angstrom).
    step : float
        Pixel size (Angstrom).
    n : int
        Number of pixels.
    """

    start: float
    step: float
    n: int

    def __post_init__(self):
        if not (self.step > 0 and self.n > 1 and np.isfinite(self.start)):
            raise ValueError(f"invalid grid: start={self.start}, step={self.step}, n={self.n}")

    @property
    def wave(self) -> np.ndarray:
        """Pixel centres, shape (n,), float64 Angstrom."""
        return self.start + self.step * np.arange(self.n, dtype=np.float64)

    @property
    def stop(self) -> float:
        """Last pixel centre (Angstrom)."""
        return self.start + self.step * (self.n - 1)

    def index(self, wave) -> np.ndarray:
        """Fractional pixel index of wavelength(s) ``wave`` (Angstrom)."""
        return (np.asarray(wave, dtype=np.float64) - self.start) / self.step

    def sub(self, start: float, n: int) -> "Grid":
        """The ``n``-pixel sub-grid of this grid that begins at the pixel nearest ``start``."""
        i0 = int(round(float(self.index(start))))
        if i0 < 0 or i0 + n > self.n:
            raise ValueError(f"sub-grid [{start}, +{n} px] falls outside {self}")
        return Grid(self.start + self.step * i0, self.step, n)

    @classmethod
    def from_wave(cls, wave) -> "Grid":
        """Build a Grid from a uniform wavelength array; raise ValueError if not uniform."""
        wave = np.asarray(wave, dtype=np.float64)
        if wave.ndim != 1 or wave.size < 2:
            raise ValueError("wavelength array must be 1-D with at least 2 pixels")
        step = (wave[-1] - wave[0]) / (wave.size - 1)
        if step <= 0 or np.max(np.abs(np.diff(wave) - step)) > 1e-6 * abs(step) + 1e-9:
            raise ValueError("wavelength array is not a uniform increasing grid")
        return cls(float(wave[0]), float(step), int(wave.size))

    def to_dict(self) -> dict:
        return {"start": self.start, "step": self.step, "n": self.n}


def harps_grid() -> Grid:
    """The authors' HARPS grid: 327680 px, 0.01 A, 3709.11-6985.90 A (air, barycentric)."""
    return Grid(3709.11, 0.01, 327680)


def artifact_mask(grid: Grid, data_range=HARPS_DATA_RANGE, gaps=(HARPS_CCD_GAP,)) -> np.ndarray:
    """Artifact mask on ``grid``: 1 on usable pixels, 0 on padding and instrument gaps.

    Parameters
    ----------
    grid : Grid
    data_range : (float, float)
        Wavelength range (Angstrom) holding real data; pixels outside are padding.
    gaps : sequence of (float, float)
        Wavelength ranges (Angstrom, inclusive) to mask, e.g. the HARPS CCD gap.

    Returns
    -------
    mask : ndarray, shape (grid.n,), float32, values 0 or 1
    """
    w = grid.wave
    tol = 1e-6 * grid.step
    m = (w >= data_range[0] - tol) & (w <= data_range[1] + tol)
    for lo, hi in gaps:
        m &= ~((w >= lo - tol) & (w <= hi + tol))
    return m.astype(np.float32)


def harps_artifact_mask() -> np.ndarray:
    """The authors' HARPS artifact mask, shape (327680,): 0 on padding and the CCD gap."""
    return artifact_mask(harps_grid())


def regrid(wave, flux, grid: Grid, err=None):
    """Linearly interpolate a spectrum onto ``grid``.

    Parameters
    ----------
    wave : array, shape (M,)
        Strictly increasing wavelengths (Angstrom), same medium and frame as ``grid``.
    flux : array, shape (M,)
    grid : Grid
    err : array, shape (M,), optional
        1-sigma uncertainties, interpolated the same way.

    Returns
    -------
    flux : ndarray, shape (grid.n,), float64 -- 0 outside the coverage or on non-finite input
    mask : ndarray, shape (grid.n,), float32 -- 1 where the output is covered by finite data
    err : ndarray, shape (grid.n,) -- only if ``err`` was given
    """
    wave = np.asarray(wave, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    if wave.ndim != 1 or wave.shape != flux.shape:
        raise ValueError(f"wave and flux must be 1-D of equal length, got {wave.shape}, {flux.shape}")
    if wave.size < 2 or np.any(~np.isfinite(wave)) or np.any(np.diff(wave) <= 0):
        raise ValueError("wavelengths must be finite and strictly increasing")
    g = grid.wave
    good = np.isfinite(flux).astype(np.float64)
    f = np.where(good > 0, flux, 0.0)
    out = np.interp(g, wave, f, left=0.0, right=0.0)
    cover = np.interp(g, wave, good, left=0.0, right=0.0)
    mask = (cover > 1.0 - 1e-9).astype(np.float32)
    out = np.where(mask > 0, out, 0.0)
    if err is None:
        return out, mask
    e = np.asarray(err, dtype=np.float64)
    e_out = np.interp(g, wave, np.where(np.isfinite(e), e, 0.0), left=0.0, right=0.0)
    return out, mask, np.where(mask > 0, e_out, 0.0)


def dead_pixels(wave, flux, min_width: float = 0.5, frac: float = 0.02) -> np.ndarray:
    """Pixels that carry no signal: non-finite or non-positive flux, and blocks of near-zero
    flux (``|flux| < frac * median``) at least ``min_width`` Angstrom wide.

    A real absorption line, even a saturated telluric core, is narrower than ~0.5 A at
    R = 115000 and keeps some flux; a wide block of ~0 flux (a detector defect, a failed order
    merge: e.g. 6260-6272.6 A of the 2003 Gl 273 HARPS s1d) holds no spectrum, and dividing by
    a reconstruction there gives meaningless telluric values.

    Parameters
    ----------
    wave : array, shape (M,)
        Strictly increasing wavelengths (Angstrom).
    flux : array, shape (M,)
    min_width : float
        Shortest near-zero block (Angstrom) counted as dead.
    frac : float
        Near-zero threshold as a fraction of the median of the positive finite flux.

    Returns
    -------
    dead : ndarray of bool, shape (M,)
    """
    wave = np.asarray(wave, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    finite = np.isfinite(flux)
    dead = ~finite | (np.where(finite, flux, 0.0) <= 0)
    pos = flux[finite & (flux > 0)]
    if pos.size == 0:
        return np.ones(flux.shape, dtype=bool)
    low = ~finite | (np.abs(np.where(finite, flux, 0.0)) < frac * np.median(pos))
    # runs of `low`: start and end indices
    edges = np.diff(np.concatenate(([0], low.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # [start, end)
    for a, b in zip(starts, ends):
        if wave[b - 1] - wave[a] >= min_width:
            dead[a:b] = True
    return dead


def median_normalise(flux, mask=None, min_median: float = 50.0):
    """Divide a spectrum by the median of its unmasked flux (the paper's normalisation).

    Parameters
    ----------
    flux : array, shape (L,) or (N, L)
    mask : array, shape (L,) or (N, L), optional
        1 on pixels to use (artifact mask); default all pixels.
    min_median : float
        The paper's noise-like rule: a spectrum whose median is ``<= min_median`` (50 in HARPS
        ADP flux units) or whose unmasked mean is ``<= 0`` is rejected.

    Returns
    -------
    normalised : ndarray, same shape as ``flux``, float32
    median : float or ndarray of shape (N,)

    Raises
    ------
    NoiseLikeSpectrum
        If a spectrum (the first offending one, for 2-D input) is noise-like.
    """
    flux = np.asarray(flux, dtype=np.float64)
    if flux.ndim not in (1, 2):
        raise ValueError(f"flux must be 1-D or 2-D, got shape {flux.shape}")
    f2 = np.atleast_2d(flux)
    m2 = np.ones_like(f2, dtype=bool) if mask is None else np.broadcast_to(np.asarray(mask) > 0, f2.shape)
    meds = np.empty(f2.shape[0])
    for i, (f, m) in enumerate(zip(f2, m2)):
        v = f[m & np.isfinite(f)]
        if v.size == 0:
            raise NoiseLikeSpectrum("no finite unmasked pixels")
        med, mean = float(np.median(v)), float(np.mean(v))
        if med <= min_median or mean <= 0:
            raise NoiseLikeSpectrum(
                f"noise-like spectrum{'' if flux.ndim == 1 else f' #{i}'}: median {med:.3g} "
                f"(must exceed {min_median}), mean {mean:.3g} (must exceed 0)"
            )
        meds[i] = med
    out = (f2 / meds[:, None]).astype(np.float32)
    if flux.ndim == 1:
        return out[0], float(meds[0])
    return out, meds


def doppler_shift(wave, flux, v, fill: float = 0.0) -> np.ndarray:
    """Float64 reference of the velocity operator ``V{x, v}(lam) = x(lam (1 - v/c))``.

    Parameters
    ----------
    wave : array, shape (L,)
        Increasing wavelengths (Angstrom) on which ``flux`` is sampled.
    flux : array, shape (L,) or (N, L)
    v : float or array of shape (N,)
        Velocity in km/s; positive moves features redward (``lam0 -> lam0 / (1 - v/c)``).
    fill : float
        Value where ``lam (1 - v/c)`` falls outside ``wave``.

    Returns
    -------
    shifted : ndarray, same shape as ``flux``, float64, sampled on ``wave``.
    """
    wave = np.asarray(wave, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    vv = np.atleast_1d(np.asarray(v, dtype=np.float64))
    f2 = np.atleast_2d(flux)
    if vv.size == 1 and f2.shape[0] > 1:
        vv = np.full(f2.shape[0], vv[0])
    if vv.size != f2.shape[0]:
        raise ValueError(f"{vv.size} velocities for {f2.shape[0]} spectra")
    out = np.stack([np.interp(wave * (1.0 - vi / C_KMS), wave, fi, left=fill, right=fill) for fi, vi in zip(f2, vv)])
    return out[0] if flux.ndim == 1 else out


def barycentric_to_topocentric(wave, flux, berv_kms: float) -> np.ndarray:
    """Move a barycentric spectrum (sampled on ``wave``) to the topocentric frame.

    Applies ``V{x, -BERV}`` (the authors' order of operations), so telluric lines return to
    their fixed observatory wavelengths. ``berv_kms`` is HIERARCH ESO DRS BERV (km/s).
    """
    return doppler_shift(wave, flux, -float(berv_kms))


def vacuum_to_air(wave_vac) -> np.ndarray:
    """Vacuum -> air wavelength (Angstrom), IAU standard (Morton 2000, Ciddor 1996 dispersion).

    Parameters
    ----------
    wave_vac : float or ndarray, any shape
        Vacuum wavelengths, Angstrom (any frame).

    Returns
    -------
    ndarray, same shape
        Air wavelengths, Angstrom (standard air, 15 C, 101325 Pa).
    """
    w = np.asarray(wave_vac, dtype=np.float64)
    s2 = (1e4 / w) ** 2
    n = 1.0 + 0.0000834254 + 0.02406147 / (130.0 - s2) + 0.00015998 / (38.9 - s2)
    return w / n


def air_to_vacuum(wave_air) -> np.ndarray:
    """Air -> vacuum wavelength (Angstrom), inverse of :func:`vacuum_to_air` (Piskunov's fit,
    refined by two fixed-point iterations so the round trip is exact to < 1e-8 A).

    Parameters
    ----------
    wave_air : float or ndarray, any shape
        Air wavelengths, Angstrom (any frame: the conversion does not change it).

    Returns
    -------
    ndarray, same shape
        Vacuum wavelengths, Angstrom.
    """
    w = np.asarray(wave_air, dtype=np.float64)
    s2 = (1e4 / w) ** 2
    n = (
        1.0
        + 0.00008336624212083
        + 0.02408926869968 / (130.1065924522 - s2)
        + 0.0001599740894897 / (38.92568793293 - s2)
    )
    vac = w * n
    for _ in range(2):
        vac = vac + (w - vacuum_to_air(vac))
    return vac
