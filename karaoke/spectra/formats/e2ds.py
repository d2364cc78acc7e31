"""HARPS and HARPS-N DRS ``e2ds`` files: extracted echelle orders, merged into one 1D spectrum.

An e2ds is a primary image (orders x 4096 pixels, ADU) in the **observatory (topocentric)**
frame. Its header names the calibrations it needs, which must lie in the same folder:

* the blaze (``HIERARCH ESO|TNG DRS BLAZE FILE``): the flat-field order profile, divided out;
* the wavelength solution (``HIERARCH ESO|TNG DRS CAL TH FILE``; HARPS names the ``_wave_A``
  file itself, HARPS-N the ThAr ``_e2ds_A`` exposure whose ``_wave_A`` file is meant): an image
  of air wavelengths (Angstrom) per order and pixel.

The deblazed orders are resampled onto one uniform grid of the median pixel step (0.01 A on
HARPS) and averaged with inverse-variance weights (photon and read noise from the detector's
``DRS CCD CONAD`` gain and ``DRS CCD SIGDET`` read noise), so that the overlaps of adjacent
orders count twice and the faint order edges little; pixels below 5 % of the blaze peak are not
used. ERR is the error of that average.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from karaoke.spectra.fitsfile import SpectrumError

KIND = "HARPS DRS e2ds (merged)"
#: Blaze below this fraction of its order's peak: too faint to use.
MIN_BLAZE = 0.05


def _drs(header):
    """The DRS keyword prefix of this header (``HIERARCH ESO DRS`` or ``HIERARCH TNG DRS``)."""
    for prefix in ("HIERARCH ESO DRS", "HIERARCH TNG DRS"):
        if f"{prefix} BLAZE FILE" in header:
            return prefix
    return None


def identify(hdul) -> bool:
    h0 = hdul[0].header
    return int(h0.get("NAXIS", 0)) == 2 and _drs(h0) is not None


def calibration_files(path, header) -> tuple[Path, Path]:
    """The blaze and wavelength files an e2ds names, in its folder.

    Parameters
    ----------
    path : path
        The e2ds file.
    header : astropy.io.fits.Header
        Its primary header.

    Returns
    -------
    blaze, wave : Path
    """
    prefix = _drs(header)
    folder = Path(path).parent
    blaze = folder / str(header[f"{prefix} BLAZE FILE"]).strip()
    th = str(header.get(f"{prefix} CAL TH FILE", "")).strip()
    wave = folder / th.replace("_e2ds_", "_wave_") if th else folder / "?"
    return blaze, wave


def _image(path, what, shape, e2ds_path):
    from astropy.io import fits

    if not path.exists():
        raise SpectrumError(
            e2ds_path,
            f"its {what} file {path.name} is not in {path.parent} (an e2ds needs its blaze and wave files beside it)",
        )
    try:
        data = np.asarray(fits.getdata(path), np.float64)
    except Exception as exc:
        raise SpectrumError(e2ds_path, f"its {what} file {path.name} is unreadable ({type(exc).__name__})") from exc
    if data.shape != shape:
        raise SpectrumError(e2ds_path, f"its {what} file {path.name} has shape {data.shape}, the e2ds {shape}")
    return data


def merge_orders(wave, flux, blaze, gain: float = 1.0, read_noise: float = 0.0):
    """Deblaze echelle orders and merge them onto one uniform wavelength grid.

    Parameters
    ----------
    wave : ndarray, shape (n_orders, n_pix)
        Air wavelengths, Angstrom, increasing along each order.
    flux : ndarray, shape (n_orders, n_pix)
        Extracted flux, ADU.
    blaze : ndarray, shape (n_orders, n_pix)
        Blaze function (any scale).
    gain : float
        e- per ADU (for the photon noise).
    read_noise : float
        e- per pixel.

    Returns
    -------
    wave : ndarray, shape (M,)
        Uniform grid, step the median pixel step.
    flux, err : ndarray, shape (M,)
        Deblazed flux and its 1-sigma error (ADU at the blaze peak); NaN where no order covers.
    """
    wave, flux, blaze = (np.asarray(a, np.float64) for a in (wave, flux, blaze))
    step = float(np.median(np.diff(wave, axis=1)))
    grid = np.arange(np.nanmin(wave), np.nanmax(wave), step)
    num = np.zeros_like(grid)
    den = np.zeros_like(grid)
    for w, f, b in zip(wave, flux, blaze):
        peak = np.nanmax(b)
        use = np.isfinite(f) & np.isfinite(w) & (b > MIN_BLAZE * peak)
        if use.sum() < 2:
            continue
        var_adu = (np.clip(f, 0, None) * gain + read_noise**2) / gain**2  # per pixel, ADU^2
        bn = b / peak
        d = np.where(use, f / np.where(use, bn, 1.0), 0.0)  # deblazed
        var = np.where(use, var_adu / np.where(use, bn, 1.0) ** 2, np.inf)
        lo, hi = w[use][0], w[use][-1]
        inside = (grid >= lo) & (grid <= hi)
        fi = np.interp(grid[inside], w, d)
        vi = np.interp(grid[inside], w, np.where(np.isfinite(var), var, 0.0))
        ok = np.interp(grid[inside], w, use.astype(float)) > 1 - 1e-9
        wt = np.where(ok & (vi > 0), 1.0 / np.where(vi > 0, vi, 1.0), 0.0)
        num[inside] += wt * fi
        den[inside] += wt
    covered = den > 0
    out = np.where(covered, num / np.where(covered, den, 1.0), np.nan)
    err = np.where(covered, 1.0 / np.sqrt(np.where(covered, den, 1.0)), np.nan)
    return grid, out, err


def read(hdul, path):

    header = hdul[0].header.copy()
    flux = np.asarray(hdul[0].data, np.float64)
    if flux.ndim != 2:
        raise SpectrumError(path, f"primary image has shape {flux.shape}, an e2ds is (orders, pixels)")
    blaze_path, wave_path = calibration_files(path, header)
    blaze = _image(blaze_path, "blaze", flux.shape, path)
    wave = _image(wave_path, "wave", flux.shape, path)
    prefix = _drs(header)
    gain = float(header.get(f"{prefix} CCD CONAD", 1.0) or 1.0)
    ron = float(header.get(f"{prefix} CCD SIGDET", 0.0) or 0.0)
    w, f, e = merge_orders(wave, flux, blaze, gain, ron)
    keep = np.isfinite(f)
    if keep.sum() < 2:
        raise SpectrumError(path, "no usable pixel after deblazing")
    header["KFLUXUNI"] = "adu"
    header["KFRAME"] = "topocentric"  # e2ds wavelengths are in the observatory frame
    return w, np.where(keep, f, np.nan), np.where(keep, e, np.nan), header
