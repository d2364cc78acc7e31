"""Apply a trained network to observed FITS spectra and write FITS products.

For each file: read (ADP / s1d / ESPRESSO S1D) -> regrid onto the model's grid (air) with its
artifact mask -> median-normalise -> barycentric to topocentric (``V{x, -BERV}``) ->
K reconstructions from the posterior -> telluric estimate ``T = input / reconstruction`` with
its uncertainty (:mod:`karaoke.products.uncertainty`). The product holds both frames, in the
input's flux unit, with provenance. A bad file is reported and skipped; the rest go on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from karaoke import __version__
from karaoke._atomic import atomic_path, check_output_dir, sha256sum, write_csv
from karaoke.archive.prepare import prepare_observation
from karaoke.spectra.grid import Grid, NoiseLikeSpectrum, doppler_shift, harps_grid, regrid
from karaoke.spectra.io import SpectrumError, read_spectrum


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
        raise ValueError(
            f"{where}: wavelengths {survey.wave[0]:.3f}-{survey.wave[-1]:.3f} A, but the model was "
            f"trained on {grid.start:.3f}-{grid.stop:.3f} A"
        )
    frame, medium = meta.get("frame", "topocentric"), meta.get("medium", "air")
    if survey.frame != frame:
        raise ValueError(
            f"{where}: spectra in the {survey.frame} frame, the model works on {frame} spectra "
            "(tellurics at rest); shift them first"
        )
    if survey.medium != medium:
        raise ValueError(f"{where}: {survey.medium} wavelengths, the model works in {medium}")


#: QUAL bits of a product pixel (0: good).
QUAL_NO_DATA = 1  #: no usable input: outside the spectrum, padding, gap, dead pixels (TELLURIC set to 1)
QUAL_GUARD = 2  #: guard band of a whitened network: the input is passed through, no correction
QUAL_T_RANGE = 4  #: TELLURIC outside its physical range [0, T_MAX]
QUAL_POOR = 8  #: poor reconstruction: posterior spread above POOR_RECON of the reconstruction
#: Posterior spread (fraction of the reconstruction) above which a pixel is flagged QUAL_POOR.
POOR_RECON = 0.05
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

    def stem(f):
        return f.name.removesuffix(".gz").removesuffix(".fits").removesuffix(".fit")

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


def flux_unit(spec) -> tuple[str, str]:
    """The FITS unit string for a spectrum's flux, and where it came from.

    The file's own unit where astropy reads it as a unit (ESO ADP: ``adu``); the DRS 1D files
    state none (ESPRESSO S1D) or ``Relative Flux`` (HARPS s1d): their flux is detector counts
    corrected for the blaze, written as ``adu``.

    Parameters
    ----------
    spec : Spectrum
    """
    import astropy.units as u

    raw = str(spec.meta.get("flux_unit", "")).strip()
    try:
        unit = u.Unit(raw) if raw else None
    except ValueError:
        unit = None
    if unit is not None and unit != u.dimensionless_unscaled:
        return unit.to_string("fits"), "input"
    return "adu", f"assumed (the input states {raw!r})" if raw else "assumed (the input states none)"


def scatter_error(flux, valid) -> np.ndarray:
    """Per-pixel 1-sigma noise of a normalised spectrum that comes without errors, from its
    pixel-to-pixel scatter: ``sigma0 * sqrt(flux)`` (photon noise), with ``sigma0`` from the
    median absolute second difference of the valid pixels.

    Parameters
    ----------
    flux : ndarray, shape (L,)
        Median-normalised flux.
    valid : ndarray of bool, shape (L,)
    """
    x = np.asarray(flux, np.float64)
    ok = valid[:-2] & valid[1:-1] & valid[2:]
    d2 = (x[:-2] - 2 * x[1:-1] + x[2:])[ok]
    sigma0 = 1.4826 * float(np.median(np.abs(d2))) / np.sqrt(6.0) if d2.size else 0.0
    return np.where(valid, sigma0 * np.sqrt(np.clip(x, 0.0, None)), 0.0)


def model_file(model) -> Path | None:
    """The file a loaded model was read from (a run folder's ``model.pt``), or None."""
    path = Path(str(getattr(model, "checkpoint_path", "")))
    if path.is_dir():
        path = path / "model.pt"
    return path.resolve() if path.is_file() else None


def uncertainty_scale(model) -> tuple[float, str]:
    """The calibration factor of TELLURIC_ERR stored beside the network (``uncertainty.json``,
    written by ``benchmarks/uncertainty.py``), or 1 with the reason it is uncalibrated.

    Parameters
    ----------
    model : Karaoke
    """
    import json

    path = model_file(model)
    cal = path.parent / "uncertainty.json" if path is not None else None
    if cal is not None and cal.exists():
        try:
            d = json.loads(cal.read_text())
            return float(d["scale"]), f"{cal.name}: {d.get('calibrated_on', 'calibrated')}"
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{cal}: not a readable calibration ({exc})") from exc
    return 1.0, "none (posterior spread and flux error as they are)"


#: Columns of a product extension: name, FITS format, and whether it carries the flux unit.
PRODUCT_COLUMNS = (
    ("WAVE", "D", None),
    ("FLUX", "E", True),
    ("ERR", "E", True),
    ("RECON", "E", True),
    ("TELLURIC", "E", False),
    ("TELLURIC_ERR", "E", False),
    ("FLUX_CORR", "E", True),
    ("ERR_CORR", "E", True),
    ("QUAL", "I", False),
)


#: What each product column holds (the TTYPE comments). TELLURIC, TELLURIC_ERR and QUAL are
#: dimensionless (no TUNIT); the others carry the flux unit or Angstrom.
COLUMN_DOC = {
    "WAVE": "air wavelength",
    "FLUX": "input flux",
    "ERR": "1-sigma error of FLUX",
    "RECON": "telluric-free reconstruction",
    "TELLURIC": "transmission FLUX/RECON (dimensionless)",
    "TELLURIC_ERR": "1-sigma error of TELLURIC (dimensionless)",
    "FLUX_CORR": "FLUX/TELLURIC",
    "ERR_CORR": "1-sigma error of FLUX_CORR",
    "QUAL": "bit flags, 0 good (see primary header)",
}


def product_arrays(flux, err, mask, samples, guard=None, err_scale: float = 1.0) -> dict:
    """The product's columns in the network's (topocentric) frame, normalised flux units.

    Parameters
    ----------
    flux, err : ndarray, shape (L,)
        Median-normalised flux and its 1-sigma error.
    mask : ndarray, shape (L,)
        1 where the input has data.
    samples : ndarray, shape (K, L)
        Posterior reconstructions (:meth:`karaoke.nn.model.Karaoke.reconstruct_samples`).
    guard : ndarray, shape (L,), optional
        The network's input guard (0: the input is passed through).
    err_scale : float
        Calibration factor of the telluric uncertainty (:func:`uncertainty_scale`).

    Returns
    -------
    dict of ndarray, shape (L,)
        FLUX, ERR, RECON, TELLURIC (1 where there is no data), TELLURIC_ERR, FLUX_CORR
        (``FLUX / TELLURIC``, the reconstruction where there is data), ERR_CORR and QUAL.
    """
    from karaoke.products.uncertainty import telluric_estimate

    have = np.asarray(mask) > 0
    est = telluric_estimate(flux[None], err[None], samples[:, None, :], have[None])  # one spectrum: (1, L)
    recon, tell = est["recon"][0], est["telluric"][0]
    valid = have & (np.abs(recon) > 1e-3)
    tell_err = err_scale * est["telluric_err"][0]
    qual = np.where(have, 0, QUAL_NO_DATA).astype(np.int16)
    if guard is not None:
        qual |= np.where(np.asarray(guard) > 0, 0, QUAL_GUARD).astype(np.int16)
    qual |= np.where(valid & ((tell < 0) | (tell > T_MAX)), QUAL_T_RANGE, 0).astype(np.int16)
    spread = est["recon_err"][0]
    qual |= np.where(valid & (spread > POOR_RECON * np.abs(recon)), QUAL_POOR, 0).astype(np.int16)
    corr = np.where(valid, flux / np.where(valid, tell, 1.0), flux)
    corr_err = np.where(valid, err_scale * spread, err)
    return {
        "FLUX": flux,
        "ERR": err,
        "RECON": recon,
        "TELLURIC": np.where(valid, tell, 1.0),
        "TELLURIC_ERR": np.where(valid, tell_err, 0.0),
        "FLUX_CORR": corr,
        "ERR_CORR": corr_err,
        "QUAL": qual,
    }


def _table(grid, cols: dict, unit: str, name: str, specsys: str, comment: str):
    from astropy.io import fits

    fcols = [fits.Column("WAVE", "D", unit="Angstrom", array=grid.wave)]
    for key, fmt, has_unit in PRODUCT_COLUMNS[1:]:
        a = cols[key]
        fcols.append(
            fits.Column(key, fmt, unit=unit if has_unit else "", array=a.astype(np.int16 if fmt == "I" else np.float32))
        )
    hdu = fits.BinTableHDU.from_columns(fcols, name=name)
    for i, (key, _, _) in enumerate(PRODUCT_COLUMNS, start=1):
        hdu.header.comments[f"TTYPE{i}"] = COLUMN_DOC[key]
    hdu.header["SPECSYS"] = (specsys, comment)
    hdu.header["AIRORVAC"] = ("air", "wavelength medium of WAVE")
    return hdu


def _shift(cols: dict, grid, berv: float) -> dict:
    """The columns moved from the topocentric to the barycentric frame (by +BERV); each QUAL bit
    is moved on its own (a pixel touched by a flagged one keeps the flag)."""
    out = {}
    for key, a in cols.items():
        if key == "QUAL":
            q = np.zeros(grid.n, np.int16)
            for bit in (QUAL_NO_DATA, QUAL_GUARD, QUAL_T_RANGE, QUAL_POOR):
                moved = doppler_shift(
                    grid.wave, ((a & bit) > 0).astype(np.float64), berv, fill=1.0 if bit == QUAL_NO_DATA else 0.0
                )
                q |= np.where(moved > 1e-6, bit, 0).astype(np.int16)
            out[key] = q
        else:
            out[key] = doppler_shift(grid.wave, np.asarray(a, np.float64), berv, fill=1.0 if key == "TELLURIC" else 0.0)
    return out


def _write_product(
    path: Path, spec, grid, cols: dict, median: float, model_meta: dict, provenance: dict, ecsv: bool = False
):
    from astropy.io import fits

    berv = float(spec.berv)
    unit, unit_src = flux_unit(spec)
    scaled = {k: cols[k] * median if has_unit else cols[k] for k, _, has_unit in PRODUCT_COLUMNS[1:]}
    bary = _shift(scaled, grid, berv)
    spectrum = _table(grid, bary, unit, "SPECTRUM", "BARYCENT", "frame of WAVE: stellar lines at rest")
    topo = _table(grid, scaled, unit, "TOPOCENTRIC", "TOPOCENT", "frame of WAVE: tellurics at rest")
    hdr = fits.Header()
    hdr["ORIGIN"] = ("karaoke", "Stellar Karaoke telluric removal")
    hdr["KARAOKEV"] = (__version__, "karaoke version")
    for key, name in (
        ("MODEL", "model"),
        ("MODELSHA", "model_sha256"),
        ("TRAINCFG", "train_config"),
        ("SOURCE", "source"),
        ("SRCSHA", "source_sha256"),
    ):
        hdr[key] = str(provenance[name])  # long values continue on CONTINUE cards
    if model_meta.get("partial"):
        hdr["PARTIAL"] = (True, f"network only partly trained (epoch {model_meta.get('epoch')})")
    hdr["OBJECT"] = spec.object
    hdr["INSTRUME"] = spec.meta.get("instrument", "")
    hdr["DATE-OBS"] = spec.meta.get("date_obs", "")
    mjd = spec.meta.get("mjd_obs", float("nan"))
    if np.isfinite(mjd):
        hdr["MJD-OBS"] = (float(mjd), "from the input")
    hdr["BERV"] = (berv, "km/s, barycentric Earth radial velocity")
    hdr["BERVSRC"] = (str(spec.meta.get("berv_source", ""))[-40:], "source of BERV")
    hdr["AIRMASS"] = (spec.airmass if np.isfinite(spec.airmass) else -1.0, "mean airmass (-1: unknown)")
    hdr["AIRORVAC"] = ("air", "wavelength medium")
    hdr["MEDIUM"] = ("air", "wavelength medium")
    hdr["FLUXUNIT"] = (unit, "unit of FLUX, ERR, RECON, FLUX_CORR, ERR_CORR")
    hdr["FUNITSRC"] = unit_src[:68]  # where the flux unit comes from
    hdr["ERRSRC"] = (provenance["err_source"], "ERR: input errors or pixel scatter")
    hdr["NSAMPLES"] = (int(provenance["samples"]), "posterior draws behind TELLURIC_ERR, ERR_CORR")
    hdr["ERRSCALE"] = (float(provenance["err_scale"]), "calibration factor of TELLURIC_ERR, ERR_CORR")
    hdr["ERRCAL"] = str(provenance["err_calibration"])  # calibration of the uncertainties (long: CONTINUE cards)
    hdr["COMMENT"] = "SPECTRUM: barycentric frame (as the input); TOPOCENTRIC: the same, tellurics at rest"
    hdr["COMMENT"] = "RECON: network reconstruction (telluric-free); TELLURIC = FLUX / RECON"
    hdr["COMMENT"] = "FLUX_CORR = FLUX / TELLURIC; ERR_CORR: posterior spread of the reconstruction"
    hdr["COMMENT"] = "TELLURIC_ERR: posterior spread of FLUX / RECON_k with ERR, times ERRSCALE"
    hdr["COMMENT"] = (
        f"QUAL bits: {QUAL_NO_DATA} no data (TELLURIC=1), {QUAL_GUARD} guard band (no correction), "
        f"{QUAL_T_RANGE} TELLURIC outside [0, {T_MAX}], {QUAL_POOR} poor reconstruction "
        f"(posterior spread > {POOR_RECON:g} of RECON)"
    )
    hdul = fits.HDUList([fits.PrimaryHDU(header=hdr), spectrum, topo])
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True)
    if ecsv:
        import astropy.units as u
        from astropy.table import QTable

        tab = QTable({"WAVE": grid.wave * u.AA})
        for key, _, has_unit in PRODUCT_COLUMNS[1:]:  # the SPECTRUM columns, from the arrays just written
            tab[key] = bary[key] * u.Unit(unit) if has_unit else bary[key]
        tab.meta = {k: hdr[k] for k in hdr if k not in ("COMMENT", "") and not k.startswith("NAXIS")}
        with atomic_path(path.with_suffix(".ecsv")) as tmp:
            tab.write(tmp, format="ascii.ecsv", overwrite=True)


def clean_files(
    model,
    files,
    out_dir,
    batch_size: int = 8,
    progress: bool = True,
    assume_berv: float | None = None,
    samples: int = 16,
    err_scale: float | None = None,
    ecsv: bool = False,
    workers: int = 2,
    resume: bool = True,
) -> list[CleanResult]:
    """Clean FITS spectra with ``model`` (from :func:`karaoke.load_model`).

    Writes one product per input (names from :func:`product_names`: inputs that share a file
    name do not overwrite each other) and ``OUT/clean_report.csv``; inputs are read in
    parallel and reconstructed ``batch_size`` at a time (on the model's device: a GPU when the
    model is on one). Never stops on a bad file:
    an unreadable input, a spectrum without a usable BERV or coverage, or a product that
    cannot be written is reported with its reason.

    A product has two binary-table extensions with one row per pixel and the same columns
    (:data:`PRODUCT_COLUMNS`, each with its TUNIT): ``SPECTRUM`` in the input's barycentric
    frame, which ``specutils`` reads as it is, and ``TOPOCENTRIC`` with the tellurics at rest.

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
    samples : int
        Posterior draws per spectrum behind TELLURIC_ERR and ERR_CORR (1: the reconstruction
        only, TELLURIC_ERR then holds the flux error alone).
    err_scale : float, optional
        Calibration factor of the uncertainties (default: :func:`uncertainty_scale`).
    ecsv : bool
        Also write the SPECTRUM table as ``<name>_karaoke.ecsv`` (units and header in its meta).
    workers : int
        Processes that read and prepare the inputs of a batch in parallel (1: in this process).
    resume : bool
        Keep a product already made from the same input (sha256) by the same network and
        settings (reported as ``up to date (kept)``), so a re-run does only what is missing.

    Each input's posterior draws are seeded by its checksum: a product does not depend on the
    batch it was cleaned in.

    Raises
    ------
    OutputError
        If ``out_dir`` cannot be created or written (before any file is read).
    """
    import json
    import os
    from concurrent.futures import ProcessPoolExecutor

    out = check_output_dir(out_dir)
    grid = model_grid(model)
    meta = getattr(model, "checkpoint_meta", {}) or {}
    if err_scale is None:
        err_scale, err_cal = uncertainty_scale(model)
    else:
        err_cal = "given by the user"
    mfile = model_file(model)
    prov_model = {
        "model": str(mfile or getattr(model, "checkpoint_path", "model")),
        "model_sha256": sha256sum(mfile) if mfile else "",
        "train_config": json.dumps(meta.get("train_config", {}), sort_keys=True),
        "samples": samples,
        "err_scale": err_scale,
        "err_calibration": err_cal,
    }
    files = [Path(f) for f in files]
    names = product_names(files)
    results = {}
    grid_d = grid.to_dict()

    def write(f, item, draws):
        spec, flux, mask, med, err, err_src, sha = item
        product = out / names[f]
        try:
            cols = product_arrays(flux, err, mask, draws, model.input_guard, err_scale)
            prov = {**prov_model, "source": str(f.resolve()), "source_sha256": sha, "err_source": err_src}
            _write_product(product, spec, grid, cols, med, meta, prov, ecsv=ecsv)
            return CleanResult(str(f), "ok", "", str(product))
        except OSError as exc:  # the product could not be written (disk full, permissions)
            return CleanResult(str(f), "failed", f"{f}: cannot write the product ({exc})")

    bar = tqdm(total=len(files), desc="clean", disable=not progress)
    pool = None
    if workers > 1 and len(files) > 1:  # processes: readers are independent (warnings filters, GIL)
        import multiprocessing

        from karaoke.archive.prepare import _worker_init

        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
    run = pool.map if pool is not None else map
    try:
        for c0 in range(0, len(files), batch_size):
            args = [(f, out / names[f], grid_d, assume_berv, resume, prov_model) for f in files[c0 : c0 + batch_size]]
            chunk = list(run(_load_one, args))  # order kept
            todo = []
            for f, status, item in chunk:
                if status == "done":
                    results[f] = CleanResult(str(f), "ok", "up to date (kept)", item)
                elif status == "failed":
                    results[f] = CleanResult(str(f), "failed", item)
                else:
                    todo.append((f, item))
            if todo:  # one batched inference; each input's draws seeded by its checksum
                flux = np.stack([item[1] for _, item in todo])  # (b, L)
                seeds = [int(item[6][:15] or "0", 16) for _, item in todo]
                draws = model.reconstruct_samples(flux, n_samples=samples, batch_size=batch_size, seed=seeds)
                for j, (f, item) in enumerate(todo):
                    results[f] = write(f, item, draws[:, j])
            bar.update(len(chunk))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    ordered = [results[f] for f in files]
    write_csv(
        out / "clean_report.csv", [r.__dict__ for r in ordered], fieldnames=["source", "status", "reason", "product"]
    )
    return ordered


def _load_one(args):
    """Read, check and prepare one input (in a worker process): (path, status, item)."""
    f, product, grid_d, assume_berv, resume, prov = args
    grid = Grid(**grid_d)
    try:
        sha = sha256sum(f) if f.is_file() else ""
        if resume and _up_to_date(product, sha, prov):
            return f, "done", str(product)
        spec = read_spectrum(f, berv=assume_berv)
        flux, mask, med = prepare_observation(spec, grid, min_coverage=0.05)
        err, err_src = observation_error(spec, grid, flux, mask, med)
        return f, "todo", (spec, flux, mask, med, err, err_src, sha)
    except SpectrumError as exc:
        return f, "failed", str(exc)
    except (NoiseLikeSpectrum, ValueError, OSError) as exc:
        return f, "failed", f"{f}: {exc}"


def _up_to_date(product: Path, source_sha: str, prov: dict) -> bool:
    """True when ``product`` exists and was made from this input by this network and settings."""
    if not product.exists() or not source_sha:
        return False
    from astropy.io import fits

    try:
        h = fits.getheader(product)
    except Exception:
        return False
    return (
        h.get("SRCSHA") == source_sha
        and h.get("MODELSHA") == prov["model_sha256"]
        and h.get("NSAMPLES") == prov["samples"]
        and h.get("ERRSCALE") == prov["err_scale"]
    )


def observation_error(spec, grid, flux, mask, median) -> tuple[np.ndarray, str]:
    """The 1-sigma error of a prepared spectrum, normalised and topocentric like ``flux``.

    The input's own errors where it has them (regridded, divided by the normalisation and
    shifted like the flux), else :func:`scatter_error`.

    Parameters
    ----------
    spec : Spectrum
        The input (barycentric).
    grid : Grid
    flux, mask : ndarray, shape (L,)
        From :func:`karaoke.archive.prepare.prepare_observation`.
    median : float
        Its normalisation.

    Returns
    -------
    err : ndarray, shape (L,)
    source : str
        ``input`` or ``scatter``.
    """
    valid = np.asarray(mask) > 0
    if spec.err is not None and median > 0:
        e, cover = regrid(spec.wave, np.where(np.isfinite(spec.err), spec.err, np.nan), grid)
        e = np.where(cover > 0, e, 0.0) / median
        if spec.frame == "barycentric":
            e = doppler_shift(grid.wave, e, -float(spec.berv))
        if np.all(np.isfinite(e[valid])) and np.any(e[valid] > 0):
            return np.where(valid, e, 0.0), "input"
    return scatter_error(flux, valid), "scatter"
