"""SDSS (SEGUE) red-camera frames: the spFrame / spFluxCalib reader and the 2048-px grid.

spFrame layout (SDSS data model): HDU0 flux [NFIBER, NPIX] (flat-fielded electrons, not flux
calibrated), HDU1 inverse variance, HDU2 pixel mask, HDU3 the wavelength solution as a trace
set (table: FUNC, XMIN, XMAX, COEFF [NFIBER, NCOEFF]) giving log10(lambda) as a Legendre series
in ``x' = 2 (x - xmid) / (xmax - xmin)``, HDU5 the plug map (table with ``OBJTYPE``). spFluxCalib
HDU0 holds the calibration vector [NFIBER, NPIX] (it contains the telluric absorption, the
paper's pseudo-truth). SDSS wavelengths are **vacuum**, observatory frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.polynomial import legendre

from karaoke.spectra.grid import Grid, artifact_mask, median_normalise, regrid
from karaoke.spectra.io import SpectrumError

SDSS_DATA_RANGE = (5820.0, 9175.0)


def sdss_grid() -> Grid:
    """The authors' SDSS grid: 2048 px of 1.66 A, 5798.42-9196.44 A (vacuum)."""
    return Grid(5798.42, 1.66, 2048)


def sdss_artifact_mask() -> np.ndarray:
    """1 on the 2022 data pixels [5820, 9175] A, 0 on the 13 padding pixels each side."""
    return artifact_mask(sdss_grid(), SDSS_DATA_RANGE, gaps=())


def traceset_log10_wave(xmin: float, xmax: float, coeff, npix: int) -> np.ndarray:
    """Evaluate an SDSS Legendre trace set: returns log10(lambda), shape (NFIBER, npix)."""
    coeff = np.atleast_2d(np.asarray(coeff, dtype=np.float64))
    x = np.arange(npix, dtype=np.float64) + xmin
    xmid, xrange = 0.5 * (xmin + xmax), xmax - xmin
    xn = 2.0 * (x - xmid) / xrange
    return np.stack([legendre.legval(xn, c) for c in coeff])


@dataclass
class SDSSFrame:
    """Science fibres of one spFrame: arrays (N, NPIX); ``wave`` vacuum Angstrom."""

    wave: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    fiber: np.ndarray
    objtype: np.ndarray
    calib: np.ndarray | None
    source: str


def read_spframe(path, calib_path=None, exclude_sky: bool = True) -> SDSSFrame:
    """Read an spFrame (and optionally its spFluxCalib); SKY fibres excluded by default."""
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise SpectrumError(path, "file does not exist")
    try:
        with fits.open(path, memmap=False) as h:
            if len(h) < 6:
                raise SpectrumError(path, f"an spFrame has at least 6 HDUs, this file has {len(h)}")
            flux = np.asarray(h[0].data, dtype=np.float64)
            ivar = np.asarray(h[1].data, dtype=np.float64)
            wset = h[3].data
            plug = h[5].data
            if flux.ndim != 2 or ivar.shape != flux.shape:
                raise SpectrumError(path, f"flux/ivar shapes {flux.shape}/{ivar.shape} are not one (NFIBER, NPIX)")
            names = {n.upper(): n for n in wset.columns.names}
            if not {"XMIN", "XMAX", "COEFF"} <= set(names):
                raise SpectrumError(path, "HDU3 is not a wavelength trace set (XMIN, XMAX, COEFF)")
            func = str(wset[names["FUNC"]][0]).strip().lower() if "FUNC" in names else "legendre"
            if func != "legendre":
                raise SpectrumError(path, f"wavelength trace set function {func!r} is not legendre")
            coeff = np.asarray(wset[names["COEFF"]][0], dtype=np.float64)
            coeff = coeff.reshape(flux.shape[0], -1) if coeff.size % flux.shape[0] == 0 else coeff
            xmin, xmax = float(wset[names["XMIN"]][0]), float(wset[names["XMAX"]][0])
            objtype = np.array([str(o).strip() for o in plug["OBJTYPE"]])
    except SpectrumError:
        raise
    except Exception as exc:
        raise SpectrumError(path, f"not a readable spFrame ({type(exc).__name__}: {exc})") from exc
    if objtype.size != flux.shape[0]:
        raise SpectrumError(path, f"plug map lists {objtype.size} fibres for {flux.shape[0]} spectra")
    wave = 10 ** traceset_log10_wave(xmin, xmax, coeff, flux.shape[1])
    if not (3000 < np.nanmin(wave) and np.nanmax(wave) < 11000):
        raise SpectrumError(path, f"wavelength solution gives {np.nanmin(wave):.0f}-{np.nanmax(wave):.0f} A")
    calib = None
    if calib_path is not None:
        try:
            calib = np.asarray(fits.getdata(calib_path, 0), dtype=np.float64)
        except Exception as exc:
            raise SpectrumError(calib_path, f"not a readable spFluxCalib ({type(exc).__name__}: {exc})") from exc
        if calib.shape != flux.shape:
            raise SpectrumError(calib_path, f"calibration shape {calib.shape} differs from the frame's {flux.shape}")
    keep = np.ones(flux.shape[0], bool)
    if exclude_sky:
        keep = np.char.upper(objtype.astype(str)) != "SKY"
    fib = np.flatnonzero(keep)
    return SDSSFrame(
        wave[keep], flux[keep], ivar[keep], fib, objtype[keep], None if calib is None else calib[keep], str(path)
    )


def homogenise(frame: SDSSFrame, grid: Grid | None = None):
    """Regrid every fibre onto the 2048-px SDSS grid and median-normalise it.

    Returns (flux (N, 2048) float32, mask (N, 2048) float32, kept fibre numbers); fibres whose
    median is not positive (empty, noise-like) are dropped.
    """
    grid = grid or sdss_grid()
    am = artifact_mask(grid, SDSS_DATA_RANGE, gaps=())
    out, masks, kept = [], [], []
    for w, f, iv, fib in zip(frame.wave, frame.flux, frame.ivar, frame.fiber):
        f = np.where(iv > 0, f, np.nan)
        g, m = regrid(w, f, grid)
        m = m * am
        try:
            n, _ = median_normalise(g, m, min_median=0.0)
        except ValueError:
            continue
        out.append(n)
        masks.append(m)
        kept.append(fib)
    return np.array(out, np.float32), np.array(masks, np.float32), np.array(kept)


def sdss_survey(folder, camera: str = "r1", grid: Grid | None = None, progress: bool = True):
    """Homogenise every downloaded spFrame under ``folder`` into one Survey.

    Parameters
    ----------
    folder : path
        A download folder (``karaoke download sdss``): ``<plate>/spFrame-<camera>-<expid>.fits[.gz]``.
        Only the frames are read; their ``spFluxcalib`` (the paper's pseudo-truth, already checked
        against each frame by the downloader) is read with :func:`read_spframe` when evaluating.

    Returns
    -------
    survey : Survey
        ``flux`` (N, 2048) median-normalised, per-spectrum ``mask``; vacuum wavelengths in the
        observatory frame (SDSS frames are not shifted: tellurics at fixed wavelengths, as the
        method needs); meta ``plate``, ``expid``, ``fiber`` and ``star_id`` (plate x 1000 + fibre:
        the exposures of one plate observe the same source through the same fibre).
    failures : list of (file name, reason)
        Frames that could not be used (the batch goes on past them).
    """
    from tqdm.auto import tqdm

    from karaoke.spectra.survey import Survey

    grid = grid or sdss_grid()
    frames = sorted(Path(folder).glob(f"*/spFrame-{camera}-*.fits*"))
    frames = [f for f in frames if re.fullmatch(rf"spFrame-{re.escape(camera)}-\d{{8}}\.fits(\.gz)?", f.name)]
    flux, masks, meta, failures = [], [], {k: [] for k in ("plate", "expid", "fiber", "star_id")}, []
    for f in tqdm(frames, desc="SDSS frames", disable=not progress):
        try:
            fr = read_spframe(f)
        except SpectrumError as exc:
            failures.append((f.name, exc.reason))
            continue
        fl, m, kept = homogenise(fr, grid)
        if len(kept) == 0:
            failures.append((f.name, "no fibre with a usable (positive-median) spectrum"))
            continue
        plate, expid = int(f.parent.name), int(f.name.split("-")[2].split(".")[0])
        flux.append(fl)
        masks.append(m)
        meta["plate"] += [plate] * len(kept)
        meta["expid"] += [expid] * len(kept)
        meta["fiber"] += [int(k) for k in kept]
        meta["star_id"] += [plate * 1000 + int(k) for k in kept]
    if not flux:
        raise ValueError(f"{folder}: no usable spFrame-{camera} file ({len(failures)} failed)")
    surv = Survey(
        wave=grid.wave,
        flux=np.concatenate(flux),
        mask=np.concatenate(masks),
        meta={k: np.asarray(v, np.int64) for k, v in meta.items()},
        frame="topocentric",
        medium="vacuum",
        attrs={"source": "SDSS spFrame", "camera": camera, "normalised": True},
    )
    return surv, failures
