"""Apply a trained network to observed FITS spectra and write FITS products.

For each file: read (ADP / s1d / ESPRESSO S1D) -> regrid onto the model's grid (air) with its
artifact mask -> median-normalise -> barycentric to topocentric (``V{x, -BERV}``) ->
reconstruct (z = mu) -> telluric estimate ``T^ = input / reconstruction``. The product holds
both frames. A bad file is reported and skipped; the rest go on.
"""
from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .grid import Grid, NoiseLikeSpectrum, doppler_shift, harps_grid
from .io import SpectrumError, read_spectrum
from .prepare import prepare_observation


def model_grid(model) -> Grid:
    """The wavelength grid a loaded model works on (from its checkpoint, or the HARPS grid for
    the authors' 327680-px network)."""
    meta = getattr(model, "checkpoint_meta", {}) or {}
    if "grid" in meta:
        return Grid(**meta["grid"])
    if model.config.n_pixels == 327680:
        return harps_grid()
    raise ValueError("cannot tell the model's wavelength grid: its checkpoint has no 'grid' entry")


@dataclass
class CleanResult:
    source: str
    status: str  # "ok" or "failed"
    reason: str = ""
    product: str = ""


def _write_product(path: Path, spec, grid, flux, mask, recon, berv, model_label, source):
    from astropy.io import fits

    tell = np.where((mask > 0) & (np.abs(recon) > 1e-3), flux / np.where(np.abs(recon) > 1e-3, recon, 1.0), 1.0)
    cols = [fits.Column("WAVE", "D", unit="Angstrom", array=grid.wave),
            fits.Column("FLUX", "E", array=flux), fits.Column("RECON", "E", array=recon),
            fits.Column("TELLURIC", "E", array=tell.astype(np.float32)),
            fits.Column("MASK", "B", array=mask.astype(np.uint8))]
    topo = fits.BinTableHDU.from_columns(cols, name="TOPOCENTRIC")
    bary_recon = doppler_shift(grid.wave, recon, berv)
    bary_tell = doppler_shift(grid.wave, tell, berv, fill=1.0)
    bary_flux = doppler_shift(grid.wave, flux, berv)
    bcols = [fits.Column("WAVE", "D", unit="Angstrom", array=grid.wave),
             fits.Column("FLUX", "E", array=bary_flux.astype(np.float32)),
             fits.Column("RECON", "E", array=bary_recon.astype(np.float32)),
             fits.Column("TELLURIC", "E", array=bary_tell.astype(np.float32))]
    bary = fits.BinTableHDU.from_columns(bcols, name="BARYCENTRIC")
    hdr = fits.Header()
    hdr["ORIGIN"] = ("karaoke", "Stellar Karaoke telluric removal")
    hdr["KARAOKEV"] = (__version__, "karaoke version")
    hdr["MODEL"] = (str(model_label)[-68:], "network used")
    hdr["SOURCE"] = (str(source)[-68:], "input file")
    hdr["OBJECT"] = spec.object
    hdr["BERV"] = (float(berv), "km/s, barycentric Earth radial velocity")
    hdr["AIRMASS"] = (spec.airmass if np.isfinite(spec.airmass) else -1.0, "mean airmass (-1: unknown)")
    hdr["MEDIUM"] = ("air", "wavelength medium")
    hdr["COMMENT"] = "FLUX: median-normalised input; RECON: network reconstruction (telluric-free)"
    hdr["COMMENT"] = "TELLURIC: FLUX / RECON; TOPOCENTRIC ext: tellurics at rest; BARYCENTRIC: shifted by +BERV"
    hdul = fits.HDUList([fits.PrimaryHDU(header=hdr), topo, bary])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        hdul.writeto(tmp, overwrite=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def clean_files(model, files, out_dir, batch_size: int = 8, progress: bool = True) -> list[CleanResult]:
    """Clean FITS spectra with ``model`` (from :func:`karaoke.load_model`); write
    ``OUT/<name>_karaoke.fits`` per file and ``OUT/clean_report.csv``. Never stops on a bad file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grid = model_grid(model)
    label = getattr(model, "checkpoint_path", "model")
    results = []
    for f in tqdm(list(files), desc="clean", disable=not progress):
        f = Path(f)
        try:
            spec = read_spectrum(f)
            flux, mask, _ = prepare_observation(spec, grid, min_coverage=0.05)
            recon = model.reconstruct(flux[None], batch_size=batch_size)[0]
            product = out / (f.name.removesuffix(".fits").removesuffix(".fit") + "_karaoke.fits")
            _write_product(product, spec, grid, flux, mask, recon, spec.berv if np.isfinite(spec.berv) else 0.0,
                           label, f.name)
            results.append(CleanResult(str(f), "ok", "", str(product)))
        except SpectrumError as exc:
            results.append(CleanResult(str(f), "failed", str(exc)))
        except (NoiseLikeSpectrum, ValueError) as exc:
            results.append(CleanResult(str(f), "failed", f"{f}: {exc}"))
    with open(out / "clean_report.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["source", "status", "reason", "product"])
        for r in results:
            w.writerow([r.source, r.status, r.reason, r.product])
    return results
