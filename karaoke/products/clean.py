"""Apply a trained network to observed FITS spectra and write FITS products.

For each file: read (ADP / s1d / ESPRESSO S1D) -> regrid onto the model's grid (air) with its
artifact mask -> median-normalise -> barycentric to topocentric (``V{x, -BERV}``) ->
K reconstructions from the posterior -> telluric estimate ``T = input / reconstruction`` with
its uncertainty (:mod:`karaoke.products.uncertainty`). The product holds both frames, in the
input's flux unit, with provenance. A bad file is reported and skipped; the rest go on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from tqdm.auto import tqdm

from karaoke._atomic import check_output_dir, sha256sum, write_csv
from karaoke.archive.prepare import prepare_observation, worker_init
from karaoke.products.fitsproduct import product_arrays, write_product
from karaoke.products.modelinfo import model_file, model_grid, uncertainty_scale
from karaoke.products.noise import observation_error
from karaoke.spectra.grid import Grid, NoiseLikeSpectrum
from karaoke.spectra.io import Spectrum, SpectrumError, read_spectrum


@dataclass
class CleanResult:
    source: str
    status: str  # "ok" or "failed"
    reason: str = ""
    product: str = ""


@dataclass
class PreparedInput:
    """One input read and prepared for the network (in a worker process).

    Attributes
    ----------
    spectrum : Spectrum
        As read (barycentric, air).
    flux, mask, err : ndarray, shape (L,)
        Median-normalised flux on the model's grid in its (topocentric) frame, 1 where it has
        data, and its 1-sigma error.
    median : float
        The normalisation (flux unit of the input).
    err_source : str
        ``input`` or ``scatter`` (:func:`karaoke.products.noise.observation_error`).
    sha256 : str
        Checksum of the input file (seeds its posterior draws; the product records it).
    """

    spectrum: Spectrum
    flux: np.ndarray
    mask: np.ndarray
    median: float
    err: np.ndarray
    err_source: str
    sha256: str


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
    out = check_output_dir(out_dir)
    grid = model_grid(model)
    meta = model.meta.saved
    if err_scale is None:
        err_scale, err_cal = uncertainty_scale(model)
    else:
        err_cal = "given by the user"
    mfile = model_file(model)
    prov_model = {
        "model": str(mfile or model.meta.path or "model"),
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

    def write(f, item: PreparedInput, draws):
        product = out / names[f]
        try:
            cols = product_arrays(item.flux, item.err, item.mask, draws, model.input_guard, err_scale)
            prov = {
                **prov_model,
                "source": str(f.resolve()),
                "source_sha256": item.sha256,
                "err_source": item.err_source,
            }
            write_product(product, item.spectrum, grid, cols, item.median, meta, prov, ecsv=ecsv)
            return CleanResult(str(f), "ok", "", str(product))
        except OSError as exc:  # the product could not be written (disk full, permissions)
            return CleanResult(str(f), "failed", f"{f}: cannot write the product ({exc})")

    bar = tqdm(total=len(files), desc="clean", disable=not progress)
    pool = None
    if workers > 1 and len(files) > 1:  # processes: readers are independent (warnings filters, GIL)
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker_init,
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
                flux = np.stack([item.flux for _, item in todo])  # (b, L)
                seeds = [int(item.sha256[:15] or "0", 16) for _, item in todo]
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
    """Read, check and prepare one input (in a worker process): (path, status, item), the item a
    :class:`PreparedInput` (status ``todo``), the product's path (``done``: up to date) or the
    reason (``failed``)."""
    f, product, grid_d, assume_berv, resume, prov = args
    grid = Grid(**grid_d)
    try:
        sha = sha256sum(f) if f.is_file() else ""
        if resume and _up_to_date(product, sha, prov):
            return f, "done", str(product)
        spec = read_spectrum(f, berv=assume_berv)
        flux, mask, med = prepare_observation(spec, grid, min_coverage=0.05)
        err, err_src = observation_error(spec, grid, flux, mask, med)
        return f, "todo", PreparedInput(spec, flux, mask, med, err, err_src, sha)
    except SpectrumError as exc:
        return f, "failed", str(exc)
    except (NoiseLikeSpectrum, ValueError, OSError) as exc:
        return f, "failed", f"{f}: {exc}"


def _up_to_date(product: Path, source_sha: str, prov: dict) -> bool:
    """True when ``product`` exists and was made from this input by this network and settings."""
    if not product.exists() or not source_sha:
        return False
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
