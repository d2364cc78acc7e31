"""Reading observed 1D spectra: :func:`read_spectrum` over the format readers of
:mod:`karaoke.spectra.formats` (ESO Phase-3 ADP 1D, ESPRESSO S1D, HARPS DRS ``s1d``), with the
checks, metadata and BERV common to all of them.

Every reader returns a :class:`Spectrum` or raises :class:`SpectrumError` naming the file and
the reason (missing, not FITS, truncated, empty, NaN-only, unexpected layout, wrong range).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from karaoke.spectra import formats
from karaoke.spectra.fitsfile import SpectrumError

#: ``warnings.catch_warnings`` changes process-wide filters; readers running in threads (the
#: download pool verifies files that way) take turns, so that one's filters never leak into
#: another's or outlive it.
_WARNINGS_LOCK = threading.RLock()

#: Plausible wavelength range (Angstrom) for an optical 1D spectrum; outside it a file is
#: taken to be in the wrong unit or corrupt.
PLAUSIBLE_RANGE = (3000.0, 12000.0)


@dataclass
class Spectrum:
    """One observed 1D spectrum.

    Attributes
    ----------
    wave : ndarray, shape (M,), float64
        Wavelengths in Angstrom, strictly increasing, in ``medium`` and ``frame``.
    flux : ndarray, shape (M,), float64
        Flux (ADP: erg/s/cm2/A-like units; s1d: relative flux).
    err : ndarray, shape (M,) or None
        1-sigma uncertainty (None where the file has none or only NaN).
    berv : float
        Barycentric Earth radial velocity (km/s), from the instrument's keyword
        (:data:`BERV_KEYWORDS`; ``meta['berv_source']`` names it).
    frame : str
        ``"barycentric"`` or ``"topocentric"``.
    medium : str
        ``"air"`` or ``"vacuum"``.
    meta : dict
        ``object``, ``instrument``, ``date_obs``, ``mjd_obs``, ``airmass``, ``exptime``,
        ``source`` (file name), ``path`` (absolute), ``kind``, ``berv_source`` (keyword),
        ``flux_unit`` (as the file states it; empty if it states none).
    """

    wave: np.ndarray
    flux: np.ndarray
    err: np.ndarray | None = None
    berv: float = float("nan")
    frame: str = "barycentric"
    medium: str = "air"
    meta: dict = field(default_factory=dict)

    @property
    def object(self) -> str:
        return str(self.meta.get("object", ""))

    @property
    def airmass(self) -> float:
        return float(self.meta.get("airmass", float("nan")))


#: |BERV| can reach about 30.3 km/s (Earth's orbit 29.8 plus rotation 0.46); beyond this bound a
#: value is taken to be corrupt or in the wrong unit (m/s).
MAX_ABS_BERV = 35.0

#: Barycentric Earth radial velocity keywords (km/s), by instrument (``INSTRUME``), in the order
#: tried: the DRS of HARPS and HARPS-N, ESPRESSO's QC value.
BERV_KEYWORDS = {
    "HARPS": ("HIERARCH ESO DRS BERV",),
    "HARPN": ("HIERARCH TNG DRS BERV", "HIERARCH TNG QC BERV"),
    "ESPRESSO": ("HIERARCH ESO QC BERV",),
}
#: Tried for any instrument not listed above (or a file without ``INSTRUME``).
BERV_FALLBACK = ("HIERARCH ESO DRS BERV", "HIERARCH ESO QC BERV", "HIERARCH TNG DRS BERV", "HIERARCH TNG QC BERV")


def header_berv(header, path) -> tuple[float, str]:
    """The BERV (km/s) a header states and the keyword it came from.

    The instrument's own keyword is read (:data:`BERV_KEYWORDS`); a value that is present but
    not a finite number, or beyond :data:`MAX_ABS_BERV`, is an error, never a silent 0.

    Returns
    -------
    berv : float
        km/s; NaN where no BERV keyword is present (the frame cannot be established).
    source : str
        The keyword, or ``""`` where absent.

    Raises
    ------
    SpectrumError
        If the keyword holds something other than a physical velocity.
    """
    inst = str(header.get("INSTRUME", "")).strip().upper().replace("-", "")
    keys = BERV_KEYWORDS.get(inst, ()) + tuple(k for k in BERV_FALLBACK if k not in BERV_KEYWORDS.get(inst, ()))
    for key in keys:
        if key not in header:
            continue
        raw = header[key]
        try:
            if isinstance(raw, bool):
                raise TypeError
            berv = float(raw)
        except (TypeError, ValueError):
            raise SpectrumError(path, f"{key} = {raw!r} is not a number (BERV in km/s)") from None
        check_berv(path, berv, key)
        return berv, key
    return float("nan"), ""


def check_berv(path, berv: float, source: str) -> float:
    """Raise SpectrumError unless ``berv`` (km/s) is finite and ``|berv| <= MAX_ABS_BERV``."""
    if not np.isfinite(berv) or abs(berv) > MAX_ABS_BERV:
        raise SpectrumError(
            path,
            f"BERV {berv:g} km/s ({source}) is impossible: |BERV| <= {MAX_ABS_BERV:g} km/s "
            "on Earth (corrupt header or wrong unit)",
        )
    return float(berv)


def _header_airmass(header) -> float:
    """Mean of the start/end airmass (``ESO TEL`` or, on ESPRESSO, ``ESO TELn`` of the unit
    telescope used), else ``AIRMASS``; NaN where none is given."""

    def num(key):
        try:
            v = float(header[key])
        except (KeyError, TypeError, ValueError):
            return float("nan")
        return v if np.isfinite(v) and v >= 1.0 - 1e-6 else float("nan")

    for tel in ("TEL",) + tuple(f"TEL{i}" for i in range(1, 5)):
        a = [num(f"HIERARCH ESO {tel} AIRM START"), num(f"HIERARCH ESO {tel} AIRM END")]
        if np.isfinite(a).any():
            return float(np.nanmean(a))
    return num("AIRMASS")


def _header_meta(header, path, kind) -> dict:
    def num(key):
        try:
            return float(header[key])
        except (KeyError, TypeError, ValueError):
            return float("nan")

    return {
        "object": str(header.get("OBJECT", "")).strip(),
        "instrument": str(header.get("INSTRUME", "")).strip(),
        "date_obs": str(header.get("DATE-OBS", "")),
        "mjd_obs": num("MJD-OBS"),
        "airmass": _header_airmass(header),
        "exptime": num("EXPTIME"),
        "humidity": num("HIERARCH ESO TEL AMBI RHUM"),
        "source": Path(path).name,
        "path": str(Path(path).resolve()),
        "kind": kind,
        "flux_unit": str(header.get("KFLUXUNI", "")).strip(),
    }


def _validate(path, wave, flux, require_range=None):
    if wave.size == 0 or flux.size == 0:
        raise SpectrumError(path, "empty spectrum (no pixels)")
    if wave.shape != flux.shape:
        raise SpectrumError(path, f"WAVE and FLUX differ in length ({wave.size} vs {flux.size})")
    if not np.isfinite(flux).any():
        raise SpectrumError(path, "flux is NaN/inf everywhere")
    if not np.isfinite(wave).all():
        raise SpectrumError(path, "wavelength array contains NaN/inf")
    if np.any(np.diff(wave) <= 0):
        raise SpectrumError(path, "wavelengths are not strictly increasing")
    lo, hi = PLAUSIBLE_RANGE
    if wave[0] < lo or wave[-1] > hi:
        raise SpectrumError(
            path,
            f"wavelength range {wave[0]:.6g}-{wave[-1]:.6g} is outside the "
            f"plausible optical range {lo:g}-{hi:g} A (wrong unit or corrupt)",
        )
    if require_range is not None:
        rlo, rhi = require_range
        if wave[0] > rlo or wave[-1] < rhi:
            raise SpectrumError(path, f"covers {wave[0]:.2f}-{wave[-1]:.2f} A, not the required {rlo:.2f}-{rhi:.2f} A")


def read_spectrum(path, require_range=None, berv: float | None = None) -> Spectrum:
    """Read a 1D spectrum: ESO ADP 1D, HARPS/HARPS-N DRS s1d, ESPRESSO S1D, or a HARPS/HARPS-N
    e2ds merged from its orders (with its blaze and wave files beside it).

    Parameters
    ----------
    path : str or Path
    require_range : (float, float), optional
        Wavelength interval (Angstrom) the spectrum must cover entirely.
    berv : float, optional
        BERV (km/s) to use **only** where the file states none (recorded as
        ``meta['berv_source'] = 'user'``); the file's own keyword always wins.

    Returns
    -------
    Spectrum
        Air wavelengths, barycentric as the 1D products deliver them (an e2ds, merged from its
        orders, is in the observatory frame: ``frame = 'topocentric'``).

    Raises
    ------
    SpectrumError
        With the file name and the reason, for any unreadable or unusable file, and for a
        file whose BERV is missing (unless ``berv`` is given), not a number or impossible
        (``|BERV| > MAX_ABS_BERV``).
    """
    from astropy.io import fits

    path = Path(path)
    if not path.exists():
        raise SpectrumError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise SpectrumError(path, "file is empty (0 bytes)")
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():  # the filters are global: one reader at a time
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            warnings.simplefilter("ignore", UserWarning)  # astropy: non-standard or non-ASCII cards
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy: casts of garbage values
            warnings.filterwarnings("error", message=".*truncated.*")
            with fits.open(path, memmap=False) as hdul:
                reader = formats.identify(hdul)
                if reader is None:
                    raise SpectrumError(
                        path,
                        "neither an ESO ADP 1D product (ext 1 with WAVE/FLUX), an ESPRESSO "
                        "S1D table, a HARPS s1d (1-D primary image with CRVAL1/CDELT1) nor "
                        "an e2ds naming its blaze file",
                    )
                wave, flux, err, header = reader.read(hdul, path)
                kind = reader.KIND
    except SpectrumError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError, warnings... for bad files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpectrumError(path, f"not a readable FITS file ({type(exc).__name__}: {reason})") from exc
    _validate(path, wave, flux, require_range)
    if err is not None and not np.isfinite(err).any():
        err = None
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():  # astropy warns on each non-standard card it parses
            warnings.simplefilter("ignore")
            meta = _header_meta(header, path, kind)
            berv_value, source = header_berv(header, path)
    except SpectrumError:
        raise
    except Exception as exc:  # a corrupt header card fails only when it is parsed
        raise SpectrumError(path, f"unreadable header ({type(exc).__name__}: {exc})") from exc
    if not np.isfinite(berv_value) and berv is not None:
        berv_value, source = check_berv(path, float(berv), "given by the user"), "user"
    if not np.isfinite(berv_value):
        raise SpectrumError(
            path,
            "no BERV keyword (tried " + ", ".join(BERV_FALLBACK) + "): the barycentric "
            "frame cannot be moved to the topocentric one; give the BERV explicitly "
            "(karaoke clean/prepare --assume-berv KMS)",
        )
    meta["berv_source"] = source
    frame = str(header.get("KFRAME", "barycentric"))  # e2ds: the observatory frame
    return Spectrum(wave=wave, flux=flux, err=err, berv=berv_value, frame=frame, medium="air", meta=meta)


def _spectrum_layout(path: Path) -> str | None:
    """From the headers alone: None if ``path`` looks like a 1-D spectrum this module reads (or
    cannot be judged, e.g. corrupt: the reader will report it), else what it is instead."""
    from astropy.io import fits

    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=True, lazy_load_hdus=True) as hdul:
                h0 = hdul[0].header
                naxis = int(h0.get("NAXIS", 0))
                if naxis == 1 and "CRVAL1" in h0 and "CDELT1" in h0:
                    return None  # HARPS DRS s1d
                if naxis == 2 and formats.e2ds.identify(hdul):
                    return None  # an e2ds that names its blaze and wave files
                if naxis >= 2:
                    dims = "x".join(str(h0.get(f"NAXIS{i}", "?")) for i in range(1, naxis + 1))
                    return f"{dims} image (e.g. an e2ds, wave or blaze product), not a 1-D spectrum"
                if len(hdul) > 1 and isinstance(hdul[1], fits.BinTableHDU):
                    cols = {c.upper() for c in hdul[1].columns.names}
                    if "FLUX" in cols and cols & {"WAVE", "WAVELENGTH_AIR"}:
                        return None  # ESO ADP 1D / ESPRESSO S1D
                    return f"table without WAVE/FLUX columns ({', '.join(sorted(cols)[:6])})"
                return None
    except Exception:
        return None


def find_spectra(paths, recursive: bool = False) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The 1-D spectra among files and folders (``*.fits``, ``*.fits.gz``), by their headers.

    HARPS DRS folders also hold e2ds, wave and blaze images, and archives hold tables of other
    kinds; those are set aside with the reason. A file that cannot be judged (corrupt,
    truncated) is kept, so that :func:`read_spectrum` reports what is wrong with it.

    Parameters
    ----------
    paths : path or sequence of paths
        Files and/or folders.
    recursive : bool
        Also search sub-folders.

    Returns
    -------
    spectra : list of Path, sorted
    others : list of (Path, reason)
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            pattern = "**/*" if recursive else "*"
            files += [
                f for f in p.glob(pattern) if f.is_file() and f.name.lower().endswith((".fits", ".fits.gz", ".fit"))
            ]
        else:
            files.append(p)
    spectra, others = [], []
    for f in sorted(set(files)):
        why = _spectrum_layout(f) if f.exists() else None
        (spectra.append(f) if why is None else others.append((f, why)))
    return spectra, others
