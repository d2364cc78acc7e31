"""Prepare a large collection of FITS spectra as one homogenised, memory-mappable store.

    store/
      flux.f32      float32 memmap (N_files, L): normalised, topocentric flux on the grid
      mask.u8       uint8 memmap (N_files, L): artifact mask x coverage (shifted with the flux)
      state.json    grid, file list, per-file status and reason, chunks done (resume point)
      report.json   counts of accepted and rejected spectra by reason

Rows follow the sorted file list; rejected files keep an all-zero row and their reason. Work
is done in chunks by parallel worker processes; each finished chunk is flushed and recorded in
``state.json`` (written atomically), so an interrupted run resumes at the first unfinished chunk.
Nothing is dropped silently: every rejection is counted by reason (corrupt, NaN, coverage,
noise-like) as in the paper's 272376 -> 267361.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from karaoke._atomic import check_output_dir, write_json
from karaoke.spectra.grid import (
    Grid,
    NoiseLikeSpectrum,
    artifact_mask,
    barycentric_to_topocentric,
    dead_pixels,
    doppler_shift,
    harps_grid,
    median_normalise,
    regrid,
)
from karaoke.spectra.io import SpectrumError, check_berv, read_spectrum
from karaoke.spectra.survey import Survey

REASONS = ("corrupt", "nan", "coverage", "noise-like", "frame")


def _classify(exc) -> str:
    if isinstance(exc, NoiseLikeSpectrum):
        return "noise-like"
    msg = str(exc)
    if "BERV" in msg or "wavelengths in vacuum" in msg:
        return "frame"
    if "NaN" in msg:
        return "nan"
    if "covers" in msg or "range" in msg:
        return "coverage"
    return "corrupt"


def prepare_observation(spec, grid: Grid, min_median: float | None = None, min_coverage: float = 0.05):
    """Regrid, mask, normalise and move a barycentric Spectrum to the topocentric frame.

    Dead pixels (:func:`karaoke.spectra.grid.dead_pixels`: non-positive flux, wide blocks of ~0 flux)
    are masked before regridding; the coverage is counted after the shift to the topocentric
    frame, so a spectrum with no usable pixel on the grid is refused, not written empty.

    Parameters
    ----------
    spec : Spectrum
        Barycentric (with a finite ``berv``, km/s) or topocentric; air wavelengths like ``grid``.
    grid : Grid
    min_median : float, optional
        Noise-like threshold; default the paper's 50 for ADP products (their flux units) and 0
        for relative-flux s1d/S1D files.
    min_coverage : float
        Fraction of the grid's usable (artifact-mask) pixels the spectrum must cover.

    Returns
    -------
    flux_topo (L,) float32, mask_topo (L,) float32, median (float)

    Raises
    ------
    SpectrumError
        Too little coverage, or a barycentric spectrum without a usable BERV.
    """
    source = spec.meta.get("path", spec.meta.get("source", "?"))
    if min_median is None:
        min_median = 50.0 if spec.meta.get("kind") == "ESO ADP 1D" else 0.0
    if spec.medium != "air":
        raise SpectrumError(source, f"wavelengths in {spec.medium}; the grid is in air")
    if spec.frame == "barycentric":
        berv = check_berv(source, float(spec.berv), spec.meta.get("berv_source", "BERV"))
    dead = dead_pixels(spec.wave, spec.flux)
    if dead.all():
        raise NoiseLikeSpectrum("no pixel with positive finite flux")
    flux, cover = regrid(spec.wave, np.where(dead, np.nan, spec.flux), grid)
    usable = artifact_mask(grid)
    mask = cover * usable
    if spec.frame == "barycentric":
        mask = (doppler_shift(grid.wave, mask, -berv) > 0.999).astype(np.float32)
    need = max(1.0, min_coverage * usable.sum())
    if mask.sum() < need:
        raise SpectrumError(
            source,
            f"covers only {int(mask.sum())} of the grid's {int(usable.sum())} usable pixels "
            f"({grid.start:.2f}-{grid.stop:.2f} A, topocentric; {int(dead.sum())} dead "
            f"pixels masked); at least {int(np.ceil(need))} needed",
        )
    if spec.frame == "barycentric":
        norm, med = median_normalise(flux, cover * usable, min_median=min_median)
        norm = barycentric_to_topocentric(grid.wave, norm, berv)
    else:
        norm, med = median_normalise(flux, mask, min_median=min_median)
    return np.asarray(norm, np.float32), np.asarray(mask, np.float32), med


def process_file(
    path, grid: Grid, min_coverage: float = 0.5, min_median: float | None = None, assume_berv: float | None = None
):
    """One file -> (flux (L,) float32, mask (L,) uint8, meta dict) or (None, None, {reason...}).

    ``assume_berv`` (km/s) is used only for files whose header states no BERV."""
    try:
        spec = read_spectrum(path, berv=assume_berv)
        topo, mask, med = prepare_observation(spec, grid, min_median, min_coverage)
        meta = {
            "file": Path(path).name,
            "path": str(path),
            "status": "ok",
            "reason": "",
            "object": spec.object,
            "berv": spec.berv,
            "berv_source": spec.meta.get("berv_source", ""),
            "airmass": spec.airmass,
            "mjd_obs": spec.meta.get("mjd_obs", float("nan")),
            "median": med,
        }
        return topo, mask.astype(np.uint8), meta
    except (SpectrumError, NoiseLikeSpectrum, ValueError) as exc:
        reason = str(exc) if isinstance(exc, SpectrumError) else f"{path}: {exc}"
        return None, None, {"file": Path(path).name, "status": _classify(exc), "reason": reason}


def _work(args):
    i, path, grid_d, kw = args
    f, m, meta = process_file(path, Grid(**grid_d), **kw)
    return i, f, m, meta


def prepare_collection(
    files,
    out_dir,
    grid: Grid | None = None,
    workers: int = 2,
    chunk: int = 64,
    progress: bool = True,
    max_chunks: int | None = None,
    **kw,
) -> dict:
    """Build (or resume) a store from FITS ``files``; returns the report (counts by reason).

    Parameters
    ----------
    files : sequence of path
        1-D spectra (barycentric, air; any format :func:`karaoke.spectra.io.read_spectrum` reads).
    out_dir : path
        Store folder: ``flux.f32`` and ``mask.u8`` memmaps (N, L), ``state.json``, ``report.json``.
    grid : Grid, optional
        Target grid, topocentric air Angstrom (default: the 327680-px HARPS grid).
    workers : int
        Worker processes reading and regridding files.
    chunk : int
        Files per chunk; a finished chunk is the resume point.
    progress : bool
        Show a progress bar.
    max_chunks : int, optional
        Stop after that many chunks in this call (to test interruption).
    **kw
        Passed to :func:`prepare_observation` (e.g. ``assume_berv``).

    Returns
    -------
    dict
        ``files``, ``processed``, ``accepted``, ``rejected`` (count by reason, :data:`REASONS`)
        and ``complete`` (every file processed); also written to ``out_dir/report.json``.
    """
    grid = grid or harps_grid()
    out = check_output_dir(out_dir, "store folder")
    files = sorted(str(Path(f)) for f in files)
    n, L = len(files), grid.n
    state_path = out / "state.json"
    if state_path.exists():
        state = json.loads(state_path.read_text())
        if state["files"] != [Path(f).name for f in files] or state["grid"] != grid.to_dict():
            raise ValueError(f"{out}: holds a store of other files or another grid; use another folder")
    else:
        state = {
            "grid": grid.to_dict(),
            "files": [Path(f).name for f in files],
            "chunk": chunk,
            "done": [],
            "meta": [None] * n,
        }
    mode = "r+" if (out / "flux.f32").exists() else "w+"
    flux = np.memmap(out / "flux.f32", dtype=np.float32, mode=mode, shape=(n, L))
    mask = np.memmap(out / "mask.u8", dtype=np.uint8, mode=mode, shape=(n, L))
    chunks = [c for c in range(0, n, state["chunk"]) if c not in state["done"]]
    if max_chunks is not None:
        chunks = chunks[:max_chunks]
    bar = tqdm(total=n, initial=len(state["done"]) * state["chunk"], desc="prepare", disable=not progress)
    pool = ProcessPoolExecutor(max_workers=max(1, workers), initializer=worker_init, initargs=(os.getpid(),))
    try:
        for c0 in chunks:
            idx = range(c0, min(n, c0 + state["chunk"]))
            for i, f, m, meta in pool.map(_work, [(i, files[i], grid.to_dict(), kw) for i in idx]):
                if f is None:
                    flux[i] = 0
                    mask[i] = 0
                else:
                    flux[i] = f
                    mask[i] = m
                state["meta"][i] = meta
                bar.update(1)
            flux.flush()
            mask.flush()
            state["done"].append(c0)
            write_json(state_path, state)
    except BaseException:  # Ctrl-C or an error: no worker may outlive this call
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        bar.close()
    return write_report(out, state)


def worker_init(parent_pid: int):
    """In each worker: leave Ctrl-C to the parent (which stops the pool), and exit as soon as
    the parent is gone, even if it was killed with SIGKILL (no orphans holding memory)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:  # Linux: the kernel delivers SIGKILL when the parent dies
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch():  # portable fallback: a reparented worker has lost its parent
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def write_report(out: Path, state: dict) -> dict:
    metas = [m for m in state["meta"] if m is not None]
    counts = Counter(m["status"] for m in metas)
    report = {
        "files": len(state["files"]),
        "processed": len(metas),
        "accepted": counts.get("ok", 0),
        "rejected": {r: counts.get(r, 0) for r in REASONS},
        "complete": len(metas) == len(state["files"]),
    }
    write_json(Path(out) / "report.json", report)
    return report


def open_store(out_dir, accepted_only: bool = True) -> Survey:
    """The store as a Survey whose ``flux`` is a read-only memmap (nothing loaded until used).

    With ``accepted_only`` and some rejected rows, the accepted rows are copied into memory;
    ``accepted_only=False`` keeps every row memory-mapped (rejected rows are all-zero with a zero
    mask, so they weigh nothing in the masked loss).

    Parameters
    ----------
    out_dir : path
        Folder written by :func:`prepare_collection`.
    accepted_only : bool
        Drop the rows of rejected files.

    Returns
    -------
    Survey
        Median-normalised, topocentric, air spectra on the store's grid (``attrs['normalised'] =
        True``); ``flux`` and ``mask`` (N, L).
    """
    out = Path(out_dir)
    state = json.loads((out / "state.json").read_text())
    grid = Grid(**state["grid"])
    n = len(state["files"])
    flux = np.memmap(out / "flux.f32", dtype=np.float32, mode="r", shape=(n, grid.n))
    mask = np.memmap(out / "mask.u8", dtype=np.uint8, mode="r", shape=(n, grid.n))
    ok = np.array([m is not None and m["status"] == "ok" for m in state["meta"]])
    rows = np.flatnonzero(ok) if accepted_only else np.arange(n)
    metas = [state["meta"][i] or {} for i in rows]
    meta = {
        "file": np.array([m.get("file", "") for m in metas]),
        "object": np.array([str(m.get("object") or "") for m in metas]),
        "berv": np.array([m.get("berv", np.nan) for m in metas], float),
        "airmass": np.array([m.get("airmass", np.nan) for m in metas], float),
    }
    lazy = rows.size == n  # all rows: stay memory-mapped; a subset is copied into memory
    return Survey(
        wave=grid.wave,
        flux=flux if lazy else flux[rows],
        mask=mask if lazy else mask[rows],
        meta=meta,
        frame="topocentric",
        medium="air",
        attrs={"normalised": True, "store": str(out)},
    )
