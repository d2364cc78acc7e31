"""A physical telluric transmission model for the synthetic survey (pure functions).

* O2 A (b-X 0-0, ~7600 A), B (b-X 1-0, ~6870 A) and gamma (b-X 2-0, ~6280 A) bands are *computed* from molecular
  constants: X^3Sigma_g^- levels with spin splitting (Schlapp's formulae, odd N'' only for
  16O2), b^1Sigma_g^+ levels ``T + B'J'(J'+1) - D'[J'(J'+1)]^2``, and the four magnetic-dipole
  branches RR, RQ, PP, PQ. Positions agree with HITRAN2020 to ~0.002 cm^-1 (tests check them).
  Relative intensities: Boltzmann factor at 296 K times linear Hoenl-London-like factors.
* H2O lines come from the HITRAN2020 table shipped as package data
  (``karaoke/synth/data/h2o_lines.ecsv``, units and provenance in its header).
* Optical depth: Voigt profiles (Doppler at ``temperature``, Lorentz ``gamma_air * pressure``),
  columns of O2 at zenith and of H2O per mm of precipitable water vapour, scaled by airmass;
  plus Rayleigh scattering. Line intensities are used at 296 K (no temperature scaling).

Wavelengths returned are **air** Angstrom in the **topocentric** frame (where tellurics sit).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
from scipy.special import voigt_profile

from karaoke.spectra.grid import C_KMS, air_to_vacuum, vacuum_to_air

C2 = 1.4387769  # second radiation constant hc/k, cm K

# X^3Sigma_g^- (v=0) of 16O2: B, D, lambda (spin-spin), gamma (spin-rotation), cm^-1.
O2_X = dict(B=1.437676, D=4.84e-6, lam=1.984751, gamma=-0.008425)
#: Zero of the X-state energies used by HITRAN (the N=1, J=0 level) in Schlapp's convention.
O2_X_ZERO = -1.0860


@dataclass(frozen=True)
class O2Band:
    """Upper-state constants of one b-X band (cm^-1); ``origin`` is relative to the lowest level.

    ``scale`` is the intensity per unit Hoenl-London factor at E''=0 (cm/molecule, 296 K).
    """

    name: str
    origin: float
    B: float
    D: float
    scale: float


#: Literature-consistent constants (band origins 13120.91 / 14525.66 / 15902.42 cm^-1 above the
#: X N=0 reference, i.e. +1.086 above the lowest level; B' and D' refined against HITRAN2020).
O2_BANDS = {
    "A": O2Band("A", 13122.0059, 1.391251, 5.375e-6, 1.55e-24),
    "gamma": O2Band("gamma", 15903.5034, 1.354602, 5.441e-6, 3.92e-27),
    "B": O2Band("B", 14526.7424, 1.372966, 5.408e-6, 1.04e-25),
}


def o2_lower_energy(N, which: str) -> np.ndarray:
    """Energy (cm^-1, above the N=1, J=0 ground level) of X-state level ``N`` (odd).

    ``which``: ``"F1"`` (J = N+1), ``"F2"`` (J = N) or ``"F3"`` (J = N-1).
    """
    N = np.asarray(N, dtype=np.float64)
    B, D, lam, g = O2_X["B"], O2_X["D"], O2_X["lam"], O2_X["gamma"]
    x = N * (N + 1)
    f2 = B * x - D * x * x
    if which == "F2":
        e = f2
    elif which == "F1":
        e = f2 + (2 * N + 3) * B - lam - np.sqrt((2 * N + 3) ** 2 * B * B + lam * lam - 2 * lam * B) + g * (N + 1)
    elif which == "F3":
        s = np.sqrt((2 * N - 1) ** 2 * B * B + lam * lam - 2 * lam * B)
        s = np.where(N == 1, -s, s)  # the isolated J=0 level takes the other root
        e = f2 - (2 * N - 1) * B - lam + s - g * N
    else:
        raise ValueError(f"unknown fine-structure component {which!r}")
    return e - O2_X_ZERO


def o2_lines(band: str = "gamma", n_max: int = 41, temperature: float = 296.0):
    """Line list of one O2 b-X band computed from molecular constants.

    Returns
    -------
    dict of arrays, one entry per line:
        ``wavenumber`` (vacuum cm^-1), ``intensity`` (cm/molecule), ``elower`` (cm^-1),
        ``N`` (N''), ``branch`` (str: RR, RQ, PP, PQ), ``gamma_air`` (cm^-1/atm).
    """
    if band not in O2_BANDS:
        raise ValueError(f"unknown O2 band {band!r}; choose from {sorted(O2_BANDS)}")
    b = O2_BANDS[band]
    rows = []
    for N in range(1, n_max + 1, 2):
        for branch, Jp, which, hl in (
            ("RR", N + 1, "F2", N),
            ("RQ", N + 1, "F1", N + 1),
            ("PP", N - 1, "F2", N + 1),
            ("PQ", N - 1, "F3", N),
        ):
            if which == "F3" and N == 1:
                continue  # PQ(1): J''=0 -> J'=0 is forbidden
            el = float(o2_lower_energy(N, which))
            xp = Jp * (Jp + 1)
            nu = b.origin + b.B * xp - b.D * xp * xp - el
            S = b.scale * hl * np.exp(-C2 * el / temperature)
            # gamma_air falls with N (HITRAN: ~0.056 at low N to ~0.03 at N~35)
            rows.append((nu, S, el, N, branch, 0.058 - 0.0008 * N))
    nu, S, el, N, br, ga = zip(*rows)
    return {
        "wavenumber": np.array(nu),
        "intensity": np.array(S),
        "elower": np.array(el),
        "N": np.array(N),
        "branch": np.array(br),
        "gamma_air": np.array(ga),
    }


@lru_cache(maxsize=1)
def h2o_lines():
    """The embedded H2O lines (dict of arrays, as :func:`o2_lines`, plus ``source``).

    ``source`` 0: HITRAN2020 lines (to 8000 A); 1: pseudo-lines at the telluric segments of the
    SERVAL mask atlas beyond 8000 A (real positions, intensities estimated from segment widths;
    see ``tools/make_h2o_table.py``), so that the SDSS range has its 8100-8400 and 8900-9000 A bands.
    """
    from astropy.table import Table

    with _h2o_table().open("rb") as fh:
        tab = Table.read(fh.read().decode(), format="ascii.ecsv")
    return {
        "wavenumber": np.asarray(tab["wavenumber"], np.float64),
        "intensity": np.asarray(tab["intensity"], np.float64),
        "gamma_air": np.asarray(tab["gamma_air"], np.float64),
        "elower": np.asarray(tab["elower"], np.float64),
        "source": np.asarray(tab["source"], int),
    }


def _h2o_table():
    """The H2O line table shipped as package data (ECSV with units and provenance)."""
    return files("karaoke.synth").joinpath("data", H2O_TABLE)


#: Bump when the telluric physics changes in a way the line table does not show (O2 constants,
#: profiles, columns); it keys the survey cache with :func:`model_fingerprint`.
TELLURIC_MODEL_VERSION = 1
#: File name of the H2O line table in ``karaoke/synth/data``.
H2O_TABLE = "h2o_lines.ecsv"


def model_fingerprint() -> str:
    """Short digest of the telluric model (its version and the bytes of the H2O table file), so
    that cached synthetic surveys are regenerated when the physics behind them changes."""
    blob = f"{TELLURIC_MODEL_VERSION}\n".encode() + _h2o_table().read_bytes()
    return hashlib.sha256(blob).hexdigest()[:8]


def line_wavelengths_air(lines) -> np.ndarray:
    """Air wavelengths (Angstrom) of a line list given in vacuum wavenumbers."""
    return vacuum_to_air(1e8 / np.asarray(lines["wavenumber"]))


def optical_depth(
    wave_air,
    lines,
    column: float,
    mass_amu: float,
    temperature: float = 260.0,
    pressure: float = 0.75,
    window: float = 3.0,
) -> np.ndarray:
    """Optical depth of a line list on air wavelengths.

    Parameters
    ----------
    wave_air : array, shape (F,)
        Increasing air wavelengths (Angstrom, topocentric).
    lines : dict
        As returned by :func:`o2_lines` / :func:`h2o_lines`.
    column : float
        Column density (molecules / cm^2).
    mass_amu : float
        Molecular mass (for the Doppler width).
    temperature, pressure : float
        Effective temperature (K) and pressure (atm) of the absorbing layer.
    window : float
        Half-width (cm^-1) around each line over which its profile is evaluated.

    Returns
    -------
    tau : ndarray, shape (F,)
    """
    wave_air = np.asarray(wave_air, dtype=np.float64)
    nu = 1e8 / air_to_vacuum(wave_air)  # decreasing wavenumbers
    order = np.argsort(nu)
    nu_sorted = nu[order]
    tau_sorted = np.zeros_like(nu_sorted)
    k_b, amu = 1.380649e-23, 1.66053907e-27
    v_th = np.sqrt(k_b * temperature / (mass_amu * amu)) / 1e3  # km/s (1-sigma)
    for nu0, S, g in zip(lines["wavenumber"], lines["intensity"], lines["gamma_air"]):
        lo, hi = np.searchsorted(nu_sorted, [nu0 - window, nu0 + window])
        if hi <= lo:
            continue
        sigma = nu0 * v_th / C_KMS
        tau_sorted[lo:hi] += S * column * voigt_profile(nu_sorted[lo:hi] - nu0, sigma, g * pressure)
    tau = np.empty_like(tau_sorted)
    tau[order] = tau_sorted
    return tau


def rayleigh_optical_depth(wave_air, pressure: float = 0.75) -> np.ndarray:
    """Zenith Rayleigh optical depth (Bucholtz-like power law), ``pressure`` in atm."""
    lam_um = np.asarray(wave_air, dtype=np.float64) / 1e4
    return 0.00864 * lam_um ** (-(3.916 + 0.074 * lam_um + 0.050 / lam_um)) * pressure


#: O2 column at zenith (molecules/cm^2) for an observatory at ~2400 m (0.75 atm).
O2_COLUMN_ZENITH = 3.38e24
#: H2O column per mm of precipitable water vapour (molecules/cm^2).
H2O_COLUMN_PER_MM = 3.34e21


class TelluricModel:
    """Zenith optical depths on a fixed air wavelength grid; transmission for any conditions.

    Parameters
    ----------
    wave_air : array, shape (F,)
        Topocentric air wavelengths (Angstrom) at which to evaluate (typically an oversampled
        grid, before instrumental convolution).
    """

    def __init__(self, wave_air):
        self.wave = np.asarray(wave_air, dtype=np.float64)
        lo, hi = self.wave.min(), self.wave.max()
        o2 = [o2_lines(b) for b in O2_BANDS]
        o2 = {k: np.concatenate([d[k] for d in o2]) for k in ("wavenumber", "intensity", "gamma_air")}
        self.tau_o2 = optical_depth(self.wave, _in_range(o2, lo, hi), O2_COLUMN_ZENITH, 32.0)
        self.tau_h2o = optical_depth(self.wave, _in_range(h2o_lines(), lo, hi), H2O_COLUMN_PER_MM, 18.0, pressure=0.8)
        self.tau_rayleigh = rayleigh_optical_depth(self.wave)

    def transmission(self, airmass, pwv_mm) -> np.ndarray:
        """Transmission exp(-tau) for airmass(es) and precipitable water vapour (mm).

        ``airmass`` and ``pwv_mm`` are scalars or arrays of shape (N,); result (F,) or (N, F).
        """
        am = np.asarray(airmass, dtype=np.float64)[..., None]
        pwv = np.asarray(pwv_mm, dtype=np.float64)[..., None]
        if np.any(am < 1) or np.any(pwv < 0):
            raise ValueError("airmass must be >= 1 and pwv >= 0")
        tau = am * (self.tau_o2 + pwv * self.tau_h2o + self.tau_rayleigh)
        out = np.exp(-tau)
        return out[0] if out.shape[0] == 1 and np.ndim(airmass) == 0 else out


def _in_range(lines, lo_air, hi_air, margin=5.0):
    w = line_wavelengths_air(lines)
    keep = (w > lo_air - margin) & (w < hi_air + margin)
    return {k: np.asarray(v)[keep] for k, v in lines.items()}


def convolve_to_resolution(wave, flux, resolution: float) -> np.ndarray:
    """Gaussian instrument profile of resolving power R on a uniform grid.

    Parameters
    ----------
    wave : ndarray, shape (L,)
        Uniform wavelength grid, Angstrom.
    flux : ndarray, shape (L,) or (N, L)
    resolution : float
        Resolving power R = lambda / FWHM (at the grid's centre).

    Returns
    -------
    ndarray, same shape as ``flux``
    """
    from scipy.ndimage import gaussian_filter1d

    wave = np.asarray(wave, dtype=np.float64)
    step = (wave[-1] - wave[0]) / (wave.size - 1)
    sigma = np.mean(wave) / resolution / 2.35482 / step
    return gaussian_filter1d(np.asarray(flux, dtype=np.float64), sigma, axis=-1, mode="nearest")
