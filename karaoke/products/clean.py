"""Apply a trained network to observed FITS spectra and write FITS products.

For each file: read (ADP / s1d / ESPRESSO S1D) -> regrid onto the model's grid (air) with its
artifact mask -> median-normalise -> barycentric to topocentric (``V{x, -BERV}``) ->
reconstruct (z = mu) -> telluric estimate ``T^ = input / reconstruction``. The product holds
both frames. A bad file is reported and skipped; the rest go on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from karaoke import __version__
from karaoke._atomic import atomic_path, check_output_dir, write_csv
from karaoke.spectra.grid import Grid, NoiseLikeSpectrum, doppler_shift, harps_grid
from karaoke.spectra.io import SpectrumError, read_spectrum
from karaoke.archive.prepare import prepare_observation


def model_grid(model) -> Grid:
    """The wavelength grid a loaded model works on (from its checkpoint, or the HARPS grid for
    the authors' 327680-px network)."""
    meta = getattr(model, "checkpoint_meta", {}) or {}
    if "grid" in meta:
        return Grid(**meta["grid"])
    if model.config.n_pixels == 327680:
        return harps_grid()
    raise ValueError("cannot tell the model's wavelength grid: its checkpoint has no 'grid' entry")


def check_survey_matches_model(survey, model, where="survey"):
    """Raise ValueError unless ``survey`` is on the model's grid, frame and medium.

    The model's grid, frame and medium come from its checkpoint (the authors' network: the
    327680-px HARPS grid, topocentric, air). A grid of the same length but other wavelengths
    (e.g. shifted by 500 A) is refused, as is a barycentric or vacuum survey.
    """
    grid = model_grid(model)
    meta = getattr(model, "checkpoint_meta", {}) or {}
    if survey.n_pixels != grid.n:
        raise ValueError(f"{where}: {survey.n_pixels} pixels, the model expects {grid.n}")
    tol = 1e-3 * grid.step
    if abs(survey.wave[0] - grid.start) > tol or abs(survey.wave[-1] - grid.stop) > tol:
        raise ValueError(f"{where}: wavelengths {survey.wave[0]:.3f}-{survey.wave[-1]:.3f} A, but the model was "
                         f"trained on {grid.start:.3f}-{grid.stop:.3f} A")
    frame, medium = meta.get("frame", "topocentric"), meta.get("medium", "air")
    if survey.frame != frame:
        raise ValueError(f"{where}: spectra in the {survey.frame} frame, the model works on {frame} spectra "
                         "(tellurics at rest); shift them first")
    if survey.medium != medium:
        raise ValueError(f"{where}: {survey.medium} wavelengths, the model works in {medium}")


#: QUAL bits of a product pixel (0: good).
QUAL_NO_DATA = 1      #: no usable input: outside the spectrum, padding, gap, dead pixels (TELLURIC set to 1)
QUAL_GUARD = 2        #: guard band of a whitened network: the input is passed through, no correction
QUAL_T_RANGE = 4      #: TELLURIC outside its physical range [0, T_MAX]
#: Largest TELLURIC value taken as physical (noise on a continuum pixel); above it QUAL_T_RANGE.
T_MAX = 1.1


@dataclass
class CleanResult:
    source: str
    status: str  # "ok" or "failed"
    reason: str = ""
    product: str = ""


def product_names(files) -> dict:
    """One product file name per input, never two the same: ``<stem>_karaoke.fits``, or for
    inputs that share a file name, the stem prefixed by as many parent folders as needed to tell
    them apart (``n1_spec_karaoke.fits``, ``n2_spec_karaoke.fits``).

    Parameters
    ----------
    files : sequence of path

    Returns
    -------
    dict
        ``{Path(input): product file name}``.
    """
    import os

    files = [Path(f) for f in files]
    stem = (lambda f: f.name.removesuffix(".gz").removesuffix(".fits").removesuffix(".fit"))
    groups = {}
    for f in files:
        groups.setdefault(stem(f), set()).add(f.resolve())
    names = {}
    for f in files:
        same = groups[stem(f)]
        if len(same) == 1:
            names[f] = f"{stem(f)}_karaoke.fits"
        else:  # the folders below the clashing files' common folder tell them apart
            rel = f.resolve().parent.relative_to(os.path.commonpath([p.parent for p in same]))
            in_folder = sum(p.parent == f.resolve().parent for p in same)
            last = stem(f) if in_folder == 1 else f.name.replace(".", "_")  # spec.fits beside spec.fits.gz
            names[f] = "_".join(rel.parts + (last,)) + "_karaoke.fits"
    return names


def _write_product(path: Path, spec, grid, flux, mask, recon, guard, model_label, model_meta, source):
    from astropy.io import fits

    berv = float(spec.berv)
    valid = (mask > 0) & (np.abs(recon) > 1e-3)
    tell = np.where(valid, flux / np.where(valid, recon, 1.0), 1.0)
    qual = np.where(mask > 0, 0, QUAL_NO_DATA).astype(np.int16)
    if guard is not None:
        qual |= np.where(np.asarray(guard) > 0, 0, QUAL_GUARD).astype(np.int16)
    qual |= np.where(valid & ((tell < 0) | (tell > T_MAX)), QUAL_T_RANGE, 0).astype(np.int16)
    cols = [fits.Column("WAVE", "D", unit="Angstrom", array=grid.wave),
            fits.Column("FLUX", "E", unit="", array=flux), fits.Column("RECON", "E", unit="", array=recon),
            fits.Column("TELLURIC", "E", unit="", array=tell.astype(np.float32)),
            fits.Column("MASK", "B", array=mask.astype(np.uint8)),
            fits.Column("QUAL", "I", array=qual)]
    topo = fits.BinTableHDU.from_columns(cols, name="TOPOCENTRIC")
    topo.header["SPECSYS"] = ("TOPOCENT", "frame of WAVE: tellurics at rest")
    bary_recon = doppler_shift(grid.wave, recon, berv)
    bary_tell = doppler_shift(grid.wave, tell, berv, fill=1.0)
    bary_flux = doppler_shift(grid.wave, flux, berv)
    bary_qual = np.rint(doppler_shift(grid.wave, qual.astype(np.float64), berv, fill=QUAL_NO_DATA)).astype(np.int16)
    bcols = [fits.Column("WAVE", "D", unit="Angstrom", array=grid.wave),
             fits.Column("FLUX", "E", unit="", array=bary_flux.astype(np.float32)),
             fits.Column("RECON", "E", unit="", array=bary_recon.astype(np.float32)),
             fits.Column("TELLURIC", "E", unit="", array=bary_tell.astype(np.float32)),
             fits.Column("QUAL", "I", array=bary_qual)]
    bary = fits.BinTableHDU.from_columns(bcols, name="BARYCENTRIC")
    bary.header["SPECSYS"] = ("BARYCENT", "frame of WAVE: stellar lines at rest")
    hdr = fits.Header()
    hdr["ORIGIN"] = ("karaoke", "Stellar Karaoke telluric removal")
    hdr["KARAOKEV"] = (__version__, "karaoke version")
    hdr["MODEL"] = str(model_label)  # network used (long values continue on CONTINUE cards)
    if model_meta.get("partial"):
        hdr["PARTIAL"] = (True, f"network only partly trained (epoch {model_meta.get('epoch')})")
    hdr["SOURCE"] = str(source)  # input file
    hdr["OBJECT"] = spec.object
    hdr["INSTRUME"] = spec.meta.get("instrument", "")
    hdr["DATE-OBS"] = spec.meta.get("date_obs", "")
    mjd = spec.meta.get("mjd_obs", float("nan"))
    if np.isfinite(mjd):
        hdr["MJD-OBS"] = (float(mjd), "from the input")
    hdr["BERV"] = (berv, "km/s, barycentric Earth radial velocity")
    hdr["BERVSRC"] = (str(spec.meta.get("berv_source", ""))[-40:], "source of BERV")
    hdr["AIRMASS"] = (spec.airmass if np.isfinite(spec.airmass) else -1.0, "mean airmass (-1: unknown)")
    hdr["MEDIUM"] = ("air", "wavelength medium")
    hdr["COMMENT"] = "FLUX: median-normalised input; RECON: network reconstruction (telluric-free)"
    hdr["COMMENT"] = "TELLURIC: FLUX / RECON; TOPOCENTRIC ext: tellurics at rest; BARYCENTRIC: shifted by +BERV"
    hdr["COMMENT"] = (f"QUAL bits: {QUAL_NO_DATA} no data (TELLURIC=1), {QUAL_GUARD} guard band (no correction), "
                      f"{QUAL_T_RANGE} TELLURIC outside [0, {T_MAX}]")
    hdul = fits.HDUList([fits.PrimaryHDU(header=hdr), topo, bary])
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True)


def clean_files(model, files, out_dir, batch_size: int = 8, progress: bool = True,
                assume_berv: float | None = None) -> list[CleanResult]:
    """Clean FITS spectra with ``model`` (from :func:`karaoke.load_model`).

    Writes one product per input (names from :func:`product_names`: inputs that share a file
    name do not overwrite each other) and ``OUT/clean_report.csv``. Never stops on a bad file:
    an unreadable input, a spectrum without a usable BERV or coverage, or a product that
    cannot be written is reported with its reason.

    Parameters
    ----------
    model : Karaoke
        A trained network; its grid, frame (topocentric) and medium (air) fix the products'.
    files : sequence of path
        1-D FITS spectra (barycentric, air), any format :func:`karaoke.spectra.io.read_spectrum` reads.
    out_dir : path
        Folder for the products and ``clean_report.csv`` (created).
    batch_size : int
        Spectra reconstructed at once.
    progress : bool
        Show a progress bar.
    assume_berv : float, optional
        BERV (km/s) for inputs whose header states none (recorded as ``BERVSRC = 'user'``).

    Raises
    ------
    OutputError
        If ``out_dir`` cannot be created or written (before any file is read).
    """
    out = check_output_dir(out_dir)
    grid = model_grid(model)
    label = getattr(model, "checkpoint_path", "model")
    meta = getattr(model, "checkpoint_meta", {}) or {}
    files = [Path(f) for f in files]
    names = product_names(files)
    results = []
    for f in tqdm(files, desc="clean", disable=not progress):
        try:
            spec = read_spectrum(f, berv=assume_berv)
            flux, mask, _ = prepare_observation(spec, grid, min_coverage=0.05)
            recon = model.reconstruct(flux[None], batch_size=batch_size)[0]
            product = out / names[f]
            _write_product(product, spec, grid, flux, mask, recon, model.input_guard, label, meta, str(f.resolve()))
            results.append(CleanResult(str(f), "ok", "", str(product)))
        except SpectrumError as exc:
            results.append(CleanResult(str(f), "failed", str(exc)))
        except (NoiseLikeSpectrum, ValueError) as exc:
            results.append(CleanResult(str(f), "failed", f"{f}: {exc}"))
        except OSError as exc:  # the product could not be written (disk full, permissions)
            results.append(CleanResult(str(f), "failed", f"{f}: cannot write the product ({exc})"))
    write_csv(out / "clean_report.csv", [r.__dict__ for r in results],
              fieldnames=["source", "status", "reason", "product"])
    return results
